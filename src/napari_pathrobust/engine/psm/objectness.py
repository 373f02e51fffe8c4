"""Objectness: drop the objects that look unlike the slide's confident nuclei.

The network also finds red blood cells, pigment and out-of-focus debris. Which objects
those are is learnt per slide, from what self-training trusts: on the fit sample's
instances, the confident ones by the self-training rule (mean nucleus probability >=
:attr:`.selftrain.SelfTrainingRule.confident`, area >= its ``min_area``, or half the
slide's median object where nuclei are smaller) describe a nucleus on this slide: the
median and the scaled MAD of each feature (:class:`Objectness`, fitted once per slide).
Per tile, an object that is not itself confident is dropped when its deviation from
them, counted only in the implausible direction and summed over the features as a root
of squares, exceeds ``cutoff`` MADs. Features (direction):

- ``prob_max`` (low): the network's peak nucleus probability in the object;
- ``dist_max`` (low): its peak centre-ness (a nucleus has a clear centre, debris not);
- ``hematoxylin`` (low): mean hematoxylin OD (red blood cells and eosin debris have none);
- ``redness`` (high): mean R / (G + B + 1) (eosin-red red blood cells).

Every feature is a function of the object's own pixels, so tiles agree with the whole
image. The features and the cut-off were chosen on the lung, kidney and prostate tiles
of MoNuSeg train-13, the slide-relative area on the 17 tiles outside it (small-nucleus
kidney); docs/benchmarks.md, issue 26. IHC runs fit it the same way on the pseudo-H&E
their network sees, where it drops some of the faint out-of-focus texture between
nuclei (docs/ihc.md, issue 24).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..stain import hematoxylin_od
from .selftrain import SelfTrainingRule

#: feature -> +1 when high values are implausible, -1 when low ones are
FEATURES = {"prob_max": -1, "dist_max": -1, "hematoxylin": -1, "redness": 1}
MIN_CONFIDENT = 10  # fewer confident nuclei on the sample: nothing is dropped
#: a trusted nucleus needs at least this share of the slide's median object area (when
#: that is under self-training's ``min_area``)
MEDIAN_SHARE = 0.5


def object_features(rgb: np.ndarray, labels: np.ndarray, prob: np.ndarray,
                    dist: np.ndarray) -> dict[str, np.ndarray]:
    """Per object 1..labels.max(): the features above plus ``prob`` (mean) and ``area``.
    Sums run over each object's pixels in raster order, as in any window holding it."""
    flat = labels.ravel()
    n = int(flat.max()) if flat.size else 0
    inside = flat > 0
    ids = flat[inside]
    area = np.bincount(ids, minlength=n + 1)[1:].astype(np.float64)
    safe = np.maximum(area, 1.0)

    def mean(values):
        return np.bincount(ids, weights=values, minlength=n + 1)[1:] / safe

    order = np.argsort(ids, kind="stable")
    starts = np.concatenate([[0], np.cumsum(area[:-1])]).astype(np.int64)

    def peak(values):
        if not ids.size:
            return np.zeros(n)
        out = np.maximum.reduceat(values[order], np.minimum(starts, ids.size - 1))
        return np.where(area > 0, out, 0.0).astype(np.float64)

    px = np.asarray(rgb)[..., :3].reshape(-1, 3)[inside]
    red, green, blue = (mean(px[:, c].astype(np.float64)) for c in range(3))
    p = np.asarray(prob).ravel()[inside]
    return {"prob_max": peak(p), "dist_max": peak(np.asarray(dist).ravel()[inside]),
            "hematoxylin": mean(hematoxylin_od(px[None])[0].astype(np.float64)),
            "redness": red / (green + blue + 1.0), "prob": mean(p.astype(np.float64)),
            "area": area}


def confident(features: dict[str, np.ndarray], min_area: float,
              rule: Optional[SelfTrainingRule] = None) -> np.ndarray:
    """The objects self-training would trust: mean probability, and at least
    ``min_area`` px (:meth:`Objectness.fit` sets it per slide)."""
    rule = rule or SelfTrainingRule()
    return (features["prob"] >= rule.confident) & (features["area"] >= min_area)


@dataclass
class Objectness:
    """A slide's confident nuclei (median, scaled MAD per feature) and the cut-off."""

    cutoff: float = 6.0  # robust deviations; 0: keep everything
    median: Optional[dict] = None
    mad: Optional[dict] = None
    n_confident: int = 0
    min_area: float = float(SelfTrainingRule().min_area)

    def fit(self, features: dict[str, np.ndarray]) -> "Objectness":
        """Describe the confident nuclei of a slide's fit sample. The area a trusted
        nucleus needs is self-training's, or half the slide's median object where
        nuclei are small (else small-nucleus tissue would be judged against its few
        large nuclei)."""
        if len(features["area"]):
            self.min_area = float(min(SelfTrainingRule().min_area,
                                      MEDIAN_SHARE * np.median(features["area"])))
        sure = confident(features, self.min_area)
        self.n_confident = int(sure.sum())
        if self.n_confident < MIN_CONFIDENT:
            self.median = self.mad = None
            return self
        self.median = {k: float(np.median(features[k][sure])) for k in FEATURES}
        self.mad = {k: float(1.4826 * np.median(np.abs(features[k][sure] - self.median[k])))
                    + 1e-9 for k in FEATURES}
        return self

    def deviation(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Each object's one-sided robust deviation from the confident nuclei."""
        total = np.zeros(len(features["area"]))
        for key, sign in FEATURES.items():
            z = sign * (features[key] - self.median[key]) / self.mad[key]
            total += np.clip(z, 0.0, None) ** 2
        return np.sqrt(total)

    def keep(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Objects kept: confident ones, and the others within ``cutoff``."""
        if self.median is None or self.cutoff <= 0:
            return np.ones(len(features["area"]), bool)
        return confident(features, self.min_area) | (self.deviation(features) <= self.cutoff)

    def describe(self) -> dict:
        return {"cutoff": self.cutoff, "confident_nuclei": self.n_confident,
                "confident_min_area": self.min_area, "median": self.median, "mad": self.mad}


def drop_unlike(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``labels`` without the objects ``keep`` (per id 1..n) rejects, renumbered 1..m."""
    if keep.all():
        return labels
    lut = np.zeros(len(keep) + 1, labels.dtype)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=labels.dtype)
    return lut[labels]
