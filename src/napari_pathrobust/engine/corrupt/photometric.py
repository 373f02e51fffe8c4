"""Colour corruptions on (B, 3, H, W) float tensors in [0, 1]: per pixel, hence tile-local.

Brightness and saturation use the HSV identities ``rgb = V * g(H, S)`` and
``V - rgb = V * S * k(H)``, so they rescale RGB directly without a full HSV round trip.

Every pixel's result is a fixed function of its own colour, the same in any tile, array
length or machine: the HSV kinds use only correctly rounded operations (+, -, *, /,
min, max, floor); ``stain_shift`` takes optical densities from tables and its
exponential from :mod:`..detmath`, in float64, rounded once to a grey level.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .. import detmath
from ..stain import RGB_FROM_HED
from .fields import Context

_EPS = 1e-6


def brightness(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """HSV value + ``c`` (over-exposure), hue and saturation kept."""
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + p["c"]).clamp(max=1.0)
    return x * (v_new / v.clamp(min=_EPS))


def contrast(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Scale around a fixed mid-grey pivot: ``(x - pivot) * c + pivot`` (tile-local)."""
    pivot = p.get("pivot", 0.5)
    return (x - pivot) * p["c"] + pivot


def saturation(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """HSV saturation + ``c`` (over-stained colour), hue and value kept."""
    v = x.amax(dim=1, keepdim=True)
    mn = x.amin(dim=1, keepdim=True)
    s = (v - mn) / v.clamp(min=_EPS)
    s_new = (s + p["c"]).clamp(0.0, 1.0)
    # where S == 0 (grey) hue is undefined: tint it towards the image's pink (eosin) hue
    grey = s < 1e-3
    scale = torch.where(grey, torch.zeros_like(s), s_new / s.clamp(min=_EPS))
    out = v - (v - x) * scale
    tint = v * (1 - s_new * torch.tensor([0.0, 0.6, 0.3], device=x.device,
                                         dtype=x.dtype).view(1, 3, 1, 1))
    return torch.where(grey, tint, out)


def _hue_chroma(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) RGB -> hue in [0, 1), value V = max and chroma D = max - min."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    v = x.amax(dim=1, keepdim=True)
    d = v - x.amin(dim=1, keepdim=True)
    num = torch.where(v == r, g - b, torch.where(v == g, b - r + 2 * d, r - g + 4 * d))
    return _wrap(num / (6.0 * d.clamp(min=_EPS)), 1.0), v, d


def _wrap(t: torch.Tensor, period: float) -> torch.Tensor:
    """``t mod period`` (as ``torch.remainder``), from correctly rounded operations only."""
    return t - torch.floor(t / period) * period


def rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) RGB -> H in [0, 1), S, V (each (B, 1, H, W))."""
    h, v, d = _hue_chroma(x)
    return h, d / v.clamp(min=_EPS), v


def _from_hue(h: torch.Tensor, v: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """RGB from hue, value and chroma: ``v - d * clip(min(k, 4 - k), 0, 1)``,
    ``k = (n + 6 h) mod 6`` with n = 5, 3, 1 for R, G, B."""
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device, dtype=h.dtype).view(1, 3, 1, 1)
    k = _wrap(h * 6.0 + n, 6.0)
    f = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return v - d * f


def hue(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """HSV hue + ``c`` (fraction of a turn), wrapped; saturation and value kept."""
    h, v, d = _hue_chroma(x)
    return _from_hue(h + p["c"], v, d)


@lru_cache(maxsize=8)
def _stain_tables(device: torch.device) -> torch.Tensor:
    """(3 stains, 3 channels, 256) float64: each uint8 level's optical density
    ``-log10((I + 1) / 256)`` times the Ruifrok deconvolution matrix entry."""
    od = -detmath.log10((np.arange(256, dtype=np.float64) + 1.0) / 256.0)
    hed_from_rgb = detmath.exact_inverse(RGB_FROM_HED)  # LAPACK's inverse is CPU-dependent
    return torch.as_tensor(hed_from_rgb.T[:, :, None] * od[None, None, :], device=device)


def stain_shift(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """H&E stain variation: hematoxylin and eosin concentrations (Ruifrok deconvolution)
    scaled by ``1 + sigma * u`` and shifted by ``sigma * 0.05 * v`` with seeded ``u, v``
    in [-1, 1] (|u| >= 0.5 so the image always changes); one draw per image."""
    tables = _stain_tables(x.device)
    level = torch.round(x * 255.0).clamp(0, 255).to(torch.int64)  # the uint8 input
    hed = []
    for d in range(3):  # deconvolution as a fixed sum of table look-ups (no matmul)
        acc = tables[d, 0][level[:, 0]]
        acc += tables[d, 1][level[:, 1]]
        acc += tables[d, 2][level[:, 2]]
        hed.append(acc)
    scale, shift = [], []
    for i in range(x.shape[0]):
        rng = ctx.rng(i, "stain_shift")
        u = rng.uniform(0.5, 1.0, 3) * rng.choice([-1.0, 1.0], 3)
        scale.append(1.0 + p["sigma"] * u)
        shift.append(p["sigma"] * 0.05 * rng.uniform(-1, 1, 3))
    scale = torch.as_tensor(np.array(scale).T, device=x.device)[:, :, None, None]
    shift = torch.as_tensor(np.array(shift).T, device=x.device)[:, :, None, None]
    # shift stained pixels only, glass stays
    hed = [h * scale[d] + shift[d] * (h > 0.02).to(h.dtype) for d, h in enumerate(hed)]
    out = []
    for c in range(3):
        od2 = detmath.linear3(hed, RGB_FROM_HED, c)
        grey = detmath.exp10(-od2) * 256.0 - 1.0
        out.append(torch.round(grey.clamp(0.0, 255.0)) / 255.0)
    return torch.stack(out, 1).to(x.dtype)
