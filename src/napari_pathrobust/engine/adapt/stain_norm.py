"""Reinhard stain normalisation to the training slides' colour statistics.

Colours are compared in Reinhard et al.'s (2001) decorrelated l-alpha-beta space (log
cone responses; linear algebra only, so fast on whole slides). The statistics are the
per-channel mean and standard deviation of the tissue pixels (mean RGB below
:data:`TISSUE_GREY`) of the 30 unlabelled MoNuSeg training images the bundled PSM
networks learnt from (``benchmarks/eval_adapt_protocol.py --train-stats``; images
only, no label). A slide is mapped channel by channel so its tissue statistics match.

Each pixel's result is a fixed function of its colour, the same in any tile and on any
machine: the colour maths runs in float64 with the 3x3 products written out in a fixed
order and ``log10``/``10 **`` from :mod:`..detmath` (numpy's and BLAS's depend on the CPU
and, for matrix products, on the array's length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detmath import exact_inverse, exp10, linear3, log10

TISSUE_GREY = 215.0  # mean RGB above this is glass / background
#: (mean, std) of l, alpha, beta over the training images' tissue pixels
TRAINING_LAB = ((-0.5628, 0.3136), (-0.0631, 0.0619), (0.0242, 0.0143))

_RGB2LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782],
                     [0.0241, 0.1288, 0.8444]])
_LMS2LAB = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]]) * \
    np.array([[1 / np.sqrt(3)], [1 / np.sqrt(6)], [1 / np.sqrt(2)]])
_FORWARD = _LMS2LAB  # applied to log10(LMS)
_INVERSE = exact_inverse(_LMS2LAB)
_LMS2RGB = exact_inverse(_RGB2LMS)


def _apply(m: np.ndarray, channels: list) -> list:
    """``m @ v`` for every pixel's vector v, as three fixed float64 sums."""
    return [linear3(channels, m.T, i) for i in range(3)]


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> float32 l-alpha-beta."""
    rgb = np.asarray(rgb)[..., :3]
    x = [(rgb[..., c].astype(np.float64) + 1.0) / 256.0 for c in range(3)]
    lms = [log10(np.maximum(v, 1e-4)) for v in _apply(_RGB2LMS, x)]
    return np.stack(_apply(_FORWARD, lms), -1).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_lab` (uint8, clipped)."""
    lab = np.asarray(lab, np.float64)
    lms = [exp10(v) for v in _apply(_INVERSE, [lab[..., c] for c in range(3)])]
    rgb = np.stack(_apply(_LMS2RGB, lms), -1) * 256.0 - 1.0
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def lab_statistics(rgb: np.ndarray, max_pixels: int = 250_000, seed: int = 0
                   ) -> tuple[tuple[float, float], ...]:
    """(mean, std) of l, alpha, beta over the tissue pixels of ``rgb`` (a seeded pixel
    sample when larger than ``max_pixels``; all pixels when no tissue is found)."""
    px = np.asarray(rgb)[..., :3].reshape(-1, 3)
    if len(px) > max_pixels:
        px = px[np.random.default_rng(seed).choice(len(px), max_pixels, replace=False)]
    tissue = px[px.mean(axis=1) < TISSUE_GREY]
    if len(tissue) < 100:
        tissue = px
    lab = rgb_to_lab(tissue).astype(np.float64)
    return tuple((float(lab[:, c].mean()), float(lab[:, c].std() + 1e-6)) for c in range(3))


@dataclass
class ReinhardNormaliser:
    """Maps a slide's tissue colour statistics onto ``target`` (default: training)."""

    source: tuple = TRAINING_LAB
    target: tuple = TRAINING_LAB

    def fit(self, sample_rgb: np.ndarray, seed: int = 0) -> "ReinhardNormaliser":
        """Measure the slide's statistics on a sample of it."""
        self.source = lab_statistics(sample_rgb, seed=seed)
        return self

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The normalised RGB uint8 image (same shape)."""
        lab = rgb_to_lab(rgb)
        scale = np.array([t[1] / s[1] for s, t in zip(self.source, self.target)], np.float32)
        shift = np.array([t[0] - s[0] * k for s, t, k in zip(self.source, self.target, scale)],
                         np.float32)
        return lab_to_rgb(lab * scale + shift)

    def describe(self) -> dict:
        return {"kind": "reinhard-lab", "slide_stats": [list(s) for s in self.source],
                "target_stats": [list(t) for t in self.target]}
