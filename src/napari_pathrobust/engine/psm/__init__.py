"""PSM building blocks: the parts the PSM method is made of, and the code that trains
its two networks. The method itself (``PSMMethod``: fit per slide, segment per tile,
the object the pipeline runs) lives in :mod:`..methods.psm` and is built from these.

Recognition (used by the method at inference):

activation       Grad-CAM self-activation maps of the self-supervised network
clustering       seeded K-means on (activation, colour) -> nucleus pseudo-mask
instances        instances from the downstream network's outputs (marker watershed)

Training (used by the training jobs and the model-production scripts):

pretext          training the self-supervised network on a pretext task
workflow         per-image pseudo-masks and the pseudo-label variants' sources
pseudolabels     training targets (instances, points, Voronoi edges) from a pseudo-mask
segtrain         training the downstream network on those targets (crop pool, augmentation)
seg_strategies   the downstream network's loss strategies (ERM, focal, GCE, reweight, DAR)
step_runner      one optimiser step with loss bookkeeping, shared by the two trainers
selftrain        confidence-filtered self-training rounds
training_options names of the pseudo-label variants and strategies (no heavy imports)

The jobs that load training images and write trained weights are in
:mod:`..jobs.train_psm` and :mod:`..jobs.training_images`.
"""
