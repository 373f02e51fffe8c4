"""Confidence-filtered self-training rounds for the downstream nucleus network.

Pseudo-labels miss pale, vesicular nuclei and leave them as background or ignored. A
network trained on them still recognises part of those nuclei. Each round turns its
outputs on the training images into new targets, and a fresh network is trained on
them with the same settings:

* nuclei: the previous targets' nuclei, plus every predicted instance that overlaps
  none of them, when the network is confident about it (mean nucleus probability
  >= ``confident``) and its area and solidity are plausible (the target filters);
* background: the previous background, only where the network is confident it is
  background (probability < 1 - ``confident``); elsewhere ignored;
* distance: recomputed per nucleus (previous nuclei as connected components of their
  Voronoi-separated mask, plus the added ones).

No label is read. Measured on MoNuSeg train-13 in docs/benchmarks.md (PSM section).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.measure import regionprops

from ..models.unet import padded_input
from ..progress import Reporter
from .instances import instances_from_outputs
from .pseudolabels import IGNORE, TargetParams, Targets, normalised_distance


@torch.no_grad()
def predict_maps(net: torch.nn.Module, rgb: np.ndarray, device: torch.device
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Nucleus probability and normalised distance (float32, H x W) of a whole image."""
    h, w = rgb.shape[:2]
    x = padded_input(rgb, net.multiple, device)
    was_training = net.training
    net.eval()
    out = torch.sigmoid(net(x))[0, :, :h, :w].float().cpu().numpy()
    net.train(was_training)
    return out[0], out[1]


def self_training_targets(prob: np.ndarray, dist: np.ndarray, previous: Targets,
                          confident: float = 0.8,
                          params: Optional[TargetParams] = None) -> tuple[Targets, int]:
    """Next round's targets from a network's outputs and the previous targets."""
    if not 0.5 < confident < 1:
        raise ValueError(f"confident={confident}: expected a value in (0.5, 1)")
    p = params or TargetParams()
    old_fg = previous.fg
    labels = instances_from_outputs(prob, dist)
    added = np.zeros(prob.shape, np.int32)
    n_added = 0
    for region in regionprops(labels, intensity_image=prob):
        r0, c0, r1, c1 = region.bbox
        own = region.image
        if (old_fg[r0:r1, c0:c1][own] == 1).any():
            continue  # already a nucleus of the previous targets
        if (region.intensity_mean >= confident and p.min_area <= region.area <= p.max_area
                and region.solidity >= p.min_solidity):
            n_added += 1
            added[r0:r1, c0:c1][own] = n_added
    fg = old_fg.copy()
    fg[added > 0] = 1
    fg[(fg == 0) & (prob >= 1 - confident)] = IGNORE
    kept, _ = ndi.label(old_fg == 1)
    nuclei = np.where(added > 0, added + kept.max(), kept).astype(np.int32)
    points = np.array([r.centroid for r in regionprops(nuclei)], np.float64).reshape(-1, 2)
    return Targets(fg, normalised_distance(nuclei), points, int(nuclei.max()),
                   previous.n_instances + n_added), n_added


def next_round_targets(net: torch.nn.Module, images: Sequence[np.ndarray],
                       previous: Sequence[Targets], device: torch.device,
                       confident: float = 0.8, params: Optional[TargetParams] = None,
                       reporter: Optional[Reporter] = None) -> tuple[list[Targets], int]:
    """Targets of the next self-training round for every image, and nuclei added."""
    reporter = reporter or Reporter()
    out, total = [], 0
    for i, (img, old) in enumerate(zip(images, previous)):
        prob, dist = predict_maps(net, img, device)
        t, n = self_training_targets(prob, dist, old, confident, params)
        out.append(t)
        total += n
        reporter.report(i + 1, len(images), "self-training targets")
    return out, total
