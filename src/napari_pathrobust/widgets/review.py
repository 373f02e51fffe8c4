"""Dock widget: review recognised cells (accept / reject / reclassify) on the canvas.

A table of the cells of a Labels layer (its ``features``) is linked to the canvas:
clicking a row centres the view on the cell and selects its label; clicking a cell
(or picking its label) selects its row. Status and class edits go to the layer's
``features`` columns ``status`` / ``classification`` (saved by the exports); label
edits made with napari's tools (paint, erase, fill, merge, split) re-measure the
touched cells. Keys on the labels layer: a accept, r reject, u unreviewed,
n next unreviewed, c set class; they and every callback leave the layer when another
one is chosen or the widget is closed.
"""

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox
from qtpy.QtCore import QEvent, QItemSelectionModel, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..engine.io import to_rgb_uint8
from ..engine.writers.tables import DEFAULT_CLASS_COLORS
from ._cell_edits import counts, paint_extent, remeasure
from ._cell_table import COLUMNS, CellTable
from ._layers import camera, connect_while_alive, layer_choices

STATUS_KEYS = {"a": "accepted", "r": "rejected", "u": "unreviewed"}


class ReviewWidget(QWidget):
    """Cell table, status / class buttons, live counts, edits kept in step."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self._layer = None
        self._pending = []
        self._keys: dict = {}  # key -> (our function, the layer's binding before ours)
        self._docked = False
        self._closed = False  # taken out of its dock or closed: binds nothing
        self._labels_box = ComboBox(label="Labels", nullable=True,
                                    choices=layer_choices(napari_viewer, napari.layers.Labels))
        self.model = CellTable()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.clicked.connect(lambda index: self.select_label(self._label_at(index.row())))
        self.counts = QLabel("no cells")
        self.counts.setWordWrap(True)
        self.classes = QComboBox()
        self.classes.setEditable(True)
        self.classes.addItems(list(DEFAULT_CLASS_COLORS))
        layout = QVBoxLayout(self)
        layout.addWidget(self._labels_box.native)
        layout.addWidget(self.counts)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        for text, slot in (("Accept (a)", lambda: self.set_status("accepted")),
                           ("Reject (r)", lambda: self.set_status("rejected")),
                           ("Unreviewed (u)", lambda: self.set_status("unreviewed")),
                           ("Next (n)", self.next_unreviewed)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.classes)
        set_class = QPushButton("Set class (c)")
        set_class.clicked.connect(lambda: self.set_class(self.classes.currentText()))
        row.addWidget(set_class)
        remeasure_all = QPushButton("Re-measure all")
        remeasure_all.clicked.connect(self.remeasure_all)
        row.addWidget(remeasure_all)
        layout.addLayout(row)
        self._labels_box.changed.connect(self._chosen)
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self._choices_changed),
                                   (napari_viewer.layers.events.removed, self._choices_changed)])
        self._choices_changed()

    # ------------------------------------------------------------------ binding

    def _choices_changed(self, _event=None):
        self._labels_box.reset_choices()
        if self._labels_box.value is None:
            choices = self._labels_box.choices
            if choices:
                self._labels_box.value = choices[-1]
        if self._layer is not None and self._layer not in self._viewer.layers:
            self.bind(None)

    @property
    def layer(self):
        """The Labels layer under review."""
        return self._layer

    def bind(self, layer):
        """Review ``layer`` (a Labels layer with features), or nothing when None.

        Every key, callback and event hook on the previous layer is removed first (keys
        it had before ours come back)."""
        old = self._layer
        if old is layer:
            return
        if old is not None:
            self._unhook(old)
        self._layer = layer
        self._pending = []
        if layer is not None:
            layer.events.paint.connect(self._on_paint)
            layer.events.selected_label.connect(self._on_selected_label)
            layer.mouse_drag_callbacks.append(self._on_click)
            for key, func in self._key_actions().items():
                self._keys[key] = (func, layer.bind_key(key, func, overwrite=True))
            if self._labels_box.value is not layer:
                self._labels_box.value = layer
        self.refresh()

    def _chosen(self, layer):
        if not self._closed:
            self.bind(layer)

    def _key_actions(self) -> dict:
        actions = {key: (lambda _layer, s=status: self.set_status(s))
                   for key, status in STATUS_KEYS.items()}
        actions["n"] = lambda _layer: self.next_unreviewed()
        actions["c"] = lambda _layer: self.set_class(self.classes.currentText())
        return actions

    def _unhook(self, layer) -> None:
        """Remove our events, click callback and keys from ``layer`` (napari side only)."""
        layer.events.paint.disconnect(self._on_paint)
        layer.events.selected_label.disconnect(self._on_selected_label)
        if self._on_click in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self._on_click)
        keys, self._keys = self._keys, {}
        for key, (ours, previous) in keys.items():
            current = layer.bind_key(key, None)  # take the key's binding off
            kept = previous if current is ours else current  # someone rebound it: keep theirs
            if kept is not None:
                layer.bind_key(key, kept, overwrite=True)

    def event(self, event):
        """Leaving the dock (napari's close button reparents us to None) unbinds the layer;
        docking again binds the chosen one."""
        if event.type() == QEvent.Type.ParentChange and hasattr(self, "_closed"):
            if self.parent() is None and self._docked:
                self._docked, self._closed = False, True
                self.bind(None)
            elif self.parent() is not None:
                self._docked, self._closed = True, False
                if self._layer is None and self._labels_box.value is not None:
                    self.bind(self._labels_box.value)
        return super().event(event)

    def closeEvent(self, event):  # noqa: N802 - Qt API
        self._closed = True
        self.bind(None)
        super().closeEvent(event)

    # ------------------------------------------------------------------ table

    def features(self) -> pd.DataFrame:
        """The reviewed layer's features with the review columns present."""
        frame = self._layer.features.copy() if self._layer is not None else pd.DataFrame()
        if "label" not in frame.columns:
            return pd.DataFrame({c: [] for c in COLUMNS})
        if "status" not in frame.columns:
            frame["status"] = "unreviewed"
        if "classification" not in frame.columns:
            frame["classification"] = "Nucleus"
        return frame

    def _store(self, frame: pd.DataFrame):
        self._layer.features = frame
        self._sync_points(frame)
        self.refresh()

    def _sync_points(self, frame: pd.DataFrame):
        """Keep ``<image>_centroids`` (if shown) in step with the cells."""
        source = (self._layer.metadata or {}).get("source_layer")
        name = f"{source}_centroids"
        if not source or name not in self._viewer.layers or not {"x", "y"} <= set(frame):
            return
        points = self._viewer.layers[name]
        points.data = np.stack([frame["y"].to_numpy(float), frame["x"].to_numpy(float)], 1)
        points.features = frame.drop(columns=["index"], errors="ignore")

    def refresh(self):
        """Reload the table and the counts from the layer."""
        frame = self.features()
        self.model.set_frame(frame)
        by_status, by_class = counts(frame)
        if not len(frame):
            self.counts.setText("no cells")
            return
        status = ", ".join(f"{k} {v}" for k, v in by_status.items())
        classes = ", ".join(f"{k} {v}" for k, v in by_class.items())
        self.counts.setText(f"{len(frame)} cells | {status} | {classes}")

    def _label_at(self, row: int) -> int:
        return int(self.model.frame["label"].iat[row])

    def selected_labels(self) -> list:
        """Labels of the selected table rows (else the layer's selected label)."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if rows:
            return [self._label_at(r) for r in rows]
        if self._layer is not None and self._layer.selected_label > 0:
            return [int(self._layer.selected_label)]
        return []

    def select_label(self, label: int, center: bool = True):
        """Select the row of ``label``, make it the layer's label and centre on it."""
        frame = self.model.frame
        hits = np.flatnonzero(frame["label"].to_numpy() == label) if len(frame) else []
        if len(hits) == 0:
            return
        row = int(hits[0])
        index = self.model.index(row, 0)
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                 | QItemSelectionModel.SelectionFlag.Rows)
        self.table.selectionModel().select(index, flags)
        self.table.scrollTo(index)
        layer = self._layer
        if layer.selected_label != label:
            layer.selected_label = int(label)
        if center and {"x", "y"} <= set(frame.columns):
            point = np.zeros(layer.ndim)
            point[-2:] = (frame["y"].iat[row], frame["x"].iat[row])
            world = np.asarray(layer.data_to_world(point))
            centre = np.asarray(camera(self._viewer).center, dtype=float)
            centre[-2:] = world[-2:]
            camera(self._viewer).center = tuple(centre)

    def _on_selected_label(self, _event=None):
        if self._layer is not None:
            self.select_label(int(self._layer.selected_label), center=False)

    def _on_click(self, layer, event):
        if layer.mode != "pan_zoom" or event.type != "mouse_press":
            return
        value = layer.get_value(event.position, view_direction=event.view_direction,
                                dims_displayed=event.dims_displayed, world=True)
        if isinstance(value, tuple):  # multiscale: (level, value)
            value = value[-1]
        if value:
            self.select_label(int(value), center=False)

    # ------------------------------------------------------------------ review actions

    def _set_column(self, column: str, value: str, labels=None):
        labels = self.selected_labels() if labels is None else list(labels)
        if self._layer is None or not labels:
            return
        frame = self.features()
        frame.loc[frame["label"].isin(labels), column] = value
        self._store(frame)
        self.select_label(labels[0], center=False)

    def set_status(self, status: str, labels=None):
        """Set the review status of the selected (or given) cells."""
        self._set_column("status", status, labels)

    def set_class(self, name: str, labels=None):
        """Set the classification of the selected (or given) cells."""
        if name:
            self._set_column("classification", str(name), labels)

    def next_unreviewed(self):
        """Select and centre on the next unreviewed cell after the current one."""
        frame = self.model.frame
        if not len(frame):
            return
        todo = frame["label"].to_numpy()[frame["status"].astype(str).to_numpy() == "unreviewed"]
        if todo.size == 0:
            return
        current = self.selected_labels()
        later = todo[todo > current[0]] if current else todo
        self.select_label(int(later[0] if later.size else todo[0]))

    # ------------------------------------------------------------------ label edits

    def _rgb_at(self):
        """A function reading the source image under a box of the labels, or None."""
        layer = self._layer
        source = (layer.metadata or {}).get("source_layer")
        if not source or source not in self._viewer.layers:
            return None
        image = self._viewer.layers[source]
        data = image.data[0] if image.multiscale else image.data
        oy, ox = ((layer.metadata or {}).get("region") or (0, 0))[:2]

        def read(box):
            y0, x0, y1, x1 = box
            crop = data[oy + y0:oy + y1, ox + x0:ox + x1]
            return to_rgb_uint8(np.asarray(crop), source) if image.rgb else None
        return read

    def _labels_data(self):
        data = self._layer.data
        return data[0] if isinstance(data, list) or self._layer.multiscale else data

    def _on_paint(self, event):
        # napari emits the paint event before writing the pixels: measure on the next turn
        ids, box = paint_extent(event.value)
        if box is None:
            return
        if not self._pending:
            QTimer.singleShot(0, self._flush_edits)
        self._pending.append((ids, box))

    def _flush_edits(self):
        pending, self._pending = self._pending, []
        if self._layer is None or not pending:
            return
        ids = set().union(*(p[0] for p in pending))
        boxes = np.array([p[1] for p in pending])
        box = (*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))
        mpp = (self._layer.metadata or {}).get("mpp")
        self._store(remeasure(self._labels_data(), self.features(), ids,
                              tuple(int(v) for v in box), self._rgb_at(), mpp))

    @property
    def busy(self) -> bool:
        """True while label edits wait to be measured (tests wait on it)."""
        return bool(self._pending)

    def remeasure_all(self):
        """Re-measure every cell (e.g. after undo / redo) keeping status and class."""
        if self._layer is None:
            return
        labels = self._labels_data()
        ids = set(np.unique(np.asarray(labels)).tolist()) | set(self.features()["label"])
        mpp = (self._layer.metadata or {}).get("mpp")
        box = (0, 0, int(labels.shape[-2]), int(labels.shape[-1]))
        self._store(remeasure(labels, self.features(), ids, box, self._rgb_at(), mpp))
