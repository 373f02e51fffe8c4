"""A cell's classes: a base class and, on IHC, an intensity class, kept apart.

A cell has a *base class* (what kind of cell: ``Tumor``, ``Stroma``, ``Immune cells``, ...
or none), set by the pathologist or by a cell classifier, and on IHC an *intensity class*
(``Negative``, ``Positive``, ``1+``, ``2+``, ``3+``) computed from the thresholds. They
live in separate columns of a cells table; ``classification`` is their QuPath-style
compound ("Tumor: Positive"), derived, never edited by itself. A computation never
overwrites what the pathologist set: :func:`set_base` leaves rows whose source is
:data:`PATHOLOGIST` alone unless the pathologist sets them, and :func:`set_intensity`
touches only the intensity.

Columns (:data:`CLASS_COLUMNS`): ``base_class`` ('' = none), ``intensity`` ('' = none),
``class_source`` (:data:`PATHOLOGIST`, :data:`CLASSIFIER` or ''), ``class_probability``
(the classifier's probability of its class; NaN otherwise) and ``classification``.
A pathologist's intensity (a cell named "Positive" or "2+" in Review) is kept the same
way: :data:`INTENSITY_OVERRIDE` (1.0) marks it, and thresholds leave it alone.
Tables are dicts of arrays or pandas DataFrames; functions return the same kind.
Tables written before these columns existed are read through :func:`with_classes`,
which splits ``classification`` into its parts.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

#: intensity classes, as QuPath names them
NEGATIVE, POSITIVE = "Negative", "Positive"
INTENSITY_CLASSES = (NEGATIVE, POSITIVE, "1+", "2+", "3+")
#: the base classes offered first (any other name is allowed)
BASE_CLASSES = ("Tumor", "Stroma", "Immune cells", "Necrosis", "Other")
#: the compound name of a cell with neither part
NO_CLASS = "Nucleus"
#: names that mean "no class" when read from a file
_EMPTY = {"", NO_CLASS, "Unclassified", "None", "nan"}

#: who set a base class
PATHOLOGIST, CLASSIFIER = "pathologist", "classifier"

#: review status of a cell (column ``status``): not looked at, kept, thrown out
UNREVIEWED, ACCEPTED, REJECTED = "unreviewed", "accepted", "rejected"
STATUS = "status"
STATUSES = (UNREVIEWED, ACCEPTED, REJECTED)
#: column (1.0 / 0.0) marking cells whose mask the pathologist painted in Review: their
#: masks are corrections the fine-tuning trains on (also read as a status, see psm.finetune)
PAINTED = "painted"
#: column (1.0 / 0.0 when present): the pathologist set this cell's intensity class;
#: a threshold change (a computation) never overwrites it, and the scores count it
INTENSITY_OVERRIDE = "intensity_override"
#: the IHC bin (0 negative .. 3) an intensity class stands for
INTENSITY_BIN = {NEGATIVE: 0, POSITIVE: 1, "1+": 1, "2+": 2, "3+": 3}

CLASSIFICATION = "classification"
BASE = "base_class"
INTENSITY = "intensity"
SOURCE = "class_source"
PROBABILITY = "class_probability"
CLASS_COLUMNS = (BASE, INTENSITY, SOURCE, PROBABILITY)
#: what a cell's review and class columns hold before anyone reviewed or classed it
REVIEW_DEFAULTS = {STATUS: UNREVIEWED, CLASSIFICATION: NO_CLASS, BASE: "", INTENSITY: "",
                   SOURCE: "", PROBABILITY: float("nan")}


def compose(base: str, intensity: str) -> str:
    """QuPath's compound name: ``"Tumor: Positive"``, ``"Tumor"``, ``"Positive"`` or
    :data:`NO_CLASS`."""
    base, intensity = _clean(base), _clean(intensity)
    if base and intensity:
        return f"{base}: {intensity}"
    return base or intensity or NO_CLASS


def split(name: Any) -> tuple[str, str]:
    """``(base, intensity)`` of a compound name (QuPath's ``"A: B"`` derived classes; a
    lone intensity name is an intensity; :data:`NO_CLASS` and empty are neither)."""
    text = _clean(name)
    if not text:
        return "", ""
    if ": " in text:
        base, _, rest = text.partition(": ")
        rest = _clean(rest)
        if rest in INTENSITY_CLASSES:
            return _clean(base), rest
        return text, ""  # another derived class ("A: B"): kept whole as the base
    if text in INTENSITY_CLASSES:
        return "", text
    return text, ""


def _clean(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text in _EMPTY else text


def _n_rows(table) -> int:
    if hasattr(table, "columns"):
        return len(table)
    for value in table.values():
        return len(np.atleast_1d(value))
    return 0


def _col(table, name: str, default) -> np.ndarray:
    """A copy of column ``name`` (object, or float for a float default), else ``default``s."""
    kind = float if isinstance(default, float) else object
    if name in table:
        return np.array(table[name], dtype=kind)
    return np.full(_n_rows(table), default, dtype=kind)


def _assign(table, columns: dict[str, np.ndarray]):
    if hasattr(table, "columns"):
        out = table.copy()
        for key, value in columns.items():
            out[key] = value
        return out
    return {**table, **columns}


def with_classes(table):
    """``table`` with every class column present: tables written before them get their
    base and intensity split out of ``classification`` (source '' for those)."""
    if all(c in table for c in (*CLASS_COLUMNS, CLASSIFICATION)):
        return table
    n = _n_rows(table)
    names = np.asarray(table[CLASSIFICATION], dtype=object) if CLASSIFICATION in table \
        else np.full(n, NO_CLASS, dtype=object)
    parts = [split(v) for v in names]
    base = _col(table, BASE, "") if BASE in table else \
        np.array([p[0] for p in parts], dtype=object)
    intensity = _col(table, INTENSITY, "") if INTENSITY in table else \
        np.array([p[1] for p in parts], dtype=object)
    source = _col(table, SOURCE, "")
    probability = np.asarray(table[PROBABILITY], float) if PROBABILITY in table \
        else np.full(n, np.nan)
    return _refresh(table, base, intensity, source, probability)


def _refresh(table, base, intensity, source, probability):
    base = np.array([_clean(b) for b in base], dtype=object)
    intensity = np.array([_clean(i) for i in intensity], dtype=object)
    source = np.array(["" if s is None or s != s else str(s) for s in source], dtype=object)
    names = np.array([compose(b, i) for b, i in zip(base, intensity)], dtype=object)
    return _assign(table, {BASE: base, INTENSITY: intensity, SOURCE: source,
                           PROBABILITY: np.asarray(probability, float), CLASSIFICATION: names})


def intensity_overridden(table) -> np.ndarray:
    """Rows whose intensity class the pathologist set (:data:`INTENSITY_OVERRIDE`)."""
    if INTENSITY_OVERRIDE not in table:
        return np.zeros(_n_rows(table), bool)
    flags = np.asarray(table[INTENSITY_OVERRIDE])
    if flags.dtype.kind in "biuf":
        return np.nan_to_num(flags.astype(float)) > 0.5
    return np.array([str(v).strip().lower() in ("1", "1.0", "true") for v in flags], bool)


def set_intensity(table, intensity, mask: Optional[np.ndarray] = None, source: str = ""):
    """A copy of ``table`` with the intensity class of the rows in ``mask`` (all when
    None) set from ``intensity`` (one name, or one per row); base classes untouched.
    Rows the pathologist set are left alone unless ``source`` is :data:`PATHOLOGIST`,
    who marks (or, with '', clears) the override."""
    table = with_classes(table)
    n = _n_rows(table)
    mask = np.ones(n, bool) if mask is None else np.asarray(mask, bool).copy()
    overridden = intensity_overridden(table)
    if source != PATHOLOGIST:
        mask &= ~overridden
    values = np.broadcast_to(np.asarray(intensity, dtype=object), (n,))
    current = _col(table, INTENSITY, "")
    current[mask] = values[mask]
    out = _refresh(table, _col(table, BASE, ""), current, _col(table, SOURCE, ""),
                   np.asarray(table[PROBABILITY], float))
    if source == PATHOLOGIST:
        flags = overridden.astype(float)
        flags[mask] = [1.0 if _clean(v) else 0.0 for v in values[mask]]
        out = _assign(out, {INTENSITY_OVERRIDE: flags})
    return out


def set_base(table, base, source: str, mask: Optional[np.ndarray] = None,
             probability=None):
    """A copy of ``table`` with the base class of the rows in ``mask`` (all when None) set
    from ``base`` (one name or one per row; '' clears) by ``source``. Rows the
    pathologist classed are left alone unless ``source`` is :data:`PATHOLOGIST`;
    ``probability`` (one per row or scalar) is kept for classifier rows, NaN otherwise."""
    table = with_classes(table)
    n = _n_rows(table)
    mask = np.ones(n, bool) if mask is None else np.asarray(mask, bool).copy()
    old_source = _col(table, SOURCE, "")
    if source != PATHOLOGIST:
        mask &= old_source != PATHOLOGIST
    values = np.broadcast_to(np.asarray(base, dtype=object), (n,))
    new_base = _col(table, BASE, "")
    new_base[mask] = values[mask]
    new_source = old_source.copy()
    new_source[mask] = np.where(np.array([_clean(v) for v in values[mask]], dtype=object)
                                != "", source, "")
    prob = np.asarray(table[PROBABILITY], float).copy()
    given = np.full(n, np.nan) if probability is None else \
        np.broadcast_to(np.asarray(probability, float), (n,))
    prob[mask] = given[mask] if source == CLASSIFIER else np.nan
    return _refresh(table, new_base, _col(table, INTENSITY, ""), new_source, prob)


def parts_of(base: Any, intensity: Any, classification: Any = "") -> tuple[str, str]:
    """``(base, intensity)`` of one cell: its parts when either is set, else the parts
    split out of its ``classification`` (a record or row written before the parts)."""
    base, intensity = _clean(base), _clean(intensity)
    return (base, intensity) if base or intensity else split(classification)


def display_class(name: Any) -> str:
    """The class a compound is drawn with: its intensity on IHC (QuPath's derived
    classes take their intensity's colour), else its base, else :data:`NO_CLASS`."""
    base, intensity = split(name)
    return intensity or base or NO_CLASS


def named_mask(table) -> np.ndarray:
    """Rows the pathologist gave a base class (the classifier's training cells)."""
    table = with_classes(table)
    return (_col(table, SOURCE, "") == PATHOLOGIST) & (_col(table, BASE, "") != "")


#: the names the engine API gives :func:`compose` and :func:`split`
compose_class, split_class = compose, split

__all__ = ["compose_class", "split_class",
           "NEGATIVE", "POSITIVE", "INTENSITY_CLASSES", "BASE_CLASSES", "NO_CLASS",
           "PATHOLOGIST", "CLASSIFIER", "CLASSIFICATION", "BASE", "INTENSITY", "SOURCE",
           "PROBABILITY", "CLASS_COLUMNS", "compose", "split", "with_classes",
           "set_intensity", "set_base", "named_mask", "parts_of", "display_class",
           "UNREVIEWED", "ACCEPTED", "REJECTED", "STATUS", "STATUSES", "REVIEW_DEFAULTS",
           "PAINTED", "INTENSITY_OVERRIDE", "INTENSITY_BIN", "intensity_overridden"]
