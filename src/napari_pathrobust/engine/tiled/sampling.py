"""The slide-wide sample every method is fitted on, and the checks made on it.

A method fits its global values (K-means centres, stain vectors, thresholds) once per
slide on :func:`fit_sample`: the whole slide when small, else a seeded mosaic of tissue
patches (:func:`sample_mosaic`). :func:`image_problem` says why no nucleus can be read
from a sample (uniform, blank glass); :func:`tissue_fraction` is the stained share of
any RGB array.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..io import Slide

#: a sample whose 0.5-99.5 percentile range is at most this (grey levels, every
#: channel) is uniform: black, white, grey or NaN images (the reader makes NaN black)
UNIFORM_RANGE = 4
#: a sample with fewer stained pixels than this fraction has no tissue (blank glass)
MIN_TISSUE_FRACTION = 1e-4
#: slides up to this many pixels are their own fit sample (used whole)
FIT_SAMPLE_PIXELS = 2048 * 2048


def fit_sample(slide: Slide, seed: int = 0, max_pixels: int = FIT_SAMPLE_PIXELS,
               patch: int = 256) -> np.ndarray:
    """An RGB sample of the whole slide for fitting global parameters.

    Small slides are used whole; large ones give a seeded mosaic of full-resolution
    patches drawn from tissue (not from background glass). At another resolution than
    the method's, :func:`.working_tiles.working_sample` draws it from the working grid.
    """
    height, width = slide.shape
    if height * width <= max_pixels:
        return np.asarray(slide.data.compute(scheduler="synchronous"))

    def read(y: int, x: int, h: int, w: int) -> np.ndarray:
        return np.asarray(slide.data[y:y + h, x:x + w].compute(scheduler="synchronous"))

    return sample_mosaic(read, (height, width), seed, max_pixels, patch)


def sample_mosaic(read, shape: tuple[int, int], seed: int, max_pixels: int,
                  patch: int) -> np.ndarray:
    """A seeded mosaic of ``patch``-sided patches (``read(y, x, h, w)``), tissue first."""
    height, width = shape
    n = max(1, max_pixels // (patch * patch))
    rng = np.random.default_rng(seed)
    patches: list[np.ndarray] = []
    fallback: list[np.ndarray] = []
    for _ in range(4 * n):
        y = int(rng.integers(0, max(1, height - patch + 1)))
        x = int(rng.integers(0, max(1, width - patch + 1)))
        tile = read(y, x, patch, patch)
        (patches if tissue_fraction(tile) > 0.5 else fallback).append(tile)
        if len(patches) == n:
            break
    patches = (patches + fallback)[:n]
    side = int(np.ceil(np.sqrt(len(patches))))
    mosaic = np.full((side * patch, side * patch, 3), 255, np.uint8)
    for i, tile in enumerate(patches):
        r, c = divmod(i, side)
        mosaic[r * patch:r * patch + tile.shape[0], c * patch:c * patch + tile.shape[1]] = tile
    return mosaic


def tissue_fraction(rgb: np.ndarray) -> float:
    """Fraction of pixels that look like stained tissue (not white glass)."""
    rgbf = rgb[..., :3].astype(np.float32)
    spread = rgbf.max(axis=-1) - rgbf.min(axis=-1)
    return float(np.mean((spread > 20) | (rgbf.mean(axis=-1) < 200)))


def image_problem(sample: np.ndarray) -> Optional[str]:
    """Why no nucleus can be read from an image's sample (None: it looks like tissue)."""
    pixels = np.asarray(sample)[..., :3].reshape(-1, 3)
    pixels = pixels[::max(1, pixels.shape[0] // 2**20)]
    if pixels.size == 0:
        return "the image is empty"
    lo, hi = np.percentile(pixels, [0.5, 99.5], axis=0)
    if float(np.max(hi - lo)) <= UNIFORM_RANGE:
        colour = ", ".join(str(int(v)) for v in np.median(pixels, axis=0))
        return f"the image is uniform (RGB {colour}), no tissue"
    if tissue_fraction(pixels) < MIN_TISSUE_FRACTION:
        return "the image shows no stained tissue (blank glass)"
    return None
