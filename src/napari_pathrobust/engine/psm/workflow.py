"""Image-level PSM steps shared by the CLI, the napari side and the training scripts.

Each image (one slide) gets its own Grad-CAM weights and K-means centres, fitted on
the image itself, as the method does at inference (fit once per slide, then assign
tile by tile). Fitting one set of centres on all training images together was
measured worse on MoNuSeg (colour differs between slides): pseudo-mask pixel F1
0.59 versus 0.66 per image (docs/benchmarks.md, PSM section).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..progress import Reporter
from .activation import SelfActivation
from .clustering import SemanticClustering
from .pseudolabels import TargetParams, Targets, build_targets
from .training_options import TARGET_VARIANTS


@dataclass
class PseudoMaskResult:
    """Activation map and cleaned pseudo-mask of one image."""

    activation: np.ndarray
    mask: np.ndarray


def pseudo_mask_for_image(activation: SelfActivation, clustering: SemanticClustering,
                          rgb: np.ndarray) -> PseudoMaskResult:
    """Fit Grad-CAM weights and K-means centres on ``rgb``, then map and mask it."""
    rgb = np.ascontiguousarray(rgb[..., :3])
    activation.fit(rgb, seed=clustering.seed)
    amap = activation.map_tile(rgb)
    clustering.fit(rgb, amap)
    return PseudoMaskResult(amap, clustering.pseudo_mask(rgb, amap))


def pseudo_masks(activation: SelfActivation, clustering: SemanticClustering,
                 images: Sequence[np.ndarray],
                 reporter: Optional[Reporter] = None) -> list[PseudoMaskResult]:
    """Activation maps and pseudo-masks for every image (each fitted on itself)."""
    reporter = reporter or Reporter()
    out = []
    for i, img in enumerate(images):
        out.append(pseudo_mask_for_image(activation, clustering, img))
        reporter.report(i + 1, len(images), "pseudo-masks")
    return out


def targets_for(masks: Sequence[np.ndarray], params: Optional[TargetParams] = None,
                agree_with: Optional[Sequence[np.ndarray]] = None,
                reporter: Optional[Reporter] = None) -> list[Targets]:
    """Downstream training targets from pseudo-masks (optionally cross-checked)."""
    reporter = reporter or Reporter()
    out = []
    for i, m in enumerate(masks):
        other = agree_with[i] if agree_with is not None else None
        out.append(build_targets(m, params, other))
        reporter.report(i + 1, len(masks), "targets")
    return out



def variant_sources(variant: str, masks: Sequence[np.ndarray],
                    classical: Sequence[np.ndarray]
                    ) -> tuple[list[np.ndarray], Optional[list[np.ndarray]]]:
    """Pseudo-masks and cross-check instances of a target ``variant``.

    ``masks``: SCM pseudo-masks; ``classical``: classical (hematoxylin) instances.
    ``classical-agree`` (shipped): classical nuclei kept where an SCM instance agrees;
    ``agree``: SCM nuclei kept where a classical one agrees; ``scm``: SCM alone;
    ``union``: SCM OR classical mask.
    """
    from ..morphology import split_touching

    if variant == "classical-agree":
        return [c > 0 for c in classical], [split_touching(m, min_area=1) for m in masks]
    if variant == "agree":
        return list(masks), list(classical)
    if variant == "scm":
        return list(masks), None
    if variant == "union":
        return [m | (c > 0) for m, c in zip(masks, classical)], None
    raise ValueError(f"target variant {variant!r}: expected one of {', '.join(TARGET_VARIANTS)}")
