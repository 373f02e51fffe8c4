"""IHC cell classes and scores: DAB thresholds, 1+/2+/3+ bins, Ki-67 index, H-score.

Conventions (QuPath's positive cell detection is the reference):

* a cell's score is one DAB measurement (default ``dab_nucleus_mean``, OD units);
* a cell is in a class when its measurement is **>=** the class threshold (NaN: never);
* mode ``"positive"`` (one threshold, default 0.2): classes ``Positive`` / ``Negative``;
* mode ``"bins"`` (three thresholds, default 0.2, 0.4, 0.6): ``Negative`` / ``1+`` /
  ``2+`` / ``3+``; a cell is positive when it is 1+ or above;
* ``ihc_bin`` (0..3, from the three bin thresholds) is kept in both modes, so the
  H-score (``1 * %1+ + 2 * %2+ + 3 * %3+``, 0-300) is always defined;
* Ki-67 labelling index = positive / scored cells, in %; rejected cells
  (``status == "rejected"``) are classified but left out of every score;
* ``auto``: the positive threshold and the 1+ threshold (both modes: the bins, and so
  ``ihc_bin`` and the H-score, move with it) become the cut of a per-slide 1-D 2-means
  (Otsu) on the scored cells' measurement; when the two groups are closer than
  ``min_separation`` OD the slide has no second population and the set thresholds are used.
  Regions are scored with the whole table's cut, never re-fitted.

Tables are column mappings: a dict of arrays or a pandas DataFrame (napari ``features``).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .measurements import IHC_COLUMNS

POSITIVE, NEGATIVE = "Positive", "Negative"
BIN_NAMES = ("Negative", "1+", "2+", "3+")
MODES = ("positive", "bins")
#: ``--param`` keys routed to :class:`IhcThresholds` (not to the method)
PARAM_KEYS = ("positive_threshold", "bins", "ihc_mode", "ihc_auto", "ihc_measurement",
              "ihc_min_separation")
SUMMARY_KEYS = ("n_cells", "n_positive", "ki67_index", "h_score",
                "n_0", "n_1plus", "n_2plus", "n_3plus")


@dataclass(frozen=True)
class IhcThresholds:
    """How cells are classified; see the module docstring. Invalid values raise
    ``ValueError`` with one line."""

    measurement: str = "dab_nucleus_mean"
    positive: float = 0.2
    bins: tuple[float, float, float] = (0.2, 0.4, 0.6)
    mode: str = "positive"  # "positive": Positive/Negative | "bins": Negative/1+/2+/3+
    auto: bool = False  # per-slide 2-means cut instead of the positive / 1+ threshold
    min_separation: float = 0.05  # auto: smallest gap (OD) between the two group means
    fitted_cut: Optional[float] = field(default=None, compare=False)  # set by auto

    def __post_init__(self) -> None:
        try:
            bins = tuple(float(b) for b in self.bins)
            positive = float(self.positive)
        except (TypeError, ValueError):
            raise ValueError(f"IHC thresholds: expected numbers, got positive="
                             f"{self.positive!r}, bins={self.bins!r}") from None
        object.__setattr__(self, "bins", bins)
        object.__setattr__(self, "positive", positive)
        if len(bins) != 3:
            raise ValueError(f"IHC thresholds: expected 3 bin thresholds (1+, 2+, 3+), "
                             f"got {len(bins)}")
        if not (math.isfinite(positive) and positive >= 0):
            raise ValueError(f"IHC thresholds: positive threshold {positive:g} must be a "
                             "number >= 0")
        if not all(math.isfinite(b) and b >= 0 for b in bins):
            raise ValueError(f"IHC thresholds: bin thresholds {_fmt(bins)} must be "
                             "numbers >= 0")
        if not bins[0] < bins[1] < bins[2]:
            raise ValueError(f"IHC thresholds: bin thresholds {_fmt(bins)} must be "
                             "strictly increasing (1+ < 2+ < 3+)")
        if self.mode not in MODES:
            raise ValueError(f"IHC thresholds: mode {self.mode!r}: expected 'positive' "
                             "or 'bins'")
        if self.measurement not in IHC_COLUMNS:  # refused before any slide is segmented
            raise ValueError(f"IHC thresholds: measurement {self.measurement!r}: expected "
                             f"one of {', '.join(IHC_COLUMNS)}")
        if not self.min_separation >= 0:
            raise ValueError(f"IHC thresholds: min_separation {self.min_separation!r} "
                             "must be >= 0")

    @property
    def positive_cut(self) -> float:
        """The threshold that makes a cell positive in the current mode."""
        return self.positive if self.mode == "positive" else self.bins[0]

    def describe(self) -> dict[str, Any]:
        """JSON-ready record of the thresholds (as used)."""
        out = asdict(self)
        out["bins"] = list(self.bins)
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base: Optional["IhcThresholds"] = None
                    ) -> "IhcThresholds":
        """From ``--param`` style keys (:data:`PARAM_KEYS`; values may be text)."""
        values = asdict(base or cls())
        values.pop("fitted_cut")
        for key, value in params.items():
            if key not in PARAM_KEYS:
                raise ValueError(f"IHC thresholds: unknown key {key!r}; expected one of "
                                 f"{', '.join(PARAM_KEYS)}")
            if key == "bins":
                values["bins"] = _numbers(value)
            elif key == "positive_threshold":
                values["positive"] = _number(value, key)
            elif key == "ihc_auto":
                values["auto"] = _flag(value)
            elif key == "ihc_min_separation":
                values["min_separation"] = _number(value, key)
            else:
                values[key[len("ihc_"):]] = str(value)
        return cls(**values)


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _number(value: Any, key: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"IHC thresholds: {key}={value!r}: expected a number") from None


def _numbers(value: Any) -> tuple[float, ...]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"IHC thresholds: bins={value!r}: expected three numbers, "
                         "e.g. bins=0.2,0.4,0.6") from None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"IHC thresholds: ihc_auto={value!r}: expected true or false")
    return text in ("true", "1", "yes")


def split_params(pairs: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``KEY=VALUE`` strings into (IHC threshold keys, the other pairs, untouched)."""
    ihc: dict[str, str] = {}
    rest: list[str] = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if sep and key in PARAM_KEYS:
            ihc[key] = text.strip()
        else:
            rest.append(pair)
    return ihc, rest


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
    return np.asarray(table["status"], dtype=object) != "rejected"


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


def cell_bins(table: Mapping[str, Any], thresholds: IhcThresholds) -> np.ndarray:
    """``ihc_bin`` per cell (0 negative .. 3 for 3+) from the bin thresholds (no auto)."""
    values = _column(table, thresholds.measurement)
    out = np.zeros(values.shape, dtype=np.int64)
    finite = np.isfinite(values)
    out[finite] = np.searchsorted(np.asarray(thresholds.bins), values[finite], side="right")
    return out


def cell_positive(table: Mapping[str, Any], thresholds: IhcThresholds) -> np.ndarray:
    """True for positive cells in the thresholds' mode (no auto)."""
    values = _column(table, thresholds.measurement)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values >= thresholds.positive_cut)


def class_names(table: Mapping[str, Any], thresholds: IhcThresholds) -> np.ndarray:
    """Classification per cell (object array) in the thresholds' mode (no auto)."""
    if thresholds.mode == "bins":
        return np.asarray(BIN_NAMES, dtype=object)[cell_bins(table, thresholds)]
    return np.where(cell_positive(table, thresholds), POSITIVE, NEGATIVE).astype(object)


def classify_cells(table, thresholds: Optional[IhcThresholds] = None):
    """A copy of ``table`` (same kind) with ``classification`` and ``ihc_bin`` set."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    names = class_names(table, thresholds)
    bins = cell_bins(table, thresholds)
    if isinstance(table, dict):
        return {**table, "classification": names, "ihc_bin": bins}
    out = table.copy()
    out["classification"] = names
    out["ihc_bin"] = bins
    return out


def ihc_summary(table: Mapping[str, Any], thresholds: Optional[IhcThresholds] = None
                ) -> dict[str, Any]:
    """Scores of the scored cells of ``table``: counts, Ki-67 index (%), H-score (0-300),
    plus the thresholds used (``auto`` resolved on this table)."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    keep = scored_mask(table)
    n = int(keep.sum())
    counts = np.bincount(cell_bins(table, thresholds)[keep], minlength=4)[:4]
    n_pos = int(cell_positive(table, thresholds)[keep].sum())
    pct = counts / n * 100.0 if n else np.zeros(4)
    return {
        "n_cells": n, "n_positive": n_pos,
        "ki67_index": n_pos / n * 100.0 if n else 0.0,
        "h_score": float(pct[1] + 2 * pct[2] + 3 * pct[3]),
        "n_0": int(counts[0]), "n_1plus": int(counts[1]),
        "n_2plus": int(counts[2]), "n_3plus": int(counts[3]),
        "thresholds": thresholds.describe(),
    }


def region_mask(table: Mapping[str, Any], region) -> np.ndarray:
    """True for cells whose centroid (``x``, ``y`` columns) lies in ``region``: a box
    ``(y0, x0, y1, x1)`` (half-open, e.g. a :class:`..tiling.Box`) or a polygon given as
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


def summary_in_region(table, region, thresholds: Optional[IhcThresholds] = None
                      ) -> dict[str, Any]:
    """:func:`ihc_summary` of the cells whose centroid is inside ``region`` (see
    :func:`region_mask`); ``auto`` is resolved on the whole ``table``."""
    thresholds = auto_thresholds(table, thresholds or IhcThresholds())
    return ihc_summary(subset(table, region_mask(table, region)), thresholds)


def summary_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row (for ``<stem>_summary.csv``): the scores then the thresholds used."""
    t = summary.get("thresholds") or {}
    row = {k: summary[k] for k in SUMMARY_KEYS}
    bins = list(t.get("bins") or [None] * 3)
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
        self._lut: Optional[np.ndarray] = None
        self.summary: Optional[dict[str, Any]] = None

    def add(self, records) -> None:
        name = self.thresholds.measurement
        for rec in records:
            self._labels.append(int(rec.label))
            self._values.append(float(rec.measurements.get(name, np.nan)))
            self._rejected.append(rec.status == "rejected")

    def renumber(self, lut) -> None:
        self._lut = np.asarray(lut)

    def table(self) -> dict[str, np.ndarray]:
        """label (final ids, dropped cells removed), measurement and status columns."""
        labels = np.array(self._labels, dtype=np.int64)  # copies: adding stays possible
        if self._lut is not None and labels.size:
            labels = self._lut[labels].astype(np.int64)
        keep = labels > 0
        status = np.where(np.array(self._rejected, dtype=bool), "rejected", "unreviewed")
        values = np.array(self._values, dtype=np.float64)
        return {"label": labels[keep], self.thresholds.measurement: values[keep],
                "status": status.astype(object)[keep]}

    def classify(self, writers: Sequence[Any] = ()) -> dict[str, Any]:
        """Classify every cell, hand the classes by final id to ``writers``
        (``set_classes``) and return the whole-slide :func:`ihc_summary`."""
        table = self.table()
        if table["label"].size and not np.isfinite(table[self.thresholds.measurement]).any():
            raise ValueError(f"IHC scoring needs the measurement "
                             f"{self.thresholds.measurement!r}: the method gave none")
        self.thresholds = auto_thresholds(table, self.thresholds)
        classes = np.full(int(table["label"].max(initial=0)) + 1, None, dtype=object)
        classes[table["label"]] = class_names(table, self.thresholds)
        for writer in writers:
            writer.set_classes(classes)
        self.summary = ihc_summary(table, self.thresholds)
        return self.summary

    def write_summary(self, path) -> Any:
        """``<stem>_summary.csv``: one row, the whole result's scores and thresholds."""
        from ..writers.tables import write_summary_csv

        if self.summary is None:
            self.classify()
        return write_summary_csv(path, [summary_row(self.summary)])
