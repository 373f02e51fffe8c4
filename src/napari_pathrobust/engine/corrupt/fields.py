"""Seeded random fields and samplers defined in GLOBAL image coordinates.

Everything random that a corruption needs (smooth noise, per-pixel noise, stroke and
bubble geometry, per-image constants) is a pure function of ``(seed, stream)`` and of
global pixel coordinates, never of the tile being processed. Corrupting a window at
offset ``(y0, x0)`` therefore gives the same pixels as cropping the corrupted whole
image: tiles stitch without seams. The values are also the same on every machine: no
library ``exp``/``log``/``cos`` or float matrix product whose last bit depends on the
CPU or the array length (see :mod:`..detmath`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from .. import detmath


@dataclass(frozen=True)
class Context:
    """Where a window sits: per-item seeds, window origin and the full image shape."""

    seeds: tuple[int, ...]
    origin: tuple[int, int]  # (y0, x0) of the window in global coordinates
    full_shape: tuple[int, int]  # (H, W) of the whole image
    device: torch.device

    def rng(self, item: int, stream: str) -> np.random.Generator:
        """A numpy generator for ``(seed of item, stream)`` (independent of the window)."""
        return make_rng(self.seeds[item], stream)


def make_rng(seed: int, stream: str) -> np.random.Generator:
    """Independent generator per (seed, stream name)."""
    key = [int(seed) & 0xFFFFFFFF, *stream.encode()]
    return np.random.default_rng(np.random.SeedSequence(key))


#: plane-wave factors are rounded to multiples of 1 / _Q, so every product and partial
#: sum of the field's matrix product is an integer below 2^53: exact in any order
_Q = float(2 ** 20)


def _wave_factors(coord: torch.Tensor, freq: np.ndarray, phase) -> torch.Tensor:
    """(len, 2n) [cos | sin] of ``coord * freq + phase``, times _Q and rounded."""
    arg = coord[:, None] * torch.as_tensor(freq, device=coord.device)[None, :]
    arg = arg + torch.as_tensor(phase, dtype=torch.float64, device=coord.device)
    sin, cos = detmath.sincos(arg)
    return torch.round(torch.cat([cos, sin], 1) * _Q)


def fourier_field(rng: np.random.Generator, ctx: Context, shape: tuple[int, int],
                  length: float, n: int = 48) -> torch.Tensor:
    """Smooth unit-variance random field (float64 (h, w)) with correlation length ``length``
    px, a sum of ``n`` random plane waves evaluated at global coordinates.

    Each wave ``cos(a y + b x + p)`` splits into ``cos(a y + p) cos(b x) - sin(a y + p)
    sin(b x)``, so the field is one (h, 2n) @ (2n, w) matrix product, exact (and so the
    same for every window and machine) on factors quantised to 2^-20.
    """
    freq = rng.normal(0.0, 1.0 / length, size=(n, 2))
    phase = rng.uniform(0, 2 * math.pi, size=n)
    dev = ctx.device
    y = torch.arange(shape[0], dtype=torch.float64, device=dev) + ctx.origin[0]
    x = torch.arange(shape[1], dtype=torch.float64, device=dev) + ctx.origin[1]
    rows = _wave_factors(y, freq[:, 0], phase)  # [cos(ay + p) | sin(ay + p)]
    cols = _wave_factors(x, freq[:, 1], np.zeros(n))  # [cos(bx) | sin(bx)]
    rows[:, n:] *= -1.0
    return (rows @ cols.T) * (math.sqrt(2.0 / n) / (_Q * _Q))


def _mix32(v: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (lowbias32 constants) on int64 tensors, exact on any device."""
    m = 0xFFFFFFFF
    v = v & m
    v = v ^ (v >> 16)
    v = (v * 0x7FEB352D) & m
    v = v ^ (v >> 15)
    v = (v * 0x846CA68B) & m
    return v ^ (v >> 16)


def pixel_hash(seed: int, stream: int, ctx: Context, shape: tuple[int, int],
               channels: int = 1) -> torch.Tensor:
    """Per-pixel 32-bit hashes (int64 (channels, h, w)) of (seed, stream, channel, y, x)."""
    dev = ctx.device
    y = torch.arange(shape[0], dtype=torch.int64, device=dev) + ctx.origin[0]
    x = torch.arange(shape[1], dtype=torch.int64, device=dev) + ctx.origin[1]
    c = torch.arange(channels, dtype=torch.int64, device=dev)
    base = (int(seed) * 0x9E3779B1 + stream * 0x85EBCA77) & 0xFFFFFFFF
    row = _mix32(_mix32(base + c[:, None, None]) ^ y[None, :, None])
    return _mix32(row + x[None, None, :] * 0x27D4EB2F)


@lru_cache(maxsize=8)
def _normal_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Box-Muller's two factors for each 16-bit half: ``sqrt(-2 log u)`` and
    ``cos(2 pi u)``, ``u = (k + 0.5) / 65536`` (float32 look-up tables)."""
    u = (np.arange(65536, dtype=np.float64) + 0.5) / 65536.0
    radius = np.sqrt(detmath.log(u) * -2.0).astype(np.float32)
    angle = detmath.sincos(u * (2.0 * math.pi))[1].astype(np.float32)
    return torch.from_numpy(radius).to(device), torch.from_numpy(angle).to(device)


def pixel_normal(seed: int, stream: int, ctx: Context, shape: tuple[int, int],
                 channels: int = 1) -> torch.Tensor:
    """Per-pixel standard normals, float32 (channels, h, w): Box-Muller on the two 16-bit
    halves of one hash (tails cut at about 4.7 sigma), by table look-up."""
    v = pixel_hash(seed, stream, ctx, shape, channels)
    radius, angle = _normal_tables(torch.device(ctx.device))
    return radius[v >> 16] * angle[v & 0xFFFF]


def smooth_curve(rng: np.random.Generator, start: Sequence[float], length: float,
                 wiggle: float, step: float = 1.0) -> np.ndarray:
    """(N, 2) points (y, x) of a smooth random curve: heading drifts by a smoothed
    random walk (``wiggle`` radians of turn per 100 px)."""
    n = max(2, int(length / step))
    heading0 = rng.uniform(0, 2 * math.pi)
    knots = rng.normal(0, wiggle, size=max(2, n // 100 + 2))
    turn = np.interp(np.arange(n), np.linspace(0, n, knots.size), knots) * step / 100.0
    heading = heading0 + np.cumsum(turn)
    pts = np.cumsum(np.stack(detmath.sincos(heading), 1) * step, axis=0)
    return pts + np.asarray(start, dtype=np.float64)


def wobbly_circle(rng: np.random.Generator, centre: Sequence[float], radius: float,
                  step: float = 1.0) -> np.ndarray:
    """(N, 2) points of a hand-drawn ring: radius modulated by a few low harmonics,
    slightly more than one turn (pen overlap)."""
    turns = rng.uniform(1.0, 1.15)
    n = max(8, int(2 * math.pi * radius * turns / step))
    t = np.linspace(0, 2 * math.pi * turns, n) + rng.uniform(0, 2 * math.pi)
    r = radius * (1 + sum(rng.normal(0, 0.06) * detmath.sincos(k * t + rng.uniform(0, 6.3))[1]
                          for k in (1, 2, 3)))
    sin, cos = detmath.sincos(t)
    return np.stack([centre[0] + r * sin, centre[1] + r * cos], 1)


def points_distance(points: Sequence[np.ndarray], origin: tuple[int, int],
                    shape: tuple[int, int], reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance (float32 (h, w), px) from each window pixel to the nearest of the given
    global point sets, exact up to ``reach`` (farther pixels get ``reach + 1``), and the
    index of the set owning that nearest point (int16; -1 where farther than ``reach``)."""
    from scipy import ndimage

    y0, x0 = origin
    h, w = shape
    m = int(math.ceil(reach)) + 2
    rows, cols, owner = [], [], []
    for k, pts in enumerate(points):
        r = np.floor(pts[:, 0] + 0.5).astype(np.int64) - y0
        c = np.floor(pts[:, 1] + 0.5).astype(np.int64) - x0
        ok = (r >= -m) & (r < h + m) & (c >= -m) & (c < w + m)
        rows.append(r[ok])
        cols.append(c[ok])
        owner.append(np.full(int(ok.sum()), k, np.int16))
    dist = np.full(shape, reach + 1, np.float32)
    own = np.full(shape, -1, np.int16)
    r, c, o = np.concatenate(rows), np.concatenate(cols), np.concatenate(owner)
    if r.size == 0:
        return dist, own
    # work only on the points' bounding box grown by the reach
    ra, rb = max(int(r.min()) - m, -m), min(int(r.max()) + m + 1, h + m)
    ca, cb = max(int(c.min()) - m, -m), min(int(c.max()) + m + 1, w + m)
    grid = np.ones((rb - ra, cb - ca), dtype=bool)
    ids = np.full(grid.shape, -1, np.int16)
    grid[r - ra, c - ca] = False
    ids[r - ra, c - ca] = o
    d, (iy, ix) = ndimage.distance_transform_edt(grid, return_indices=True)
    ya, yb, xa, xb = max(ra, 0), min(rb, h), max(ca, 0), min(cb, w)
    if ya < yb and xa < xb:
        sub = (slice(ya - ra, yb - ra), slice(xa - ca, xb - ca))
        dd = np.minimum(d[sub], reach + 1).astype(np.float32)
        dist[ya:yb, xa:xb] = dd
        own[ya:yb, xa:xb] = np.where(dd <= reach, ids[iy[sub], ix[sub]], -1)
    return dist, own


def bilinear(img: torch.Tensor, sy: torch.Tensor, sx: torch.Tensor,
             fill: float | None = None) -> torch.Tensor:
    """Sample (B, C, h, w) ``img`` at window pixel coordinates ``sy, sx`` (B, H, W)
    bilinearly; outside the window: clamp to its border (``fill=None``) or ``fill``.

    Uses ``grid_sample`` (align_corners=True); its float32 normalisation depends on the
    window size, so tiles may differ from the whole image by 1 grey level on rare pixels.
    """
    b, c, h, w = img.shape
    gx = sx * (2.0 / max(w - 1, 1)) - 1.0
    gy = sy * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1).to(img.dtype)
    out = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)
    return _fill(out, sy, sx, h, w, fill)


def _fill(out, sy, sx, h, w, fill):
    if fill is None:
        return out
    inside = (sy >= -0.5) & (sy <= h - 0.5) & (sx >= -0.5) & (sx <= w - 0.5)
    return torch.where(inside[:, None], out, torch.full_like(out, fill))


def fft_filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve (B, C, h, w) with a centred odd (k, k) kernel, replicate borders, via FFT."""
    r = kernel.shape[-1] // 2
    if r == 0:
        return x * kernel.reshape(())
    xp = torch.nn.functional.pad(x, (r, r, r, r), mode="replicate")
    hp, wp = xp.shape[-2:]
    k = torch.zeros((hp, wp), dtype=x.dtype, device=x.device)
    k[: 2 * r + 1, : 2 * r + 1] = kernel.to(x.dtype)
    out = torch.fft.irfft2(torch.fft.rfft2(xp) * torch.fft.rfft2(k), s=(hp, wp))
    return out[..., 2 * r:, 2 * r:]
