"""The cell table's Qt model: a read-only view over a pandas frame of cells.

:class:`CellTable` never copies the frame into Qt: it sorts and filters with numpy (a
row -> frame-position index array) and formats a cell only when the view asks for it
(the visible rows), so 100,000 cells sort in well under a second.
"""

import numpy as np
import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QItemSelection, QModelIndex, Qt
from qtpy.QtGui import QColor

from ..engine.api import class_color
from ._cell_counts import format_value, sort_key

#: Columns shown first (in this order) when the frame has them: the compound class
#: ("Tumor: Positive"), then its parts (base class, who set it, intensity)
COLUMNS = ("label", "classification", "status", "base_class", "class_source", "intensity",
           "area")
#: Columns never shown.
HIDDEN = ("index",)
STATUS_COLORS = {"accepted": QColor(0, 150, 0), "rejected": QColor(150, 150, 150)}



class CellTable(QAbstractTableModel):
    """Read-only model of a cell frame: sorted and filtered by index arrays.

    ``frame`` is the whole frame; view row ``r`` shows frame position ``rows[r]``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sort_column = None  # column name, or None for the frame's order
        self.descending = False
        self.marked = None  # bool per frame position: a selection too large for Qt's
        self.mark_colors = (QColor(48, 140, 198), QColor(255, 255, 255))
        self._values: dict = {}
        self._colors: dict = {}
        self._labels = np.zeros(0, dtype=np.int64)
        self.set_frame(pd.DataFrame({c: [] for c in COLUMNS}))

    # -------------------------------------------------------------- data in

    def set_frame(self, frame: pd.DataFrame, mask=None):
        """Show ``frame`` (kept sorted by the current column) through ``mask`` (all rows
        when None)."""
        self.beginResetModel()
        self.marked = None
        self.frame = frame.reset_index(drop=True)
        first = [c for c in COLUMNS if c in frame.columns]
        self.columns = first + [c for c in frame.columns if c not in first and c not in HIDDEN]
        old_values, self._values = self._values, {c: self.frame[c].to_numpy()
                                                   for c in self.columns}
        labels = self.frame["label"].to_numpy() if "label" in self.frame else np.arange(len(frame))
        labels = np.asarray(labels).astype(np.int64)
        same_cells = np.array_equal(labels, self._labels)  # e.g. only a status changed
        self._labels = labels
        if not same_cells:
            self._by_label = np.argsort(self._labels, kind="stable")
        if self.sort_column not in self.columns:
            self.sort_column, self.descending = None, False
        column = self.sort_column
        if not (same_cells and column in old_values
                and np.array_equal(old_values[column], self._values[column])):
            self._order = self._sorted_order()
        self._mask = np.ones(len(self.frame), bool) if mask is None else np.asarray(mask, bool)
        self._update_rows()
        self.endResetModel()

    def set_mask(self, mask):
        """Show only the frame rows where ``mask`` is true (None: all)."""
        self.beginResetModel()
        self._mask = np.ones(len(self.frame), bool) if mask is None else np.asarray(mask, bool)
        self._update_rows()
        self.endResetModel()

    def set_marked(self, positions=None):
        """Paint the frame rows at ``positions`` as selected (None: none)."""
        if positions is None:
            self.marked = None
        else:
            self.marked = np.zeros(len(self.frame), dtype=bool)
            self.marked[np.asarray(positions, dtype=np.int64)] = True
        if self.rowCount() and self.columnCount():
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, self.columnCount() - 1))

    def sort_by(self, name, descending: bool = False):
        """Sort by the column called ``name`` (None: the frame's order), stable."""
        self.beginResetModel()
        self.sort_column = name if name in self.columns else None
        self.descending = bool(descending) and self.sort_column is not None
        self._order = self._sorted_order()
        self._update_rows()
        self.endResetModel()

    def _sorted_order(self) -> np.ndarray:
        if self.sort_column is None:
            return np.arange(len(self.frame))
        key = sort_key(self._values[self.sort_column])
        return np.argsort(-key if self.descending else key, kind="stable")

    def _update_rows(self):
        self.rows = self._order[self._mask[self._order]]
        self._row_of_position = np.full(len(self.frame), -1, dtype=np.int64)
        self._row_of_position[self.rows] = np.arange(len(self.rows))

    # -------------------------------------------------------------- labels <-> rows

    def label_at(self, row: int) -> int:
        """Label of view row ``row``."""
        return int(self._labels[self.rows[row]])

    def labels_at(self, rows) -> np.ndarray:
        """Labels of view rows ``rows``."""
        return self._labels[self.rows[np.asarray(rows, dtype=np.int64)]]

    def rows_of(self, labels) -> np.ndarray:
        """View row of each label (-1 where absent or filtered out)."""
        labels = np.atleast_1d(np.asarray(labels, dtype=np.int64))
        rows = np.full(len(labels), -1, dtype=np.int64)
        if not len(self._by_label):
            return rows
        ordered = self._labels[self._by_label]
        at = np.minimum(np.searchsorted(ordered, labels), len(ordered) - 1)
        found = ordered[at] == labels
        rows[found] = self._row_of_position[self._by_label[at[found]]]
        return rows

    def visible_labels(self) -> np.ndarray:
        """Labels of the rows shown, in table order."""
        return self._labels[self.rows]

    # -------------------------------------------------------------- Qt model API

    def rowCount(self, parent=QModelIndex()):  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        values = self._values[column]
        position = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return format_value(values[position])
        marked = self.marked is not None and self.marked[position]
        if marked and role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            return self.mark_colors[role == Qt.ItemDataRole.ForegroundRole]
        if role == Qt.ItemDataRole.TextAlignmentRole and values.dtype.kind in "biuf":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column == "classification":
            return self._color(str(values[position]))
        if role == Qt.ItemDataRole.ForegroundRole and column == "status":
            return STATUS_COLORS.get(str(values[position]))
        return None

    def _color(self, name: str) -> QColor:
        if name not in self._colors:
            self._colors[name] = QColor(*class_color(name))
        return self._colors[name]

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if section < len(self.columns) else None
        return None


def row_ranges(model: CellTable, rows: np.ndarray) -> QItemSelection:
    """A selection of whole view rows ``rows``, as few contiguous ranges as possible."""
    selection = QItemSelection()
    rows = np.unique(rows[rows >= 0])
    if not rows.size or not model.columnCount():
        return selection
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts = np.r_[rows[0], rows[breaks + 1]]
    stops = np.r_[rows[breaks], rows[-1]]
    last = model.columnCount() - 1
    for start, stop in zip(starts.tolist(), stops.tolist()):
        selection.select(model.index(start, 0), model.index(stop, last))
    return selection
