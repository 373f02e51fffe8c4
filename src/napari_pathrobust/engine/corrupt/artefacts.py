"""Artefact corruptions (blur, pen markup, missing tissue, bubbles, noise, folds, ...).

All are tile-local: random geometry comes from :mod:`.fields` in global coordinates,
filters read ``halo`` pixels of context. ``jpeg`` is block-local: windows are snapped to
the global 16 px MCU grid with a 16 px margin, so tiles equal the whole image too.
Per-pixel maths uses :mod:`..detmath` (no library exp/tanh/pow), so every kind but the
FFT blurs gives the same bytes in any tile and on any machine.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
import torch
from scipy.stats import norm

from .. import detmath
from .fields import (
    Context,
    fft_filter,
    fourier_field,
    pixel_normal,
    points_distance,
    smooth_curve,
    wobbly_circle,
)

# ---------------------------------------------------------------- blur


def _disk_kernel(radius: float, alias_sigma: float) -> torch.Tensor:
    """Anti-aliased disk (4x supersampled coverage) smoothed by a Gaussian, sum 1."""
    r = int(math.ceil(radius + 3 * alias_sigma))
    t = (np.arange((2 * r + 1) * 4) + 0.5) / 4.0 - (r + 0.5)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    cover = (yy ** 2 + xx ** 2 <= radius ** 2).astype(np.float64)
    cover = cover.reshape(2 * r + 1, 4, 2 * r + 1, 4).mean(axis=(1, 3))
    if alias_sigma > 0:
        from scipy.ndimage import gaussian_filter

        cover = gaussian_filter(cover, alias_sigma, mode="constant")
    return torch.as_tensor(cover / cover.sum(), dtype=torch.float32)


def defocus_halo(p: dict) -> int:
    return int(math.ceil(p["radius"] + 3 * p["alias"])) + 1


def defocus(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Out-of-focus scan: convolution with a disk of ``radius`` px (anti-aliased)."""
    return fft_filter(x, _disk_kernel(p["radius"], p["alias"]).to(x.device))


def _line_kernel(length: float, angle: float) -> torch.Tensor:
    r = int(math.ceil(length / 2)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1))
    for t in np.linspace(-length / 2, length / 2, int(length * 4) + 1):
        y, x = r + t * math.sin(angle), r + t * math.cos(angle)
        iy, ix = int(math.floor(y)), int(math.floor(x))
        fy, fx = y - iy, x - ix
        k[iy, ix] += (1 - fy) * (1 - fx)
        k[iy, ix + 1] += (1 - fy) * fx
        k[iy + 1, ix] += fy * (1 - fx)
        k[iy + 1, ix + 1] += fy * fx
    return torch.as_tensor(k / k.sum(), dtype=torch.float32)


def motion_halo(p: dict) -> int:
    return int(math.ceil(p["length"] / 2)) + 2


def motion_blur(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Stage vibration: a line kernel of ``length`` px, angle drawn per image."""
    out = []
    for i in range(x.shape[0]):
        angle = ctx.rng(i, "motion_blur").uniform(0, math.pi)
        out.append(fft_filter(x[i:i + 1], _line_kernel(p["length"], angle).to(x.device)))
    return torch.cat(out)

# ---------------------------------------------------------------- pen markup

#: Marker-pen inks as RGB transmission (what fraction of light each ink lets through).
INKS = {"blue": (0.25, 0.45, 0.95), "green": (0.25, 0.75, 0.35),
        "black": (0.2, 0.2, 0.22), "red": (0.95, 0.25, 0.3)}


def _n_objects(density: float, full_shape) -> int:
    return max(1, int(round(density * full_shape[0] * full_shape[1] / 1e6)))


def markup_strokes(seed: int, full_shape, n: int) -> list[tuple[np.ndarray, str]]:
    """The first ``n`` pen strokes of this seed over the whole image: (points, ink).

    Strokes are drawn in a fixed order from one generator, so a higher severity (more
    strokes) keeps every stroke of a lower one. About one in four is a ring (circled area).
    """
    from .fields import make_rng

    rng = make_rng(seed, "markup")
    h, w = full_shape
    out = []
    inks = list(INKS)
    for _ in range(n):
        ink = inks[int(rng.choice(len(inks), p=[0.5, 0.3, 0.15, 0.05]))]
        centre = (rng.uniform(0, h), rng.uniform(0, w))
        if rng.random() < 0.25:
            radius = rng.uniform(0.15, 0.35) * min(h, w) + 20
            out.append((wobbly_circle(rng, centre, radius), ink))
        else:
            length = rng.uniform(0.4, 1.2) * max(h, w) + 100
            start = (centre[0] - 0.0, centre[1] - 0.0)
            pts = smooth_curve(rng, start, length, wiggle=1.2)
            out.append((pts - (pts[len(pts) // 2] - np.asarray(centre)), ink))
    return out


def markup_coverage(seed: int, p: dict, ctx: Context, shape) -> tuple[np.ndarray, np.ndarray]:
    """Stroke opacity (float32 (h, w)) in the window and the ink index (into ``INKS``)
    of the nearest stroke (where strokes overlap, the nearer one's ink shows)."""
    strokes = markup_strokes(seed, ctx.full_shape, _n_objects(p["density"], ctx.full_shape))
    half = p["width"] / 2.0
    d, owner = points_distance([s for s, _ in strokes], ctx.origin, shape, half + 2)
    inks = np.array([list(INKS).index(k) for _, k in strokes] + [0], np.int16)
    alpha = (np.clip(half - d + 0.5, 0.0, 1.0) * p["alpha"]).astype(np.float32)
    return alpha, inks[owner]


def markup(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Marker-pen strokes and circles: semi-transparent absorbing ink of ``width`` px."""
    out = []
    table = torch.tensor(list(INKS.values()), dtype=x.dtype, device=x.device)  # (4, 3)
    for i in range(x.shape[0]):
        a, ink = markup_coverage(ctx.seeds[i], p, ctx, x.shape[-2:])
        if not a.any():
            out.append(x[i])
            continue
        # uneven ink load along the strokes: a global smooth field
        g = fourier_field(ctx.rng(i, "markup_grain"), ctx, x.shape[-2:], 40.0, n=16)
        alpha = (torch.as_tensor(a, device=x.device) * (1.0 + 0.12 * detmath.tanh(g)).to(x.dtype))
        t = table[torch.as_tensor(ink.astype(np.int64), device=x.device)].permute(2, 0, 1)
        out.append(x[i] * (1 - alpha.clamp(0, 1) * (1 - t)))
    return torch.stack(out)


# ---------------------------------------------------------------- missing tissue


def _blob_length(full_shape) -> float:
    return float(np.clip(min(full_shape) / 6.0, 40.0, 300.0))


def incompleteness_mask(seed: int, p: dict, ctx: Context, shape) -> torch.Tensor:
    """Soft mask (float (h, w), 1 = missing) of torn-away tissue covering about ``frac``."""
    from .fields import make_rng

    rng = make_rng(seed, "incompleteness")
    f = fourier_field(rng, ctx, shape, _blob_length(ctx.full_shape))
    t = float(norm.isf(p["frac"]))
    # plus one seeded disc of about half the target area, so every image loses tissue
    full = ctx.full_shape
    cy, cx = rng.uniform(0.2, 0.8) * full[0], rng.uniform(0.2, 0.8) * full[1]
    r = math.sqrt(p["frac"] * 0.5 / math.pi) * min(full)
    y = torch.arange(shape[0], dtype=torch.float64, device=ctx.device) + ctx.origin[0] - cy
    x = torch.arange(shape[1], dtype=torch.float64, device=ctx.device) + ctx.origin[1] - cx
    bump = t + 1.0 - torch.sqrt(y[:, None] * y[:, None] + x[None, :] * x[None, :]) / r
    f = torch.maximum(f, bump)
    return ((f - t) / 0.08 + 0.5).clamp(0.0, 1.0)


def incompleteness(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Missing tissue: smooth random regions (``frac`` of the area) replaced by glass."""
    out = []
    glass = torch.tensor([0.95, 0.94, 0.96], dtype=x.dtype, device=x.device).view(3, 1, 1)
    for i in range(x.shape[0]):
        m = incompleteness_mask(ctx.seeds[i], p, ctx, x.shape[-2:]).to(x.dtype)
        out.append(x[i] * (1 - m) + glass * m)
    return torch.stack(out)

# ---------------------------------------------------------------- other artefacts


def air_bubbles(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Air under the coverslip: hazy discs of radius ``radius`` px with a dark refractive rim."""
    from .fields import make_rng

    out = x.clone()
    h, w = x.shape[-2:]
    y0, x0 = ctx.origin
    for i in range(x.shape[0]):
        rng = make_rng(ctx.seeds[i], "air_bubbles")
        for _ in range(_n_objects(p["density"], ctx.full_shape)):
            cy, cx = rng.uniform(0, ctx.full_shape[0]), rng.uniform(0, ctx.full_shape[1])
            r = p["radius"] * rng.uniform(0.6, 1.4)
            ya, yb = max(0, int(cy - r - 8) - y0), min(h, int(cy + r + 8) - y0 + 1)
            xa, xb = max(0, int(cx - r - 8) - x0), min(w, int(cx + r + 8) - x0 + 1)
            if ya >= yb or xa >= xb:
                continue
            yy = torch.arange(ya, yb, dtype=torch.float64, device=x.device) + y0 - cy
            xx = torch.arange(xa, xb, dtype=torch.float64, device=x.device) + x0 - cx
            d = torch.sqrt(yy[:, None] * yy[:, None] + xx[None, :] * xx[None, :])
            inside = (r - d + 0.5).clamp(0, 1).to(x.dtype)
            z = (d - r) / 2.5
            rim = detmath.exp((z * z * -0.5).clamp(min=-60.0)).to(x.dtype)
            patch = out[i, :, ya:yb, xa:xb]
            patch = patch * (1 - 0.35 * inside) + 0.35 * inside * 0.97  # haze
            out[i, :, ya:yb, xa:xb] = patch * (1 - 0.6 * rim)
    return out


def sensor_noise(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Camera noise: shot (signal-dependent) plus read (Gaussian) noise, per pixel/channel."""
    out = []
    for i in range(x.shape[0]):
        n = pixel_normal(ctx.seeds[i], 1, ctx, x.shape[-2:], channels=3)
        sigma = torch.sqrt(p["read"] * p["read"] + p["shot"] * p["shot"] * x[i].clamp(min=0))
        out.append(x[i] + sigma * n)
    return torch.stack(out)


def uneven_illumination(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Smooth multiplicative light fall-off/hot spots: gain ``1 + strength * tanh(field)``."""
    out = []
    length = float(np.clip(min(ctx.full_shape) / 2.0, 100.0, 2000.0))
    for i in range(x.shape[0]):
        f = fourier_field(ctx.rng(i, "illumination"), ctx, x.shape[-2:], length, n=16)
        gain = (1.0 + p["strength"] * detmath.tanh(f)).to(x.dtype)
        out.append(x[i] * gain)
    return torch.stack(out)


def tissue_fold(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """Folded tissue: bands of ``width`` px where the section lies double (OD x 2)."""
    from .fields import make_rng

    out = x.clone()
    for i in range(x.shape[0]):
        rng = make_rng(ctx.seeds[i], "tissue_fold")
        h, w = ctx.full_shape
        curves = []
        for _ in range(_n_objects(p["density"], ctx.full_shape)):
            start = (rng.uniform(0, h), rng.uniform(0, w))
            pts = smooth_curve(rng, start, rng.uniform(0.6, 1.2) * max(h, w), wiggle=0.6)
            curves.append(pts - (pts[len(pts) // 2] - np.asarray(start)))
        half = p["width"] / 2.0
        d, _ = points_distance(curves, ctx.origin, x.shape[-2:], half + 2)
        m = torch.as_tensor(np.clip(half - d + 0.5, 0, 1), device=x.device)
        # transmission t -> t ** (1 + m): double optical density inside the fold
        t = x[i].clamp(min=1 / 255.0)
        fold = m > 0
        if bool(fold.any()):
            level = torch.round(t[:, fold] * 255.0).to(torch.int64)
            log_t = _log_levels(x.device)[level]
            t[:, fold] = detmath.exp(log_t * (1.0 + m[fold])).to(x.dtype)
        out[i] = t
    return out


@lru_cache(maxsize=8)
def _log_levels(device: torch.device) -> torch.Tensor:
    """float64 ``log(I / 255)`` of each uint8 level I (level 0 as 1)."""
    levels = np.maximum(np.arange(256, dtype=np.float64), 1.0) / 255.0
    return torch.as_tensor(detmath.log(levels), device=device)


def jpeg(x: torch.Tensor, p: dict, ctx: Context) -> torch.Tensor:
    """JPEG re-compression at ``quality`` (Pillow, 4:2:0), on the CPU."""
    from PIL import Image

    arr = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for a in arr:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(p["quality"]))
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return torch.as_tensor(np.stack(out), device=x.device).permute(0, 3, 1, 2).to(x.dtype) / 255
