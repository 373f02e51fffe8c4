"""CellClassifier: a random forest on per-cell features, trained from the named cells.

The pathologist names a few cells per class (``named_mask``); :meth:`CellClassifier.fit`
fits a seeded, class-balanced scikit-learn random forest on their features (a random
forest copes with a handful of cells per class and needs no scaling), and
:meth:`CellClassifier.classify_table` gives every other cell a base class and its
probability (:func:`..cell_classes.set_base` never overrides a named cell). A classifier
is saved as one zip file: ``card.json`` (classes, features, counts, date, seed, versions,
the model's SHA-256) and ``model.pkl``. Only load classifier files you trust: the
model inside is a pickle.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..cell_classes import CLASSIFIER, PROBABILITY, SOURCE, named_mask, set_base, with_classes
from ..errors import InputError
from .features import FEATURES, feature_matrix

#: fewest named cells a class needs
MIN_CELLS = 5
#: the file suffix offered for classifier files
SUFFIX = ".classifier.zip"
FORMAT = "napari-pathrobust cell classifier 1"
_CARD, _MODEL = "card.json", "model.pkl"


def training_mask(table) -> np.ndarray:
    """Cells to train on: named by the pathologist (``class_source``), plus cells of
    tables written before that column with a base class no classifier gave (no source,
    no probability: only Review set base classes then); rejected cells left out."""
    full = with_classes(table)
    source = np.asarray(full[SOURCE], dtype=object)
    prob = np.asarray(full[PROBABILITY], float)
    legacy = (source == "") & (np.asarray(full["base_class"], dtype=object) != "") \
        & ~np.isfinite(prob)
    mask = named_mask(full) | legacy
    if "status" in table:
        mask &= np.asarray([str(s) != "rejected" for s in table["status"]], bool)
    return np.asarray(mask, bool)


def check_training(names: Sequence[str], source: str = "named cells") -> dict[str, int]:
    """Counts per class; :class:`InputError` (one line naming the class) for one class
    or a class with fewer than :data:`MIN_CELLS` cells."""
    classes, counts = np.unique(np.asarray(names, dtype=str), return_counts=True)
    if len(classes) < 2:
        only = f"only {str(classes[0])!r} is named" if len(classes) else "no cell is named"
        raise InputError(source, f"{only}: name cells of at least two classes to train")
    for name, count in zip(classes, counts):
        if count < MIN_CELLS:
            raise InputError(f"class {str(name)!r}", f"has {count} named cell"
                             f"{'s' if count != 1 else ''}; at least {MIN_CELLS} are needed")
    return {str(k): int(v) for k, v in zip(classes, counts)}


class CellClassifier:
    """A fitted classifier with its card; build with :meth:`fit` or :meth:`load`."""

    def __init__(self, model: Any, card: dict):
        self.model = model
        self.card = card

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def features(self) -> list[str]:
        return list(self.card["features"])

    @classmethod
    def fit(cls, table, names: Sequence[str], features: Sequence[str] = FEATURES,
            seed: int = 0, n_estimators: int = 200, source: str = "named cells",
            extra: Optional[dict] = None) -> "CellClassifier":
        """Fit on the rows of feature ``table`` (one per named cell) and their class
        ``names``; ``extra`` goes into the card (e.g. the training files)."""
        from sklearn.ensemble import RandomForestClassifier

        from ... import __version__

        counts = check_training(names, source)
        missing = [f for f in features if f not in table]
        if missing:
            raise InputError(source, f"features missing: {', '.join(missing)}")
        x = feature_matrix(table, list(features))
        fill = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0) if len(x) else x
        fill = np.where(np.isfinite(fill), fill, 0.0)
        model = RandomForestClassifier(n_estimators=n_estimators, class_weight="balanced",
                                       min_samples_leaf=1, random_state=seed, n_jobs=1)
        model.fit(_filled(x, fill), np.asarray(names, dtype=str))
        model.fill_values_ = fill
        import sklearn

        card = {"format": FORMAT, "classes": [str(c) for c in model.classes_],
                "features": list(features), "counts": counts,
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "seed": seed, "model": f"RandomForestClassifier(n_estimators={n_estimators},"
                                        " class_weight='balanced')",
                "sklearn_version": sklearn.__version__,
                "package_version": __version__, **(extra or {})}
        return cls(model, card)

    def check_features(self, table, source: str = "cells") -> None:
        """:class:`InputError` naming the features this classifier needs that ``table``
        lacks."""
        missing = [f for f in self.features if f not in table]
        if missing:
            raise InputError(source, f"the classifier needs features missing here: "
                                     f"{', '.join(missing)}")

    def predict(self, table, source: str = "cells") -> tuple[np.ndarray, np.ndarray]:
        """(class name, its probability) per row of feature ``table``."""
        self.check_features(table, source)
        x = feature_matrix(table, self.features)
        if not len(x):
            return np.zeros(0, dtype=object), np.zeros(0)
        proba = self.model.predict_proba(_filled(x, self.model.fill_values_))
        best = np.argmax(proba, axis=1)
        return np.asarray(self.model.classes_, dtype=object)[best], proba.max(axis=1)

    def classify_table(self, cells, features, source: str = "cells"):
        """``cells`` (a cells table with ``label``) with every cell not named by the
        pathologist given the predicted base class and probability; ``features``: a
        feature table with ``label`` (cells without features keep their class)."""
        self.check_features(features, source)
        rows = rows_of(features, cells["label"])
        found = rows >= 0
        base = np.full(len(rows), "", dtype=object)
        prob = np.full(len(rows), np.nan)
        if found.any():
            names, best = self.predict(
                {k: np.asarray(features[k])[rows[found]] for k in self.features}, source)
            base[found], prob[found] = names, best
        return set_base(cells, base, CLASSIFIER, mask=found, probability=prob)

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Write the zip (card + model) atomically; the card gets the model's SHA-256."""
        from ..writers._atomic import atomic_path

        blob = pickle.dumps(self.model, protocol=4)
        self.card["model_sha256"] = hashlib.sha256(blob).hexdigest()
        path = Path(path)
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(_CARD, json.dumps(self.card, indent=2, sort_keys=True))
                archive.writestr(_MODEL, blob)
        return path

    @classmethod
    def load(cls, path) -> "CellClassifier":
        """Read a file written by :meth:`save` (InputError naming it otherwise)."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as archive:
                card = json.loads(archive.read(_CARD))
                blob = archive.read(_MODEL)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise InputError(path, f"not a cell classifier file ({exc})") from None
        if card.get("format") != FORMAT:
            raise InputError(path, f"not a cell classifier file (format {card.get('format')!r})")
        if card.get("model_sha256") != hashlib.sha256(blob).hexdigest():
            raise InputError(path, "the model does not match its card (file damaged)")
        try:
            model = pickle.loads(blob)  # noqa: S301 - a file the user chose to trust
        except Exception as exc:  # noqa: BLE001 - e.g. another scikit-learn's classes
            raise InputError(path, f"cannot read the model (scikit-learn "
                                   f"{card.get('sklearn_version')} wrote it: {exc})") from None
        return cls(model, card)

    def describe(self) -> str:
        """One line: classes with their named-cell counts, features, date."""
        counts = ", ".join(f"{k} {v}" for k, v in self.card["counts"].items())
        return (f"{len(self.classes)} classes ({counts}); {len(self.features)} features; "
                f"trained {self.card['date']}")


def rows_of(features, labels) -> np.ndarray:
    """Row of each of ``labels`` in a feature table (-1 where it has none)."""
    labels = np.asarray(labels, np.int64)
    f_labels = np.asarray(features["label"], np.int64)
    if not len(f_labels):
        return np.full(len(labels), -1)
    order = np.argsort(f_labels, kind="stable")
    pos = np.minimum(np.searchsorted(f_labels[order], labels), len(order) - 1)
    return np.where(f_labels[order][pos] == labels, order[pos], -1)


def _filled(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        x = np.where(bad, np.broadcast_to(fill, x.shape), x)
    return x


__all__ = ["CellClassifier", "MIN_CELLS", "SUFFIX", "check_training", "rows_of",
           "training_mask"]
