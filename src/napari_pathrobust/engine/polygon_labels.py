"""Cell polygons (GeoJSON) as label images, rasterised lazily block by block.

A slide-level GeoJSON spans the whole slide: its label image is never allocated whole.
:class:`PolygonLabels` paints only the polygons that touch the requested block (found
through a bucket grid built once), so reading a block costs its own size, and
:func:`lazy_label_levels` wraps it as dask arrays (a strided pyramid for large extents).
A pixel belongs to a polygon when its centre lies inside; earlier cells keep
overlapping pixels, exactly as when the whole image is painted at once.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from . import cell_classes as classes_
from .progress import Reporter

#: side of the bucket grid (level-0 pixels) used to find the polygons of a block
BUCKET = 1024
#: side of the dask chunks of a lazily rasterised level
CHUNK = 2048
#: extents up to this many pixels are painted at once (an editable numpy layer)
EAGER_MAX_PIXELS = 8192 * 8192


def assign_labels(cells: Sequence[dict]) -> list[int]:
    """Each cell's label: its own ``label``, else the next free id (in cell order)."""
    used = {int(c["label"]) for c in cells if c.get("label") is not None}
    next_id = max(used, default=0) + 1
    labels = []
    for cell in cells:
        if cell.get("label") is None:
            labels.append(next_id)
            next_id += 1
        else:
            labels.append(int(cell["label"]))
    return labels


def _rings(cells: Sequence[dict], origin: tuple[int, int]) -> list[np.ndarray]:
    """Rings as (row, col) vertex arrays in layer pixel-index coordinates."""
    oy, ox = origin
    out = []
    for cell in cells:
        ring = np.asarray(cell["polygon"], dtype=np.float64).reshape(-1, 2)
        out.append(np.stack([ring[:, 1] - oy - 0.5, ring[:, 0] - ox - 0.5], axis=1))
    return out


class PolygonLabels:
    """Array-like uint32 label image of polygons, painted on demand by ``[rows, cols]``.

    ``step`` > 1 gives the strided level ``level0[::step, ::step]``.
    """

    ndim = 2
    dtype = np.dtype(np.uint32)

    def __init__(self, rings: list[np.ndarray], labels: Sequence[int], shape: tuple[int, int],
                 step: int = 1, buckets: Optional[dict] = None):
        self.rings, self.labels, self.step = rings, list(labels), int(step)
        self.level0_shape = (int(shape[0]), int(shape[1]))
        self.shape = tuple(math.ceil(s / self.step) for s in self.level0_shape)
        self.buckets = buckets if buckets is not None else self._bucket(rings)

    @staticmethod
    def _bucket(rings: list[np.ndarray]) -> dict[tuple[int, int], list[int]]:
        grid: dict[tuple[int, int], list[int]] = {}
        for i, ring in enumerate(rings):
            if not len(ring):
                continue
            lo, hi = np.floor(ring.min(axis=0)), np.ceil(ring.max(axis=0))
            for by in range(int(lo[0]) // BUCKET, int(hi[0]) // BUCKET + 1):
                for bx in range(int(lo[1]) // BUCKET, int(hi[1]) // BUCKET + 1):
                    grid.setdefault((by, bx), []).append(i)
        return grid

    def level(self, step: int) -> "PolygonLabels":
        """The strided level ``level0[::step, ::step]`` sharing this index."""
        return PolygonLabels(self.rings, self.labels, self.level0_shape, step, self.buckets)

    def _cells_in(self, y0: int, y1: int, x0: int, x1: int) -> list[int]:
        s = self.step
        found: set[int] = set()
        for by in range((y0 * s - 1) // BUCKET, (y1 * s) // BUCKET + 1):
            for bx in range((x0 * s - 1) // BUCKET, (x1 * s) // BUCKET + 1):
                found.update(self.buckets.get((by, bx), ()))
        return sorted(found)  # cell order: earlier cells keep overlapping pixels

    def block(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Labels of rows ``y0:y1`` and columns ``x0:x1`` of this level."""
        from skimage.draw import polygon as fill_polygon

        out = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), dtype=np.uint32)
        if out.size == 0:
            return out
        for i in self._cells_in(y0, y1, x0, x1):
            ring = self.rings[i] / self.step
            rr, cc = fill_polygon(ring[:, 0] - y0, ring[:, 1] - x0, out.shape)
            free = out[rr, cc] == 0
            out[rr[free], cc[free]] = self.labels[i]
        return out

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = tuple(key) + (slice(None),) * (2 - len(key))
        bounds = []
        for k, n in zip(key, self.shape):
            if not isinstance(k, slice):
                raise TypeError("PolygonLabels supports slices only")
            start, stop, stride = k.indices(n)
            bounds.append((start, max(start, stop), stride))
        (y0, y1, sy), (x0, x1, sx) = bounds
        return self.block(y0, y1, x0, x1)[::sy, ::sx]


def lazy_label_levels(cells: Sequence[dict], shape: tuple[int, int],
                      origin: tuple[int, int] = (0, 0), min_side: int = 2048,
                      chunk: int = CHUNK) -> list:
    """Dask levels (level k = level 0 [::2**k, ::2**k]) painted block by block on demand;
    levels are added while the last one is larger than ``min_side`` a side."""
    import dask.array as da

    base = PolygonLabels(_rings(cells, origin), assign_labels(cells), shape)
    levels, step = [], 1
    while True:
        level = base.level(step)
        levels.append(da.from_array(level, chunks=(chunk, chunk), name=False, asarray=False,
                                    lock=False, fancy=False,
                                    meta=np.zeros((0, 0), np.uint32)))
        if max(level.shape) <= min_side:
            return levels
        step *= 2


def paint_labels(cells: Sequence[dict], shape: tuple[int, int],
                 origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """All polygons painted into one numpy label image (for small extents)."""
    return PolygonLabels(_rings(cells, origin), assign_labels(cells), shape).block(
        0, int(shape[0]), 0, int(shape[1]))


def cell_features(cells: Sequence[dict], origin: tuple[int, int] = (0, 0),
                  reporter: Optional[Reporter] = None) -> dict[str, list]:
    """Per-cell table (label, centroid x/y in layer pixels, area, the compound class and
    its parts, status, stored measurements), each polygon rasterised in its own bounding
    box only."""
    from skimage.draw import polygon as fill_polygon

    labels = assign_labels(cells)
    rows: list[dict] = []
    for i, (cell, ring, label) in enumerate(zip(cells, _rings(cells, origin), labels)):
        if reporter is not None and i % 4096 == 0:
            reporter.report(i, len(cells), "cell features")
        rr = cc = np.zeros(0, int)
        if len(ring):
            lo = np.floor(ring.min(axis=0)).astype(int)
            hi = np.ceil(ring.max(axis=0)).astype(int) + 1
            rr, cc = fill_polygon(ring[:, 0] - lo[0], ring[:, 1] - lo[1],
                                  (int(hi[0] - lo[0]), int(hi[1] - lo[1])))
            rr, cc = rr + lo[0], cc + lo[1]
        measurements = {k: (np.nan if v is None else v)
                        for k, v in (cell.get("measurements") or {}).items()}
        area = measurements.pop("area", None)
        rows.append({
            "label": int(label),
            "x": float(cc.mean()) if cc.size else np.nan,
            "y": float(rr.mean()) if rr.size else np.nan,
            "area": int(rr.size if area is None or not np.isfinite(area) else round(area)),
            **_classes(cell),
            classes_.STATUS: cell.get(classes_.STATUS) or classes_.UNREVIEWED,
            **measurements,
        })
    columns: dict[str, list] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    features = {key: [row.get(key, np.nan) for row in rows] for key in columns}
    features["index"] = [row["label"] for row in rows]  # napari: feature row of a label
    return features


def _classes(cell: dict) -> dict:
    """The class columns of one read cell (parts split out of its name when absent)."""
    k = classes_
    base, intensity = k.parts_of(cell.get(k.BASE), cell.get(k.INTENSITY),
                                 cell.get(k.CLASSIFICATION))
    probability = cell.get(k.PROBABILITY)
    return {k.CLASSIFICATION: k.compose(base, intensity), k.BASE: base,
            k.INTENSITY: intensity, k.SOURCE: cell.get(k.SOURCE) or "",
            k.PROBABILITY: np.nan if probability is None else float(probability)}


__all__ = ["PolygonLabels", "lazy_label_levels", "paint_labels", "cell_features",
           "assign_labels", "EAGER_MAX_PIXELS"]
