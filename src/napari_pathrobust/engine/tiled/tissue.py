"""Tissue detection at low resolution, so tiles over bare glass can be skipped.

The mask is computed on a small pyramid level (or a coarsened copy of the smallest
one): a pixel is tissue when its saturation or its optical density is above a
threshold (the lower of Otsu's value and a fixed conservative one, so an all-tissue
slide is never split in two), then closed, cleared of specks and dilated by a margin
given in full-resolution pixels. A tile is skipped only when its whole window falls on
background in that dilated mask, so results on tissue never change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..io import Slide
from .tiling import Tile

#: longest side of the image the mask is computed on
MASK_MAX_SIDE = 2048
#: fixed upper bounds of the thresholds: white glass has saturation < 0.05, OD < 0.05
SATURATION_MAX = 0.08
OD_MAX = 0.10


@dataclass
class TissueMask:
    """A boolean mask at ``downsample`` times coarser than level 0 (per axis)."""

    mask: np.ndarray
    downsample: tuple[float, float]
    level: int
    thresholds: dict[str, float]

    @property
    def fraction(self) -> float:
        """Fraction of the slide covered by (dilated) tissue."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    def window_has_tissue(self, t: Tile) -> bool:
        """True when any mask pixel touching the tile's window is tissue (conservative)."""
        y0, x0, y1, x1 = t.window
        fy, fx = self.downsample
        h, w = self.mask.shape
        r0, r1 = max(0, math.floor(y0 / fy) - 1), min(h, math.ceil(y1 / fy) + 1)
        c0, c1 = max(0, math.floor(x0 / fx) - 1), min(w, math.ceil(x1 / fx) + 1)
        return bool(self.mask[r0:r1, c0:c1].any())

    def describe(self) -> dict[str, Any]:
        return {"level": self.level, "downsample": [round(f, 4) for f in self.downsample],
                "mask_shape": list(self.mask.shape), "tissue_fraction": round(self.fraction, 4),
                "thresholds": self.thresholds}


def _low_resolution(slide: Slide) -> tuple[np.ndarray, int]:
    """The first pyramid level whose longest side is at most MASK_MAX_SIDE (coarsened
    from the smallest level when none is), as float RGB in [0, 255]."""
    for index, level in enumerate(slide.levels):
        if max(level.shape[:2]) <= MASK_MAX_SIDE:
            return np.asarray(level.compute(scheduler="synchronous"), np.float32), index
    import dask.array as da

    index = len(slide.levels) - 1
    level = slide.levels[index]
    factor = math.ceil(max(level.shape[:2]) / MASK_MAX_SIDE)
    small = da.coarsen(np.mean, level.astype(np.float32), {0: factor, 1: factor},
                       trim_excess=False)
    return np.asarray(small.compute(scheduler="synchronous"), np.float32), index


def _otsu_or(values: np.ndarray, ceiling: float) -> float:
    """Otsu's threshold of ``values``, never above ``ceiling`` (conservative)."""
    from skimage.filters import threshold_otsu

    if values.size == 0 or float(values.max()) - float(values.min()) < 1e-6:
        return ceiling
    return float(min(threshold_otsu(values), ceiling))


def detect_tissue(slide: Slide, margin: int = 256, min_object_px: int = 4) -> TissueMask:
    """Low-resolution tissue mask of ``slide``, dilated by ``margin`` level-0 pixels."""
    rgb, level = _low_resolution(slide)
    height, width = slide.shape
    fy, fx = height / rgb.shape[0], width / rgb.shape[1]
    rgb = rgb[..., :3]
    top = rgb.max(axis=2)
    saturation = (top - rgb.min(axis=2)) / np.maximum(top, 1.0)
    od = -np.log10(np.clip((rgb + 1.0) / 256.0, 1e-3, 1.0)).mean(axis=2)
    t_sat = _otsu_or(saturation.ravel()[::max(1, saturation.size // 2**20)], SATURATION_MAX)
    t_od = _otsu_or(od.ravel()[::max(1, od.size // 2**20)], OD_MAX)
    mask = (saturation > t_sat) | (od > t_od)
    mask = ndi.binary_closing(mask, structure=np.ones((3, 3), bool), border_value=0) | mask
    labels, n = ndi.label(mask)
    if n:
        sizes = np.bincount(labels.ravel())
        small = sizes < min_object_px
        small[0] = False
        mask[small[labels]] = False
    radius = int(math.ceil(margin / min(fy, fx))) if margin > 0 else 0
    if radius > 0 and mask.any():
        # dilation by a square of side 2r+1: distance transform of the background
        dist = ndi.distance_transform_cdt(~mask, metric="chessboard")
        mask = dist <= radius
    thresholds = {"saturation": round(t_sat, 4), "optical_density": round(t_od, 4)}
    return TissueMask(mask, (fy, fx), level, thresholds)


__all__ = ["TissueMask", "detect_tissue", "MASK_MAX_SIDE"]
