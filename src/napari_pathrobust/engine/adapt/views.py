"""Views for test-time adaptation (flips and 90-degree rotations: tissue has no
canonical orientation) and the BatchNorm statistics prior."""

from __future__ import annotations

import types
from typing import Iterable

import torch
from torch import nn

VIEWS = ("identity", "hflip", "vflip", "rot90", "rot180", "rot270")


def check_views(names: Iterable[str]) -> tuple[str, ...]:
    """Validated tuple of view names (at least two, identity included)."""
    names = tuple(names)
    bad = [n for n in names if n not in VIEWS]
    if bad:
        raise ValueError(f"unknown view(s) {', '.join(bad)}; choose from {', '.join(VIEWS)}")
    if len(set(names)) < 2 or "identity" not in names:
        raise ValueError("views need 'identity' and at least one other view")
    return names


def apply_view(x: torch.Tensor, name: str) -> torch.Tensor:
    """Transform a (B, C, H, W) batch into view ``name``."""
    if name == "identity":
        return x
    if name == "hflip":
        return x.flip(-1)
    if name == "vflip":
        return x.flip(-2)
    return torch.rot90(x, {"rot90": 1, "rot180": 2, "rot270": 3}[name], dims=(-2, -1))


def undo_view(y: torch.Tensor, name: str) -> torch.Tensor:
    """Map a view's output back onto the original pixel grid."""
    if name in ("identity", "hflip", "vflip"):
        return apply_view(y, name)
    return torch.rot90(y, -{"rot90": 1, "rot180": 2, "rot270": 3}[name], dims=(-2, -1))


def _prior_forward(self: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm with ``w * source + (1 - w) * batch`` statistics; buffers untouched."""
    w = self._tta_prior
    dims = (0, 2, 3)
    mean, var = x.mean(dims), x.var(dims, unbiased=True)
    if self._tta_detach:
        mean, var = mean.detach(), var.detach()
    mean = w * self.running_mean + (1 - w) * mean
    var = w * self.running_var + (1 - w) * var
    scale = self.weight * torch.rsqrt(var + self.eps)
    return x * scale[None, :, None, None] + (self.bias - mean * scale)[None, :, None, None]


def set_bn_prior(model: nn.Module, prior: float | None, detach: bool = True) -> int:
    """Patch every BatchNorm2d to mix source and batch statistics (``prior`` = weight of
    the source statistics: 1 = plain eval, 0 = batch statistics as in TENT); ``None``
    removes the patch. Returns the number of layers touched."""
    n = 0
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            if prior is None:
                m.__dict__.pop("forward", None)
            else:
                m._tta_prior, m._tta_detach = float(prior), bool(detach)
                m.forward = types.MethodType(_prior_forward, m)
            n += 1
    return n
