"""The Review widget's selection, linked across the table, the plot and the canvas.

Clicking a row (or Next) makes its cell the current one: the view centres on it and
zooms so a typical cell is the Settings' ``review_cell_px`` screen pixels wide; clicking
a cell on the canvas (pan / zoom mode) or picking its label selects its row; a plot
selection selects its cells; the selected cells are ringed on the canvas
(:func:`._review_points.mark_selection`).
"""

from typing import Callable

import numpy as np

from ._layers import camera
from ._review_points import mark_selection
from ._settings import load_settings


class CellSelection:
    """Keeps the selected cells the same in the table, the plot and the layer.

    Inputs: ``viewer`` (camera, selection rings), ``cells`` (the
    :class:`._cell_table.CellTableView`), ``plot`` (the :class:`._cell_plot.CellPlot`)
    and ``layer()`` (the Labels layer under review, or None). :meth:`attach` /
    :meth:`detach` hook the layer's selected label and mouse clicks."""

    def __init__(self, viewer, cells, plot, layer: Callable):
        self._viewer, self._cells, self._plot, self._layer = viewer, cells, plot, layer
        self._syncing = False  # our own selection changes: not echoed back
        cells.cell_clicked.connect(lambda label: self.select_label(label))
        cells.selection_changed.connect(self._table_selected)
        plot.labels_selected.connect(self._plot_selected)

    def attach(self, layer) -> None:
        layer.events.selected_label.connect(self._on_selected_label)
        layer.mouse_drag_callbacks.append(self._on_click)

    def detach(self, layer) -> None:
        layer.events.selected_label.disconnect(self._on_selected_label)
        if self._on_click in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self._on_click)

    def selected_labels(self) -> list:
        """Labels of the selected table rows (else the layer's selected label)."""
        labels = self._cells.selected_labels()
        if labels:
            return labels
        layer = self._layer()
        if layer is not None and layer.selected_label > 0:
            return [int(layer.selected_label)]
        return []

    def select_label(self, label: int, center: bool = True) -> None:
        """Select the row of ``label``, make it the layer's label, ring it and (with
        ``center``) centre and zoom on it."""
        frame = self._cells.frame
        layer = self._layer()
        hits = np.flatnonzero(frame["label"].to_numpy() == label) if len(frame) else []
        if len(hits) == 0 or layer is None:
            return
        self._syncing = True
        try:
            self._cells.select_labels([label])
            if layer.selected_label != label:
                layer.selected_label = int(label)
        finally:
            self._syncing = False
        self._plot.highlight([label])
        mark_selection(self._viewer, layer, [label])
        row = int(hits[0])
        if center and {"x", "y"} <= set(frame.columns):
            point = np.zeros(layer.ndim)
            point[-2:] = (frame["y"].iat[row], frame["x"].iat[row])
            world = np.asarray(layer.data_to_world(point))
            cam = camera(self._viewer)
            centre = np.asarray(cam.center, dtype=float)
            centre[-2:] = world[-2:]
            cam.center = tuple(centre)
            zoom = self.cell_zoom(frame, layer)
            if zoom:
                cam.zoom = zoom

    @staticmethod
    def cell_zoom(frame, layer) -> float:
        """The zoom at which a typical (median) cell of ``frame`` is the Settings'
        ``review_cell_px`` screen pixels wide; 0 when the setting is 0 (keep the zoom)."""
        pixels = int(load_settings()["review_cell_px"])
        if pixels <= 0 or "area" not in frame.columns or not len(frame):
            return 0.0
        width = 2 * np.sqrt(max(float(np.nanmedian(frame["area"].to_numpy(float))), 1.0) / np.pi)
        return pixels / (width * abs(float(layer.scale[-1])))

    def _table_selected(self, labels):
        layer = self._layer()
        if self._syncing or layer is None:
            return
        self._plot.highlight(labels)
        mark_selection(self._viewer, layer, labels)
        if labels and layer.selected_label != labels[0]:
            self._syncing = True
            try:
                layer.selected_label = int(labels[0])
            finally:
                self._syncing = False

    def _plot_selected(self, labels):
        """A plot selection selects its cells in the table and on the canvas."""
        self._cells.select_labels(labels)
        self._plot.highlight(labels)
        mark_selection(self._viewer, self._layer(), labels)

    def _on_selected_label(self, _event=None):
        layer = self._layer()
        if layer is not None and not self._syncing:
            self.select_label(int(layer.selected_label), center=False)

    def _on_click(self, layer, event):
        if layer.mode != "pan_zoom" or event.type != "mouse_press":
            return
        value = layer.get_value(event.position, view_direction=event.view_direction,
                                dims_displayed=event.dims_displayed, world=True)
        if isinstance(value, tuple):  # multiscale: (level, value)
            value = value[-1]
        if value:
            self.select_label(int(value), center=False)
