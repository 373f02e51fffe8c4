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
the touched cells. Keys: a accept, r reject, u unreviewed, n next unreviewed, c set
class, on the canvas (bound on the labels layer) and in the dock when the table or a
button has the focus (``_review_keys``); they and every hook leave the layer when
another one is chosen or the widget is closed. Shift- and Ctrl-clicks in the table
select several cells, and the buttons and keys act on all of them.
"""

import napari
import pandas as pd
from magicgui.widgets import ComboBox
from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..engine.api import (
    ACCEPTED,
    BASE_CLASSES,
    CLASS_COLUMNS,
    NO_CLASS,
    REJECTED,
    UNREVIEWED,
    with_classes,
)
from ._cell_counts import counts_text
from ._cell_plot import CellPlot
from ._cell_table import CellTableView
from ._docking import fit_in_dock
from ._layers import connect_while_alive, layer_choices, prefer_cell_result
from ._review_actions import REDO_KEY, STATUS_KEYS, UNDO_KEY, LayerKeys, ReviewActions
from ._review_autosave import Autosave
from ._review_counts import CountsPanel
from ._review_edits import LabelEdits
from ._review_keys import DockKeys
from ._review_points import sync_points, sync_review_points
from ._review_selection import CellSelection
from ._review_session import restore
from ._status import StatusText
from .cell_style import auto_restyle, hides_rejected, notify, restyle, style_if_result

__all__ = ["ReviewWidget", "STATUS_KEYS", "UNDO_KEY", "REDO_KEY"]


class ReviewWidget(QWidget):
    """Cell table, plot, counts, status / class buttons, undo / redo, autosave.

    Lays out and binds to one layer at a time components with explicit inputs:
    :class:`._review_actions.ReviewActions` (status / class edits, undo / redo),
    :class:`._review_edits.LabelEdits` (label edits re-measured),
    :class:`._review_selection.CellSelection` (table, plot and canvas selection),
    :class:`._review_actions.LayerKeys` (keys on the layer) and :mod:`._review_points`
    (centroids kept in step)."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = napari_viewer
        self._layer = None
        self.actions = ReviewActions(lambda: self._layer, self.selected_labels,
                                     self.features, self._changed,
                                     lambda text: self.status.setText(text))
        self.edits = LabelEdits(napari_viewer, self.features,
                                lambda frame: self._store(frame, cells=True))
        self._keys = LayerKeys(self._key_actions())
        self._autosave = Autosave(self, lambda: self._layer, self._autosaved)
        self._editing = False  # our own features changes: no second refresh
        self._docked = False
        self._closed = False  # taken out of its dock or closed: binds nothing
        self._labels_box = ComboBox(label="Labels", nullable=True,
                                    choices=layer_choices(napari_viewer, napari.layers.Labels))
        self.cells = CellTableView()
        self.model, self.table = self.cells.model, self.cells.table
        self.plot = CellPlot()
        self.selection = CellSelection(napari_viewer, self.cells, self.plot,
                                       lambda: self._layer)
        self.count_panel = CountsPanel(napari_viewer, lambda: self._layer, self.features)
        self.counts = QLabel("no cells")
        self.counts.setWordWrap(True)
        self.status = StatusText("", log_as="Review cells")  # wraps or elides
        self.classes = QComboBox()
        self.classes.setEditable(True)
        self.classes.addItems([*BASE_CLASSES, NO_CLASS])  # base classes; Nucleus: none
        self.hide_rejected = QCheckBox("Hide rejected")
        self.hide_rejected.toggled.connect(self._hide_toggled)
        self._lay_out()
        self._dock_keys = DockKeys(self, {key: (lambda f=f: f(None))
                                          for key, f in self._key_actions().items()})
        self._dock_keys.watch([self.table, self.table.viewport(), self.tabs.tabBar(),
                               *self.findChildren(QAbstractButton)])
        self.table.setToolTip("a accept, r reject, u unreviewed, n next unreviewed, c set "
                              "class: the keys act on the selected rows here as on the "
                              "canvas; Shift / Ctrl + click selects several")
        fit_in_dock(self)  # scrolls, tabs with the other docks
        self._labels_box.changed.connect(self._chosen)
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self._inserted),
                                   (napari_viewer.layers.events.removed, self._choices_changed)])
        for layer in list(napari_viewer.layers):
            self._restore(layer)
        self._choices_changed()

    def _lay_out(self) -> None:
        self.tabs = tabs = QTabWidget()
        tabs.addTab(self.cells, "Cells")
        tabs.addTab(self.plot, "Plot")
        tabs.addTab(self.count_panel, "Counts")
        layout = QVBoxLayout(self)
        layout.addWidget(self._labels_box.native)
        layout.addWidget(self.counts)
        layout.addWidget(tabs, 1)
        self._buttons(layout, (("Accept (a)", lambda: self.set_status(ACCEPTED)),
                               ("Reject (r)", lambda: self.set_status(REJECTED)),
                               ("Unreviewed (u)", lambda: self.set_status(UNREVIEWED)),
                               ("Next (n)", self.next_unreviewed)))
        row = self._buttons(layout, (("Set class (c)",
                                      lambda: self.set_class(self.classes.currentText())),
                                     ("Re-measure all", self.remeasure_all)))
        row.insertWidget(0, self.classes)
        self._buttons(layout, (("Undo review (Alt+Z)", self.undo_review),
                               ("Redo review (Alt+Shift+Z)", self.redo_review)))
        layout.addWidget(self.hide_rejected)  # own line: the dock stays narrow
        layout.addWidget(self.status)

    @staticmethod
    def _buttons(layout, specs) -> QHBoxLayout:
        row = QHBoxLayout()
        for text, slot in specs:
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        layout.addLayout(row)
        return row

    def _key_actions(self) -> dict:
        actions = {key: (lambda _layer, s=status: self.set_status(s))
                   for key, status in STATUS_KEYS.items()}
        actions["n"] = lambda _layer: self.next_unreviewed()
        actions["c"] = lambda _layer: self.set_class(self.classes.currentText())
        actions[UNDO_KEY] = lambda _layer: self.undo_review()
        actions[REDO_KEY] = lambda _layer: self.redo_review()
        return actions

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
        self.actions.history.clear()
        if layer is not None:
            layer.events.features.connect(self._features_changed)
            self.selection.attach(layer)
            self._keys.bind(layer)
            self.edits.attach(layer)
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

    def _unhook(self, layer) -> None:
        """Remove our events, click callback, keys and label-edit hooks from ``layer``."""
        layer.events.features.disconnect(self._features_changed)
        self.selection.detach(layer)
        self.edits.detach()
        self._keys.unbind(layer)

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

    # ------------------------------------------------------------------ cells

    def features(self) -> pd.DataFrame:
        """The reviewed layer's features with the review columns present."""
        frame = self._layer.features.copy() if self._layer is not None else pd.DataFrame()
        if "label" not in frame.columns:
            return pd.DataFrame({c: [] for c in ("label", "classification", "status", "area",
                                                 *CLASS_COLUMNS)})
        if "status" not in frame.columns:
            frame["status"] = UNREVIEWED
        return with_classes(frame)  # the class parts, split out of older tables

    def _features_changed(self, _event=None):
        """Cells changed elsewhere (e.g. Recognise merged a region): reload once. When
        the set of cells changed, undo steps may name ids that now mean other cells:
        they are dropped."""
        if not self._editing:
            labels = set(self._layer.features["label"]) if self._layer is not None \
                and "label" in self._layer.features.columns else set()
            self.actions.cells_are(labels, forget=True)
            QTimer.singleShot(0, self.refresh)

    def _store(self, frame: pd.DataFrame, cells: bool = False):
        """Set the layer's features (the outlines repaint), refresh, autosave."""
        self._editing = True
        try:
            self._layer.features = frame
        finally:
            self._editing = False
        sync_points(self._viewer, self._layer, frame)
        self.refresh()
        self._autosave.changed(cells)

    def _changed(self, labels):
        """Cells ``labels`` changed class / status in place: repaint, sync, autosave."""
        self._editing = True
        try:
            notify(self._layer, labels)
        finally:
            self._editing = False
        sync_review_points(self._viewer, self._layer, labels, self.features)
        self.refresh()
        self._autosave.changed()

    def save_now(self):
        """Write the pending autosave now (also done on unbind and close)."""
        self._autosave.save_now()

    def _autosaved(self):
        self.status.setText(f"{self.status.text().split(' | ')[0]} | autosaved")

    def refresh(self):
        """Reload the table, plot and counts from the layer."""
        frame = self.features()
        self.actions.cells_are(set(frame["label"]) if "label" in frame.columns else set())
        self.cells.set_frame(frame)
        self.plot.set_frame(frame)
        self.count_panel.update_counts(if_visible=True)
        self.counts.setText(counts_text(frame))

    @property
    def busy(self) -> bool:
        """True while label edits wait to be measured (tests wait on it)."""
        return self.edits.busy

    def remeasure_all(self):
        """Re-measure every cell keeping status and class."""
        self.edits.remeasure_all()

    # ------------------------------------------------------------------ selection

    def selected_labels(self) -> list:
        """Labels of the selected table rows (else the layer's selected label)."""
        return self.selection.selected_labels()

    def select_label(self, label: int, center: bool = True):
        """Select the row of ``label``, make it the layer's label and centre on it."""
        self.selection.select_label(label, center)

    # ------------------------------------------------------------------ review actions

    def set_status(self, status: str, labels=None):
        """Set the review status of the selected (or given) cells."""
        self.actions.set_status(status, labels)

    def set_class(self, name: str, labels=None):
        """Name the selected (or given) cells' base class (source: pathologist);
        unreviewed ones become accepted (naming a cell is reviewing it)."""
        self.actions.set_class(name, labels)

    def undo_review(self):
        """Undo the last status / class change."""
        self.actions.undo()

    def redo_review(self):
        """Redo the last undone status / class change."""
        self.actions.redo()

    def next_unreviewed(self):
        """Select and centre on the next unreviewed cell after the current one."""
        frame = self.cells.frame
        if not len(frame):
            return
        todo = frame["label"].to_numpy()[frame["status"].astype(str).to_numpy() == UNREVIEWED]
        if todo.size == 0:
            return
        current = self.selected_labels()
        later = todo[todo > current[0]] if current else todo
        self.select_label(int(later[0] if later.size else todo[0]))

    def _hide_toggled(self, hide: bool):
        if self._layer is not None:
            restyle(self._layer, hide_rejected=hide)
