"""Element-wise classification losses for classification and dense (per-pixel) outputs.

Every loss takes ``logits`` shaped ``(N, C, *spatial)`` and integer ``targets`` shaped
``(N, *spatial)`` and returns the *unreduced* loss with the targets' shape, so training
strategies can weight, rank or select samples (or pixels) themselves. Targets equal to
``ignore_index`` get a loss of 0 (use :func:`valid_mask` to exclude them from means).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

IGNORE_INDEX = -1
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def valid_mask(targets: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Boolean mask of the target elements that carry a label."""
    return targets != ignore_index


def _safe_targets(targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    return torch.where(targets == ignore_index, torch.zeros_like(targets), targets)


def _target_log_prob(logits: torch.Tensor, targets: torch.Tensor,
                     ignore_index: int) -> torch.Tensor:
    logp = F.log_softmax(logits, dim=1)
    return logp.gather(1, _safe_targets(targets, ignore_index).unsqueeze(1)).squeeze(1)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                  ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-element cross-entropy ``-log p_y``."""
    loss = -_target_log_prob(logits, targets, ignore_index)
    return loss * valid_mask(targets, ignore_index)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0,
               ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-element focal loss ``-(1 - p_y)^gamma log p_y`` (Lin et al. 2017)."""
    logp = _target_log_prob(logits, targets, ignore_index)
    loss = -((1.0 - logp.exp()).clamp_min(0.0) ** gamma) * logp
    return loss * valid_mask(targets, ignore_index)


def gce_loss(logits: torch.Tensor, targets: torch.Tensor, q: float = 0.7,
             ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-element generalized cross-entropy ``(1 - p_y^q) / q`` (Zhang & Sabuncu 2018)."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"GCE q must be in (0, 1], got {q}")
    p = _target_log_prob(logits, targets, ignore_index).exp()
    loss = (1.0 - p.clamp_min(1e-12) ** q) / q
    return loss * valid_mask(targets, ignore_index)


def class_weights(counts: Sequence[float], power: float = 1.0) -> torch.Tensor:
    """Inverse-frequency class weights ``(1 / n_c)^power`` normalised to mean 1 over
    the classes that occur (absent classes get weight 0)."""
    n = torch.as_tensor(counts, dtype=torch.float64)
    w = torch.where(n > 0, n.clamp_min(1.0) ** (-power), torch.zeros_like(n))
    present = n > 0
    if present.any():
        w = w / w[present].mean()
    return w.float()


def reweighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                             weights: torch.Tensor,
                             ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-element cross-entropy multiplied by the weight of each element's class."""
    w = weights.to(logits.device)[_safe_targets(targets, ignore_index)]
    return cross_entropy(logits, targets, ignore_index) * w


def get_loss(name: str, counts: Optional[Sequence[float]] = None, **kwargs) -> LossFn:
    """Loss by name: ``ce``, ``focal`` (gamma), ``gce`` (q) or ``reweight`` (needs counts)."""
    name = name.lower()
    if name in ("ce", "erm"):
        return cross_entropy
    if name == "focal":
        gamma = float(kwargs.get("gamma", 2.0))
        return lambda lg, t: focal_loss(lg, t, gamma=gamma)
    if name == "gce":
        q = float(kwargs.get("q", 0.7))
        return lambda lg, t: gce_loss(lg, t, q=q)
    if name in ("reweight", "rw"):
        if counts is None:
            raise ValueError("loss 'reweight' needs the class counts")
        w = class_weights(counts, float(kwargs.get("power", 1.0)))
        return lambda lg, t: reweighted_cross_entropy(lg, t, w)
    raise ValueError(f"loss {name!r}: expected ce, focal, gce or reweight")
