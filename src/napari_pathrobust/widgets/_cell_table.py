"""The Review widget's cell table: every measurement a column, sortable and filterable.

:class:`CellTableView` puts the model of :mod:`._cell_table_model` (:class:`CellTable`,
re-exported here) in a table with status, class and text filters and speaks in cell
labels. A click on a row makes its cell the current one; Shift- and Ctrl-clicks extend
the selection instead. A filter that matches nothing says so under the text box.
"""

import numpy as np
import pandas as pd
from qtpy.QtCore import QItemSelectionModel, Qt, Signal
from qtpy.QtGui import QPalette
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ._cell_counts import ALL, STATUSES, filter_mask, no_match
from ._cell_table_model import CellTable, row_ranges
from ._status import StatusText

__all__ = ["CellTable", "CellTableView"]

SELECT_ROWS = QItemSelectionModel.SelectionFlag.ClearAndSelect \
    | QItemSelectionModel.SelectionFlag.Rows
#: Selections of more row runs than this are painted by the model, not Qt (Qt's
#: selection model slows down quadratically: 18,000 runs take seconds).
MAX_QT_RANGES = 200
#: clicks with these keys held extend the selection (no current cell, no centring)
EXTEND = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier


class CellTableView(QWidget):
    """The cell table with its filters (status, class, text), speaking in labels.

    A click on a column header sorts by it (ascending, descending, then the frame's
    order); sort and filters survive :meth:`set_frame`, and so does the selection
    (of the rows still shown). ``cell_clicked`` gives the label of a row clicked without
    Shift or Ctrl, ``selection_changed`` the labels of the selected rows whenever they
    change."""

    cell_clicked = Signal(int)
    selection_changed = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableView()
        self.model = CellTable(self.table)  # deleted after the table (no warnings)
        self.status_box = QComboBox()
        self.status_box.addItems([ALL, *STATUSES])
        self.class_box = QComboBox()
        self.class_box.addItem(ALL)
        self.text_box = QLineEdit()
        self.text_box.setPlaceholderText("filter: area > 50, solidity < 0.9 | label | class")
        self.text_box.setClearButtonEnabled(True)
        self.shown = QLabel("0 of 0")
        self.hint = StatusText("", max_lines=2)  # why a filter shows no row
        self.hint.hide()
        self.table.setModel(self.model)
        palette = self.table.palette()
        self.model.mark_colors = (palette.color(QPalette.ColorRole.Highlight),
                                  palette.color(QPalette.ColorRole.HighlightedText))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        rows.hide()
        header = self.table.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.sectionClicked.connect(self._header_clicked)
        filters = QHBoxLayout()
        for text, box in (("Status", self.status_box), ("Class", self.class_box)):
            filters.addWidget(QLabel(text))
            filters.addWidget(box)
        text_row = QHBoxLayout()  # a line of its own: the dock stays narrow
        text_row.addWidget(self.text_box, 1)
        text_row.addWidget(self.shown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addLayout(text_row)
        layout.addWidget(self.hint)
        layout.addWidget(self.table)
        self._selected: list = []
        self._quiet = False  # restoring the selection: no signal unless it changed
        self.table.clicked.connect(self._clicked)
        self.table.selectionModel().selectionChanged.connect(self._selection_moved)
        self.status_box.currentTextChanged.connect(lambda _t: self._refilter())
        self.class_box.currentTextChanged.connect(lambda _t: self._refilter())
        self.text_box.textChanged.connect(lambda _t: self._refilter())

    # -------------------------------------------------------------- public API

    @property
    def frame(self) -> pd.DataFrame:
        """The whole frame shown (before filters)."""
        return self.model.frame

    def set_frame(self, frame: pd.DataFrame):
        """Show ``frame`` (one row per cell, every column); sort, filters and the
        selection are kept."""
        self._update_classes(frame)
        self._reload(lambda: self.model.set_frame(frame, self._mask(frame)))

    def set_filters(self, status=None, classification=None, text=None):
        """Set any of the filters (``"all"``: no filter; None: leave as is)."""
        for box, value in ((self.status_box, status), (self.class_box, classification)):
            if value is not None:
                if box.findText(value) < 0:
                    box.addItem(value)
                box.blockSignals(True)
                box.setCurrentText(value)
                box.blockSignals(False)
        if text is not None:
            self.text_box.blockSignals(True)
            self.text_box.setText(text)
            self.text_box.blockSignals(False)
        self._refilter()

    def sort_by(self, column, descending: bool = False):
        """Sort by the column called ``column`` (None: the frame's order)."""
        self._reload(lambda: self.model.sort_by(column, descending), keep_scroll=False)

    def select_labels(self, labels):
        """Select the rows of ``labels`` (those shown) and scroll to the first of them;
        emits ``selection_changed`` if the selection changes, never ``cell_clicked``."""
        rows = self.model.rows_of(list(labels))
        shown = rows[rows >= 0]
        self._quiet = True
        try:
            self._select_rows(shown)
        finally:
            self._quiet = False
        if shown.size:
            first = self.model.index(int(shown[0]), 0)
            self.table.selectionModel().setCurrentIndex(
                first, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.table.scrollTo(first, QAbstractItemView.ScrollHint.PositionAtCenter)
        self._selection_moved()

    def selected_labels(self) -> list:
        """Labels of the selected rows, in table order."""
        model = self.model
        if model.marked is not None:
            return [int(v) for v in model.visible_labels()[model.marked[model.rows]]]
        rows = [np.arange(r.top(), r.bottom() + 1)
                for r in self.table.selectionModel().selection()]
        if not rows:
            return []
        return [int(v) for v in self.model.labels_at(np.unique(np.concatenate(rows)))]

    def visible_labels(self) -> np.ndarray:
        """Labels of the rows shown (after filters), in table order."""
        return self.model.visible_labels()

    # -------------------------------------------------------------- internals

    def _clicked(self, index):
        """A plain click makes the row's cell current; Shift / Ctrl only select."""
        if not QApplication.keyboardModifiers() & EXTEND:
            self.cell_clicked.emit(self.model.label_at(index.row()))

    def _mask(self, frame):
        try:
            mask = filter_mask(frame, self.status_box.currentText(),
                               self.class_box.currentText(), self.text_box.text())
            self.text_box.setStyleSheet("")
            self.text_box.setToolTip("")
        except ValueError as error:
            mask = filter_mask(frame, self.status_box.currentText(), self.class_box.currentText())
            self.text_box.setStyleSheet("color: #d04040")
            self.text_box.setToolTip(str(error))
        return mask

    def _refilter(self):
        self._reload(lambda: self.model.set_mask(self._mask(self.model.frame)), keep_scroll=False)

    def _update_classes(self, frame):
        present = sorted({str(c) for c in frame["classification"].dropna().unique()}) \
            if "classification" in frame.columns else []
        current = self.class_box.currentText()
        items = [ALL, *present] + ([current] if current not in (ALL, *present) else [])
        if items != [self.class_box.itemText(i) for i in range(self.class_box.count())]:
            self.class_box.blockSignals(True)
            self.class_box.clear()
            self.class_box.addItems(items)
            self.class_box.setCurrentText(current)
            self.class_box.blockSignals(False)

    def _reload(self, change, keep_scroll: bool = True):
        """Run ``change`` (which resets the model), then restore the selection and the
        scroll position (else show the first selected row, or the top); one
        ``selection_changed`` only if the selection changed."""
        before = self._selected
        scroll = self.table.verticalScrollBar().value()
        self._quiet = True
        try:
            change()
            rows = self.model.rows_of(before) if before else np.zeros(0, np.int64)
            self._select_rows(rows[rows >= 0])
        finally:
            self._quiet = False
        if keep_scroll:
            self.table.verticalScrollBar().setValue(scroll)
        else:
            selected = self.selected_labels()
            row = int(self.model.rows_of(selected[:1])[0]) if selected else -1
            if row >= 0:
                self.table.scrollTo(self.model.index(row, 0),
                                    QAbstractItemView.ScrollHint.PositionAtCenter)
            else:
                self.table.scrollToTop()
        self._show_sort()
        self.shown.setText(f"{self.model.rowCount()} of {len(self.model.frame)}")
        hint = "" if self.model.rowCount() else no_match(
            self.model.frame, self.status_box.currentText(), self.class_box.currentText(),
            self.text_box.text())
        self.hint.setText(hint, final=False)
        self.hint.setVisible(bool(hint))
        self._selection_moved()

    def _select_rows(self, rows):
        """Select view ``rows``: through Qt, or painted by the model when scattered."""
        rows = np.unique(rows)
        selection_model = self.table.selectionModel()
        if rows.size and 1 + np.count_nonzero(np.diff(rows) > 1) > MAX_QT_RANGES:
            selection_model.clearSelection()
            self.model.set_marked(self.model.rows[rows])
            return
        if self.model.marked is not None:
            self.model.set_marked(None)
        if rows.size:
            selection_model.select(row_ranges(self.model, rows), SELECT_ROWS)
        else:
            selection_model.clearSelection()

    def _selection_moved(self, *_args):
        if self._quiet:
            return
        if _args and self.model.marked is not None:  # Qt's: the user selects
            self.model.set_marked(None)  # so the painted selection goes
        labels = self.selected_labels()
        changed = sorted(labels) != sorted(self._selected)
        self._selected = labels
        if changed:
            self.selection_changed.emit(labels)

    def _show_sort(self):
        model = self.model
        section = model.columns.index(model.sort_column) if model.sort_column else -1
        order = Qt.SortOrder.DescendingOrder if model.descending else Qt.SortOrder.AscendingOrder
        header = self.table.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(section, order)
        header.blockSignals(False)

    def _header_clicked(self, section: int):
        name = self.model.columns[section]
        if self.model.sort_column != name:
            self.sort_by(name)
        elif not self.model.descending:
            self.sort_by(name, descending=True)
        else:
            self.sort_by(None)
