"""Probe-set selection from the early-learning phase (DAR step 1).

During warm-up every training forward pass records, per sample ``i`` and class ``c``,
the mean loss of the elements of ``i`` labelled ``c`` (a classification sample has one
class; a segmentation tile has one entry per class present in its mask). The statistic
is the mean over the warm-up epochs. A probe *item* is a ``(sample, class)`` pair: per
class the ``n`` items with the lowest early loss, the same ``n`` for every class.
"""

from __future__ import annotations

import numpy as np
import torch

from .losses import IGNORE_INDEX


def sample_class_loss(per_elem: torch.Tensor, targets: torch.Tensor,
                      n_classes: int) -> torch.Tensor:
    """``(N, C)`` mean loss of each sample's elements per label (NaN where absent)."""
    n = per_elem.shape[0]
    loss = per_elem.detach().reshape(n, -1).float()
    t = targets.reshape(n, -1)
    valid = t != IGNORE_INDEX
    onehot = torch.zeros(n, t.shape[1], n_classes, device=loss.device)
    onehot.scatter_(2, torch.where(valid, t, 0).unsqueeze(2), valid.unsqueeze(2).float())
    sums = torch.einsum("nk,nkc->nc", loss, onehot)
    counts = onehot.sum(1)
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, np.nan))


class EarlyLossRecorder:
    """Accumulates per-(sample, class) losses over the warm-up epochs."""

    def __init__(self, n_samples: int, n_classes: int):
        self.sum = np.zeros((n_samples, n_classes))
        self.count = np.zeros((n_samples, n_classes))

    def add(self, idx: torch.Tensor, losses: torch.Tensor) -> None:
        """Record an ``(B, C)`` block from :func:`sample_class_loss` for samples ``idx``."""
        block = losses.cpu().numpy()
        seen = np.isfinite(block)
        rows = idx.cpu().numpy()
        self.sum[rows] += np.where(seen, block, 0.0)
        self.count[rows] += seen

    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum / np.maximum(self.count, 1), np.nan)


def select_probe(early_loss: np.ndarray, n_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced probe items ``(sample_idx, class)`` with the lowest early loss.

    ``early_loss`` is ``(N, C)`` (NaN = the sample has no element of that class). Each
    class present anywhere contributes the same number of items: ``n_per_class``, or
    fewer when the rarest present class has fewer samples.
    """
    early_loss = np.asarray(early_loss, dtype=float)
    if early_loss.ndim != 2:
        raise ValueError("early_loss must be (n_samples, n_classes)")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    finite = np.isfinite(early_loss)
    present = [c for c in range(early_loss.shape[1]) if finite[:, c].any()]
    if not present:
        raise ValueError("no recorded losses: cannot select a probe set")
    n = min(n_per_class, min(int(finite[:, c].sum()) for c in present))
    samples, classes = [], []
    for c in present:
        cand = np.flatnonzero(finite[:, c])
        order = cand[np.argsort(early_loss[cand, c], kind="stable")[:n]]
        samples.append(order)
        classes.append(np.full(n, c))
    return np.concatenate(samples), np.concatenate(classes)


def probe_targets(y: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Targets of probe items: each item keeps only the elements of its own class."""
    keep = y == classes.view(-1, *([1] * (y.dim() - 1))).to(y.device)
    return torch.where(keep, y, torch.full_like(y, IGNORE_INDEX))
