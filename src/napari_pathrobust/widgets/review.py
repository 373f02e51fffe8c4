"""Dock widget: review recognised cells (accept / reject / reclassify) on the canvas.

The cell table (every measurement a column, sortable, filtered by status / class /
text), an embedded plot (histogram or scatter of any measurement) and per class x
status counts (whole result, current view or a drawn region) are linked to the
canvas: clicking a row centres the view on the cell; clicking a cell (or picking its
label) selects its row; a plot selection selects its cells. Status and class edits go
to ``features`` columns ``status`` / ``classification`` and repaint the outlines at
once (``cell_style``); setting a class also accepts an unreviewed cell (a reviewer who
names a cell has looked at it). Every change is autosaved beside the results and can
be undone (Undo review / Redo review, Alt+Z / Alt+Shift+Z). Label edits made with
napari's tools (paint, erase, fill), and napari's own undo / redo of them, re-measure
the touched cells. Keys on the labels layer: a accept, r reject, u unreviewed, n next
unreviewed, c set class; they and every hook leave the layer when another one is
chosen or the widget is closed.
"""

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox
from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..engine.review.session import REVIEW_COLUMNS, ReviewHistory
from ..engine.writers.tables import DEFAULT_CLASS_COLORS
from ._cell_counts import counts_text
from ._cell_plot import CellPlot
from ._cell_table import CellTableView
from ._layers import camera, connect_while_alive, layer_choices, prefer_cell_result
from ._review_counts import CountsPanel
from ._review_edits import LabelEdits
from ._review_session import autosave, restore
from .cell_style import auto_restyle, hides_rejected, notify, restyle, style_if_result

STATUS_KEYS = {"a": "accepted", "r": "rejected", "u": "unreviewed"}
UNDO_KEY, REDO_KEY = "Alt-Z", "Alt-Shift-Z"


#: autosave this long after the last change (a burst of clicks is written once)
AUTOSAVE_MS = 250
#: ... and this long after the last label edit (the labels are rewritten with the cells)
AUTOSAVE_CELLS_MS = 1500


class ReviewWidget(LabelEdits, QWidget):
    """Cell table, plot, counts, status / class buttons, undo / redo, autosave."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self._layer = None
        self._pending = []
        self._keys: dict = {}  # key -> (our function, the layer's binding before ours)
        self._history = ReviewHistory()
        self._history_labels: set = set()  # the cells the undo steps were made on
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(AUTOSAVE_MS)
        self._save_timer.timeout.connect(self.save_now)
        self._cells_dirty = False
        self._editing = False  # our own features changes: no second refresh
        self._syncing = False
        self._docked = False
        self._closed = False  # taken out of its dock or closed: binds nothing
        self._labels_box = ComboBox(label="Labels", nullable=True,
                                    choices=layer_choices(napari_viewer, napari.layers.Labels))
        self.cells = CellTableView()
        self.model, self.table = self.cells.model, self.cells.table
        self.cells.cell_clicked.connect(lambda label: self.select_label(label))
        self.cells.selection_changed.connect(self._table_selected)
        self.plot = CellPlot()
        self.plot.labels_selected.connect(self._plot_selected)
        self.count_panel = CountsPanel(napari_viewer, lambda: self._layer, self.features)
        self.counts = QLabel("no cells")
        self.counts.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.classes = QComboBox()
        self.classes.setEditable(True)
        self.classes.addItems(list(DEFAULT_CLASS_COLORS))
        self.hide_rejected = QCheckBox("Hide rejected")
        self.hide_rejected.toggled.connect(self._hide_toggled)
        tabs = QTabWidget()
        tabs.addTab(self.cells, "Cells")
        tabs.addTab(self.plot, "Plot")
        tabs.addTab(self.count_panel, "Counts")
        layout = QVBoxLayout(self)
        layout.addWidget(self._labels_box.native)
        layout.addWidget(self.counts)
        layout.addWidget(tabs, 1)
        self._buttons(layout, (("Accept (a)", lambda: self.set_status("accepted")),
                               ("Reject (r)", lambda: self.set_status("rejected")),
                               ("Unreviewed (u)", lambda: self.set_status("unreviewed")),
                               ("Next (n)", self.next_unreviewed)))
        row = self._buttons(layout, (("Set class (c)",
                                      lambda: self.set_class(self.classes.currentText())),
                                     ("Re-measure all", self.remeasure_all)))
        row.insertWidget(0, self.classes)
        row = self._buttons(layout, (("Undo review (Alt+Z)", self.undo_review),
                                     ("Redo review (Alt+Shift+Z)", self.redo_review)))
        row.addWidget(self.hide_rejected)
        layout.addWidget(self.status)
        self._labels_box.changed.connect(self._chosen)
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self._inserted),
                                   (napari_viewer.layers.events.removed, self._choices_changed)])
        for layer in list(napari_viewer.layers):
            self._restore(layer)
        self._choices_changed()

    @staticmethod
    def _buttons(layout, specs) -> QHBoxLayout:
        row = QHBoxLayout()
        for text, slot in specs:
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        layout.addLayout(row)
        return row

    # ------------------------------------------------------------------ binding

    def _inserted(self, event=None):
        if event is not None:
            self._restore(event.value)
            style_if_result(event.value)
        self._choices_changed()

    def _restore(self, layer):
        restored = restore(self._viewer, layer)
        if restored is not None:
            self.status.setText(f"restored {restored.name} with its reviews (autosave)")

    def _choices_changed(self, _event=None):
        self._labels_box.reset_choices()
        if self._labels_box.value is None:  # a cell result, never a mask
            prefer_cell_result(self._labels_box, self._viewer)
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
            self.save_now()
            self._unhook(old)
        self._layer = layer
        self._pending = []
        self._history.clear()
        if layer is not None:
            layer.events.paint.connect(self._on_paint)
            layer.events.features.connect(self._features_changed)
            layer.events.selected_label.connect(self._on_selected_label)
            layer.mouse_drag_callbacks.append(self._on_click)
            for key, func in self._key_actions().items():
                self._keys[key] = (func, layer.bind_key(key, func, overwrite=True))
            self._wrap_history(layer)
            auto_restyle(layer)
            self.hide_rejected.blockSignals(True)  # the box shows this layer's state
            self.hide_rejected.setChecked(hides_rejected(layer))
            self.hide_rejected.blockSignals(False)
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
        actions[UNDO_KEY] = lambda _layer: self.undo_review()
        actions[REDO_KEY] = lambda _layer: self.redo_review()
        return actions

    def _unhook(self, layer) -> None:
        """Remove our events, click callback, keys and wrappers from ``layer``."""
        layer.events.paint.disconnect(self._on_paint)
        layer.events.features.disconnect(self._features_changed)
        layer.events.selected_label.disconnect(self._on_selected_label)
        if self._on_click in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self._on_click)
        self._unwrap_history(layer)
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
        self.save_now()
        self._closed = True
        self.bind(None)
        super().closeEvent(event)

    # ------------------------------------------------------------------ table

    def features(self) -> pd.DataFrame:
        """The reviewed layer's features with the review columns present."""
        frame = self._layer.features.copy() if self._layer is not None else pd.DataFrame()
        if "label" not in frame.columns:
            return pd.DataFrame({c: [] for c in ("label", "classification", "status", "area")})
        if "status" not in frame.columns:
            frame["status"] = "unreviewed"
        if "classification" not in frame.columns:
            frame["classification"] = "Nucleus"
        return frame

    def _features_changed(self, _event=None):
        """Cells changed elsewhere (e.g. Recognise merged a region): reload once. When
        the set of cells changed, undo steps may name ids that now mean other cells:
        they are dropped."""
        if not self._editing:
            labels = set(self._layer.features["label"]) if self._layer is not None \
                and "label" in self._layer.features.columns else set()
            if labels != self._history_labels:
                self._history.clear()
            QTimer.singleShot(0, self.refresh)

    def _store(self, frame: pd.DataFrame, cells: bool = False):
        """Set the layer's features (the outlines repaint), refresh, autosave."""
        self._editing = True
        try:
            self._layer.features = frame
        finally:
            self._editing = False
        self._sync_points(frame)
        self.refresh()
        self._autosave(cells)

    def _autosave(self, cells: bool = False):
        self._cells_dirty |= cells
        # the cells (labels included) are heavy: a stroke burst is written once, later
        self._save_timer.setInterval(AUTOSAVE_CELLS_MS if self._cells_dirty else AUTOSAVE_MS)
        self._save_timer.start()

    def save_now(self):
        """Write the pending autosave now (also done on unbind and close)."""
        self._save_timer.stop()
        cells, self._cells_dirty = self._cells_dirty, False
        if self._layer is not None and autosave(self._layer, cells=cells) is not None:
            self.status.setText(f"{self.status.text().split(' | ')[0]} | autosaved")

    def refresh(self):
        """Reload the table, plot and counts from the layer."""
        frame = self.features()
        self._history_labels = set(frame["label"]) if "label" in frame.columns else set()
        self.cells.set_frame(frame)
        self.plot.set_frame(frame)
        self.count_panel.update_counts(if_visible=True)
        self.counts.setText(counts_text(frame))

    def selected_labels(self) -> list:
        """Labels of the selected table rows (else the layer's selected label)."""
        labels = self.cells.selected_labels()
        if labels:
            return labels
        if self._layer is not None and self._layer.selected_label > 0:
            return [int(self._layer.selected_label)]
        return []

    def select_label(self, label: int, center: bool = True):
        """Select the row of ``label``, make it the layer's label and centre on it."""
        frame = self.cells.frame
        hits = np.flatnonzero(frame["label"].to_numpy() == label) if len(frame) else []
        if len(hits) == 0 or self._layer is None:
            return
        self._syncing = True
        try:
            self.cells.select_labels([label])
            if self._layer.selected_label != label:
                self._layer.selected_label = int(label)
        finally:
            self._syncing = False
        self.plot.highlight([label])
        row = int(hits[0])
        if center and {"x", "y"} <= set(frame.columns):
            layer = self._layer
            point = np.zeros(layer.ndim)
            point[-2:] = (frame["y"].iat[row], frame["x"].iat[row])
            world = np.asarray(layer.data_to_world(point))
            centre = np.asarray(camera(self._viewer).center, dtype=float)
            centre[-2:] = world[-2:]
            camera(self._viewer).center = tuple(centre)

    def _table_selected(self, labels):
        if self._syncing or self._layer is None:
            return
        self.plot.highlight(labels)
        self._mark_on_canvas(labels)
        if labels and self._layer.selected_label != labels[0]:
            self._syncing = True
            try:
                self._layer.selected_label = int(labels[0])
            finally:
                self._syncing = False

    def _plot_selected(self, labels):
        """A plot selection selects its cells in the table and on the canvas."""
        self.cells.select_labels(labels)
        self.plot.highlight(labels)
        self._mark_on_canvas(labels)

    def _on_selected_label(self, _event=None):
        if self._layer is not None and not self._syncing:
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

    def _edit(self, labels, edit, message: str):
        """Apply ``edit(frame, rows)`` to the layer's features in place for ``labels``
        (class / status only), remember it for undo, repaint those cells, autosave."""
        labels = self.selected_labels() if labels is None else [int(v) for v in labels]
        if self._layer is None or not labels:
            return
        frame = self._layer.features
        if "label" not in frame.columns:
            self.status.setText(f"{self._layer.name} has no cell table: choose a result "
                                "of Recognise (or re-measure)")
            return
        if not set(REVIEW_COLUMNS) <= set(frame.columns):
            self._layer.features = frame = self.features()  # add the review columns
        rows = frame["label"].isin(labels).to_numpy()
        columns = ["label", *REVIEW_COLUMNS]
        before = frame.loc[rows, columns].copy()
        edit(frame, rows)
        self._history.record(before, frame.loc[rows, columns], labels)
        self._changed(labels)
        self.status.setText(message.format(len(labels)))

    def _changed(self, labels):
        """Cells ``labels`` changed class / status in place: repaint, sync, autosave."""
        self._editing = True
        try:
            notify(self._layer, labels)
        finally:
            self._editing = False
        self._sync_review_points(labels)
        self.refresh()
        self._autosave()

    def set_status(self, status: str, labels=None):
        """Set the review status of the selected (or given) cells."""
        def edit(frame, rows):
            frame.loc[rows, "status"] = status
        self._edit(labels, edit, f"{status}: {{}} cell(s)")

    def set_class(self, name: str, labels=None):
        """Set the classification of the selected (or given) cells; unreviewed ones
        become accepted (naming a cell is reviewing it)."""
        if not name:
            return

        def edit(frame, rows):
            frame.loc[rows, "classification"] = str(name)
            unreviewed = rows & (frame["status"].astype(str).to_numpy() == "unreviewed")
            frame.loc[unreviewed, "status"] = "accepted"
        self._edit(labels, edit, f"classified {name}: {{}} cell(s)")

    def undo_review(self):
        """Undo the last status / class change."""
        self._replay(self._history.undo_values(), "undone")

    def redo_review(self):
        """Redo the last undone status / class change."""
        self._replay(self._history.redo_values(), "redone")

    def _replay(self, values, what: str):
        if values is None or self._layer is None:
            self.status.setText(f"nothing to be {what}")
            return
        ReviewHistory.apply(self._layer.features, values, inplace=True)
        labels = [int(v) for v in values.index]
        self._changed(labels)
        self.status.setText(f"review of {len(labels)} cell(s) {what}")

    def next_unreviewed(self):
        """Select and centre on the next unreviewed cell after the current one."""
        frame = self.cells.frame
        if not len(frame):
            return
        todo = frame["label"].to_numpy()[frame["status"].astype(str).to_numpy() == "unreviewed"]
        if todo.size == 0:
            return
        current = self.selected_labels()
        later = todo[todo > current[0]] if current else todo
        self.select_label(int(later[0] if later.size else todo[0]))

    def _hide_toggled(self, hide: bool):
        if self._layer is not None:
            restyle(self._layer, hide_rejected=hide)
