"""Names of the downstream network's training options: pseudo-label variants and loss
strategies (no heavy imports: the CLI builds its argument choices from them)."""

#: pseudo-label sources for the downstream network (see ``workflow.variant_sources``)
TARGET_VARIANTS = ("classical-agree", "agree", "scm", "union")

#: training strategies for the downstream network (see ``seg_strategies``)
SEG_STRATEGIES = ("erm", "focal", "gce", "reweight", "dar")
