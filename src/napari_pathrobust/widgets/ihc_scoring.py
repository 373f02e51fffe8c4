"""Dock widget: IHC scoring of a nuclei result (labelling index, H-score, 1+/2+/3+ bins).

Thin over :mod:`..engine.ihc.scoring`: it reads the chosen Labels layer's ``features``
(the DAB measurements of an IHC run), classifies the cells with the thresholds set here
and writes the intensity classes back into ``features`` (``intensity``, the compound
``classification``, ``ihc_bin``; a base class named in Review stays), so the cells are
recoloured live. One set of thresholds drives every number: the positive
threshold is the 1+ threshold (one box), and with the automatic cut the fitted value is
shown in that box (disabled, marked *fitted*); the user's own values come back when it
is unticked. Scores (named after the Marker, e.g. "ER index") are shown for the whole
result, the current view and the selected (else last) shape of a Shapes layer
(rectangle or polygon), and exported as a CSV named after the chosen layer, one row
per scope with slide, layer, region, marker and thresholds. The second index counts the
cells of the class chosen in "Count cells of" (Tumor by default; a class named in Review
or by a classifier wins over the label-free rule). Scoring is vectorised and quick, so
it runs on the main thread. Rejected cells (Review) are left out of the scores.
"""

from dataclasses import replace
from pathlib import Path
from typing import Optional

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, LineEdit, PushButton
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCompleter

from ..engine.api import (
    IhcThresholds,
    auto_thresholds,
    classify_cells,
    ihc_summary,
    safe_name,
    summary_in_region,
    summary_row,
    write_summary_csv,
)
from ._docking import fit_in_dock
from ._ihc_fields import (
    COUNTED_TIP,
    FITTED_LABEL,
    FITTED_TIP,
    MARKERS,
    MEASUREMENTS,
    MODES,
    POSITIVE_LABEL,
    POSITIVE_TIP,
    counted_choices,
    threshold_box,
)
from ._ihc_text import score_text, slide_name
from ._layers import (
    camera,
    cell_result_choices,
    connect_while_alive,
    layer_choices,
    prefer_cell_result,
    shape_polygon,
    sync_centroid_classes,
    view_region,
)
from ._remembered import remember
from ._status import StatusLine
from .cell_style import auto_restyle

SCOPES = ("whole result", "current view", "drawn region")
#: Shapes that enclose an area scored as its polygon (ellipses, lines and paths do not)
AREA_SHAPES = ("rectangle", "polygon")
#: the view and drawn-region scores update this long after the last pan, zoom or edit
RESCORE_MS = 200


class IhcScoringWidget(Container):
    """IHC scoring: nuclei layer, marker, measurement, mode, thresholds, auto; scores;
    export. Marker, mode, thresholds and the automatic cut are remembered."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        fit_in_dock(self.native)  # scrolls, tabs with the other docks
        self._viewer = napari_viewer
        defaults = IhcThresholds()
        self._layer = ComboBox(label="Nuclei", choices=cell_result_choices(napari_viewer),
                               tooltip="a Labels result of an IHC run (stain ihc)")
        prefer_cell_result(self._layer, napari_viewer)
        self._marker = LineEdit(name="marker", label="Marker", value=defaults.marker,
                                tooltip="the stain's marker (Ki-67, ER, PR, p53, ... or any "
                                        "name): the index is named after it")
        self._marker.native.setCompleter(QCompleter(list(MARKERS), self._marker.native))
        self._measurement = ComboBox(label="Measurement", choices=list(MEASUREMENTS),
                                     value=defaults.measurement,
                                     tooltip="DAB optical density a cell is scored on")
        self._mode = ComboBox(label="Classes", choices=list(MODES), value=list(MODES)[0])
        self._positive = threshold_box("positive_threshold", POSITIVE_LABEL,
                                        defaults.positive, POSITIVE_TIP)
        # the positive threshold is the 1+ bound: one box, then 2+ and 3+
        self._bins = [self._positive] + [
            threshold_box(f"bin_{name[0]}plus", f"{name} threshold", value,
                           f"{name} at or above this DAB OD")
            for name, value in zip(("2+", "3+"), defaults.bins[1:])]
        self._auto = CheckBox(text="Automatic cut (per-slide 2-means)", value=False)
        self._counted = ComboBox(label="Count cells of", tooltip=COUNTED_TIP,
                                 choices=lambda _=None: counted_choices(self._features()))
        self._shapes = ComboBox(label="Region shapes", nullable=True,
                                choices=layer_choices(napari_viewer, napari.layers.Shapes))
        self._scores = {scope: StatusLine("-", label=scope.capitalize(), max_lines=6)
                        for scope in SCOPES}  # long lines wrap inside the dock, never widen it
        self._refresh = PushButton(text="Refresh scores")
        self._dest = FileEdit(label="Summary CSV", mode="w", filter="*.csv")
        self._export = PushButton(text="Export summary CSV")
        self._status = StatusLine("ready", log_as="IHC scoring")  # wraps or elides
        self.summaries: dict[str, Optional[dict]] = {scope: None for scope in SCOPES}
        self.thresholds: Optional[IhcThresholds] = None  # as last applied (auto resolved)
        self._applying = False
        self._bound = None
        self.extend([self._layer, self._marker, self._measurement, self._mode, *self._bins,
                     self._auto, self._counted, *self._scores.values(), self._shapes, self._refresh,
                     self._dest, self._export, self._status])
        # remembered between sessions; restored before the handlers are connected (a
        # fitted cut is shown with the boxes' signals blocked, so it is never remembered)
        remember(self, "ihc_scoring", [self._marker, self._mode, *self._bins, self._auto])
        self._set = [float(b.value) for b in self._bins]  # the user's own thresholds
        for widget in (self._measurement, self._mode, self._auto):
            widget.changed.connect(self.apply)
        for i, box in enumerate(self._bins):
            box.changed.connect(lambda value, i=i: self._on_box(i, value))
        self._marker.changed.connect(self._on_marker)
        self._layer.changed.connect(self._bind)
        self._shapes.changed.connect(self.update_scores)
        self._counted.changed.connect(self.update_scores)
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

    def _features(self):
        layer = getattr(self, "_layer", None)
        return layer.value.features if layer is not None and layer.value is not None \
            else None

    def _refresh_counted(self) -> None:
        """Offer the classes of the chosen layer's cells (a class named in Review or by
        a classifier appears); the chosen one stays while it is offered, else Tumor."""
        with self._counted.changed.blocked():
            before = self._counted.value
            self._counted.reset_choices()
            if before in self._counted.choices:
                self._counted.value = before

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
        result when one appears. Renaming the chosen layer keeps it chosen (the picker
        would otherwise jump to another slide's layer)."""
        before = self._layer.value
        with self._layer.changed.blocked():
            super().reset_choices()
            if before is not None and before in self._viewer.layers:
                try:
                    self._layer.value = before
                except ValueError:  # no longer offered
                    pass
            prefer_cell_result(self._layer, self._viewer)
        if self._layer.value is not before:
            self._bind(self._layer.value)

    # ------------------------------------------------------------------ thresholds
    def read_thresholds(self) -> IhcThresholds:
        """The thresholds set in the widget, the user's own (a fitted cut is not read
        back); ValueError, one line, when they are bad. A marker being typed (blank)
        keeps the last one."""
        marker = self._marker.value
        if not marker.strip():
            marker = (self.thresholds or IhcThresholds()).marker
        return IhcThresholds(measurement=self._measurement.value, bins=tuple(self._set),
                             mode=MODES[self._mode.value], auto=bool(self._auto.value),
                             marker=marker)

    def set_thresholds(self, thresholds: IhcThresholds) -> None:
        """Show ``thresholds`` in the widget and apply them once."""
        self._applying = True
        try:
            self._measurement.value = thresholds.measurement
            self._mode.value = next(k for k, v in MODES.items() if v == thresholds.mode)
            self._set = list(thresholds.bins)
            for box, value in zip(self._bins, thresholds.bins):
                box.value = value
            self._auto.value = thresholds.auto
            self._marker.value = thresholds.marker
        finally:
            self._applying = False
        self.apply()

    def _on_box(self, index: int, value) -> None:
        """A threshold typed by the user becomes a set value, then applies."""
        if self._applying:
            return
        self._set[index] = float(value)
        self.apply()

    def _show_thresholds(self, thresholds: IhcThresholds) -> None:
        """The boxes show the thresholds in use: a fitted cut in the (disabled)
        positive / 1+ box, else the set values."""
        fitted = thresholds.fitted_cut is not None
        for box, value in zip(self._bins, thresholds.bins):
            if float(box.value) != value:
                with box.changed.blocked():  # shown, not set: not remembered, no re-apply
                    box.value = value
        self._positive.enabled = not fitted
        self._positive.label = FITTED_LABEL if fitted else POSITIVE_LABEL
        self._positive.tooltip = FITTED_TIP if fitted else POSITIVE_TIP

    def _on_marker(self, _=None) -> None:
        """Rename the index (no reclassification): scores, metadata, export."""
        if self._applying:
            return
        try:  # validated (one line) by IhcThresholds
            renamed = replace(self.thresholds or IhcThresholds(), marker=self._marker.value)
        except ValueError as exc:
            self._status.value = str(exc)
            return
        if self.thresholds is None:
            return
        self.thresholds = renamed
        if self._layer.value is not None:
            self._save_to_layer(self._layer.value)
        self.update_scores()

    def _save_to_layer(self, layer) -> None:
        """Keep the thresholds in use, and the marker set here, in the layer's metadata
        (Recognise writes the default marker: only ``ihc_marker`` is restored)."""
        if isinstance(layer.metadata, dict) and self.thresholds is not None:
            layer.metadata = {**layer.metadata, "ihc_thresholds": self.thresholds.describe(),
                              "ihc_marker": self.thresholds.marker}

    def _follow_layer(self, layer) -> None:
        """Name the summary CSV after ``layer`` (the folder chosen so far is kept)."""
        current = str(self._dest.value)
        folder = Path(current).parent if current not in ("", ".") else Path.cwd()
        self._dest.value = Path.cwd() / folder / f"{safe_name(layer.name)}_summary.csv"

    def _on_renamed(self, event=None) -> None:
        if self._bound is not None:
            self._follow_layer(self._bound)

    def _bind(self, layer=None) -> None:
        """Follow ``layer``'s features (Review edits refresh the scores), then apply."""
        if self._bound is not None:
            for signal, slot in ((self._bound.events.features, self._on_features),
                                 (self._bound.events.name, self._on_renamed)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError, ValueError):
                    pass
        previous, self._bound = self._bound, layer
        self._refresh_counted()
        if layer is not None:
            layer.events.features.connect(self._on_features)
            layer.events.name.connect(self._on_renamed)
            if layer is not previous:  # the CSV follows the chosen layer
                self._follow_layer(layer)
            meta = layer.metadata if isinstance(layer.metadata, dict) else {}
            saved = meta.get("ihc_thresholds")
            if isinstance(saved, dict):
                try:
                    keep = ("measurement", "bins", "mode", "auto")
                    values = {k: saved[k] for k in keep if k in saved}
                    values["marker"] = meta.get("ihc_marker") or self._marker.value
                    if saved.get("fitted_cut") is not None:  # a result of "auto", not a
                        values["bins"] = tuple(self._set)    # setting: keep the set ones
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
            classified = classify_cells(frame, thresholds)  # base classes stay
        except ValueError as exc:
            self._status.value = str(exc)
            return
        self.thresholds = thresholds
        self._show_thresholds(thresholds)
        self._applying = True
        try:
            layer.features = classified
            sync_centroid_classes(self._viewer, layer, classified)
            self._save_to_layer(layer)
            auto_restyle(layer)
        finally:
            self._applying = False
        cut = thresholds.fitted_cut
        self._status.value = ("classified" if cut is None or not thresholds.auto
                              else f"classified (automatic cut {cut:.3f}, fitted: shown in "
                                   "the positive / 1+ box)")
        if thresholds.auto and cut is None:
            self._status.value = "classified (no second DAB population: set thresholds used)"
        self.update_scores()

    # ------------------------------------------------------------------ scores
    def _on_features(self, _=None) -> None:
        if not self._applying:
            self._refresh_counted()
            self.update_scores()

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
        frame, counted = layer.features, self._counted.value or "Tumor"
        if "whole result" in scopes:
            self.summaries["whole result"] = ihc_summary(frame, thresholds, counted)
        if "current view" in scopes:
            box = view_region(self._viewer, layer)
            self.summaries["current view"] = (
                summary_in_region(frame, box, thresholds, counted) if box is not None
                else None)
        if "drawn region" in scopes:
            polygon = shape_polygon(self._shapes.value, layer, AREA_SHAPES)
            self.summaries["drawn region"] = (
                summary_in_region(frame, polygon, thresholds, counted)
                if polygon is not None and len(polygon) >= 3 else None)
        for scope in scopes:
            text = score_text(self.summaries[scope])
            if scope == "drawn region" and self.summaries[scope] is None:
                text = "draw a rectangle or polygon in the chosen Shapes layer"
            self._scores[scope].value = text

    def export_summary(self, path=None) -> Optional[Path]:
        """Write the scores as a CSV, atomically: one row per scope that has one, each
        with slide, layer, region, marker, scores and thresholds."""
        self.update_scores()
        layer = self._layer.value
        where = {"slide": slide_name(layer), "layer": layer.name} if layer is not None else {}
        rows = [summary_row(s, region=scope, **where) for scope, s in self.summaries.items()
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
