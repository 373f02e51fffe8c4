"""The QC overlay PNG: the image with nucleus outlines, downsampled to a bounded size."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._atomic import atomic_path

__all__ = ["write_overlay_png", "overlay_factor"]


def overlay_factor(shape: tuple[int, ...], max_side: int) -> int:
    """Integer downsampling factor so that the longest side becomes <= ``max_side``."""
    if max_side < 1:
        raise InputError("max_side", f"must be positive, got {max_side}")
    return max(1, math.ceil(max(shape[0], shape[1]) / max_side))


def _downsample_rgb(rgb, f: int, band_rows: int = 1024) -> np.ndarray:
    """Block-mean downsampling by ``f`` (edge blocks average what they have), band by band."""
    h, w = rgb.shape[:2]
    oh, ow = math.ceil(h / f), math.ceil(w / f)
    out = np.empty((oh, ow, 3), dtype=np.uint8)
    rows_per_band = max(1, band_rows // f)
    col_starts = np.arange(0, w, f)
    col_counts = np.diff(np.append(col_starts, w)).astype(np.float32)
    for o0 in range(0, oh, rows_per_band):
        o1 = min(o0 + rows_per_band, oh)
        band = np.asarray(rgb[o0 * f:min(o1 * f, h)])[..., :3]
        if f == 1:
            out[o0:o1] = band
            continue
        band = band.astype(np.float32)
        row_starts = np.arange(0, band.shape[0], f)
        row_counts = np.diff(np.append(row_starts, band.shape[0])).astype(np.float32)
        sums = np.add.reduceat(np.add.reduceat(band, row_starts, axis=0), col_starts, axis=1)
        means = sums / (row_counts[:, None, None] * col_counts[None, :, None])
        out[o0:o1] = np.clip(np.rint(means), 0, 255).astype(np.uint8)
    return out


def write_overlay_png(path: os.PathLike | str, rgb, labels, max_side: int = 4096,
                      color=(0, 255, 0)) -> Path:
    """Save a QC PNG: the RGB image with 1-px inner instance boundaries drawn in ``color``.

    Both inputs are downsampled by one integer factor so the longest side is <= max_side
    (block mean for RGB, [::f, ::f] for labels). Array-likes (zarr, dask) are read in bands.
    """
    from PIL import Image
    from skimage.segmentation import find_boundaries

    if len(rgb.shape) == 2:
        rgb = np.asarray(rgb)[..., None].repeat(3, axis=2)
    if len(rgb.shape) != 3 or rgb.shape[2] < 3:
        raise InputError("rgb", f"expected an (H, W, 3) image, got shape {rgb.shape}")
    if tuple(labels.shape) != tuple(rgb.shape[:2]):
        raise InputError("labels", f"shape {labels.shape} does not match image {rgb.shape}")
    f = overlay_factor(rgb.shape, max_side)
    small_rgb = _downsample_rgb(rgb, f)
    h = labels.shape[0]
    band = max(f, (4096 // f) * f)
    small_lab = np.concatenate(
        [np.asarray(labels[r:min(r + band, h)])[::f, ::f] for r in range(0, h, band)], axis=0)
    edges = find_boundaries(small_lab, mode="inner")
    small_rgb[edges] = np.asarray(color, dtype=np.uint8)[:3]
    with atomic_path(path) as tmp:
        Image.fromarray(small_rgb).save(tmp, format="PNG", compress_level=2)
    return Path(path)
