"""Names of the downstream-training choices (no heavy imports: the CLI reads them)."""

#: pseudo-label sources for the downstream network (see ``workflow.variant_sources``)
TARGET_VARIANTS = ("classical-agree", "agree", "scm", "union")

#: training strategies for the downstream network (see ``segstrategy``)
SEG_STRATEGIES = ("erm", "focal", "gce", "reweight", "dar")
