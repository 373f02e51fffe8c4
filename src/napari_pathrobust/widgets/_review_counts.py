"""The Review widget's counts: cells per class and status for the whole result, the
current view or a region drawn in a Shapes layer (a cell counts when its centroid is
inside)."""

from typing import Callable

import napari
import numpy as np
import pandas as pd
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._cell_counts import counts_table, inside_box, inside_polygon
from ._layers import camera, connect_while_alive, view_region

SCOPES = ("whole result", "current view", "drawn region")


class CountsPanel(QWidget):
    """A class x status table of counts over a chosen scope."""

    def __init__(self, viewer, layer: Callable, features: Callable[[], pd.DataFrame]):
        super().__init__()
        self._viewer, self._layer, self._features = viewer, layer, features
        self.scope = QComboBox()
        self.scope.addItems(list(SCOPES))
        self.scope.currentTextChanged.connect(lambda _t: self.update_counts())
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.table = QTableWidget()
        row = QHBoxLayout()
        row.addWidget(QLabel("Count"))
        row.addWidget(self.scope, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.update_counts)
        cam = camera(viewer)
        connect_while_alive(self, [(cam.events.center, self._view_moved),
                                   (cam.events.zoom, self._view_moved)])

    def _view_moved(self, _event=None):
        if self.scope.currentText() == "current view":
            self._timer.start()

    def _shapes(self):
        shapes = [layer for layer in self._viewer.layers
                  if isinstance(layer, napari.layers.Shapes) and len(layer.data)]
        selected = [s for s in shapes if s in self._viewer.layers.selection]
        return (selected or shapes or [None])[-1]

    def mask(self, frame: pd.DataFrame):
        """Rows of ``frame`` in the chosen scope and a note saying which scope, or
        (None, why) when there is none."""
        layer = self._layer()
        scope = self.scope.currentText()
        if scope == "whole result" or layer is None or not len(frame):
            return np.ones(len(frame), bool), f"{len(frame)} cells in {scope}"
        if scope == "current view":
            box = view_region(self._viewer, layer)
            if box is None:
                return None, "the view does not overlap the result"
            mask = inside_box(frame, box)
            return mask, f"{int(mask.sum())} cells in the view"
        shapes = self._shapes()
        if shapes is None:
            return None, "draw a region (rectangle or polygon) in a Shapes layer"
        selected = sorted(shapes.selected_data)
        vertices = np.asarray(shapes.data[selected[0] if selected else -1], float)
        data = np.array([layer.world_to_data(shapes.data_to_world(v)) for v in vertices])
        mask = inside_polygon(frame, data[:, -2:])
        return mask, f"{int(mask.sum())} cells in the drawn region ({shapes.name})"

    def showEvent(self, event):  # noqa: N802 - Qt API
        self.update_counts()
        super().showEvent(event)

    def update_counts(self, if_visible: bool = False):
        """Recount for the chosen scope (``if_visible``: only when shown)."""
        if if_visible and not self.isVisible():
            return
        frame = self._features()
        mask, note = self.mask(frame)
        self.note.setText(note)
        table = counts_table(frame[mask] if mask is not None else frame.iloc[:0])
        self.table.setRowCount(len(table.index))
        self.table.setColumnCount(len(table.columns))
        self.table.setHorizontalHeaderLabels([str(c) for c in table.columns])
        self.table.setVerticalHeaderLabels([str(i) for i in table.index])
        for r, (_name, values) in enumerate(table.iterrows()):
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(int(value))))

    def counts(self) -> pd.DataFrame:
        """The counts table shown (class x status with totals)."""
        frame = self._features()
        mask, _ = self.mask(frame)
        return counts_table(frame[mask] if mask is not None else frame.iloc[:0])
