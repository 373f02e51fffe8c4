"""Review sessions: undo / redo of status and class changes, atomic autosave, restore.

Files beside the results, one set per source image (``<image>`` made file-safe):

* ``<image>_review.json``: layer name, metadata, and every cell's status and class
  (as codes into short lists) - rewritten after each review change;
* ``<image>_cells.npz``: the full features table - rewritten when the cells change
  (a new result, a label edit);
* ``<image>_labels.npy``: the labels of an in-memory result (a zarr result names its
  zarr folder in the JSON instead) - rewritten with the cells.

Every file is written to a temporary sibling and moved into place (``os.replace``),
so a killed process leaves the previous complete file. Qt-free.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from ..writers._atomic import atomic_path, clean_json

__all__ = ["ReviewHistory", "SavedSession", "session_files", "save_reviews", "save_cells",
           "load_session", "REVIEW_COLUMNS"]

REVIEW_COLUMNS = ("status", "classification")
VERSION = 1


def safe_name(name: str) -> str:
    """``name`` with characters other than letters, digits, ``._-`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)) or "image"


def session_files(folder, image: str) -> dict[str, Path]:
    """Paths of the session files of source image ``image`` in ``folder``."""
    stem = Path(folder) / safe_name(image)
    return {"review": Path(f"{stem}_review.json"), "cells": Path(f"{stem}_cells.npz"),
            "labels": Path(f"{stem}_labels.npy")}


# ------------------------------------------------------------------ undo / redo


class ReviewHistory:
    """Undo / redo steps of review edits: each step holds, for the cells it touched,
    the status and class before and after."""

    def __init__(self, limit: int = 500):
        self.limit = limit
        self._undo: list[tuple[pd.DataFrame, pd.DataFrame]] = []
        self._redo: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    @staticmethod
    def _rows(frame: pd.DataFrame, labels) -> pd.DataFrame:
        rows = frame.loc[frame["label"].isin(labels), ["label", *REVIEW_COLUMNS]]
        return rows.set_index("label")

    def record(self, before: pd.DataFrame, after: pd.DataFrame, labels) -> None:
        """Remember a change of ``labels`` from ``before`` to ``after`` (feature frames)."""
        labels = list(labels)
        old, new = self._rows(before, labels), self._rows(after, labels)
        if old.equals(new):
            return
        self._undo.append((old, new))
        del self._undo[:-self.limit]
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @staticmethod
    def apply(frame: pd.DataFrame, values: pd.DataFrame, inplace: bool = False
              ) -> pd.DataFrame:
        """``frame`` with the review columns of the cells in ``values`` (indexed by
        label) set from it; cells no longer in ``frame`` are skipped."""
        frame = frame if inplace else frame.copy()
        rows = pd.Index(frame["label"]).get_indexer(values.index)
        found = rows >= 0
        for column in REVIEW_COLUMNS:
            position = frame.columns.get_loc(column)
            frame.iloc[rows[found], position] = values[column].to_numpy()[found]
        return frame

    def undo_values(self) -> Optional[pd.DataFrame]:
        """The review values (indexed by label) that undo the last step, or None."""
        if not self._undo:
            return None
        old, new = self._undo.pop()
        self._redo.append((old, new))
        return old

    def redo_values(self) -> Optional[pd.DataFrame]:
        """The review values that redo the last undone step, or None."""
        if not self._redo:
            return None
        old, new = self._redo.pop()
        self._undo.append((old, new))
        return new

    def undo(self, frame: pd.DataFrame) -> Optional[tuple[pd.DataFrame, list]]:
        """``(a copy of frame with the last step undone, its labels)``, or None."""
        values = self.undo_values()
        return None if values is None else (self.apply(frame, values),
                                            [int(v) for v in values.index])

    def redo(self, frame: pd.DataFrame) -> Optional[tuple[pd.DataFrame, list]]:
        """``(a copy of frame with the last undone step redone, its labels)``, or None."""
        values = self.redo_values()
        return None if values is None else (self.apply(frame, values),
                                            [int(v) for v in values.index])

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()


# ------------------------------------------------------------------ autosave


def _codes(values) -> tuple[list[int], list[str]]:
    codes, names = pd.factorize(pd.Series(values).astype(str), sort=False)
    return codes.tolist(), [str(v) for v in names]


def save_reviews(folder, image: str, layer_name: str, features: pd.DataFrame,
                 metadata: Optional[dict] = None, zarr_labels: Optional[str] = None) -> Path:
    """Write ``<image>_review.json`` (statuses and classes of every cell) atomically."""
    files = session_files(folder, image)
    payload: dict[str, Any] = {"version": VERSION, "image": image, "layer": layer_name,
                               "metadata": clean_json(dict(metadata or {})),
                               "zarr_labels": zarr_labels,
                               "label": features["label"].astype(np.int64).tolist()}
    for column in REVIEW_COLUMNS:
        if column in features.columns:
            payload[column] = dict(zip(("codes", "names"), _codes(features[column])))
    with atomic_path(files["review"]) as tmp:
        tmp.write_text(json.dumps(payload, allow_nan=False), encoding="utf-8")
    return files["review"]


def save_cells(folder, image: str, features: pd.DataFrame,
               labels: Optional[np.ndarray] = None) -> None:
    """Write the features table (and in-memory labels) atomically."""
    files = session_files(folder, image)
    columns = {}
    for name in features.columns:
        values = features[name].to_numpy()
        columns[f"c_{name}"] = values.astype(str) if values.dtype == object else values
    with atomic_path(files["cells"]) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, __columns__=np.array(list(features.columns), dtype=str),
                     **columns)
    if labels is not None:
        with atomic_path(files["labels"]) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.asarray(labels))


@dataclass
class SavedSession:
    """What :func:`load_session` found: the layer name, features with the reviews
    applied, metadata, and the labels (an array, or the zarr path of a large result)."""

    layer: str
    features: pd.DataFrame
    metadata: dict
    labels: Optional[np.ndarray]
    zarr_labels: Optional[str]

    @property
    def n_reviewed(self) -> int:
        return int((self.features["status"].astype(str) != "unreviewed").sum()) \
            if "status" in self.features.columns else 0


def _load_cells(path: Path) -> Optional[pd.DataFrame]:
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["__columns__"]]
        frame = pd.DataFrame({n: data[f"c_{n}"] for n in names})
    for name in ("classification", "status"):
        if name in frame.columns:
            frame[name] = frame[name].astype(object)
    return frame


def load_session(folder, image: str) -> Optional[SavedSession]:
    """The saved session of ``image`` in ``folder``, or None when there is none (or its
    files cannot be read)."""
    files = session_files(folder, image)
    try:
        payload = json.loads(files["review"].read_text(encoding="utf-8"))
        cells = _load_cells(files["cells"])
    except (OSError, ValueError, KeyError):
        return None
    if not isinstance(payload, dict) or payload.get("version") != VERSION:
        return None
    zarr_labels = payload.get("zarr_labels")
    labels = None
    if not zarr_labels:
        try:
            labels = np.load(files["labels"], allow_pickle=False)
        except (OSError, ValueError):
            return None
    saved = pd.Index(np.asarray(payload.get("label", []), np.int64))
    if cells is None:
        cells = pd.DataFrame({"label": saved.to_numpy()})
    rows = saved.get_indexer(cells["label"].to_numpy(np.int64))
    found = rows >= 0
    for column in REVIEW_COLUMNS:
        entry = payload.get(column)
        if not entry:
            continue
        names = np.asarray(entry["names"] + [""], dtype=object)
        values = names[np.asarray(entry["codes"], np.int64)]
        current = cells[column].to_numpy(object).copy() if column in cells.columns \
            else np.full(len(cells), "unreviewed" if column == "status" else "Nucleus",
                         dtype=object)
        current[found] = values[rows[found]]
        cells[column] = current
    return SavedSession(str(payload.get("layer") or f"{image}_nuclei"), cells,
                        dict(payload.get("metadata") or {}), labels, zarr_labels)
