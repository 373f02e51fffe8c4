"""IHC (e.g. Ki-67) cell classes: DAB-positive vs negative, from clustering.

Fitted once per slide: a seeded 2-means on the DAB optical density of stained pixels
(hematoxylin + DAB OD above ``stained_od``) gives a low (hematoxylin-blue) and a high
(DAB-brown) centre; a cell is *Positive* when its mean DAB OD is above their midpoint.
When the two centres are closer than ``min_separation`` the slide has no DAB signal
and every cell is *Negative*. Per-tile work only reads the fitted cut, so tiles agree.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from scipy import ndimage as ndi

from ..stain import hematoxylin_od, stain_channel
from .clustering import kmeans

POSITIVE, NEGATIVE = "Positive", "Negative"


# Hematoxylin-DAB stain vectors (Ruifrok & Johnston 2001) plus their orthogonal residual:
# IHC slides carry no eosin, so DAB is unmixed against hematoxylin only.
_H = np.array([0.650, 0.704, 0.286])
_DAB = np.array([0.268, 0.570, 0.776])
_RGB_FROM_HDX = np.stack([_H, _DAB, np.cross(_H, _DAB)])
_RGB_FROM_HDX /= np.linalg.norm(_RGB_FROM_HDX, axis=1, keepdims=True)
HDX_FROM_RGB = np.linalg.inv(_RGB_FROM_HDX)


def dab_od(rgb: np.ndarray) -> np.ndarray:
    """DAB optical density (float32, H x W) by hematoxylin-DAB colour deconvolution."""
    return stain_channel(rgb, 1, HDX_FROM_RGB)


class DabClassifier:
    """Fit a DAB cut on a slide sample, then label cells Positive / Negative."""

    def __init__(self, stained_od: float = 0.15, min_separation: float = 0.05,
                 max_samples: int = 50_000, seed: int = 0):
        self.stained_od, self.min_separation = stained_od, min_separation
        self.max_samples, self.seed = max_samples, seed
        self.centres: Optional[tuple[float, float]] = None
        self.cut: Optional[float] = None

    def fit(self, sample_rgb: np.ndarray) -> "DabClassifier":
        """Fit the two DAB centres and the cut on an RGB sample of the slide."""
        dab = dab_od(sample_rgb)
        stained = (dab + hematoxylin_od(sample_rgb)) > self.stained_od
        values = dab[stained] if stained.sum() >= 2 else dab.ravel()
        rng = np.random.default_rng(self.seed)
        if values.size > self.max_samples:
            values = values[rng.choice(values.size, self.max_samples, replace=False)]
        centres = kmeans(torch.from_numpy(values.astype(np.float32)[:, None]), 2,
                         seed=self.seed).numpy().ravel()
        lo, hi = sorted(float(c) for c in centres)
        self.centres = (lo, hi)
        self.cut = (lo + hi) / 2 if hi - lo >= self.min_separation else float("inf")
        return self

    def classify(self, rgb: np.ndarray, labels: np.ndarray) -> dict[int, str]:
        """Class name per label id of ``labels`` (fits on ``rgb`` if never fitted)."""
        if self.cut is None:
            self.fit(rgb)
        ids = np.unique(labels)
        ids = ids[ids > 0]
        if not ids.size:
            return {}
        means = ndi.mean(dab_od(rgb), labels, ids)
        return {int(i): POSITIVE if m > self.cut else NEGATIVE for i, m in zip(ids, means)}

    def describe(self) -> dict:
        """Fitted centres and cut (JSON-serialisable; an infinite cut becomes None)."""
        cut = self.cut if self.cut is not None and np.isfinite(self.cut) else None
        return {"centres": list(self.centres) if self.centres else None, "cut": cut,
                "stained_od": self.stained_od, "min_separation": self.min_separation}
