"""The Review widget's plot: a histogram or scatter of any measurement, selectable.

With only X chosen it draws a histogram of X and a horizontal drag selects a range of
values; with X and Y a scatter, where a lasso selects the cells inside it. Either way
``labels_selected`` gives the labels of the selected cells. Points may be coloured by
class; :meth:`CellPlot.highlight` draws given cells on top in a distinct colour.
"""

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.path import Path
from matplotlib.widgets import LassoSelector, SpanSelector
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..engine.api import class_color

NONE = "(none)"
HIGHLIGHT = "#00d8ff"  # cyan: no default class colour is near it
PLAIN = "#4a7ebb"
#: Numeric columns that are not measurements.
NOT_MEASURES = ("label", "index")


def measure_columns(frame: pd.DataFrame) -> list:
    """The numeric columns of ``frame`` worth plotting."""
    return [c for c in frame.columns
            if c not in NOT_MEASURES and frame[c].dtype.kind in "biuf"]


class CellPlot(QWidget):
    """Histogram of X, or scatter of X against Y, of a cell frame; select to emit labels."""

    labels_selected = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.frame = pd.DataFrame()
        self._highlight = np.zeros(0, dtype=np.int64)
        self._highlight_artists: list = []
        self._selector = None
        self._dirty = True
        self._shown = None  # what the drawing shows (see _plotted)
        self._bins = np.zeros(0)
        self._background = None  # the axes without the highlight, to blit it on
        self.x_box, self.y_box = QComboBox(), QComboBox()
        for box in (self.x_box, self.y_box):  # long column names never widen the dock
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(1)
        self.by_class = QCheckBox("colour by class")
        self.by_class.setChecked(True)
        self.figure = Figure(figsize=(4, 3), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.canvas.mpl_connect("draw_event", self._drawn)
        row = QHBoxLayout()
        for text, box in (("X", self.x_box), ("Y", self.y_box)):
            row.addWidget(QLabel(text))
            row.addWidget(box, 1)
        row.addWidget(self.by_class)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.canvas, 1)
        self.x_box.currentTextChanged.connect(lambda _t: self.redraw())
        self.y_box.currentTextChanged.connect(lambda _t: self.redraw())
        self.by_class.toggled.connect(lambda _on: self.redraw())
        self.redraw()

    # -------------------------------------------------------------- public API

    @property
    def x_column(self):
        """The measurement on X (None when the frame has none)."""
        return self.x_box.currentText() or None

    @property
    def y_column(self):
        """The measurement on Y, or None for a histogram of X."""
        text = self.y_box.currentText()
        return None if text in ("", NONE) else text

    def set_frame(self, frame: pd.DataFrame):
        """Plot ``frame`` (one row per cell); the chosen columns are kept when present."""
        self.frame = frame.reset_index(drop=True)
        columns = measure_columns(self.frame)
        x, y = self.x_column, self.y_column
        if x not in columns:
            x = "area" if "area" in columns else (columns[0] if columns else None)
        self._fill(self.x_box, columns, x)
        self._fill(self.y_box, [NONE, *columns], y if y in columns else NONE)
        if not self._dirty and self._shown is not None and _same(self._shown, self._plotted()):
            return  # e.g. a status change: the same points, nothing to draw
        self.redraw()

    def set_columns(self, x, y=None):
        """Plot ``x`` (histogram) or ``x`` against ``y`` (scatter)."""
        self._fill(self.x_box, [self.x_box.itemText(i) for i in range(self.x_box.count())], x)
        self._fill(self.y_box, [self.y_box.itemText(i) for i in range(self.y_box.count())],
                   NONE if y is None else y)
        self.redraw()

    def select_range(self, x0: float, x1: float) -> list:
        """Select the cells whose X value lies in [x0, x1]; emits ``labels_selected``."""
        lo, hi = sorted((float(x0), float(x1)))
        if self.x_column is None:
            return self._emit([])
        values = self._values(self.x_column)
        labels = self._labels()[(values >= lo) & (values <= hi)]
        return self._emit(labels)

    def select_polygon(self, vertices_xy) -> list:
        """Select the cells whose (X, Y) point lies inside the polygon ``vertices_xy``
        ((k, 2) plot coordinates); emits ``labels_selected``. Needs a Y column."""
        if self.y_column is None:
            raise ValueError("a polygon selects on a scatter: choose a Y measurement")
        vertices = np.asarray(vertices_xy, dtype=float).reshape(-1, 2)
        points = np.stack([self._values(self.x_column), self._values(self.y_column)], axis=1)
        inside = np.zeros(len(points), dtype=bool)
        if len(vertices) >= 3:
            finite = np.isfinite(points).all(axis=1)
            inside[finite] = Path(vertices).contains_points(points[finite])
        return self._emit(self._labels()[inside])

    def highlight(self, labels):
        """Draw the cells ``labels`` distinctly (on top, in cyan); empty: none."""
        self._highlight = np.asarray(list(labels), dtype=np.int64)
        self._draw_highlight()
        if not self.isVisible():
            self._dirty = True  # drawn whole when shown
        elif self._background is None:
            self.canvas.draw_idle()
        else:  # only the highlight changes: blit it on the saved axes
            self.canvas.restore_region(self._background)
            for artist in self._highlight_artists:
                self.axes.draw_artist(artist)
            self.canvas.blit(self.axes.bbox)

    # -------------------------------------------------------------- drawing

    def redraw(self):
        """Draw the plot again for the current columns and frame (when next shown, if
        hidden)."""
        self._dirty = not self.isVisible()
        self._shown = None if self._dirty else self._plotted()
        if self._dirty:
            return
        ax = self.axes
        ax.clear()
        self._background = None
        self._highlight_artists = []
        x, y = self.x_column, self.y_column
        if x is None or not len(self.frame):
            ax.text(0.5, 0.5, "no cells", ha="center", va="center", transform=ax.transAxes)
            self._set_selector(None)
            self.canvas.draw_idle()
            return
        groups = self._groups()
        if y is None:
            values = self._values(x)
            finite = values[np.isfinite(values)]
            self._bins = np.histogram_bin_edges(finite if finite.size else [0.0],
                                                bins=min(100, max(10, len(self.frame) // 20)))
            bottom = np.zeros(len(self._bins) - 1)
            for name, color, rows in groups:  # stacked, one step patch per class
                top = bottom + np.histogram(values[rows], self._bins)[0]
                ax.stairs(top, self._bins, baseline=bottom, fill=True, color=color,
                          alpha=0.8, label=name).set_in_layout(False)
                bottom = top
            ax.set_ylim(0, max(1.0, bottom.max() * 1.05))
            ax.set_ylabel("cells")
            self._set_selector("span")
        else:
            xs, ys = self._values(x), self._values(y)
            for name, color, rows in groups:
                line, = ax.plot(xs[rows], ys[rows], ".", markersize=2, color=color,
                                label=name, rasterized=True, linestyle="none")
                line.set_in_layout(False)  # or the layout engine walks every point
            ax.set_ylabel(y)
            self._set_selector("lasso")
        ax.set_xlabel(x)
        if len(groups) > 1:
            # loc "best" would test every point against the legend box
            ax.legend(fontsize="x-small", markerscale=4, loc="upper right")
        self._draw_highlight()
        self.canvas.draw_idle()

    def _draw_highlight(self):
        for artist in self._highlight_artists:
            artist.remove()
        self._highlight_artists = []
        x, y = self.x_column, self.y_column
        if self._dirty or x is None or not len(self.frame) or not self._highlight.size:
            return
        rows = np.isin(self._labels(), self._highlight)
        if y is None:
            values = self._values(x)[rows]
            counts = np.histogram(values, self._bins)[0]
            self._highlight_artists = [self.axes.stairs(counts, self._bins, color=HIGHLIGHT,
                                                        linewidth=2)]
        else:
            self._highlight_artists = self.axes.plot(
                self._values(x)[rows], self._values(y)[rows], ".", markersize=3,
                color=HIGHLIGHT, linestyle="none", rasterized=True)
        for artist in self._highlight_artists:
            artist.set_in_layout(False)
            artist.set_animated(True)  # drawn by _drawn / highlight, not with the axes

    def _drawn(self, _event):
        """After each full draw: keep the axes' pixels, then draw the highlight on top."""
        self._background = self.canvas.copy_from_bbox(self.axes.bbox)
        for artist in self._highlight_artists:
            self.axes.draw_artist(artist)

    def _groups(self) -> list:
        """(name, colour, rows) per class when colouring by class, else one group."""
        if not self.by_class.isChecked() or "classification" not in self.frame.columns:
            return [("cells", PLAIN, np.arange(len(self.frame)))]
        names = self.frame["classification"].fillna("Nucleus").astype(str)
        codes, uniques = pd.factorize(names, sort=True)
        order = np.argsort(codes, kind="stable")
        splits = np.searchsorted(codes[order], np.arange(1, len(uniques)))
        groups = [(str(u), np.array(class_color(str(u))) / 255.0, rows)
                  for u, rows in zip(uniques, np.split(order, splits))]
        return sorted(groups, key=lambda g: -len(g[2]))  # small classes drawn on top

    def _set_selector(self, kind):
        if self._selector is not None:
            self._selector.set_active(False)
            self._selector.disconnect_events()
            self._selector = None
        if kind == "span":
            self._selector = SpanSelector(self.axes, self.select_range, "horizontal",
                                          useblit=True, minspan=0,
                                          props={"alpha": 0.25, "facecolor": HIGHLIGHT})
        elif kind == "lasso":
            self._selector = LassoSelector(self.axes, self.select_polygon, useblit=True,
                                           props={"color": HIGHLIGHT, "linewidth": 1.5})

    def showEvent(self, event):  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._dirty:
            self.redraw()

    # -------------------------------------------------------------- helpers

    def _plotted(self) -> list:
        """What the drawing depends on: columns, values, labels and classes."""
        x, y = self.x_column, self.y_column
        by_class = self.by_class.isChecked() and "classification" in self.frame.columns
        return [x, y, by_class, self._labels(),
                *(self._values(c) for c in (x, y) if c is not None),
                *([self.frame["classification"].astype(str).to_numpy()] if by_class else [])]

    def _values(self, column) -> np.ndarray:
        return self.frame[column].to_numpy(dtype=float)

    def _labels(self) -> np.ndarray:
        if "label" in self.frame.columns:
            return self.frame["label"].to_numpy().astype(np.int64)
        return np.arange(len(self.frame), dtype=np.int64)

    def _emit(self, labels) -> list:
        labels = [int(v) for v in labels]
        self.highlight(labels)
        self.labels_selected.emit(labels)
        return labels

    @staticmethod
    def _fill(box: QComboBox, items: list, current):
        box.blockSignals(True)
        if items != [box.itemText(i) for i in range(box.count())]:
            box.clear()
            box.addItems(items)
        if current is not None and box.findText(current) >= 0:
            box.setCurrentText(current)
        box.blockSignals(False)


def _same(a: list, b: list) -> bool:
    """Element-wise equality of two ``_plotted`` lists (NaN equal to NaN)."""
    if len(a) != len(b):
        return False
    for u, v in zip(a, b):
        if isinstance(u, np.ndarray) or isinstance(v, np.ndarray):
            if not isinstance(u, np.ndarray) or not isinstance(v, np.ndarray) \
                    or u.shape != v.shape:
                return False
            if not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
                return False
        elif u != v:
            return False
    return True
