"""Geometric corruptions: each is an inverse coordinate map in GLOBAL coordinates.

``coords(p, ctx, item, origin, shape)`` returns float64 ``(sy, sx)`` (h, w): for every
output pixel of the box at ``origin`` with ``shape``, the global source position it
samples. Images are resampled bilinearly, labels with nearest neighbour through the same
map (see :mod:`.tiled`), so ground truth follows the warp exactly. ``resolution`` keeps
positions (its label map is the identity) and is a local filter instead. The maps are
the same on every machine (:mod:`..detmath`); the bilinear resampling (``grid_sample``)
and ``resolution``'s FFT blur depend on the window size, so a tile may differ from the
whole image by 1 grey level on rare pixels.
"""

from __future__ import annotations

import math

import torch

from .. import detmath
from .fields import Context, bilinear, fft_filter, fourier_field


def _grid(ctx: Context, origin, shape) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(shape[0], dtype=torch.float64, device=ctx.device) + origin[0]
    x = torch.arange(shape[1], dtype=torch.float64, device=ctx.device) + origin[1]
    return y[:, None].expand(shape[0], shape[1]), x[None, :].expand(shape[0], shape[1])


def deformation_coords(p: dict, ctx: Context, item: int, origin, shape):
    """Smooth elastic warp: displacement ``amp * tanh(field)`` per axis (|d| < amp px),
    fields of correlation length ``length`` px."""
    rng = ctx.rng(item, "deformation")
    sub = Context(ctx.seeds, origin, ctx.full_shape, ctx.device)
    dy = p["amp"] * detmath.tanh(fourier_field(rng, sub, shape, p["length"], n=24))
    dx = p["amp"] * detmath.tanh(fourier_field(rng, sub, shape, p["length"], n=24))
    y, x = _grid(ctx, origin, shape)
    return y + dy, x + dx


def _affine(ctx: Context, origin, shape, m) -> tuple[torch.Tensor, torch.Tensor]:
    """Source = M @ (p - c) + c about the full image centre c."""
    cy, cx = (ctx.full_shape[0] - 1) / 2.0, (ctx.full_shape[1] - 1) / 2.0
    y, x = _grid(ctx, origin, shape)
    y, x = y - cy, x - cx
    return m[0][0] * y + m[0][1] * x + cy, m[1][0] * y + m[1][1] * x + cx


def rotation_coords(p: dict, ctx: Context, item: int, origin, shape):
    """Rotation by ``angle`` degrees about the image centre, direction drawn from the seed;
    corners that come from outside the image are filled with white (glass)."""
    sign = 1.0 if ctx.rng(item, "rotation").random() < 0.5 else -1.0
    a = math.radians(p["angle"]) * sign
    c, s = math.cos(a), math.sin(a)
    return _affine(ctx, origin, shape, ((c, -s), (s, c)))


_FLIPS = {
    "horizontal": ((1, 0), (0, -1)),
    "vertical": ((-1, 0), (0, 1)),
    "both": ((-1, 0), (0, -1)),
    "transpose": ((0, 1), (1, 0)),
    "anti-transpose": ((0, -1), (-1, 0)),
}


def flip_coords(p: dict, ctx: Context, item: int, origin, shape):
    """Mirror about the image centre: horizontal, vertical, both, or a diagonal (the
    diagonals are exact transposes for square images; else the overhang is filled)."""
    return _affine(ctx, origin, shape, _FLIPS[p["mode"]])


def _gauss_kernel(sigma: float, device) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float64, device=device)
    g = detmath.exp((t / sigma) * (t / sigma) * -0.5)
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def resolution_halo(p: dict) -> int:
    """Context pixels ``resolution`` needs around a window."""
    s = 1.0 / p["factor"]
    return int(math.ceil(3 * 0.45 * s)) + int(math.ceil(2 * s)) + 2


def resolution(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Scan at a lower resolution: anti-aliased down-sampling by ``factor`` on a grid
    anchored at the global origin, then bilinear up-sampling back to the pixel grid."""
    b, _, h, w = x.shape
    s = 1.0 / p["factor"]
    blurred = fft_filter(x, _gauss_kernel(0.45 * s, x.device))
    y0, x0 = ctx.origin
    ky = torch.arange(math.floor(y0 / s), math.ceil((y0 + h - 1) / s) + 2,
                      dtype=torch.float64, device=x.device)
    kx = torch.arange(math.floor(x0 / s), math.ceil((x0 + w - 1) / s) + 2,
                      dtype=torch.float64, device=x.device)
    cy = (ky * s - y0)[:, None].expand(-1, kx.numel())
    cx = (kx * s - x0)[None, :].expand(ky.numel(), -1)
    # positions beyond the image are clamped to its last pixel, like the whole image
    cy = cy.clamp(max=float(ctx.full_shape[0] - 1 - y0))
    cx = cx.clamp(max=float(ctx.full_shape[1] - 1 - x0))
    coarse = bilinear(blurred, cy.expand(b, -1, -1), cx.expand(b, -1, -1))
    fy = (torch.arange(h, dtype=torch.float64, device=x.device) + y0) / s - ky[0]
    fx = (torch.arange(w, dtype=torch.float64, device=x.device) + x0) / s - kx[0]
    gy = fy[:, None].expand(h, w).expand(b, -1, -1)
    gx = fx[None, :].expand(h, w).expand(b, -1, -1)
    return bilinear(coarse, gy, gx)
