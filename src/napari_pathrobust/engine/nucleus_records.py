"""Per-nucleus records, measurements and outlines.

A tile worker turns its instance-label window into :class:`NucleusRecord` objects with
:func:`measure_objects`; the sink assigns global ids and streams the records to the writers,
which turn masks into QuPath-convention polygons with :func:`record_polygon`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
from skimage.measure import find_contours, regionprops

from . import cell_classes as cc
from .errors import InputError
from .stain import hematoxylin_od

__all__ = [
    "NucleusRecord",
    "hematoxylin_od",
    "measure_objects",
    "record_polygon",
    "features_table",
    "BASE_COLUMNS",
    "LEGACY_COLUMNS",
]

#: Columns of the cells tables and CSV files written before base and intensity classes
LEGACY_COLUMNS = ("label", "x", "y", "area", cc.CLASSIFICATION, cc.STATUS)
#: Columns that precede the measurements in tables and CSV files: the legacy ones (the
#: compound ``classification`` first), then the class parts (:mod:`.cell_classes`).
BASE_COLUMNS = (*LEGACY_COLUMNS, *cc.CLASS_COLUMNS)

@dataclass
class NucleusRecord:
    """One detected nucleus in global image coordinates."""

    label: int  # global id; 0 until the sink assigns one
    y0: int  # global row of mask[0, 0]
    x0: int  # global column of mask[0, 0]
    mask: np.ndarray  # bool (h, w) crop of the object
    centroid_y: float  # global row mean of the object's pixels
    centroid_x: float  # global column mean of the object's pixels
    area: int  # pixels
    measurements: dict[str, float] = field(default_factory=dict)
    classification: str = cc.NO_CLASS  # compound name; the parts below win when set
    status: str = cc.UNREVIEWED
    polygon: Optional[list] = None  # outline cached by the tile worker (record_polygon)
    base_class: str = ""  # Tumor, Stroma, ... ('' = none), see engine.cell_classes
    intensity: str = ""  # Negative, Positive, 1+, 2+, 3+ ('' = none)
    class_source: str = ""  # pathologist, classifier or ''
    class_probability: float = float("nan")

    def class_parts(self) -> tuple[str, str]:
        """``(base, intensity)``: the parts, or those of ``classification`` when neither
        part is set (a method's or an older caller's class name)."""
        if not (self.base_class or self.intensity or self.classification != cc.NO_CLASS):
            return "", ""  # the common case, quickly
        return cc.parts_of(self.base_class, self.intensity, self.classification)

    def compound(self) -> str:
        """The QuPath-style class name, ``"Tumor: Positive"`` (see :func:`cc.compose`)."""
        return cc.compose(*self.class_parts())


# skimage / Benkrid-Crookes perimeter weights, indexed by the neighbourhood code of a
# border pixel: 1 + 2 * (4-neighbours on the border) + 10 * (diagonal ones on the border).
_PERIMETER_WEIGHTS = np.zeros(50, dtype=np.float64)
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1.0
_PERIMETER_WEIGHTS[[21, 33]] = np.sqrt(2.0)
_PERIMETER_WEIGHTS[[13, 23]] = (1.0 + np.sqrt(2.0)) / 2.0


def _border_pixels(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, cols and perimeter weights of every object's 4-connected border pixels."""
    h, w = lab.shape
    p = np.pad(lab, 1)
    c = p[1:-1, 1:-1]
    border = (c > 0) & ((p[:-2, 1:-1] != c) | (p[2:, 1:-1] != c)
                        | (p[1:-1, :-2] != c) | (p[1:-1, 2:] != c))
    rows, cols = np.nonzero(border)
    if rows.size == 0:
        return rows, cols, np.zeros(0)
    pb = np.pad(border, 1)
    code = np.ones(rows.size, dtype=np.int64)
    own = lab[rows, cols]
    pr, pc = rows + 1, cols + 1
    for dr, dc, wgt in ((-1, 0, 2), (1, 0, 2), (0, -1, 2), (0, 1, 2),
                        (-1, -1, 10), (-1, 1, 10), (1, -1, 10), (1, 1, 10)):
        same = pb[pr + dr, pc + dc] & (p[pr + dr, pc + dc] == own)
        code += wgt * same
    return rows, cols, _PERIMETER_WEIGHTS[code]


def _window_stats(lab: np.ndarray, od: Optional[np.ndarray],
                  offset: tuple[int, int] = (0, 0)) -> dict[str, np.ndarray]:
    """Per-label (index = label value) moments, perimeter, hull area and mean OD.

    Every value is computed from coordinates relative to the object's own bounding box
    and summed in raster order, and the centroid (in global coordinates, ``offset`` =
    global position of ``lab[0, 0]``) from exact integer sums: an object's numbers are
    bit-identical in every window that contains it (tiled == untiled records).
    """
    import shapely
    from scipy import ndimage as ndi

    n = int(lab.max()) + 1 if lab.size else 1
    flat = lab.ravel()
    h, w = lab.shape
    r0 = np.zeros(n, np.int64)
    c0 = np.zeros(n, np.int64)
    for v, slc in enumerate(ndi.find_objects(lab), start=1):
        if slc is not None:
            r0[v], c0[v] = slc[0].start, slc[1].start
    rr = (np.repeat(np.arange(h, dtype=np.int64), w) - r0[flat]).astype(np.float64)
    cc = (np.tile(np.arange(w, dtype=np.int64), h) - c0[flat]).astype(np.float64)
    count = np.bincount(flat, minlength=n).astype(np.float64)
    safe = np.maximum(count, 1)
    sr, sc = np.bincount(flat, rr, n), np.bincount(flat, cc, n)  # exact integer sums
    mr, mc = sr / safe, sc / safe  # box-relative means
    # central second moments (population), shifted by the mean for accuracy
    dr = rr - mr[flat]
    dc = cc - mc[flat]
    vrr = np.bincount(flat, dr * dr, n) / safe
    vcc = np.bincount(flat, dc * dc, n) / safe
    vrc = np.bincount(flat, dr * dc, n) / safe
    gy = (sr + count * (r0 + offset[0])) / safe  # global centroid from an exact sum
    gx = (sc + count * (c0 + offset[1])) / safe
    stats = {"count": count, "gy": gy, "gx": gx, "vrr": vrr, "vcc": vcc, "vrc": vrc}
    if od is not None:
        stats["od"] = np.bincount(flat, od.ravel().astype(np.float64), n) / safe
    rows, cols, weights = _border_pixels(lab)
    own = lab[rows, cols]
    stats["perimeter"] = np.bincount(own, weights, n)
    # convex hull of the pixel squares: only each row's leftmost / rightmost pixel matters
    hull = np.zeros(n, dtype=np.float64)
    if own.size:
        order = np.argsort(own, kind="stable")  # keeps row-major order within a label
        rows, cols, own = rows[order], cols[order], own[order]
        new_group = np.ones(own.size, dtype=bool)
        new_group[1:] = (own[1:] != own[:-1]) | (rows[1:] != rows[:-1])
        first = np.flatnonzero(new_group)
        last = np.append(first[1:], own.size) - 1
        g_row = rows[first].astype(np.float64)
        left = cols[first].astype(np.float64)
        right = cols[last].astype(np.float64) + 1.0
        corners = np.empty((first.size, 4, 2), dtype=np.float64)
        corners[:, 0] = np.stack([left, g_row], axis=1)
        corners[:, 1] = np.stack([left, g_row + 1], axis=1)
        corners[:, 2] = np.stack([right, g_row], axis=1)
        corners[:, 3] = np.stack([right, g_row + 1], axis=1)
        g_lab = own[first]
        present = np.unique(g_lab)
        idx = np.repeat(np.searchsorted(present, g_lab), 4)
        lines = shapely.linestrings(corners.reshape(-1, 2), indices=idx)
        hull[present] = shapely.area(shapely.convex_hull(lines))
    stats["hull_area"] = hull
    return stats


def measure_objects(
    labels: np.ndarray,
    rgb: Optional[np.ndarray],
    offset: Sequence[int] = (0, 0),
    keep: Optional[Callable[[object], bool]] = None,
    mpp: Optional[float] = None,
) -> list[NucleusRecord]:
    """Measure every labelled object of a window and return one record per kept object.

    ``labels`` is an integer (H, W) window, ``rgb`` the matching uint8 (H, W, 3) window
    (or None: no hematoxylin measurement), ``offset`` the global (row, col) of
    ``labels[0, 0]``. ``keep(region)`` receives the skimage ``RegionProperties`` (window
    coordinates; its ``label`` is a rank instead of the id when ids exceed 4x the window
    size) and decides whether the object is kept. Measurements: area (px),
    perimeter (skimage's 4-neighbourhood estimator), eccentricity, major_axis, minor_axis
    (skimage's moment definitions), solidity (area / area of the convex hull of the pixel
    squares) and mean_hematoxylin_od; with ``mpp`` (micrometres per pixel) also
    ``area_um2``, ``perimeter_um``, ``major_axis_um`` and ``minor_axis_um``.
    Records come back with ``label == 0``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError("labels", f"expected a 2-D label window, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError("labels", f"expected integer labels, got {labels.dtype}")
    if labels.size and np.issubdtype(labels.dtype, np.signedinteger) and labels.min() < 0:
        raise InputError("labels", "labels must not be negative")
    od = None
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape[:2] != labels.shape:
            raise InputError("rgb", f"shape {rgb.shape} does not match labels {labels.shape}")
        od = hematoxylin_od(rgb)
    if mpp is not None and not (mpp > 0):
        raise InputError("mpp", f"must be positive, got {mpp}")
    oy, ox = int(offset[0]), int(offset[1])

    if labels.size and labels.max() > 4 * labels.size + 1024:
        # compact huge ids so per-label arrays stay small (regions then carry ranks)
        labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    regions = regionprops(labels)
    if keep is not None:
        regions = [r for r in regions if keep(r)]
    if not regions:
        return []
    values = np.array([r.label for r in regions], dtype=np.intp)
    stats = _window_stats(labels.astype(np.intp, copy=False), od, (oy, ox))

    records: list[NucleusRecord] = []
    for region, v in zip(regions, values):
        r0, c0, _, _ = region.bbox
        area = int(stats["count"][v])
        a, b, c = stats["vrr"][v], stats["vcc"][v], stats["vrc"][v]
        half_tr, root = (a + b) / 2.0, np.hypot((a - b) / 2.0, c)
        l1, l2 = half_tr + root, max(half_tr - root, 0.0)
        hull = stats["hull_area"][v]
        m: dict[str, float] = {
            "area": float(area),
            "perimeter": float(stats["perimeter"][v]),
            "eccentricity": float(np.sqrt(1.0 - l2 / l1)) if l1 > 0 else 0.0,
            "solidity": float(area / hull) if hull > 0 else 1.0,
            "major_axis": float(4.0 * np.sqrt(l1)),
            "minor_axis": float(4.0 * np.sqrt(l2)),
        }
        if od is not None:
            m["mean_hematoxylin_od"] = float(stats["od"][v])
        if mpp is not None:
            m["area_um2"] = area * mpp * mpp
            m["perimeter_um"] = m["perimeter"] * mpp
            m["major_axis_um"] = m["major_axis"] * mpp
            m["minor_axis_um"] = m["minor_axis"] * mpp
        records.append(NucleusRecord(
            label=0, y0=oy + int(r0), x0=ox + int(c0),
            mask=np.ascontiguousarray(region.image, dtype=bool),
            centroid_y=float(stats["gy"][v]), centroid_x=float(stats["gx"][v]),
            area=area, measurements=m))
    return records


def _ring_area(ring: np.ndarray) -> float:
    """Signed shoelace area of an (N, 2) ring (closed or not); > 0 = counter-clockwise."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])
                       + x[-1] * y[0] - x[0] * y[-1])


def record_polygon(rec: NucleusRecord, simplify: float = 0.3) -> list[tuple[float, float]]:
    """Outline of a record as a closed, counter-clockwise exterior ring of (x, y) points.

    Global QuPath convention: pixel (r, c) covers [c, c+1) x [r, r+1). The ring traces the
    largest outer contour of the mask (holes are dropped) and is simplified with shapely
    (``simplify`` pixels tolerance, topology preserved; 0 disables). Counter-clockwise
    means a positive shoelace area in (x, y) numbers.
    """
    from shapely.geometry import Polygon

    mask = np.asarray(rec.mask, dtype=bool)
    if not mask.any():
        raise ValueError(f"record {rec.label} has an empty mask")
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.float32)
    padded[1:-1, 1:-1] = mask
    contours = find_contours(padded, 0.5)
    best = contours[0] if len(contours) == 1 else max(
        contours, key=lambda c: abs(_ring_area(c[:, ::-1])))
    # padded index -> window index (-1) -> pixel-corner convention (+0.5) -> global
    xy = np.empty(best.shape, dtype=np.float64)
    xy[:, 0] = best[:, 1] + (rec.x0 - 0.5)
    xy[:, 1] = best[:, 0] + (rec.y0 - 0.5)
    poly = Polygon(xy)
    if simplify and simplify > 0:
        # plain Douglas-Peucker is much faster; fall back to the topology-preserving one
        for preserve in (False, True):
            simple = poly.simplify(simplify, preserve_topology=preserve)
            if (isinstance(simple, Polygon) and not simple.is_empty and simple.is_valid
                    and simple.area > 0):
                poly = simple
                break
    if not poly.is_valid:  # pragma: no cover - marching-squares rings are simple
        fixed = poly.buffer(0)
        poly = fixed if isinstance(fixed, Polygon) else max(fixed.geoms, key=lambda g: g.area)
    ring = np.asarray(poly.exterior.coords)
    if _ring_area(ring) < 0:
        ring = ring[::-1]
    return [(float(x), float(y)) for x, y in ring]


def features_table(records: Iterable[NucleusRecord]) -> dict[str, np.ndarray]:
    """Column table (label, x, y, area, classification, status, base_class, intensity,
    class_source, class_probability, measurements...).

    Suitable for napari ``layer.features``. Measurement columns are the union of the
    records' measurement names in first-seen order; missing values are NaN.
    """
    records = list(records)
    names: dict[str, None] = {}
    for rec in records:
        for key in rec.measurements:
            if key not in BASE_COLUMNS:
                names.setdefault(key, None)
    table: dict[str, np.ndarray] = {
        "label": np.array([r.label for r in records], dtype=np.int64),
        "x": np.array([r.centroid_x for r in records], dtype=np.float64),
        "y": np.array([r.centroid_y for r in records], dtype=np.float64),
        "area": np.array([r.area for r in records], dtype=np.int64),
    }
    parts = [r.class_parts() for r in records]
    table.update({
        cc.CLASSIFICATION: np.array([cc.compose(*p) for p in parts], dtype=object),
        cc.STATUS: np.array([r.status for r in records], dtype=object),
        cc.BASE: np.array([p[0] for p in parts], dtype=object),
        cc.INTENSITY: np.array([p[1] for p in parts], dtype=object),
        cc.SOURCE: np.array([r.class_source for r in records], dtype=object),
        cc.PROBABILITY: np.array([r.class_probability for r in records], dtype=np.float64),
    })
    for key in names:
        table[key] = np.array(
            [float(r.measurements.get(key, np.nan)) for r in records], dtype=np.float64)
    return table
