"""Dock widget: IHC scoring of a nuclei result (Ki-67 index, H-score, 1+/2+/3+ bins).

Thin over :mod:`..engine.ihc.scoring`: it reads the chosen Labels layer's ``features``
(the DAB measurements of an IHC run), classifies the cells with the thresholds set here
and writes the classes back into ``features`` (``classification``, ``ihc_bin``), so the
cells are recoloured live. Scores are shown for the whole result, the current view and
the selected (else last) shape of a Shapes layer (rectangle or polygon), and can be
exported as a CSV. Scoring is vectorised and quick, so it runs on the main thread.
Rejected cells (Review) are left out of the scores.
"""

from pathlib import Path
from typing import Optional

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
)
from qtpy.QtCore import QTimer

from ..engine.ihc.scoring import (
    IhcThresholds,
    auto_thresholds,
    classify_cells,
    ihc_summary,
    summary_in_region,
    summary_row,
)
from ..engine.writers.tables import write_summary_csv
from ._layers import (
    camera,
    cell_result_choices,
    connect_while_alive,
    layer_choices,
    prefer_cell_result,
    view_region,
)
from ._remembered import remember
from .cell_style import auto_restyle

MEASUREMENTS = ("dab_nucleus_mean", "dab_nucleus_max", "dab_cell_mean", "dab_cell_max")
MODES = {"positive / negative": "positive", "bins (negative, 1+, 2+, 3+)": "bins"}
SCOPES = ("whole result", "current view", "drawn region")
#: Shapes that enclose an area scored as its polygon (ellipses, lines and paths do not)
AREA_SHAPES = ("rectangle", "polygon")
#: the view and drawn-region scores update this long after the last pan, zoom or edit
RESCORE_MS = 200


def _threshold_box(label: str, value: float, tooltip: str) -> FloatSpinBox:
    return FloatSpinBox(label=label, min=0.0, max=5.0, step=0.01, value=value,
                        tooltip=tooltip)


def score_text(summary: Optional[dict]) -> str:
    """One line of scores (or why there are none)."""
    if summary is None:
        return "-"
    if not summary["n_cells"]:
        return "no cells"
    return (f"Ki-67 {summary['ki67_index']:.1f} % ({summary['n_positive']}/"
            f"{summary['n_cells']}), H-score {summary['h_score']:.1f}; 0: {summary['n_0']}, "
            f"1+: {summary['n_1plus']}, 2+: {summary['n_2plus']}, 3+: {summary['n_3plus']}")



class IhcScoringWidget(Container):
    """IHC scoring: nuclei layer, measurement, mode, thresholds, auto; scores; export.
    Mode, thresholds and the automatic cut are remembered between sessions."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        defaults = IhcThresholds()
        self._layer = ComboBox(label="Nuclei", choices=cell_result_choices(napari_viewer),
                               tooltip="a Labels result of an IHC run (stain ihc)")
        prefer_cell_result(self._layer, napari_viewer)
        self._measurement = ComboBox(label="Measurement", choices=list(MEASUREMENTS),
                                     value=defaults.measurement,
                                     tooltip="DAB optical density a cell is scored on")
        self._mode = ComboBox(label="Classes", choices=list(MODES), value=list(MODES)[0])
        self._positive = _threshold_box("Positive threshold", defaults.positive,
                                        "a cell is Positive at or above this DAB OD")
        self._bins = [_threshold_box(f"{name} threshold", value, f"{name} at or above this")
                      for name, value in zip(("1+", "2+", "3+"), defaults.bins)]
        self._auto = CheckBox(text="Automatic cut (per-slide 2-means)", value=False)
        self._shapes = ComboBox(label="Region shapes", nullable=True,
                                choices=layer_choices(napari_viewer, napari.layers.Shapes))
        self._scores = {scope: Label(label=scope.capitalize(), value="-") for scope in SCOPES}
        self._refresh = PushButton(text="Refresh scores")
        self._dest = FileEdit(label="Summary CSV", mode="w", filter="*.csv")
        self._export = PushButton(text="Export summary CSV")
        self._status = Label(label="Status", value="ready")
        for label in (*self._scores.values(), self._status):  # long lines wrap, not widen
            label.native.setWordWrap(True)
        self.summaries: dict[str, Optional[dict]] = {scope: None for scope in SCOPES}
        self.thresholds: Optional[IhcThresholds] = None  # as last applied (auto resolved)
        self._applying = False
        self._bound = None
        self.extend([self._layer, self._measurement, self._mode, self._positive, *self._bins,
                     self._auto, *self._scores.values(), self._shapes, self._refresh,
                     self._dest, self._export, self._status])
        # remembered between sessions; restored before the handlers are connected
        remember(self, "ihc_scoring", [self._mode, self._positive, *self._bins, self._auto])
        for widget in (self._measurement, self._mode, self._positive, *self._bins, self._auto):
            widget.changed.connect(self.apply)
        self._layer.changed.connect(self._bind)
        self._shapes.changed.connect(self.update_scores)
        self._refresh.changed.connect(self.update_scores)
        self._export.changed.connect(lambda _=None: self.export_summary())
        # the view and drawn-region scores follow pans, zooms and shape edits (debounced)
        self._rescore = QTimer(self.native)  # dies with the widget
        self._rescore.setSingleShot(True)
        self._rescore.setInterval(RESCORE_MS)
        self._rescore.timeout.connect(
            lambda: self.update_scores(scopes=("current view", "drawn region")))
        cam = camera(napari_viewer)
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self.reset_choices),
                                   (napari_viewer.layers.events.removed, self.reset_choices),
                                   (cam.events.center, self._rescore_soon),
                                   (cam.events.zoom, self._rescore_soon)])
        self._shapes.changed.connect(self._follow_shapes)
        self._followed_shapes = None
        self._follow_shapes(self._shapes.value)
        self._bind(self._layer.value)

    def _rescore_soon(self, *_):
        self._rescore.start()  # restarts: one rescore after the last event

    def _follow_shapes(self, shapes):
        """Rescore when the chosen Shapes layer's shapes are drawn, moved or removed."""
        if self._followed_shapes is not None:
            self._followed_shapes.events.data.disconnect(self._rescore_soon)
        self._followed_shapes = shapes
        if shapes is not None:
            shapes.events.data.connect(self._rescore_soon)

    def reset_choices(self, *_):
        """Refresh the layer lists; move off a non-result (e.g. a mask) onto the cell
        result when one appears."""
        super().reset_choices()
        prefer_cell_result(self._layer, self._viewer)

    # ------------------------------------------------------------------ thresholds
    def read_thresholds(self) -> IhcThresholds:
        """The thresholds set in the widget (ValueError, one line, when they are bad)."""
        return IhcThresholds(measurement=self._measurement.value,
                             positive=float(self._positive.value),
                             bins=tuple(float(b.value) for b in self._bins),
                             mode=MODES[self._mode.value], auto=bool(self._auto.value))

    def set_thresholds(self, thresholds: IhcThresholds) -> None:
        """Show ``thresholds`` in the widget and apply them once."""
        self._applying = True
        try:
            self._measurement.value = thresholds.measurement
            self._mode.value = next(k for k, v in MODES.items() if v == thresholds.mode)
            self._positive.value = thresholds.positive
            for box, value in zip(self._bins, thresholds.bins):
                box.value = value
            self._auto.value = thresholds.auto
        finally:
            self._applying = False
        self.apply()

    def _bind(self, layer=None) -> None:
        """Follow ``layer``'s features (Review edits refresh the scores), then apply."""
        if self._bound is not None:
            try:
                self._bound.events.features.disconnect(self._on_features)
            except (RuntimeError, TypeError, ValueError):
                pass
        self._bound = layer
        if layer is not None:
            layer.events.features.connect(self._on_features)
            if not str(self._dest.value) or str(self._dest.value) == ".":
                self._dest.value = Path.cwd() / f"{layer.name}_summary.csv"
            meta = layer.metadata if isinstance(layer.metadata, dict) else {}
            saved = meta.get("ihc_thresholds")
            if isinstance(saved, dict):
                try:
                    keep = ("measurement", "positive", "bins", "mode", "auto")
                    fitted = saved.get("fitted_cut") is not None
                    values = {k: saved[k] for k in keep if k in saved}
                    if fitted:  # the fitted cut is the result of "auto", not a setting
                        values.pop("positive", None)
                        values.pop("bins", None)
                    self.set_thresholds(IhcThresholds(**values))
                    return
                except (TypeError, ValueError, StopIteration):
                    pass
        self.apply()

    def apply(self, _=None) -> None:
        """Classify the chosen layer's cells with the widget's thresholds, set its
        features (live recolouring) and update the scores."""
        if self._applying:
            return
        layer = self._layer.value
        if layer is None:
            self._status.value = "choose a nuclei Labels layer (an IHC result)"
            return
        try:
            thresholds = self.read_thresholds()
            frame = layer.features
            if thresholds.measurement not in frame.columns:
                raise ValueError(f"{layer.name} has no {thresholds.measurement!r} "
                                 "measurement: recognise it with stain ihc")
            thresholds = auto_thresholds(frame, thresholds)
            classified = classify_cells(frame, thresholds)
        except ValueError as exc:
            self._status.value = str(exc)
            return
        self.thresholds = thresholds
        self._applying = True
        try:
            layer.features = classified
            self._sync_centroids(layer, classified)
            if isinstance(layer.metadata, dict):
                layer.metadata = {**layer.metadata, "ihc_thresholds": thresholds.describe()}
            auto_restyle(layer)
        finally:
            self._applying = False
        cut = thresholds.fitted_cut
        self._status.value = ("classified" if cut is None or not thresholds.auto
                              else f"classified (automatic cut {cut:.3f})")
        if thresholds.auto and cut is None:
            self._status.value = "classified (no second DAB population: set thresholds used)"
        self.update_scores()

    def _sync_centroids(self, layer, classified) -> None:
        """Give Recognise's ``<image>_centroids`` points the same classes."""
        name = layer.name[:-len("_nuclei")] + "_centroids" \
            if layer.name.endswith("_nuclei") else None
        points = self._viewer.layers[name] if name in self._viewer.layers else None
        if not isinstance(points, napari.layers.Points) or len(points.data) != len(classified):
            return
        frame = points.features.copy()
        if "label" in frame and list(frame["label"]) != list(classified["label"]):
            return
        frame["classification"] = classified["classification"].to_numpy()
        frame["ihc_bin"] = classified["ihc_bin"].to_numpy()
        points.features = frame

    # ------------------------------------------------------------------ scores
    def _on_features(self, _=None) -> None:
        if not self._applying:
            self.update_scores()

    def region_polygon(self, layer) -> Optional[np.ndarray]:
        """(N, 2) (y, x) vertices in ``layer``'s pixels of the selected (else last) shape."""
        shapes = self._shapes.value
        if shapes is None or len(shapes.data) == 0:
            return None
        selected = sorted(shapes.selected_data)
        index = selected[0] if selected else len(shapes.data) - 1
        if shapes.shape_type[index] not in AREA_SHAPES:  # an ellipse is stored as its
            return None                                  # box, a line has no inside
        vertices = np.asarray(shapes.data[index], dtype=float)
        world = [shapes.data_to_world(v) for v in vertices]
        return np.array([np.asarray(layer.world_to_data(w), float)[-2:] for w in world])

    def update_scores(self, _=None, scopes=SCOPES) -> None:
        """Scores of ``scopes`` (default: the whole result, the current view and the
        drawn region); a pan or a shape edit updates only the last two."""
        layer, thresholds = self._layer.value, self.thresholds
        if layer is None or thresholds is None \
                or thresholds.measurement not in layer.features.columns:
            for scope in SCOPES:
                self.summaries[scope] = None
                self._scores[scope].value = "-"
            return
        frame = layer.features
        if "whole result" in scopes:
            self.summaries["whole result"] = ihc_summary(frame, thresholds)
        if "current view" in scopes:
            box = view_region(self._viewer, layer)
            self.summaries["current view"] = (summary_in_region(frame, box, thresholds)
                                              if box is not None else None)
        if "drawn region" in scopes:
            polygon = self.region_polygon(layer)
            self.summaries["drawn region"] = (summary_in_region(frame, polygon, thresholds)
                                              if polygon is not None and len(polygon) >= 3
                                              else None)
        for scope in scopes:
            text = score_text(self.summaries[scope])
            if scope == "drawn region" and self.summaries[scope] is None:
                text = "draw a rectangle or polygon in the chosen Shapes layer"
            self._scores[scope].value = text

    def export_summary(self, path=None) -> Optional[Path]:
        """Write the scores (one row per scope that has one) as a CSV, atomically."""
        self.update_scores()
        rows = [{"region": scope, **summary_row(s)} for scope, s in self.summaries.items()
                if s is not None]
        if not rows:
            self._status.value = "nothing to export: choose an IHC nuclei layer first"
            return None
        dest = Path(path if path is not None else self._dest.value)
        try:
            write_summary_csv(dest, rows)
        except OSError as exc:
            self._status.value = f"export failed: {exc}"
            return None
        self._status.value = f"summary written to {dest}"
        return dest
