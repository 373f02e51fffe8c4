"""Semantic clustering module (PSM stage C): activation + colour -> nucleus pseudo-mask.

K-means (seeded k-means++ initialisation, Lloyd iterations, in torch) is fitted once
on pixels sampled across the whole slide; every tile is then assigned to the same
centres, so tiles agree. Two feature modes:

* ``fixed`` (default): per-pixel ``[w * activation, R, G, B]`` in [0, 1]. The nucleus
  cluster is the one whose centre colour has the highest hematoxylin optical density
  plus ``w`` times its activation: nuclei are the hematoxylin-dark, high-activation
  pixels.
* ``paper``: as the released PSM code: the JET colour map of the activation in BGR
  order plus ``beta`` x RGB, nucleus cluster = smallest mean of feature channels 0+1.

The mask is then cleaned: holes up to ``max_hole`` px filled (only holes enclosed
inside the tile, so the step stays local) and objects under ``min_area`` px removed
(on a boolean mask, so it takes effect, unlike the released code's int mask).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..morphology import fill_enclosed_holes, remove_small_objects
from ..stain import hematoxylin_od


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iters: int = 60,
           tol: float = 1e-6) -> torch.Tensor:
    """Seeded k-means (k-means++ init + Lloyd); returns the (k, D) centres."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=gen))
    centres = [x[first]]
    dist = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = (dist / dist.sum().clamp_min(1e-12)).cpu()
        idx = int(torch.multinomial(probs, 1, generator=gen))
        centres.append(x[idx])
        dist = torch.minimum(dist, ((x - x[idx]) ** 2).sum(1))
    c = torch.stack(centres)
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)[:, None]
        new = torch.where(counts > 0, sums / counts.clamp_min(1), c)  # empty: keep centre
        shift = float(((new - c) ** 2).sum())
        c = new
        if shift < tol:
            break
    return c


def jet_bgr(a: np.ndarray) -> np.ndarray:
    """The JET colour map of values in [0, 1], channels in BGR order (as OpenCV's)."""
    v = np.clip(a, 0, 1)
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.stack([b, g, r], axis=-1).astype(np.float32)


@dataclass
class ClusterFit:
    """Fitted centres and the index of the nucleus cluster."""

    centres: list[list[float]] = field(default_factory=list)
    nucleus: int = 0


@dataclass
class SemanticClustering:
    """K-means pseudo-mask builder with fit-once / assign-per-tile semantics."""

    k: int = 3
    mode: str = "fixed"
    weight: float = 0.5  # activation weight (fixed) or beta on RGB (paper)
    min_area: int = 30
    max_hole: int = 200
    seed: int = 0
    max_samples: int = 50_000
    fitted: Optional[ClusterFit] = None

    def features(self, rgb: np.ndarray, activation: np.ndarray) -> np.ndarray:
        """Per-pixel features (H*W, D) float32."""
        colour = rgb[..., :3].astype(np.float32) / 255.0
        if self.mode == "paper":
            feats = jet_bgr(activation) + self.weight * colour
        elif self.mode == "fixed":
            feats = np.concatenate([self.weight * activation[..., None], colour], axis=-1)
        else:
            raise ValueError(f"clustering mode {self.mode!r}: expected 'fixed' or 'paper'")
        return feats.reshape(-1, feats.shape[-1])

    def fit(self, rgb: np.ndarray, activation: np.ndarray) -> "SemanticClustering":
        """Fit centres on (a seeded subsample of) the pixels of a whole-slide sample."""
        feats = self.features(rgb, activation)
        rng = np.random.default_rng(self.seed)
        if len(feats) > self.max_samples:
            feats = feats[np.sort(rng.choice(len(feats), self.max_samples, replace=False))]
        centres = kmeans(torch.from_numpy(feats), self.k, seed=self.seed).numpy()
        self.fitted = ClusterFit(centres.tolist(), self._nucleus_cluster(centres))
        return self

    def _nucleus_cluster(self, centres: np.ndarray) -> int:
        if self.mode == "paper":
            return int(np.argmin(centres[:, 0] + centres[:, 1]))
        colour = np.clip(np.rint(centres[:, 1:4] * 255), 0, 255).astype(np.uint8)
        od = hematoxylin_od(colour[None])[0]
        return int(np.argmax(od + self.weight * centres[:, 0]))

    def assign(self, rgb: np.ndarray, activation: np.ndarray) -> np.ndarray:
        """Cluster index per pixel (H, W) uint8, using the fitted centres."""
        if self.fitted is None:
            self.fit(rgb, activation)
        feats = torch.from_numpy(self.features(rgb, activation))
        centres = torch.tensor(self.fitted.centres, dtype=torch.float32)
        idx = torch.cdist(feats, centres).argmin(1).numpy().astype(np.uint8)
        return idx.reshape(rgb.shape[:2])

    def pseudo_mask(self, rgb: np.ndarray, activation: np.ndarray) -> np.ndarray:
        """Cleaned boolean nucleus mask of a tile."""
        clusters = self.assign(rgb, activation)  # fits on this tile if never fitted
        return clean_mask(clusters == self.fitted.nucleus, self.min_area, self.max_hole)


def clean_mask(mask: np.ndarray, min_area: int, max_hole: int) -> np.ndarray:
    """Fill enclosed holes <= max_hole px, drop objects < min_area px (bool in, bool out)."""
    return remove_small_objects(fill_enclosed_holes(mask, max_hole), min_area)
