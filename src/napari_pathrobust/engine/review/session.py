"""Review sessions: undo / redo of status and class changes, atomic autosave, restore.

Files beside the results, one pair per source image (``<image>`` made file-safe):

* ``<image>_cells.npz``: the result - features table, the labels of an in-memory
  result (a zarr result names its folder instead), layer name, metadata and a fresh
  token - rewritten when the cells change (a new result, a label edit, another layer);
* ``<image>_review.json``: every cell's status and class (codes into short lists) and
  the token of the cells they were made on - rewritten after each review change.

Each file is written to a temporary sibling and moved into place (``os.replace``), so
a kill leaves the previous complete file; the token makes a review file that does not
belong to the saved cells (a kill between the two writes, another result of the same
slide) be ignored rather than applied to the wrong cells. Qt-free.

The results folder is a setting, so a slide's session may lie in a folder used before:
every folder that received an autosave is noted (:func:`note_review_folder`, a short
list beside the settings) and :func:`find_session` restores the newest session of an
image among the current folder, the noted ones and the default cache folder.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import pandas as pd

from ..cell_classes import (
    BASE,
    CLASS_COLUMNS,
    INTENSITY_OVERRIDE,
    PATHOLOGIST,
    PROBABILITY,
    SOURCE,
    with_classes,
)
from ..settings import config_dir, default_results_dir, read_json, write_json
from ..values import file_stem
from ..writers._atomic import atomic_path, clean_json
from .merge import REVIEW_DEFAULTS, reviewed_mask

__all__ = ["ReviewHistory", "SavedSession", "session_files", "save_reviews", "save_cells",
           "load_session", "REVIEW_COLUMNS", "SessionSearch", "find_session",
           "note_review_folder", "review_folders"]

#: the columns a review edits, undoes and saves: status, the compound class and its
#: parts, and the mark of an intensity the pathologist set (present once one is set)
REVIEW_COLUMNS = ("status", "classification", *CLASS_COLUMNS, INTENSITY_OVERRIDE)
#: numeric review columns (the rest are text) and what a cell without a value holds
_NUMERIC = (PROBABILITY, INTENSITY_OVERRIDE)
_DEFAULTS = {**REVIEW_DEFAULTS, INTENSITY_OVERRIDE: 0.0}
VERSION = 1


def safe_name(name: str) -> str:
    """``name`` with characters other than letters, digits, ``._-`` replaced by ``_``."""
    return file_stem(name, "image")


def session_files(folder, image: str) -> dict[str, Path]:
    """Paths of the session files of source image ``image`` in ``folder``."""
    stem = Path(folder) / safe_name(image)
    return {"review": Path(f"{stem}_review.json"), "cells": Path(f"{stem}_cells.npz")}


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
        columns = [c for c in REVIEW_COLUMNS if c in frame.columns]
        rows = frame.loc[frame["label"].isin(labels), ["label", *columns]]
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
            if column not in values.columns or column not in frame.columns:
                continue
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


def _clear_stale_temporaries(files: dict[str, Path]) -> None:
    """Remove temporary siblings a killed write left behind (``atomic_path`` names them
    ``.<file>.tmp-<random>``); only this process writes a session, on one thread."""
    for path in files.values():
        for stale in path.parent.glob(f".{path.name}.tmp-*"):
            stale.unlink(missing_ok=True)


def save_cells(folder, image: str, features: pd.DataFrame,
               labels: Optional[np.ndarray] = None, layer_name: str = "",
               metadata: Optional[dict] = None, zarr_labels: Optional[str] = None) -> str:
    """Write the result (features table, in-memory labels, layer name, metadata) as one
    ``<image>_cells.npz``, atomically; returns the token :func:`save_reviews` pairs with
    it, so reviews are only ever applied to the cells they were made on."""
    files = session_files(folder, image)
    _clear_stale_temporaries(files)
    token = uuid.uuid4().hex
    columns = {}
    for name in features.columns:
        values = features[name].to_numpy()
        columns[f"c_{name}"] = values.astype(str) if values.dtype == object else values
    if labels is not None:
        columns["__labels__"] = np.asarray(labels)
    about = {"token": token, "layer": layer_name, "zarr_labels": zarr_labels,
             "metadata": clean_json(dict(metadata or {}))}
    with atomic_path(files["cells"]) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, __columns__=np.array(list(features.columns), dtype=str),
                     __about__=np.array(json.dumps(about, allow_nan=False)), **columns)
    return token


def save_reviews(folder, image: str, layer_name: str, features: pd.DataFrame,
                 metadata: Optional[dict] = None, zarr_labels: Optional[str] = None,
                 token: str = "") -> Path:
    """Write ``<image>_review.json`` (statuses and classes of every cell) atomically;
    ``token`` names the saved cells these reviews belong to."""
    files = session_files(folder, image)
    payload: dict[str, Any] = {"version": VERSION, "image": image, "layer": layer_name,
                               "token": token,
                               "metadata": clean_json(dict(metadata or {})),
                               "zarr_labels": zarr_labels,
                               "label": features["label"].astype(np.int64).tolist()}
    for column in REVIEW_COLUMNS:
        if column in features.columns:
            payload[column] = dict(zip(("codes", "names"), _codes(features[column])))
    with atomic_path(files["review"]) as tmp:
        tmp.write_text(json.dumps(payload, allow_nan=False), encoding="utf-8")
    return files["review"]


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
        return int(reviewed_mask(self.features).sum())


def _load_cells(path: Path) -> tuple[pd.DataFrame, Optional[np.ndarray], dict]:
    """(features, labels or None, about) of a ``_cells.npz``."""
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["__columns__"]]
        frame = pd.DataFrame({n: data[f"c_{n}"] for n in names})
        labels = data["__labels__"] if "__labels__" in data.files else None
        about = json.loads(str(data["__about__"]))
    for name in REVIEW_COLUMNS:
        if name in frame.columns and name not in _NUMERIC:
            frame[name] = frame[name].astype(object)
    if "classification" in frame.columns:  # cells saved before the class parts
        for column, values in with_classes(frame).items():
            if column not in frame.columns:
                frame[column] = values
    return frame, labels, about


def _apply_reviews(cells: pd.DataFrame, payload: dict) -> None:
    """Set the review columns of ``cells`` from a review JSON (cells it names only)."""
    saved = pd.Index(np.asarray(payload.get("label", []), np.int64))
    rows = saved.get_indexer(cells["label"].to_numpy(np.int64))
    found = rows >= 0
    for column in REVIEW_COLUMNS:
        entry = payload.get(column)
        if not entry:
            continue
        names = np.asarray(entry["names"] + [""], dtype=object)
        values = names[np.asarray(entry["codes"], np.int64)]
        current = cells[column].to_numpy(object).copy() if column in cells.columns \
            else np.full(len(cells), _DEFAULTS[column], dtype=object)
        current[found] = values[rows[found]]
        if column in _NUMERIC:
            current = np.array([_float(v) for v in current])
        cells[column] = current
    legacy = "classification" in payload and not any(c in payload for c in CLASS_COLUMNS)
    if legacy:  # reviews saved before the class parts: split them out of the saved classes
        cells.drop(columns=[c for c in CLASS_COLUMNS if c in cells.columns], inplace=True)
    for column, values in with_classes(cells).items():
        if column not in cells.columns:
            cells[column] = values
    if legacy:  # a base class in a saved review was named in Review: the pathologist's
        named = found & (cells[BASE].astype(str).to_numpy() != "")
        cells.loc[named, SOURCE] = PATHOLOGIST


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def load_session(folder, image: str) -> Optional[SavedSession]:
    """The saved session of ``image`` in ``folder``, or None when there is none (or its
    files cannot be read). Reviews saved for other cells than the saved ones (another
    result of the slide, or a kill between the two writes) are not applied: the cells'
    own review columns, current when they were saved, are used instead."""
    files = session_files(folder, image)
    try:
        cells, labels, about = _load_cells(files["cells"])
    except (OSError, ValueError, KeyError):
        return None
    try:
        payload = json.loads(files["review"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        payload = None
    if isinstance(payload, dict) and payload.get("version") == VERSION \
            and payload.get("token") == about.get("token"):
        _apply_reviews(cells, payload)
        about = {**about, "layer": payload.get("layer") or about.get("layer"),
                 "metadata": payload.get("metadata") or about.get("metadata")}
    zarr_labels = about.get("zarr_labels")
    if labels is None and not zarr_labels:
        return None
    return SavedSession(str(about.get("layer") or f"{image}_nuclei"), cells,
                        dict(about.get("metadata") or {}), labels, zarr_labels)


# ------------------------------------------------------------------ where autosaves are

#: at most this many folders that held autosaves are remembered (the newest)
MAX_REVIEW_FOLDERS = 20
_NOTED: set = set()  # folders noted by this process (written once each)


def _folders_file() -> Path:
    return config_dir() / "review_folders.json"


def note_review_folder(folder) -> None:
    """Remember that ``folder`` holds autosaves (once per process; a config folder that
    cannot be written is ignored)."""
    folder = str(Path(folder).expanduser().absolute())
    key = (str(_folders_file()), folder)
    if key in _NOTED:
        return
    known = [f for f in read_json(_folders_file()).get("folders", []) if isinstance(f, str)]
    try:
        write_json(_folders_file(), {"folders": [folder, *[f for f in known if f != folder]]
                                     [:MAX_REVIEW_FOLDERS]})
    except OSError:
        return
    _NOTED.add(key)


def review_folders(current) -> list[Path]:
    """Where a slide's session may be: ``current``, the noted folders (newest first),
    then the default cache folder; each once."""
    noted = [f for f in read_json(_folders_file()).get("folders", []) if isinstance(f, str)]
    out: dict[str, Path] = {}
    for folder in (current, *noted, default_results_dir()):
        path = Path(folder).expanduser().absolute()
        out.setdefault(str(path), path)
    return list(out.values())


def _saved_fingerprint(path: Path) -> tuple[bool, Optional[str]]:
    """(readable, recorded source fingerprint) of a ``_cells.npz``, reading only its
    small ``__about__`` entry."""
    try:
        with np.load(path, allow_pickle=False) as data:
            about = json.loads(str(data["__about__"]))
    except (OSError, ValueError, KeyError):
        return False, None
    return True, (about.get("metadata") or {}).get("source_fingerprint")


def _saved_at(files: dict[str, Path]) -> float:
    return max((p.stat().st_mtime for p in files.values() if p.exists()), default=0.0)


@dataclass
class SessionSearch:
    """What :func:`find_session` found: the session and its folder (or None), and how
    many sessions of that image name were skipped as saved for other pixels."""

    session: Optional[SavedSession]
    folder: Optional[Path]
    other_pixels: int = 0


def find_session(folders, image: str,
                 fingerprint: Union[str, Callable[[], str], None] = None) -> SessionSearch:
    """The newest loadable session of ``image`` in ``folders`` (see :func:`review_folders`)
    saved for these pixels: a session recording a source fingerprint other than
    ``fingerprint`` (a string, or a function computed only when needed) is skipped."""
    candidates = []
    for folder in folders:
        files = session_files(folder, image)
        readable, saved_print = _saved_fingerprint(files["cells"])
        if readable:
            candidates.append((_saved_at(files), Path(folder), saved_print))
    other = 0
    for _when, folder, saved_print in sorted(candidates, key=lambda c: -c[0]):
        if saved_print and fingerprint is not None:
            if callable(fingerprint):
                fingerprint = fingerprint()
            if saved_print != fingerprint:
                other += 1
                continue
        session = load_session(folder, image)
        if session is not None:
            return SessionSearch(session, folder, other)
    return SessionSearch(None, None, other)

