"""Merge a new region's cells into a slide's result without losing reviews (numpy).

One result per slide: a labels canvas covering the union of the regions run so far
(``box``, in full-image pixels) and a features table whose ``x`` / ``y`` are relative
to that box's origin. :func:`merge_region` adds a new region's labels and cells:

* old cells keep their ids, pixels, status and class, except *unreviewed* old cells
  whose centroid lies inside the new region: those are replaced;
* reviewed old cells (status other than ``unreviewed``) are always kept, even inside
  the region; unreviewed cells straddling the region edge with their centroid outside
  are kept too;
* new cells overlapping any kept old cell are dropped (the kept cell wins); the report
  counts those dropped for a reviewed cell (``dropped_new``) apart from those dropped
  for an unreviewed cell across the region's edge (``dropped_at_edge``: the same
  nucleus, whole in the old result, cut in the new one);
* the remaining new cells get fresh ids above the largest kept id.

The :class:`MergeReport` says how many cells were added, kept and replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from ..cell_classes import REVIEW_DEFAULTS, UNREVIEWED, with_classes
from ..tiled.tiling import Box

__all__ = ["MergeReport", "merge_region", "union_box", "reviewed_mask",
           "REVIEW_DEFAULTS", "UNREVIEWED"]


@dataclass
class MergeReport:
    """What a merge did (counts of cells)."""

    added: int = 0  # new cells written
    replaced: int = 0  # unreviewed old cells inside the region, removed
    kept_reviewed: int = 0  # reviewed old cells inside the region, kept
    dropped_new: int = 0  # new cells overlapping a reviewed (kept) old cell
    dropped_at_edge: int = 0  # new cells overlapping an unreviewed old cell kept at the edge
    total: int = 0  # cells in the merged result

    def message(self) -> str:
        """One line for a status bar."""
        text = f"{self.added} cells added, {self.replaced} unreviewed replaced"
        if self.kept_reviewed:
            text += f", {self.kept_reviewed} reviewed kept"
        if self.dropped_new:
            text += f" ({self.dropped_new} new cells overlapping reviewed cells dropped)"
        return text + f"; {self.total} cells in the result"


def union_box(a: Box, b: Box) -> Box:
    """The smallest box holding both boxes."""
    return Box(min(a.y0, b.y0), min(a.x0, b.x0), max(a.y1, b.y1), max(a.x1, b.x1))


def reviewed_mask(table: Optional[pd.DataFrame]) -> np.ndarray:
    """Rows whose status is not ``unreviewed`` (all False without a status column)."""
    if table is None or "status" not in table.columns:
        return np.zeros(0 if table is None else len(table), bool)
    return table["status"].astype(str).to_numpy() != UNREVIEWED


def with_review_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (changed in place and returned) with any missing review column added:
    the status at its default, the class parts split out of ``classification`` (see
    :data:`REVIEW_DEFAULTS`, :func:`..cell_classes.with_classes`)."""
    if "status" not in frame.columns:
        frame["status"] = REVIEW_DEFAULTS["status"]
    if any(c not in frame.columns for c in REVIEW_DEFAULTS):
        classed = with_classes(frame)
        for column in REVIEW_DEFAULTS:
            if column not in frame.columns:
                frame[column] = classed[column]
    return frame


def _frame(table) -> pd.DataFrame:
    frame = pd.DataFrame(table).copy() if table is not None else pd.DataFrame()
    if "label" not in frame.columns:
        frame["label"] = np.zeros(len(frame), np.int64)
    return with_review_columns(frame)


def merge_region(old_labels: Optional[np.ndarray], old_table, old_box: Optional[Box],
                 new_labels: np.ndarray, new_table, new_box: Box
                 ) -> tuple[np.ndarray, pd.DataFrame, Box, MergeReport]:
    """Merge ``new_labels`` (covering ``new_box``) into ``old_labels`` (``old_box``).

    Tables are per-cell features with ``label`` and ``x`` / ``y`` relative to their
    box. Returns (labels over the union box, features relative to it, the union box,
    report). Without an old result the new one is returned as is (ids unchanged).
    """
    new_box = Box.of(new_box)
    new_labels = np.asarray(new_labels)
    new = _frame(new_table)
    if old_labels is None or old_box is None:
        report = MergeReport(added=len(new), total=len(new))
        return new_labels, new.reset_index(drop=True), new_box, report
    old_box = Box.of(old_box)
    old = _frame(old_table)
    box = union_box(old_box, new_box)
    top = max(int(old_labels.max(initial=0)), int(old["label"].max() if len(old) else 0))
    top += int(new_labels.max(initial=0))
    dtype = np.uint32 if top < 2**32 else np.uint64
    canvas = np.zeros(box.shape, dtype)
    oy, ox = old_box.y0 - box.y0, old_box.x0 - box.x0
    canvas[oy:oy + old_labels.shape[0], ox:ox + old_labels.shape[1]] = old_labels
    for axis, shift in (("y", oy), ("x", ox)):
        if shift and axis in old.columns:
            old[axis] = old[axis].astype(float) + shift
    ry, rx = new_box.y0 - box.y0, new_box.x0 - box.x0
    region = canvas[ry:ry + new_box.shape[0], rx:rx + new_box.shape[1]]  # a view

    # old cells inside the region: unreviewed ones (centroid inside) are replaced
    reviewed = reviewed_mask(old)
    if {"x", "y"} <= set(old.columns):
        ys, xs = old["y"].to_numpy(float), old["x"].to_numpy(float)
        inside = (ys >= ry) & (ys < ry + new_box.shape[0]) & (xs >= rx) & \
            (xs < rx + new_box.shape[1])
    else:
        inside = np.zeros(len(old), bool)
    replaced_ids = old["label"].to_numpy()[inside & ~reviewed].astype(np.int64)
    in_region = np.unique(region[region > 0]).astype(np.int64)
    orphans = np.setdiff1d(in_region, old["label"].to_numpy().astype(np.int64))
    removed = np.union1d(replaced_ids, orphans)
    if replaced_ids.size:  # a replaced cell goes whole, also its pixels outside the region
        old_area = canvas[oy:oy + old_labels.shape[0], ox:ox + old_labels.shape[1]]
        old_area[np.isin(old_area, replaced_ids)] = 0
    if orphans.size:
        region[np.isin(region, orphans)] = 0
    old = old[~old["label"].isin(removed)]

    # new cells overlapping a kept old cell are dropped; the others get fresh ids
    present = np.unique(new_labels[new_labels > 0]).astype(np.int64)
    clash = np.unique(new_labels[(region > 0) & (new_labels > 0)]).astype(np.int64)
    kept_reviewed = old["label"].to_numpy()[reviewed_mask(old)].astype(np.int64)
    for_reviewed = np.unique(new_labels[np.isin(region, kept_reviewed) & (new_labels > 0)])
    kept_new = np.setdiff1d(present, clash)
    start = int(old["label"].max()) if len(old) else 0  # new ids above the kept ones
    start = max(start, int(canvas.max(initial=0)))
    lut = np.zeros(int(new_labels.max(initial=0)) + 1, dtype)
    lut[kept_new] = np.arange(start + 1, start + 1 + kept_new.size, dtype=dtype)
    write = lut[new_labels] if new_labels.size else new_labels.astype(dtype)
    np.copyto(region, write, where=write > 0)

    new = new[new["label"].isin(kept_new)].copy()
    new["label"] = lut[new["label"].to_numpy(np.int64)].astype(np.int64)
    for axis, shift in (("y", ry), ("x", rx)):
        if axis in new.columns:
            new[axis] = new[axis].astype(float) + shift
    if "index" in old.columns or "index" in new.columns:
        new["index"] = new["label"]
    merged = pd.concat([old, new], ignore_index=True) if len(old) else new
    merged = merged.sort_values("label", kind="stable").reset_index(drop=True)
    if "index" in merged.columns:
        merged["index"] = merged["label"]
    report = MergeReport(added=int(kept_new.size), replaced=int(removed.size),
                         kept_reviewed=int((inside & reviewed).sum()),
                         dropped_new=int(for_reviewed.size),
                         dropped_at_edge=int(clash.size - for_reviewed.size), total=len(merged))
    return canvas, merged, box, report
