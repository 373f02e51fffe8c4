"""Keep a cell table in step with label edits (Qt-free).

napari reports each paint / erase / fill stroke as history atoms; :func:`paint_extent`
turns them into the label ids touched and their bounding box, and :func:`remeasure`
re-measures just those ids (growing the box until each object lies inside it) with
``engine.nucleus_records.measure_objects``. Review columns (status, the class and its
parts) of cells that still exist are kept; new cells start as ``Nucleus`` / ``unreviewed``.
A pathologist's stroke also marks the cells it shaped: ``painted`` 1.0 (their masks are
corrections "Improve network" trains on) and an unreviewed one becomes ``accepted``.
"""

from typing import Callable, Optional

import numpy as np
import pandas as pd

from ..engine.api import (
    ACCEPTED,
    PAINTED,
    REVIEW_DEFAULTS,
    UNREVIEWED,
    measure_objects,
    split_class,
)

Box = tuple[int, int, int, int]


def paint_extent(atoms) -> tuple[set, Optional[Box]]:
    """Label ids (old and new values) and (y0, x0, y1, x1) box of a napari paint item."""
    ids: set = set()
    lo = np.array([np.inf, np.inf])
    hi = np.array([-np.inf, -np.inf])
    for atom in atoms:
        if hasattr(atom, "slice_key"):  # napari's masked paint atom
            ids.update(int(v) for v in np.unique(np.asarray(atom.old_values)))
            ids.add(int(atom.new_value))
            ys, xs = atom.slice_key[-2], atom.slice_key[-1]
            lo = np.minimum(lo, (ys.start or 0, xs.start or 0))
            hi = np.maximum(hi, (ys.stop, xs.stop))
            continue
        indices, old, new = atom
        ids.update(int(v) for v in np.unique(np.asarray(old)))
        ids.update(int(v) for v in np.unique(np.asarray(new)))
        if len(indices[-1]):
            rows, cols = np.asarray(indices[-2]), np.asarray(indices[-1])
            lo = np.minimum(lo, (rows.min(), cols.min()))
            hi = np.maximum(hi, (rows.max() + 1, cols.max() + 1))
    ids.discard(0)
    if not np.isfinite(lo).all():
        return ids, None
    return ids, (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))


def _grow_window(labels, ids: np.ndarray, box: Box, grow: int):
    """Window around ``box`` grown until no selected object touches an inner edge."""
    height, width = labels.shape[-2:]
    y0, x0 = max(0, box[0] - grow), max(0, box[1] - grow)
    y1, x1 = min(height, box[2] + grow), min(width, box[3] + grow)
    while True:
        window = np.asarray(labels[y0:y1, x0:x1])
        selected = np.isin(window, ids)
        edges = [(selected[0].any() and y0 > 0), (selected[:, 0].any() and x0 > 0),
                 (selected[-1].any() and y1 < height), (selected[:, -1].any() and x1 < width)]
        if not any(edges):
            return window, selected, (y0, x0, y1, x1)
        grow *= 2
        y0 = max(0, y0 - grow) if edges[0] else y0
        x0 = max(0, x0 - grow) if edges[1] else x0
        y1 = min(height, y1 + grow) if edges[2] else y1
        x1 = min(width, x1 + grow) if edges[3] else x1


def remeasure(labels, features: Optional[pd.DataFrame], ids, box: Box,
              rgb_at: Optional[Callable[[Box], Optional[np.ndarray]]] = None,
              mpp: Optional[float] = None, grow: int = 32,
              painted: bool = False) -> pd.DataFrame:
    """Features with the rows of ``ids`` re-measured from ``labels`` (removed if gone);
    ``painted``: the pathologist drew them (a stroke, not a re-measure or an undo), so
    they are marked painted and, when unreviewed, accepted."""
    ids = np.array(sorted(int(i) for i in ids if int(i) > 0), dtype=np.int64)
    table = features.copy() if features is not None else pd.DataFrame({"label": []})
    if "label" not in table.columns:
        table["label"] = np.zeros(len(table), np.int64)
    old = table.set_index("label", drop=False) if len(table) else None
    keep = ~np.isin(table["label"].to_numpy(), ids)
    table = table[keep]
    if ids.size == 0:
        return table.reset_index(drop=True)
    window, selected, (y0, x0, y1, x1) = _grow_window(labels, ids, box, grow)
    present = np.unique(window[selected])
    rgb = rgb_at((y0, x0, y1, x1)) if rgb_at is not None else None
    records = measure_objects(np.where(selected, window, 0), rgb, offset=(y0, x0), mpp=mpp)
    rows = []
    for label, rec in zip(present, records):
        label = int(label)
        row = {"label": label, "x": rec.centroid_x, "y": rec.centroid_y, "area": rec.area,
               **REVIEW_DEFAULTS}
        if old is not None and label in old.index:
            previous = old.loc[[label]].iloc[0]
            for column, default in REVIEW_DEFAULTS.items():
                row[column] = previous.get(column, default)
            if "base_class" not in old.columns:  # a table from before the class parts
                row["base_class"], row["intensity"] = split_class(row["classification"])
            if PAINTED in old.columns:
                row[PAINTED] = float(previous.get(PAINTED, 0.0))
        row.update({k: v for k, v in rec.measurements.items() if k not in ("area", PAINTED)})
        if painted:
            row[PAINTED] = 1.0
            if row["status"] == UNREVIEWED:
                row["status"] = ACCEPTED
        if "index" in table.columns:
            row["index"] = label
        rows.append(row)
    if rows:
        added = pd.DataFrame(rows)
        table = pd.concat([table, added[[c for c in added.columns]]], ignore_index=True)
    if PAINTED in table.columns:  # cells never painted: 0.0 (NaN would read as unknown)
        table[PAINTED] = table[PAINTED].astype(float).fillna(0.0)
    table = table.sort_values("label", kind="stable").reset_index(drop=True)
    return table[[c for c in (features.columns if features is not None else table.columns)
                  if c in table.columns] + [c for c in table.columns
                                            if features is None or c not in features.columns]]
