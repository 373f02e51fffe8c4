"""Confidence-filtered self-training rounds for the downstream nucleus network.

Pseudo-labels miss pale, vesicular nuclei and leave them as background or ignored. A
network trained on them still recognises part of those nuclei. Each round turns its
outputs on the training images into new targets, and a fresh network is trained on
them with the same settings:

* nuclei: the previous targets' nuclei, plus every predicted instance that overlaps
  none of them, when the network is confident about it (mean nucleus probability
  >= ``confident``), at least ``min_area`` px, and of plausible size and solidity
  (the target filters). The area floor stops rounds from adding the small dark
  specks a network also finds confidently: without it they came back as targets and
  the false objects grew every round. Smaller real nuclei are left ignored, not taught
  as background;
* background: the previous background where the network is confident it is background
  (probability < 1 - ``confident``), and always within ``ring`` px of a target
  nucleus; other unsure background is ignored. The ring keeps every nucleus's outline
  supervised: without it the soft rim the network predicts around each nucleus
  became ignored, and the masks grew round after round;
* distance: recomputed per nucleus (previous nuclei as connected components of their
  Voronoi-separated mask, plus the added ones).

No label is read. Measured on MoNuSeg train-13 in docs/benchmarks.md (PSM section).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.measure import regionprops

from ..models.unet import padded_input
from ..progress import Reporter
from .instances import instances_from_outputs
from .pseudolabels import IGNORE, TargetParams, Targets, normalised_distance


@dataclass(frozen=True)
class SelfTrainingRule:
    """What a self-training round may add and must keep (a-priori values, 40x pixels)."""

    confident: float = 0.8  # mean probability of an added nucleus; 1 - it for background
    ring: int = 3           # px of background kept around every target nucleus
    min_area: int = 150     # px at 40x (~3.5 um across); smaller ones are never added

    def __post_init__(self) -> None:
        if not 0.5 < self.confident < 1:
            raise ValueError(f"confident={self.confident}: expected a value in (0.5, 1)")
        if self.ring < 0:
            raise ValueError(f"ring={self.ring}: expected a number of pixels >= 0")
        if self.min_area < 0:
            raise ValueError(f"min_area={self.min_area}: expected a number of pixels >= 0")


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
                          rule: Optional[SelfTrainingRule] = None,
                          params: Optional[TargetParams] = None) -> tuple[Targets, int]:
    """Next round's targets from a network's outputs and the previous targets."""
    rule = rule or SelfTrainingRule()
    confident = rule.confident
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
        if (region.intensity_mean >= confident and region.solidity >= p.min_solidity
                and max(p.min_area, rule.min_area) <= region.area <= p.max_area):
            n_added += 1
            added[r0:r1, c0:c1][own] = n_added
    fg = old_fg.copy()
    fg[added > 0] = 1
    unsure = (fg == 0) & (prob >= 1 - confident)
    if rule.ring and unsure.any():
        unsure &= ndi.distance_transform_edt(fg != 1) > rule.ring
    fg[unsure] = IGNORE
    kept, _ = ndi.label(old_fg == 1)
    nuclei = np.where(added > 0, added + kept.max(), kept).astype(np.int32)
    points = np.array([r.centroid for r in regionprops(nuclei)], np.float64).reshape(-1, 2)
    return Targets(fg, normalised_distance(nuclei), points, int(nuclei.max()),
                   previous.n_instances + n_added), n_added


def next_round_targets(net: torch.nn.Module, images: Sequence[np.ndarray],
                       previous: Sequence[Targets], device: torch.device,
                       rule: Optional[SelfTrainingRule] = None,
                       params: Optional[TargetParams] = None,
                       reporter: Optional[Reporter] = None) -> tuple[list[Targets], int]:
    """Targets of the next self-training round for every image, and nuclei added."""
    reporter = reporter or Reporter()
    out, total = [], 0
    for i, (img, old) in enumerate(zip(images, previous)):
        prob, dist = predict_maps(net, img, device)
        t, n = self_training_targets(prob, dist, old, rule, params)
        out.append(t)
        total += n
        reporter.report(i + 1, len(images), "self-training targets")
    return out, total
