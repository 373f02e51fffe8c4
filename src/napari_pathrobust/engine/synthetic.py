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


#: nominal nuclear DAB OD per intensity bin (0 = negative) of :func:`synthetic_ihc_tile`:
#: centred in QuPath's default bins (0.2 / 0.4 / 0.6 OD) as measured by
#: :mod:`.ihc.measurements` (the outline blur lowers a nucleus' mean a little)
IHC_DAB_LEVELS = {0: (0.0, 0.0), 1: (0.29, 0.34), 2: (0.49, 0.54), 3: (0.76, 0.86)}
#: pigment (melanin / haemosiderin-like) optical density direction: brown-black
PIGMENT_OD = np.array([0.52, 0.60, 0.61], np.float32) / np.linalg.norm([0.52, 0.60, 0.61])


def synthetic_ihc_tile(size: int = 512, seed: int = 0, n_nuclei: int | None = None,
                       positive_fraction: float = 0.4, cytoplasm_fraction: float = 0.3,
                       n_pigment: int | None = None, n_sheets: int | None = None,
                       radius_range: tuple[float, float] = (10, 15)):
    """A seeded synthetic H-DAB (e.g. Ki-67) tile with known nuclei, classes and bins.

    Blue hematoxylin nuclei (negative, bin 0) and brown DAB-positive nuclei whose
    nominal DAB OD falls in bin 1+ (weak), 2+ (moderate) or 3+ (strong) of QuPath's
    default thresholds (:data:`IHC_DAB_LEVELS`; positive nuclei keep a lighter
    hematoxylin counterstain, the strongest the least). Distractors that are not
    nuclei: brown cytoplasm rings or crescents (DAB 0.18-0.32 OD, 1-2.5 um wide at
    0.25 um/px) around ``cytoplasm_fraction`` of the negative cells, ``n_sheets`` sheets
    of brown cytoplasm (DAB 0.2-0.3 OD, 20-45 um wide ellipses around the nuclei in
    them; default one per 512 x 512 px) and dark pigment specks (radius 1-3 px).
    Composed in optical density with the fixed H-DAB vectors
    (:data:`.stain.RGB_FROM_HDX`), slightly blurred, with pixel noise.

    Returns ``(rgb uint8 (size, size, 3), labels int32, truth)``; ``truth`` is a
    ``pandas.DataFrame`` with one row per nucleus: ``label, y, x`` (centroid),
    ``positive`` (bool), ``bin`` (0..3), ``dab_level`` (nominal nuclear DAB OD) and
    ``hema_level``. Deterministic for a given ``seed``.
    """
    import pandas as pd

    from .stain import RGB_FROM_HDX

    rng = np.random.default_rng(seed)
    shape = (int(size), int(size))
    if n_nuclei is None:
        n_nuclei = max(1, int(round(shape[0] * shape[1] / 2600)))
    _, labels = synthetic_he_tile(shape=shape, n_nuclei=n_nuclei, seed=seed,
                                  radius_range=radius_range, touching_fraction=0.1)
    n = int(labels.max())
    ids = np.arange(1, n + 1)
    positive = rng.random(n) < positive_fraction
    bins = np.where(positive, rng.integers(1, 4, n), 0)
    dab_level = np.array([rng.uniform(*IHC_DAB_LEVELS[int(b)]) for b in bins], np.float32)
    hema_level = np.where(bins == 0, rng.uniform(0.45, 0.8, n),
                          np.where(bins == 3, rng.uniform(0.10, 0.2, n),
                                   rng.uniform(0.18, 0.3, n))).astype(np.float32)

    nuc = labels > 0
    chrom = _smooth_noise(rng, shape, 1.0)
    lut_h = np.concatenate([[0.0], hema_level]).astype(np.float32)
    lut_d = np.concatenate([[0.0], dab_level]).astype(np.float32)
    hem = np.clip(0.05 + 0.02 * _smooth_noise(rng, shape, 4.0), 0.0, None)
    hem = np.where(nuc, lut_h[labels] * (1.0 + 0.15 * chrom), hem).astype(np.float32)
    dab = np.where(nuc, lut_d[labels] * (1.0 + 0.1 * chrom),
                   np.clip(0.01 + 0.01 * _smooth_noise(rng, shape, 4.0), 0, None))
    dab = dab.astype(np.float32)

    # brown cytoplasm: rings or crescents around some negative nuclei
    dist, (iy, ix) = ndi.distance_transform_edt(~nuc, return_indices=True)
    owner = labels[iy, ix]
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    centroids = np.array(ndi.center_of_mass(nuc, labels, ids)).reshape(-1, 2)
    for i in np.flatnonzero((bins == 0) & (rng.random(n) < cytoplasm_fraction)):
        width = rng.uniform(4.0, 10.0)
        ring = (owner == i + 1) & (dist > 0) & (dist <= width)
        if rng.random() < 0.5:  # a crescent: half of the ring
            cy, cx = centroids[i]
            ang = np.arctan2(yy - cy, xx - cx)
            ring &= np.cos(ang - rng.uniform(-np.pi, np.pi)) > 0
        dab[ring] = rng.uniform(0.18, 0.32) * (1.0 + 0.15 * chrom[ring])

    # sheets of brown cytoplasm around whatever nuclei lie in them
    if n_sheets is None:
        n_sheets = int(round(shape[0] * shape[1] / 512 ** 2))
    for _ in range(int(n_sheets)):
        box, ell = _ellipse_box(shape, rng.uniform(0, shape[0]), rng.uniform(0, shape[1]),
                                rng.uniform(40, 90), rng.uniform(40, 70), rng.uniform(0, np.pi))
        if box is not None:
            region = ell & ~nuc[box]
            dab[box][region] = rng.uniform(0.2, 0.3) * (1.0 + 0.15 * chrom[box][region])
    # pigment specks, away from the nuclei
    if n_pigment is None:
        n_pigment = max(1, int(round(shape[0] * shape[1] / 9000)))
    pigment = np.zeros(shape, np.float32)
    for _ in range(int(n_pigment)):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        r = rng.uniform(1.0, 3.0)
        spot = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        if (spot & (dist < 3)).any():
            continue
        pigment[spot] = rng.uniform(0.9, 1.4)

    m = RGB_FROM_HDX.astype(np.float32)
    od_rgb = hem[..., None] * m[0] + dab[..., None] * m[1] + pigment[..., None] * PIGMENT_OD
    od_rgb = ndi.gaussian_filter(od_rgb, sigma=(0.8, 0.8, 0), mode="nearest")
    od_rgb += 0.015 * rng.standard_normal(od_rgb.shape).astype(np.float32)
    rgb = od_to_rgb(np.clip(od_rgb, 0, None))
    truth = pd.DataFrame({"label": ids.astype(np.int32), "y": centroids[:, 0],
                          "x": centroids[:, 1], "positive": positive,
                          "bin": bins.astype(np.int64), "dab_level": dab_level,
                          "hema_level": hema_level})
    return rgb, labels.astype(np.int32), truth
