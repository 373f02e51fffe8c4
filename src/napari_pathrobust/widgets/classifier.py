"""Dock widget "Cell classifier": train on the cells named in Review, classify the rest.

Pick the cell result (``<image>_nuclei``) and its image; the dock shows how many cells
the pathologist named per class. "Train classifier" measures every cell (size, shape,
stain densities in nucleus and cell, local density), fits a random forest on the named
ones and gives every other cell a base class and its probability (named cells are never
changed) in a thread worker with progress and Cancel. Correct cells in Review and press
Train again to retrain. "Save..." / "Load..." write and read the classifier file (with
its card); "Apply" classifies another result with the current classifier.
"""

from pathlib import Path
from typing import Optional

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Label, PushButton

from ..engine.api import (
    CLASSIFIER,
    CLASSIFIER_SUFFIX,
    CellClassifier,
    InputError,
    apply_classifier,
    set_base,
    train_on_cells,
    training_mask,
)
from ._layers import cell_result_choices, layer_choices, prefer_cell_result
from ._runner import JobWidget
from .cell_style import style_if_result


def named_counts(features) -> dict:
    """Named cells per base class of a features table ({} without any)."""
    if features is None or "label" not in features:
        return {}
    mask = training_mask(features)
    if not mask.any():
        return {}
    base = np.asarray(features["base_class"], dtype=object)[mask] \
        if "base_class" in features else np.asarray(
            [str(c).split(": ")[0] for c in np.asarray(features["classification"])[mask]])
    names, counts = np.unique(base.astype(str), return_counts=True)
    return {str(k): int(v) for k, v in zip(names, counts)}


def _merged(current, table) -> pd.DataFrame:
    """The layer's ``current`` features with the classifier's classes of ``table`` (by
    label): cells named or edited while the job ran keep the pathologist's class."""
    current = pd.DataFrame(current)
    table = pd.DataFrame(table)
    given = table[table["class_source"] == CLASSIFIER].set_index("label")
    labels = np.asarray(current["label"])
    hit = np.isin(labels, given.index.to_numpy())
    base = np.full(len(labels), "", dtype=object)
    prob = np.full(len(labels), np.nan)
    base[hit] = given.loc[labels[hit], "base_class"].to_numpy()
    prob[hit] = given.loc[labels[hit], "class_probability"].to_numpy()
    return set_base(current, base, CLASSIFIER, mask=hit, probability=prob)


class ClassifierWidget(JobWidget):
    """Train a cell classifier from named cells, classify results, save / load it."""

    title = "Cell classifier"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text="Train classifier")
        self._result = ComboBox(label="Cells", choices=cell_result_choices(napari_viewer))
        self._image = ComboBox(label="Image", choices=layer_choices(
            napari_viewer, napari.layers.Image))
        self._named = Label(label="Named", value="no named cells")
        self._model_text = Label(label="Classifier", value="none")
        self._save = PushButton(text="Save classifier...", enabled=False)
        self._load = PushButton(text="Load classifier...")
        self._target = ComboBox(label="Apply to", choices=cell_result_choices(napari_viewer))
        self._apply = PushButton(text="Apply", enabled=False)
        self._save.changed.connect(self._ask_save)
        self._load.changed.connect(self._ask_load)
        self._apply.changed.connect(lambda _=None: self.apply())
        self._result.changed.connect(self._on_result)
        self.classifier: Optional[CellClassifier] = None
        self._inputs = [self._result, self._image, self._load, self._target]
        self.extend([self._result, self._image, self._named, *self.job_controls(),
                     self._model_text, self._save, self._load, self._target, self._apply])
        self.reset_choices()

    # ------------------------------------------------------------------ choices
    def reset_choices(self, *_):
        super().reset_choices()
        prefer_cell_result(self._result, self._viewer)
        self._on_result()

    def _on_result(self, *_):
        layer = self._result.value
        if layer is not None:
            stem = layer.name[: -len("_nuclei")] if layer.name.endswith("_nuclei") else None
            for image in self._image.choices:
                if image.name == stem:
                    self._image.value = image
        self.refresh_counts()

    def refresh_counts(self) -> dict:
        """Show (and return) the named cells per class of the chosen result."""
        layer = self._result.value
        counts = named_counts(getattr(layer, "features", None))
        self._named.value = ", ".join(f"{k} {v}" for k, v in counts.items()) \
            or "no named cells: name a few cells per class in Review"
        return counts

    # ------------------------------------------------------------------ inputs
    def _inputs_of(self, layer, image):
        """(labels, RGB window under them, cells, mpp), read on the main thread."""
        if layer is None or image is None:
            raise InputError("Cell classifier", "choose a cell result and its image")
        labels = layer.data[0] if layer.multiscale else layer.data
        pixels = image.data[0] if image.multiscale else image.data
        y0, x0 = (layer.metadata.get("region") or (0, 0))[:2]
        h, w = int(labels.shape[0]), int(labels.shape[1])
        if pixels.ndim != 3 or pixels.shape[0] < y0 + h or pixels.shape[1] < x0 + w:
            raise InputError(image.name, f"not an RGB image under {layer.name}")
        from .recognise import layer_mpp

        mpp = layer.metadata.get("mpp") or layer_mpp(image) or None
        return labels, pixels[y0:y0 + h, x0:x0 + w], layer.features.copy(), mpp

    def run(self, _=None):
        """Train on the named cells of the chosen result, then classify its other cells."""
        layer, image = self._result.value, self._image.value
        try:
            labels, pixels, cells, mpp = self._inputs_of(layer, image)
        except InputError as exc:
            self._status.value = str(exc)
            return None

        def job(reporter):
            model, features = train_on_cells(labels, pixels, cells, mpp, seed=0,
                                             reporter=reporter, source=layer.name)
            model.card["trained_on"] = [{"layer": layer.name, "image": image.name}]
            return model, apply_classifier(model, labels, pixels, cells, mpp,
                                         features=features, source=layer.name)

        def done(result):
            model, table = result
            self._set_classifier(model)
            self._show(layer, table, "trained and classified")

        return self.start_job(job, done, f"train: {layer.name}")

    def apply(self, layer=None, image=None):
        """Classify ``layer`` (default: "Apply to") with the current classifier."""
        layer = layer or self._target.value
        image = image or self._image_for(layer)
        if self.classifier is None:
            self._status.value = "train or load a classifier first"
            return None
        try:
            labels, pixels, cells, mpp = self._inputs_of(layer, image)
        except InputError as exc:
            self._status.value = str(exc)
            return None
        model = self.classifier
        return self.start_job(
            lambda reporter: apply_classifier(model, labels, pixels, cells, mpp, reporter,
                                            source=layer.name),
            lambda table: self._show(layer, table, "classified"), f"apply: {layer.name}")

    def _image_for(self, layer):
        stem = layer.name[: -len("_nuclei")] if layer is not None else None
        for image in self._image.choices:
            if image.name == stem:
                return image
        return self._image.value

    def _show(self, layer, table, what: str):
        layer.features = _merged(layer.features, table)
        style_if_result(layer)
        base = np.asarray(layer.features["base_class"], dtype=object)
        source = np.asarray(layer.features["class_source"], dtype=object)
        names, counts = np.unique(base[(source == "classifier") & (base != "")].astype(str),
                                  return_counts=True)
        self.refresh_counts()
        text = ", ".join(f"{k} {v}" for k, v in zip(names, counts)) or "none"
        self._status.value = f"{layer.name}: {what} ({text})"

    # ------------------------------------------------------------------ files
    def _set_classifier(self, model: CellClassifier):
        self.classifier = model
        self._model_text.value = model.describe()
        self._save.enabled = self._apply.enabled = True

    def save(self, path) -> Path:
        """Write the current classifier (with its card) to ``path``."""
        written = self.classifier.save(path)
        self._status.value = f"saved {Path(written).name}"
        return written

    def load(self, path) -> Optional[CellClassifier]:
        """Read a classifier file (its card shown); None with the reason when it is not."""
        try:
            model = CellClassifier.load(path)
        except InputError as exc:
            self._status.value = str(exc)
            return None
        self._set_classifier(model)
        self._status.value = f"loaded {Path(path).name}"
        return model

    def _ask_save(self, _=None):
        from qtpy.QtWidgets import QFileDialog

        if self.classifier is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.native, "Save classifier",
                                              "cells" + CLASSIFIER_SUFFIX,
                                              "Cell classifier (*.zip)")
        if path:
            self.save(path)

    def _ask_load(self, _=None):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, "Load classifier", "",
                                              "Cell classifier (*.zip)")
        if path:
            self.load(path)
