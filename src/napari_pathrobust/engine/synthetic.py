"""Seeded synthetic H&E-like tiles with exact nucleus instance labels (for tests).

Tiles are composed in optical-density space (Beer-Lambert) from a hematoxylin and
an eosin concentration map with the Ruifrok stain vectors, so colour
deconvolution (:func:`napari_pathrobust.engine.stain.hematoxylin_od`) recovers
the hematoxylin map up to noise and blur.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .stain import compose_od, od_to_rgb


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered white noise (float32)."""
    f = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return (f - f.mean()) / (f.std() + 1e-8)


def _ellipse_box(shape, cy, cx, a, b, theta):
    """Bounding box slices and boolean mask of an ellipse (semi-axes a, b, angle theta)."""
    r = int(np.ceil(max(a, b))) + 1
    y0, y1 = max(int(np.floor(cy)) - r, 0), min(int(np.ceil(cy)) + r + 1, shape[0])
    x0, x1 = max(int(np.floor(cx)) - r, 0), min(int(np.ceil(cx)) + r + 1, shape[1])
    if y0 >= y1 or x0 >= x1:
        return None, None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * dx + s * dy, -s * dx + c * dy
    return (slice(y0, y1), slice(x0, x1)), (u / a) ** 2 + (v / b) ** 2 <= 1.0


def synthetic_he_tile(
    shape: tuple[int, int] = (256, 256),
    n_nuclei: int | None = None,
    seed: int = 0,
    centers: list[tuple[float, float]] | None = None,
    radius_range: tuple[float, float] = (5, 10),
    touching_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a synthetic H&E tile and its exact instance labels.

    Pink, smoothly textured eosin background (stroma-like) with a faint
    hematoxylin haze; purple-blue elliptical nuclei (random size within
    ``radius_range`` for the semi-major axis, aspect 0.6-1, random orientation,
    per-nucleus stain strength and chromatin texture); slight optical blur and
    pixel noise.  Nuclei never overlap; about ``touching_fraction`` of them are
    placed touching an earlier one.  ``centers`` (row, col) forces nuclei at
    given positions (placed first; e.g. straddling tile borders).
    ``n_nuclei`` defaults to one nucleus per ~1500 px of tile area (random ones,
    in addition to ``centers``).

    Returns ``(rgb uint8 (H, W, 3), labels int32 (H, W))`` with labels 1..n,
    one connected region per nucleus.  Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    h_img, w_img = int(shape[0]), int(shape[1])
    shape = (h_img, w_img)
    if n_nuclei is None:
        n_nuclei = max(1, int(round(h_img * w_img / 1500)))
    rmin, rmax = float(radius_range[0]), float(radius_range[1])

    labels = np.zeros(shape, np.int32)
    strength = [0.0]  # per label hematoxylin OD of the nucleus (index 0 unused)
    placed: list[tuple[float, float, float]] = []  # (cy, cx, a)

    def try_place(cy, cx, a, forced: bool, touching: bool) -> bool:
        b = a * rng.uniform(0.6, 1.0)
        theta = rng.uniform(0, np.pi)
        box, ell = _ellipse_box(shape, cy, cx, a, b, theta)
        if box is None:
            return False
        sub = labels[box]
        if not forced:
            # keep a 2-px gap to other nuclei unless deliberately touching
            grown = ell if touching else ndi.binary_dilation(ell, iterations=2)
            occupied = (sub > 0) & grown
            if touching:
                if occupied.sum() > 0.25 * ell.sum():
                    return False
            elif occupied.any():
                return False
        free = ell & (sub == 0)
        if free.sum() < 0.5 * np.pi * rmin * rmin * 0.6:
            return False
        lab, n = ndi.label(free)
        if n > 1:  # keep the largest piece so each label stays one region
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            free = lab == int(np.argmax(sizes))
        new_id = len(strength)
        sub[free] = new_id
        strength.append(rng.uniform(0.45, 0.95))
        placed.append((cy, cx, a))
        return True

    for cy, cx in centers or []:
        try_place(float(cy), float(cx), rng.uniform(rmin, rmax), True, False)

    n_target = len(strength) - 1 + int(n_nuclei)
    attempts = 0
    while len(strength) - 1 < n_target and attempts < 50 * max(n_nuclei, 1):
        attempts += 1
        a = rng.uniform(rmin, rmax)
        if placed and rng.random() < touching_fraction:
            py, px, pa = placed[rng.integers(len(placed))]
            ang = rng.uniform(0, 2 * np.pi)
            d = (pa + a) * rng.uniform(0.85, 1.0)
            try_place(py + d * np.sin(ang), px + d * np.cos(ang), a, False, True)
        else:
            try_place(rng.uniform(0, h_img), rng.uniform(0, w_img), a, False, False)

    # stain concentration maps
    bg = _smooth_noise(rng, shape, 6.0)
    fibres = _smooth_noise(rng, shape, 1.5)
    e = np.clip(0.30 + 0.10 * bg + 0.05 * fibres, 0.05, None)
    hem = np.clip(0.06 + 0.03 * _smooth_noise(rng, shape, 4.0), 0.0, None)
    nuc = labels > 0
    chrom = _smooth_noise(rng, shape, 1.0)
    s = np.asarray(strength, np.float32)[labels]
    hem = np.where(nuc, s * (1.0 + 0.2 * chrom), hem).astype(np.float32)
    e = np.where(nuc, 0.6 * e, e).astype(np.float32)
    od_rgb = compose_od(hem, e)
    od_rgb = ndi.gaussian_filter(od_rgb, sigma=(0.8, 0.8, 0), mode="nearest")
    od_rgb += 0.015 * rng.standard_normal(od_rgb.shape).astype(np.float32)
    rgb = od_to_rgb(np.clip(od_rgb, 0, None))

    # relabel 1..n (all ids are used, but keep it robust)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(len(strength), np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return rgb, lut[labels]
