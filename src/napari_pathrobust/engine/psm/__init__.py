"""PSM: unsupervised nucleus recognition from prior self-activation maps.

activation   gradient-weighted shallow activations of the self-supervised network
clustering   seeded K-means on (activation, colour) -> nucleus pseudo-mask
pseudolabels instances, points, Voronoi edges and training targets from a pseudo-mask
instances    instances from the downstream network's outputs (marker watershed)
training     the pretext and downstream training loops (segtrain, segstrategy: ERM/DAR/...)
choices      names of the pseudo-label variants and training strategies
"""
