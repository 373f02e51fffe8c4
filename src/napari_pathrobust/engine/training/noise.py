"""Controlled label-noise and class-imbalance injection for benchmarks and tests."""

from __future__ import annotations

import numpy as np


def long_tail_counts(n_max: int, n_classes: int, imbalance: float) -> np.ndarray:
    """Exponential long-tail profile ``n_c = n_max * imbalance^(c / (C - 1))``.

    ``imbalance`` is the tail/head ratio (0.02 = the rarest class keeps 2 % of the
    most frequent one's samples); 1.0 means balanced. Every class keeps >= 1 sample.
    """
    if not 0.0 < imbalance <= 1.0:
        raise ValueError(f"imbalance factor must be in (0, 1], got {imbalance}")
    if n_classes < 1 or n_max < 1:
        raise ValueError("need n_classes >= 1 and n_max >= 1")
    expo = np.arange(n_classes) / max(n_classes - 1, 1)
    return np.maximum(1, np.floor(n_max * imbalance ** expo)).astype(int)


def long_tail_indices(labels: np.ndarray, imbalance: float, rng: np.random.Generator,
                      n_classes: int | None = None, n_max: int | None = None) -> np.ndarray:
    """Indices of a long-tailed subset of ``labels`` (class 0 is the head class).

    ``n_max`` defaults to the smallest class size, so every class can fill its quota.
    """
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    sizes = np.bincount(labels, minlength=n_classes)
    n_max = int(sizes.min()) if n_max is None else int(n_max)
    quota = np.minimum(long_tail_counts(n_max, n_classes, imbalance), sizes)
    keep = []
    for c in range(n_classes):
        idx = np.flatnonzero(labels == c)
        keep.append(rng.choice(idx, size=quota[c], replace=False))
    return np.sort(np.concatenate(keep))


def symmetric_noise(labels: np.ndarray, rate: float, n_classes: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Flip each label with probability ``rate`` to a uniformly drawn *other* class."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"noise rate must be in [0, 1), got {rate}")
    labels = np.asarray(labels).copy()
    flip = rng.random(labels.shape[0]) < rate
    shift = rng.integers(1, n_classes, size=int(flip.sum()))
    labels[flip] = (labels[flip] + shift) % n_classes
    return labels


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in range(n_classes)
               if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else float("nan")
