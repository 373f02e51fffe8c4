"""Cell counts per class and review status, for a whole result or a region, and the
cell table's row filters, sort keys and cell texts (Qt-free).

A cell table (a Labels layer's ``features``) has one row per cell with ``x`` / ``y``
centroids in the labels' pixel coordinates, a ``classification`` (the compound of a base
class and an intensity class, "Tumor: Positive": counts per class show both) and a
``status`` (``unreviewed`` / ``accepted`` / ``rejected``). A cell is inside a region when its
centroid is.
"""

import re
from typing import Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.path import Path

from ..engine.api import NO_CLASS, STATUSES  # STATUSES: review statuses, in order

DEFAULT_CLASS = NO_CLASS
#: The filters' "no filter" choice.
ALL = "all"
#: spellings of class words the filter takes for QuPath's (US English) class names
SPELLINGS = {"tumour": "tumor", "tumours": "tumors", "haemorrhage": "hemorrhage",
             "oedema": "edema"}
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w ]*?)\s*(<=|>=|==|!=|<|>|=)\s*"
                        r"([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*$", re.IGNORECASE)


def _column(frame: pd.DataFrame, name: str, default: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].fillna(default).astype(str)
    return pd.Series(default, index=frame.index, dtype=object)


def counts_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells per classification (rows) and status (columns), with a ``total`` column and a
    ``total`` row. Statuses other than the three known ones get columns after them."""
    status = _column(frame, "status", STATUSES[0])
    classes = _column(frame, "classification", DEFAULT_CLASS)
    table = pd.crosstab(classes, status) if len(frame) else pd.DataFrame()
    extra = [c for c in table.columns if c not in STATUSES]
    table = table.reindex(index=list(table.index), columns=[*STATUSES, *extra], fill_value=0)
    table = table.astype(np.int64)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index.name, table.columns.name = "classification", "status"
    return table


def centroids_yx(frame: pd.DataFrame) -> np.ndarray:
    """(n, 2) float array of the cells' (y, x) centroids."""
    if not len(frame):
        return np.zeros((0, 2))
    return np.stack([frame["y"].to_numpy(float), frame["x"].to_numpy(float)], axis=1)


def inside_box(frame: pd.DataFrame, box: Sequence[float]) -> np.ndarray:
    """Boolean mask of the cells whose centroid lies in ``box = (y0, x0, y1, x1)``
    (half-open: ``y0 <= y < y1`` and ``x0 <= x < x1``)."""
    y0, x0, y1, x1 = (float(v) for v in box)
    yx = centroids_yx(frame)
    return (yx[:, 0] >= y0) & (yx[:, 0] < y1) & (yx[:, 1] >= x0) & (yx[:, 1] < x1)


def inside_polygon(frame: pd.DataFrame, vertices_yx) -> np.ndarray:
    """Boolean mask of the cells whose centroid lies inside the polygon ``vertices_yx``
    ((k, 2) array of (y, x) vertices, as napari's Shapes layers give them)."""
    vertices = np.asarray(vertices_yx, dtype=float).reshape(-1, 2)
    yx = centroids_yx(frame)
    if len(vertices) < 3 or not len(yx):
        return np.zeros(len(yx), dtype=bool)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    near = np.flatnonzero(((yx >= lo) & (yx <= hi)).all(axis=1))  # bounding box first
    mask = np.zeros(len(yx), dtype=bool)
    if near.size:
        mask[near] = Path(vertices[:, ::-1]).contains_points(yx[near][:, ::-1])
    return mask


def counts_text(frame: pd.DataFrame) -> str:
    """One line: ``N cells | unreviewed a, accepted b, rejected c | Tumor t, Nucleus n``
    (statuses in review order, classes by decreasing count)."""
    if not len(frame):
        return "no cells"
    status = _column(frame, "status", STATUSES[0]).value_counts()
    order = [s for s in STATUSES if s in status.index] + \
        [s for s in status.index if s not in STATUSES]
    by_status = ", ".join(f"{s} {int(status[s])}" for s in order)
    classes = _column(frame, "classification", DEFAULT_CLASS).value_counts()
    by_class = ", ".join(f"{c} {int(n)}" for c, n in classes.items())
    return f"{len(frame)} cells | {by_status} | {by_class}"


def text_filter(frame: pd.DataFrame, text: str) -> np.ndarray:
    """Rows matching ``text``: conditions such as ``area > 50, solidity <= 0.9`` (joined
    by commas or ``and``), a label number, or words all found in the classification or
    status (any case; British spellings such as ``tumour`` find QuPath's ``Tumor``).
    Raises ValueError for a condition on an unknown or non-numeric column."""
    text = text.strip()
    mask = np.ones(len(frame), dtype=bool)
    if not text:
        return mask
    parts = [p for p in re.split(r",|\band\b", text) if p.strip()]
    if all(_CONDITION.match(p) for p in parts):
        for part in parts:
            name, op, number = _CONDITION.match(part).groups()
            if name not in frame.columns or frame[name].dtype.kind not in "biuf":
                raise ValueError(f"no numeric column {name!r}")
            values, limit = frame[name].to_numpy(float), float(number)
            mask &= {"<": values < limit, ">": values > limit, "<=": values <= limit,
                     ">=": values >= limit, "!=": values != limit}.get(op, values == limit)
        return mask
    if text.isdigit() and "label" in frame.columns:
        return frame["label"].to_numpy() == int(text)
    found = pd.Series("", index=frame.index)
    for column in ("classification", "status"):
        if column in frame.columns:
            found = found + " " + frame[column].astype(str).str.lower()
    for british, american in SPELLINGS.items():
        found = found.str.replace(british, american, regex=False)
    for word in text.lower().split():
        word = SPELLINGS.get(word, word)
        mask &= found.str.contains(word, regex=False).to_numpy()
    return mask


def filter_mask(frame: pd.DataFrame, status: Optional[str] = None,
                classification: Optional[str] = None, text: str = "") -> np.ndarray:
    """Rows with that status and classification (None or ``"all"``: any) matching
    ``text`` (see :func:`text_filter`)."""
    mask = text_filter(frame, text)
    if status not in (None, ALL):
        mask &= _column(frame, "status", STATUSES[0]).to_numpy() == status
    if classification not in (None, ALL):
        mask &= _column(frame, "classification", DEFAULT_CLASS).to_numpy() == classification
    return mask


def no_match(frame: pd.DataFrame, status: Optional[str] = None,
             classification: Optional[str] = None, text: str = "") -> str:
    """Why no row of ``frame`` passes the filters ('' when some do, or there is no
    row): which filter, and the classes and statuses there are to look for."""
    if not len(frame):
        return ""
    try:
        if filter_mask(frame, status, classification, text).any():
            return ""
    except ValueError as error:
        return str(error)
    present = ", ".join(sorted(_column(frame, "classification", DEFAULT_CLASS).unique()))
    asked = [f"'{text.strip()}'"] if text.strip() else []
    asked += [f"{name} {value}" for name, value in (("status", status),
                                                   ("class", classification))
              if value not in (None, ALL)]
    return (f"no cell matches {' and '.join(asked)}; classes here: {present} "
            f"(statuses: {', '.join(STATUSES)})")


def sort_key(values: np.ndarray) -> np.ndarray:
    """Numbers as floats; anything else as the rank of its value (of its text when the
    values do not compare). Missing values are NaN: last in either order."""
    if values.dtype.kind in "biuf":
        return values.astype(float)
    try:
        codes = pd.factorize(values, sort=True)[0]
    except TypeError:  # mixed types
        codes = pd.factorize(np.array([str(v) for v in values], dtype=object), sort=True)[0]
    key = codes.astype(float)
    key[codes < 0] = np.nan
    return key


def format_value(value) -> str:
    """A table cell's text: integral floats without decimals, NaN and None empty."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if value != value:
            return ""
        if float(value).is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.5g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)
