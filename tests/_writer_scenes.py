"""Shared scenes for the writer tests: labelled ellipses, records, leftovers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.draw import disk, ellipse
from skimage.draw import polygon as draw_polygon

from napari_pathrobust.engine.nucleus_records import measure_objects


def scene(h=160, w=200, seed=0):
    rng = np.random.default_rng(seed)
    lab = np.zeros((h, w), np.int32)
    n = 0
    for cy in range(18, h - 10, 34):
        for cx in range(18, w - 40, 34):
            n += 1
            rr, cc = ellipse(cy, cx, rng.uniform(5, 11), rng.uniform(4, 9),
                             rotation=rng.uniform(0, np.pi), shape=lab.shape)
            lab[rr, cc] = n
    for cy in (30, 100):  # touching pair
        rr, cc = disk((cy, w - 20), 8, shape=lab.shape)
        n += 1
        lab[rr, cc] = n
        n += 1
        lab[rr[cc < w - 20], cc[cc < w - 20]] = n
    rgb = rng.integers(150, 256, (h, w, 3)).astype(np.uint8)
    rgb[lab > 0] = (90, 50, 150)
    return lab, rgb


def labelled_records(lab, rgb, mpp=None):
    recs = measure_objects(lab, rgb, mpp=mpp)
    for i, rec in enumerate(recs, start=1):
        rec.label = i
    return recs


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def rasterise(ring, y0, x0, shape):
    pts = np.asarray(ring)
    out = np.zeros(shape, bool)
    rr, cc = draw_polygon(pts[:, 1] - 0.5 - y0, pts[:, 0] - 0.5 - x0, shape=shape)
    out[rr, cc] = True
    return out
