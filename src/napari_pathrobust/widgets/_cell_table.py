"""The Review widget's cell table: a read-only Qt model over a few feature columns."""

import pandas as pd
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt

COLUMNS = ("label", "classification", "status", "area")


class CellTable(QAbstractTableModel):
    """Read-only view of a few feature columns (scales to many rows)."""

    def __init__(self):
        super().__init__()
        self.frame = pd.DataFrame({c: [] for c in COLUMNS})

    def set_frame(self, frame: pd.DataFrame):
        self.beginResetModel()
        self.frame = frame
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self.frame)

    def columnCount(self, parent=QModelIndex()):  # noqa: B008, N802 - Qt API
        return len(COLUMNS)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        column = COLUMNS[index.column()]
        if column not in self.frame.columns:
            return ""
        return str(self.frame[column].iat[index.row()])

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None
