"""The cell plot: histogram / scatter of measurements, range and lasso selections."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path
from qtpy.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui


def cells(n=300, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "label": rng.permutation(n) + 10,
        "x": rng.uniform(0, 100, n), "y": rng.uniform(0, 100, n),
        "area": rng.uniform(10, 200, n),
        "solidity": rng.uniform(0.5, 1.0, n),
        "classification": rng.choice(["Tumor", "Stroma"], n),
        "status": "unreviewed",
    })


@pytest.fixture
def plot(qtbot):
    from napari_pathrobust.widgets._cell_plot import CellPlot

    widget = CellPlot()
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    widget.set_frame(cells())
    return widget


def test_columns_and_default_histogram(plot):
    items = [plot.x_box.itemText(i) for i in range(plot.x_box.count())]
    assert items == ["x", "y", "area", "solidity"]  # numeric, label left out
    assert plot.x_column == "area" and plot.y_column is None
    assert plot.axes.patches  # a histogram


def test_range_selection_emits_labels_in_range(qtbot, plot):
    frame = cells()
    with qtbot.waitSignal(plot.labels_selected) as blocker:
        got = plot.select_range(120.0, 50.0)  # either order
    want = frame.label[(frame.area >= 50) & (frame.area <= 120)]
    assert sorted(blocker.args[0]) == sorted(want) == sorted(got)
    assert plot._highlight_artists  # drawn on top


def test_drag_on_histogram_selects_like_select_range(qtbot, plot):
    plot.canvas.draw()
    ax, canvas = plot.axes, plot.canvas
    ratio = canvas.device_pixel_ratio
    height = canvas.figure.bbox.height

    def widget_point(value):
        x, y = ax.transData.transform((value, np.mean(ax.get_ylim())))
        return QPoint(int(round(x / ratio)), int(round((height - y) / ratio)))

    start, stop = widget_point(60.0), widget_point(150.0)
    with qtbot.waitSignal(plot.labels_selected) as blocker:
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(canvas, pos=(start + stop) / 2)
        qtbot.mouseMove(canvas, pos=stop)
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=stop)
    labels = blocker.args[0]
    areas = cells().set_index("label").area
    picked = areas[labels]
    assert len(labels) > 50 and picked.min() > 55 and picked.max() < 155


def test_polygon_selection_on_scatter(qtbot, plot):
    frame = cells()
    with pytest.raises(ValueError):
        plot.select_polygon([(0, 0), (1, 0), (1, 1)])  # no Y yet: a histogram
    plot.set_columns("x", "y")
    assert plot.y_column == "y" and plot.axes.lines
    triangle = [(10.0, 10.0), (90.0, 20.0), (40.0, 85.0)]
    with qtbot.waitSignal(plot.labels_selected) as blocker:
        plot.select_polygon(triangle)
    inside = Path(np.array(triangle)).contains_points(frame[["x", "y"]].to_numpy())
    assert sorted(blocker.args[0]) == sorted(frame.label[inside]) and inside.sum() > 20


def test_frame_update_keeps_columns_and_highlight(plot):
    plot.set_columns("area", "solidity")
    frame = cells()
    plot.highlight(frame.label[:5])
    assert len(plot._highlight_artists[0].get_xdata()) == 5
    frame["classification"] = "Tumor"
    plot.set_frame(frame)
    assert (plot.x_column, plot.y_column) == ("area", "solidity")
    assert len(plot._highlight_artists[0].get_xdata()) == 5
    plot.by_class.setChecked(False)
    plot.set_frame(frame.iloc[:0])  # no cells: no error
    assert plot.select_range(0, 1e9) == []
    plot.highlight([])


def test_hidden_plot_draws_when_shown(qtbot):
    from napari_pathrobust.widgets._cell_plot import CellPlot

    widget = CellPlot()
    qtbot.addWidget(widget)
    widget.set_frame(cells())
    assert not widget.axes.patches  # hidden: nothing drawn yet
    assert len(widget.select_range(0, 1e9)) == 300  # selection works all the same
    widget.show()
    qtbot.waitUntil(lambda: bool(widget.axes.patches))
