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


def knn_label_agreement(features: np.ndarray, labels: np.ndarray, k: int = 10,
                        chunk: int = 1024) -> np.ndarray:
    """Fraction of each sample's ``k`` nearest neighbours (Euclidean, itself excluded)
    that carry the same label: a label-noise score (clean items sit among items of
    their own label, flipped ones among another class's items)."""
    f = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labels = np.asarray(labels)
    n = len(f)
    if n != len(labels):
        raise ValueError("features and labels differ in length")
    k = int(min(k, n - 1))
    if k < 1:
        return np.ones(n)
    sq = (f * f).sum(1)
    out = np.empty(n)
    for s in range(0, n, chunk):
        d = sq[s:s + chunk, None] - 2.0 * f[s:s + chunk] @ f.T + sq[None, :]
        d[np.arange(len(d)), np.arange(s, s + len(d))] = np.inf
        nn = np.argpartition(d, k - 1, axis=1)[:, :k]
        out[s:s + chunk] = (labels[nn] == labels[s:s + chunk, None]).mean(1)
    return out


def select_probe(early_loss: np.ndarray, n_per_class: int, trust: np.ndarray | None = None,
                 min_trust: float = 0.5,
                 min_items: int = 1, rank: str = "loss") -> tuple[np.ndarray, np.ndarray]:
    """Probe items ``(sample_idx, class)`` with the lowest early loss, per class.

    ``early_loss`` is ``(N, C)`` (NaN = the sample has no element of that class).
    Without ``trust`` each class present anywhere contributes the same number of
    items: ``n_per_class``, or fewer when the rarest present class has fewer samples.
    With ``trust`` (``(N, C)`` or ``(N,)`` scores, e.g. :func:`knn_label_agreement`)
    only items scoring ``>= min_trust`` are candidates, each class takes
    ``min(n_per_class, its candidates)`` items, and a class with fewer than
    ``min_items`` candidates gets none (its probe would be unreliable).
    ``rank="trust"`` orders each class's candidates by decreasing trust first (ties:
    lower loss first) instead of by loss alone.
    """
    if rank not in ("loss", "trust") or (rank == "trust" and trust is None):
        raise ValueError(f"rank {rank!r}: expected 'loss', or 'trust' with trust scores")
    early_loss = np.asarray(early_loss, dtype=float)
    if early_loss.ndim != 2:
        raise ValueError("early_loss must be (n_samples, n_classes)")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    finite = np.isfinite(early_loss)
    present = [c for c in range(early_loss.shape[1]) if finite[:, c].any()]
    if not present:
        raise ValueError("no recorded losses: cannot select a probe set")
    if trust is not None:
        trust = np.asarray(trust, dtype=float)
        trust = np.broadcast_to(trust[:, None] if trust.ndim == 1 else trust,
                                early_loss.shape)
        finite = finite & (trust >= min_trust)
        counts = {c: int(finite[:, c].sum()) for c in present}
        quota = {c: min(n_per_class, counts[c]) if counts[c] >= min_items else 0
                 for c in present}
    else:
        n = min(n_per_class, min(int(finite[:, c].sum()) for c in present))
        quota = {c: n for c in present}
    samples, classes = [np.zeros(0, dtype=int)], [np.zeros(0, dtype=int)]
    for c in present:
        cand = np.flatnonzero(finite[:, c])
        if rank == "trust":
            pick = np.lexsort((early_loss[cand, c], -trust[cand, c]))
        else:
            pick = np.argsort(early_loss[cand, c], kind="stable")
        order = cand[pick[:quota[c]]]
        samples.append(order)
        classes.append(np.full(len(order), c))
    return np.concatenate(samples), np.concatenate(classes)


def probe_targets(y: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Targets of probe items: each item keeps only the elements of its own class."""
    keep = y == classes.view(-1, *([1] * (y.dim() - 1))).to(y.device)
    return torch.where(keep, y, torch.full_like(y, IGNORE_INDEX))
