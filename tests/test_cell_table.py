"""The cell table widget: sorting, filters, labels <-> rows, signals (no viewer needed)."""

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

pytestmark = pytest.mark.gui


def cells(n=200, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(1, n + 1) * 3)  # not in order, not 1..n
    return pd.DataFrame({
        "label": labels,
        "x": rng.uniform(0, 500, n), "y": rng.uniform(0, 500, n),
        "area": rng.integers(5, 200, n).astype(float),
        "classification": rng.choice(["Tumor", "Stroma", "Nucleus", "Immune cells"], n),
        "status": rng.choice(["unreviewed", "accepted", "rejected"], n),
        "solidity": rng.uniform(0.5, 1.0, n),
        "name": [f"c{v}" for v in rng.integers(0, 1000, n)],
    })


@pytest.fixture
def view(qtbot):
    from napari_pathrobust.widgets._cell_table import CellTableView

    widget = CellTableView()
    qtbot.addWidget(widget)
    widget.resize(700, 400)
    widget.show()
    widget.set_frame(cells())
    return widget


def shown(view, column):
    model = view.model
    c = model.columns.index(column)
    return [model.data(model.index(r, c)) for r in range(model.rowCount())]


def test_every_column_shown_and_labels_first(view):
    assert view.model.columns[:3] == ["label", "classification", "status"]
    assert set(view.model.columns) == set(cells().columns)
    assert view.model.rowCount() == 200 and view.shown.text() == "200 of 200"


def test_numeric_sort_is_numeric_and_text_sort_is_text(qtbot, view):
    header = view.table.horizontalHeader()
    section = view.model.columns.index("area")
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=header.rect().topLeft() + _centre(header, section))
    areas = [float(v) for v in shown(view, "area")]
    assert areas == sorted(areas) and view.model.sort_column == "area"
    view._header_clicked(section)  # second click: descending
    areas = [float(v) for v in shown(view, "area")]
    assert areas == sorted(areas, reverse=True)
    view._header_clicked(section)  # third click: the frame's order
    assert list(view.visible_labels()) == list(cells()["label"])
    # a number column is not sorted as text ("100" < "20" as text)
    frame = pd.DataFrame({"label": [1, 2, 3], "area": [100.0, 20.0, 3.0],
                          "classification": ["b", "a", "c"], "status": ["unreviewed"] * 3})
    view.set_frame(frame)
    view.sort_by("area")
    assert list(view.visible_labels()) == [3, 2, 1]
    view.sort_by("classification", descending=True)
    assert list(view.visible_labels()) == [3, 1, 2]
    assert header.sortIndicatorSection() == view.model.columns.index("classification")


def _centre(header, section):
    from qtpy.QtCore import QPoint

    return QPoint(header.sectionViewportPosition(section) + header.sectionSize(section) // 2,
                  header.height() // 2)


def test_filters_status_class_and_text(view):
    frame = cells()
    view.set_filters(status="accepted")
    assert set(view.visible_labels()) == set(frame.label[frame.status == "accepted"])
    view.set_filters(classification="Tumor")
    want = frame.label[(frame.status == "accepted") & (frame.classification == "Tumor")]
    assert set(view.visible_labels()) == set(want)
    assert [view.class_box.itemText(i) for i in range(view.class_box.count())] == \
        ["all", "Immune cells", "Nucleus", "Stroma", "Tumor"]
    view.set_filters(status="all", classification="all", text="area > 100, solidity<=0.8")
    want = frame.label[(frame.area > 100) & (frame.solidity <= 0.8)]
    assert set(view.visible_labels()) == set(want)
    view.set_filters(text="stroma rej")
    want = frame.label[(frame.classification == "Stroma") & (frame.status == "rejected")]
    assert set(view.visible_labels()) == set(want)
    view.set_filters(text="nosuch < 3")  # bad condition: shown in red, no text filter
    assert len(view.visible_labels()) == 200 and "nosuch" in view.text_box.toolTip()
    view.set_filters(text=str(frame.label[5]))
    assert list(view.visible_labels()) == [frame.label[5]]


def test_sort_and_filters_survive_set_frame(view):
    view.sort_by("solidity", descending=True)
    view.set_filters(status="rejected")
    frame = cells()
    frame.loc[frame.index[:10], "status"] = "rejected"
    view.set_frame(frame)
    rejected = frame[frame.status == "rejected"].sort_values("solidity", ascending=False)
    assert list(view.visible_labels()) == list(rejected.label)


def test_select_labels_after_sort_and_filter(qtbot, view):
    frame = cells()
    view.sort_by("area")
    view.set_filters(status="unreviewed")
    target = int(frame.label[frame.status == "unreviewed"].iloc[-1])
    hidden = int(frame.label[frame.status == "accepted"].iloc[0])
    clicked = []
    view.cell_clicked.connect(clicked.append)
    with qtbot.waitSignal(view.selection_changed) as blocker:
        view.select_labels([target, hidden])
    assert blocker.args == [[target]] and view.selected_labels() == [target]
    assert clicked == []  # programmatic selection never "clicks"
    row = view.table.selectionModel().selectedRows()[0].row()
    assert view.model.label_at(row) == target
    assert int(shown(view, "label")[row]) == target
    # the selection follows its cells through a new sort and a new frame
    view.sort_by("x", descending=True)
    assert view.selected_labels() == [target]
    row = int(view.model.rows_of([target])[0])  # and is scrolled to
    assert view.table.viewport().rect().intersects(view.table.visualRect(
        view.model.index(row, 0)))
    view.set_frame(frame)
    assert view.selected_labels() == [target]
    with qtbot.waitSignal(view.selection_changed) as blocker:
        view.select_labels([])
    assert blocker.args == [[]]


def test_click_emits_the_label(qtbot, view):
    view.sort_by("area", descending=True)
    row = 2
    rect = view.table.visualRect(view.model.index(row, 1))
    with qtbot.waitSignal(view.cell_clicked) as blocker:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    want = int(cells().sort_values("area", ascending=False, kind="stable").label.iloc[row])
    assert blocker.args == [want] and view.selected_labels() == [want]


def test_model_keeps_review_api():
    """review.py's use of the model: set_frame, .frame, index(), unsorted rows."""
    from napari_pathrobust.widgets._cell_table import CellTable

    model = CellTable()
    frame = cells()
    model.set_frame(frame)
    assert model.rowCount() == 200 and int(model.frame["label"].iat[3]) == model.label_at(3)
    assert model.data(model.index(3, 0)) == str(frame.label[3])
    assert list(model.rows_of([frame.label[7], 999999])) == [7, -1]


def test_scattered_selection_painted_by_the_model(qtbot, view, monkeypatch):
    """Selections of many row runs bypass Qt's selection model (quadratic) but read
    and signal the same; a user click replaces them."""
    from napari_pathrobust.widgets import _cell_table

    monkeypatch.setattr(_cell_table, "MAX_QT_RANGES", 3)
    view.sort_by("area")
    every_other = [int(v) for v in view.visible_labels()[::2]]
    with qtbot.waitSignal(view.selection_changed) as blocker:
        view.select_labels(every_other)
    assert view.model.marked is not None and not view.table.selectionModel().hasSelection()
    assert blocker.args == [every_other] and view.selected_labels() == every_other
    model = view.model
    assert model.data(model.index(0, 0), Qt.ItemDataRole.BackgroundRole) is not None
    assert model.data(model.index(1, 0), Qt.ItemDataRole.BackgroundRole) is None
    view.set_filters(status="accepted")  # like Qt's: hidden rows leave the selection
    frame = cells().set_index("label")
    accepted = [v for v in every_other if frame.status[v] == "accepted"]
    assert view.selected_labels() == accepted and view.model.marked is not None
    view.set_filters(status="all")
    assert view.selected_labels() == accepted
    rect = view.table.visualRect(view.model.index(1, 0))
    with qtbot.waitSignal(view.selection_changed) as blocker:
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.model.marked is None and blocker.args == [[view.model.label_at(1)]]
