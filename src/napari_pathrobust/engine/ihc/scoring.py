"""IHC cell classes and scores: DAB thresholds, 1+/2+/3+ bins, labelling index, H-score.

Conventions (QuPath's positive cell detection is the reference):

* a cell's score is one DAB measurement (default ``dab_nucleus_mean``, OD units);
* a cell is in a class when its measurement is **>=** the class threshold (NaN: never);
* one set of thresholds, 1+ / 2+ / 3+ (default 0.2, 0.4, 0.6); the **positive threshold
  is the 1+ bound**, so positive cells = 1+ + 2+ + 3+ and the labelling index, the
  H-score and the bin counts always follow the same cut (:mod:`.thresholds`);
* mode ``"positive"``: classes ``Positive`` / ``Negative``; mode ``"bins"``:
  ``Negative`` / ``1+`` / ``2+`` / ``3+``; ``ihc_bin`` (0..3) is kept in both modes;
* labelling index (``<marker> index``, e.g. Ki-67 index) = positive / scored cells, in %;
  H-score = ``1 * %1+ + 2 * %2+ + 3 * %3+`` (0-300); rejected cells
  (``status == "rejected"``) are classified but left out of every score;
* ``auto``: the positive / 1+ threshold becomes the cut of a per-slide 1-D 2-means
  (Otsu) on the scored cells' measurement (2+/3+ kept at least as high); when the two
  groups are closer than ``min_separation`` OD the slide has no second population and
  the set thresholds are used. Regions are scored with the whole table's cut.

Tables are column mappings: a dict of arrays or a pandas DataFrame (napari ``features``).
"""

from __future__ import annotations

from array import array
from dataclasses import replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .. import cell_classes as cc
from .cell_type import COLUMNS as TYPE_COLUMNS
from .cell_type import TUMOUR as DEFAULT_BASE
from .cell_type import cell_types, type_counts
from .thresholds import (  # noqa: F401  (re-exported: the scoring API)
    DEFAULT_MARKER,
    MODES,
    PARAM_KEYS,
    IhcThresholds,
    marker_name,
    split_params,
)

POSITIVE, NEGATIVE = cc.POSITIVE, cc.NEGATIVE
BIN_NAMES = (cc.NEGATIVE, "1+", "2+", "3+")
SUMMARY_KEYS = ("n_cells", "n_positive", "labelling_index", "h_score",
                "n_0", "n_1plus", "n_2plus", "n_3plus", "n_tumour", "n_tumour_positive",
                "tumour_index", "n_immune", "n_stroma", "base_class", "type_source")
#: columns of every summary CSV row (napari export and ``<stem>_summary.csv``)
SUMMARY_COLUMNS = ("slide", "layer", "region", "marker", *SUMMARY_KEYS, "measurement",
                   "mode", "positive_threshold", "bin_1plus", "bin_2plus", "bin_3plus",
                   "auto", "fitted_cut")
WHOLE = "whole result"  # the region name of the whole result's row


# ------------------------------------------------------------------ tables


def _column(table: Mapping[str, Any], name: str) -> np.ndarray:
    if name not in table and _n_rows(table) == 0:
        return np.zeros(0, dtype=np.float64)
    if name not in table:
        raise ValueError(f"IHC scoring needs the measurement {name!r} in the cell table "
                         "(segment with stain 'ihc')")
    return np.asarray(table[name], dtype=np.float64)


def _n_rows(table: Mapping[str, Any]) -> int:
    if hasattr(table, "shape") and not isinstance(table, dict):
        return int(table.shape[0])
    return len(next(iter(table.values()))) if len(table) else 0


def scored_mask(table: Mapping[str, Any]) -> np.ndarray:
    """True for the cells that count in scores (all but ``status == "rejected"``)."""
    n = _n_rows(table)
    if "status" not in table:
        return np.ones(n, dtype=bool)
    return np.asarray(table["status"], dtype=object) != cc.REJECTED


def two_means_cut(values: np.ndarray) -> Optional[tuple[float, float, float]]:
    """Exact 1-D 2-means (Otsu) on ``values``: (low mean, high mean, cut), or None when
    there are fewer than two distinct finite values. Deterministic (no seeding needed)."""
    v = np.sort(np.asarray(values, dtype=np.float64)[np.isfinite(values)])
    if v.size < 2 or v[0] == v[-1]:
        return None
    csum = np.cumsum(v)
    n = v.size
    k = np.arange(1, n)  # low group = v[:k]
    low_mean = csum[:-1] / k
    high_mean = (csum[-1] - csum[:-1]) / (n - k)
    between = k * (n - k) * (high_mean - low_mean) ** 2  # maximise = minimise within SS
    between[v[1:] == v[:-1]] = -1  # split only between distinct values
    i = int(np.argmax(between))
    lo, hi = float(low_mean[i]), float(high_mean[i])
    return lo, hi, float((v[i] + v[i + 1]) / 2)


def auto_thresholds(table: Mapping[str, Any], thresholds: Optional[IhcThresholds] = None
                    ) -> IhcThresholds:
    """``thresholds`` with ``auto`` resolved on ``table``: the positive threshold (and the
    1+ threshold, keeping 2+/3+ at least as high) become the 2-means cut of the scored
    cells' measurement. Returns ``thresholds`` unchanged when not ``auto`` or when the
    slide shows no second population (``fitted_cut`` stays None)."""
    thresholds = thresholds or IhcThresholds(auto=True)
    if not thresholds.auto or thresholds.fitted_cut is not None:
        return thresholds
    values = _column(table, thresholds.measurement)[scored_mask(table)]
    fit = two_means_cut(values)
    if fit is None or fit[1] - fit[0] < thresholds.min_separation:
        return thresholds
    cut = max(fit[2], 0.0)
    b1, b2, b3 = thresholds.bins
    bins = (cut, max(b2, cut + 1e-6), max(b3, cut + 2e-6))
    return replace(thresholds, positive=cut, bins=bins, fitted_cut=cut)


def _named_bins(table: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose intensity the pathologist set, their bins from that class)."""
    rows = cc.intensity_overridden(table)
    bins = np.zeros(len(rows), dtype=np.int64)
    if rows.any():
        names = np.asarray(cc.with_classes(table)[cc.INTENSITY], dtype=object)
        bins[rows] = [cc.INTENSITY_BIN.get(str(v), 0) for v in names[rows]]
    return rows, bins


def cell_bins(table: Mapping[str, Any], thresholds: IhcThresholds) -> np.ndarray:
    """``ihc_bin`` per cell (0 negative .. 3 for 3+) from the bin thresholds (no auto);
    a cell whose intensity the pathologist set keeps that class's bin."""
    values = _column(table, thresholds.measurement)
    out = np.zeros(values.shape, dtype=np.int64)
    finite = np.isfinite(values)
    out[finite] = np.searchsorted(np.asarray(thresholds.bins), values[finite], side="right")
    rows, named = _named_bins(table)
    out[rows] = named[rows]
    return out


def cell_positive(table: Mapping[str, Any], thresholds: IhcThresholds) -> np.ndarray:
    """True for positive cells in the thresholds' mode (no auto); a cell whose intensity
    the pathologist set is positive when that class is (Positive, 1+ and above)."""
    values = _column(table, thresholds.measurement)
    with np.errstate(invalid="ignore"):
        out = np.isfinite(values) & (values >= thresholds.positive_cut)
    rows, named = _named_bins(table)
    out[rows] = named[rows] >= 1
    return out


def class_names(table: Mapping[str, Any], thresholds: IhcThresholds) -> np.ndarray:
    """Classification per cell (object array) in the thresholds' mode (no auto)."""
    if thresholds.mode == "bins":
        return np.asarray(BIN_NAMES, dtype=object)[cell_bins(table, thresholds)]
    return np.where(cell_positive(table, thresholds), POSITIVE, NEGATIVE).astype(object)


def classify_cells(table, thresholds: Optional[IhcThresholds] = None):
    """A copy of ``table`` (same kind) with the intensity class set (only it: the base
    class and its source stay, the compound ``classification`` follows, see
    :func:`..cell_classes.set_intensity`), plus ``ihc_bin`` and the label-free
    ``cell_type``. Cells whose intensity the pathologist set keep it."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    names = class_names(table, thresholds)
    bins = cell_bins(table, thresholds)
    types = cell_types(table)
    out = cc.set_intensity(table, names)
    if isinstance(out, dict):
        return {**out, "ihc_bin": bins, "cell_type": types}
    out["ihc_bin"] = bins
    out["cell_type"] = types
    return out


def scored_types(table: Mapping[str, Any], base_class: str = DEFAULT_BASE) -> np.ndarray:
    """The type each cell is counted as: its base class (set by the pathologist or a
    classifier) when any cell of ``table`` carries ``base_class``, else the label-free
    ``cell_type`` rule (:mod:`.cell_type`). Counted cells are those of ``base_class``
    (:func:`counted_class`)."""
    named = _named_bases(table)
    if named is not None and (named == base_class).any():
        return named
    if "cell_type" in table:
        return np.asarray(table["cell_type"], dtype=object)
    return cell_types(table)


def _named_bases(table: Mapping[str, Any]) -> Optional[np.ndarray]:
    """Base classes set by the pathologist or a classifier ('' elsewhere), or None."""
    if cc.BASE not in table or cc.SOURCE not in table:
        return None
    base = np.asarray(table[cc.BASE], dtype=object)
    source = np.asarray(table[cc.SOURCE], dtype=object)
    set_by = np.isin(source, (cc.PATHOLOGIST, cc.CLASSIFIER))
    return np.where(set_by, base, "").astype(object)


def ihc_summary(table: Mapping[str, Any], thresholds: Optional[IhcThresholds] = None,
                base_class: str = DEFAULT_BASE) -> dict[str, Any]:
    """Scores of the scored cells of ``table``: marker, counts, labelling index (%, all
    cells), H-score (0-300), the index of the ``base_class`` cells (``tumour_index``:
    named cells when any carries that class, else the label-free rule, see
    :func:`scored_types`; ``type_source`` says which), plus the thresholds used
    (``auto`` resolved on this table)."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    keep = scored_mask(table)
    n = int(keep.sum())
    counts = np.bincount(cell_bins(table, thresholds)[keep], minlength=4)[:4]
    n_pos = int(cell_positive(table, thresholds)[keep].sum())
    pct = counts / n * 100.0 if n else np.zeros(4)
    types = scored_types(table, base_class)
    by_type = type_counts(types[keep], cell_positive(table, thresholds)[keep], base_class)
    named = _named_bases(table)
    return {
        **by_type,
        "base_class": base_class,
        "type_source": "named" if named is not None and (named == base_class).any()
        else "rule",
        "marker": thresholds.marker, "n_cells": n, "n_positive": n_pos,
        "labelling_index": n_pos / n * 100.0 if n else 0.0,
        "h_score": float(pct[1] + 2 * pct[2] + 3 * pct[3]),
        "n_0": int(counts[0]), "n_1plus": int(counts[1]),
        "n_2plus": int(counts[2]), "n_3plus": int(counts[3]),
        "thresholds": thresholds.describe(),
    }


def region_mask(table: Mapping[str, Any], region) -> np.ndarray:
    """True for cells whose centroid (``x``, ``y`` columns) lies in ``region``: a box
    ``(y0, x0, y1, x1)`` (half-open, e.g. a :class:`..tiled.tiling.Box`) or a polygon given as
    ``(N, 2)`` ``(y, x)`` vertices (napari order)."""
    y = np.asarray(table["y"], dtype=np.float64)
    x = np.asarray(table["x"], dtype=np.float64)
    if hasattr(region, "as_list"):
        region = region.as_list()
    shape = np.asarray(region, dtype=np.float64)
    if shape.shape == (4,):
        y0, x0, y1, x1 = shape
        return (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
    if shape.ndim != 2 or shape.shape[1] != 2 or shape.shape[0] < 3:
        raise ValueError("region: expected a box (y0, x0, y1, x1) or (N >= 3, 2) polygon "
                         "vertices (y, x)")
    from skimage.measure import points_in_poly

    if y.size == 0:
        return np.zeros(0, dtype=bool)
    return points_in_poly(np.stack([y, x], axis=1), shape)


def subset(table, mask: np.ndarray):
    """Rows of ``table`` where ``mask`` (same kind of table)."""
    if isinstance(table, dict):
        return {k: np.asarray(v)[mask] for k, v in table.items()}
    return table[np.asarray(mask)]


def summary_in_region(table, region, thresholds: Optional[IhcThresholds] = None,
                      base_class: str = DEFAULT_BASE) -> dict[str, Any]:
    """:func:`ihc_summary` of the cells whose centroid is inside ``region`` (see
    :func:`region_mask`); ``auto`` is resolved on the whole ``table``."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    return ihc_summary(subset(table, region_mask(table, region)), thresholds, base_class)


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line of scores, the index named after the marker: ``Ki-67 index 23.4 %
    (120/513), H-score 61.2 (0: .., 1+: .., 2+: .., 3+: ..)`` plus, when cell types were
    classed, ``; tumour cells 25.0 % (30/120; 10 immune, 4 stroma left out)``. The CLI's
    line and the IHC scoring dock both show it."""
    line = (f"{summary.get('marker') or 'Ki-67'} index {summary['labelling_index']:.1f} % "
            f"({summary['n_positive']}/{summary['n_cells']}), H-score "
            f"{summary['h_score']:.1f} (0: {summary['n_0']}, 1+: {summary['n_1plus']}, "
            f"2+: {summary['n_2plus']}, 3+: {summary['n_3plus']})")
    if "n_tumour" in summary:
        base = summary.get("base_class") or DEFAULT_BASE
        kind = "tumour" if base == DEFAULT_BASE else base
        named = " (named)" if summary.get("type_source") == "named" else ""
        left = (f"{summary['n_immune']} immune, {summary['n_stroma']} stroma"
                if base == DEFAULT_BASE else
                f"{summary['n_cells'] - summary['n_tumour']} other")
        line += (f"; {kind} cells{named} {summary['tumour_index']:.1f} % "
                 f"({summary['n_tumour_positive']}/{summary['n_tumour']}; "
                 f"{left} left out)")
    return line


def summary_row(summary: Mapping[str, Any], *, slide: str = "", layer: str = "",
                region: str = WHOLE) -> dict[str, Any]:
    """One summary CSV row (:data:`SUMMARY_COLUMNS`): where (slide, layer, region), the
    marker, the scores, then the thresholds used."""
    t = summary.get("thresholds") or {}
    bins = list(t.get("bins") or [None] * 3)
    row = {"slide": slide, "layer": layer, "region": region,
           "marker": summary.get("marker", t.get("marker"))}
    row.update({k: summary.get(k) for k in SUMMARY_KEYS})
    row.update(measurement=t.get("measurement"), mode=t.get("mode"),
               positive_threshold=t.get("positive"), bin_1plus=bins[0],
               bin_2plus=bins[1], bin_3plus=bins[2], auto=t.get("auto"),
               fitted_cut=t.get("fitted_cut"))
    return row


class IhcCellSink:
    """Record sink of a job: keeps each cell's measurement and status (no masks), then
    classifies the whole slide at once after the run (:meth:`classify`) so the CSV /
    GeoJSON writers write the final classes, and writes ``<stem>_summary.csv``."""

    def __init__(self, thresholds: Optional[IhcThresholds] = None):
        self.thresholds = thresholds or IhcThresholds()
        self._labels = array("q")  # provisional ids (compact: 17 bytes per cell)
        self._values = array("d")
        self._rejected = array("b")
        self._shape = {name: array("d") for name in TYPE_COLUMNS}  # for the cell type
        self._lut: Optional[np.ndarray] = None
        self.summary: Optional[dict[str, Any]] = None

    def add(self, records) -> None:
        name = self.thresholds.measurement
        for rec in records:
            self._labels.append(int(rec.label))
            self._values.append(float(rec.measurements.get(name, np.nan)))
            self._rejected.append(rec.status == cc.REJECTED)
            for key, values in self._shape.items():
                values.append(float(rec.measurements.get(key, np.nan)))

    def renumber(self, lut) -> None:
        self._lut = np.asarray(lut)

    def table(self) -> dict[str, np.ndarray]:
        """label (final ids, dropped cells removed), measurement and status columns."""
        labels = np.array(self._labels, dtype=np.int64)  # copies: adding stays possible
        if self._lut is not None and labels.size:
            labels = self._lut[labels].astype(np.int64)
        keep = labels > 0
        status = np.where(np.array(self._rejected, dtype=bool), cc.REJECTED, cc.UNREVIEWED)
        values = np.array(self._values, dtype=np.float64)
        shape = {k: np.array(v, dtype=np.float64)[keep] for k, v in self._shape.items()
                 if k != self.thresholds.measurement}
        return {"label": labels[keep], self.thresholds.measurement: values[keep],
                "status": status.astype(object)[keep], **shape}

    def classify(self, writers: Sequence[Any] = ()) -> dict[str, Any]:
        """Classify every cell, hand the intensity classes by final id to ``writers``
        (``set_intensity``: base classes stay) and return the whole-slide
        :func:`ihc_summary`."""
        table = self.table()
        if table["label"].size and not np.isfinite(table[self.thresholds.measurement]).any():
            raise ValueError(f"IHC scoring needs the measurement "
                             f"{self.thresholds.measurement!r}: the method gave none")
        self.thresholds = auto_thresholds(table, self.thresholds)
        classes = np.full(int(table["label"].max(initial=0)) + 1, None, dtype=object)
        classes[table["label"]] = class_names(table, self.thresholds)
        for writer in writers:
            writer.set_intensity(classes)
        self.summary = ihc_summary(table, self.thresholds)
        return self.summary

    def write_summary(self, path, slide: str = "") -> Any:
        """``<stem>_summary.csv``: one row (region ``whole result``), the whole result's
        scores and thresholds, as the napari export writes them."""
        from ..writers.tables import write_summary_csv

        if self.summary is None:
            self.classify()
        return write_summary_csv(path, [summary_row(self.summary, slide=slide)])
