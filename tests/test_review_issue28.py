"""Review in a shown viewer (issue 28): Shift / Ctrl multi-select in the table with the
buttons acting on all (28.4), the current cell ringed and zoomed to the Settings' size
(28.5), the review keys with the table or a button focused (28.6), and the small ones
(28.12): 'tumour' finds Tumor and an empty filter says why, selection rings stay thin
when zoomed in, an unknown pixel size reads 'unknown, assumed 0.25'."""

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QPushButton

pytestmark = [pytest.mark.gui, pytest.mark.slow]

PLUGIN = "napari-pathrobust"


@pytest.fixture
def review(make_napari_viewer):
    """The H&E demo crop recognised (classical, as Recognise shows it), Review docked."""
    from napari_pathrobust.engine import api
    from napari_pathrobust.widgets._cell_result import show_cells

    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1300, 900)
    viewer.open_sample(PLUGIN, "demo_he_crop")
    image = viewer.layers["demo_he_crop"]
    result = api.segment_region(image.data, api.Box(0, 0, 512, 512),
                                api.RegionOptions(method="classical", device="cpu"),
                                mpp=0.25, name=image.name,
                                metadata={"source_layer": image.name})
    layer = show_cells(viewer, image, result.labels, dict(result.table),
                       dict(result.metadata))
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Review cells")
    assert widget.layer is layer
    _settle()
    return viewer, widget, layer


def _settle(rounds=10):
    for _ in range(rounds):
        QApplication.processEvents()


def _row_point(widget, row):
    table = widget.table
    rect = table.visualRect(widget.model.index(row, 1))
    table.scrollTo(widget.model.index(row, 1))
    return table.visualRect(widget.model.index(row, 1)).center() if rect.isEmpty() \
        else rect.center()


def _click_row(qtbot, widget, row, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(widget.table.viewport(), Qt.MouseButton.LeftButton, modifier,
                     _row_point(widget, row))
    _settle()


def _button(widget, text):
    found = [b for b in widget.findChildren(QPushButton) if b.text() == text]
    assert len(found) == 1, text
    return found[0]


def _status(layer) -> dict:
    return dict(zip(layer.features["label"].tolist(), layer.features["status"].tolist()))


def _canvas(viewer):
    _settle()
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(int)


def test_shift_and_ctrl_click_select_several_and_the_buttons_act_on_all(review, qtbot):
    viewer, widget, layer = review
    _click_row(qtbot, widget, 0)
    _click_row(qtbot, widget, 2, Qt.KeyboardModifier.ControlModifier)
    picked = widget.selected_labels()
    labels = widget.cells.visible_labels()
    assert sorted(picked) == sorted(labels[[0, 2]].tolist())  # Ctrl adds a row
    _click_row(qtbot, widget, 5, Qt.KeyboardModifier.ShiftModifier)
    picked = widget.selected_labels()
    assert set(labels[2:6].tolist()) <= set(picked) and len(picked) >= 4  # Shift: a range
    rings = viewer.layers[f"{layer.name} selection"]
    assert len(rings.data) == len(picked)  # every selected cell circled on the canvas
    _button(widget, "Accept (a)").click()
    status = _status(layer)
    assert all(status[label] == "accepted" for label in picked)
    assert sum(s == "accepted" for s in status.values()) == len(picked)
    widget.classes.setCurrentText("Tumor")
    _button(widget, "Set class (c)").click()
    classes = dict(zip(layer.features["label"], layer.features["classification"]))
    assert {classes[label] for label in picked} == {"Tumor"}


def test_the_current_cell_is_ringed_and_zoomed_to_the_setting(review, qtbot):
    from napari_pathrobust.widgets._settings import save_settings

    viewer, widget, layer = review
    viewer.reset_view()
    _click_row(qtbot, widget, 3)
    label = int(widget.cells.visible_labels()[3])
    assert widget.selected_labels() == [label]
    diameter = 2 * np.sqrt(np.median(layer.features["area"]) / np.pi)
    on_screen = diameter * layer.scale[-1] * viewer.camera.zoom
    assert on_screen == pytest.approx(80, rel=0.01)  # the default: 80 px a cell
    rings = viewer.layers[f"{layer.name} selection"]
    assert len(rings.data) == 1
    # the ring is on the screen, around the centre of the canvas (the current cell)
    with_ring = _canvas(viewer)
    rings.visible = False
    without = _canvas(viewer)
    rings.visible = True
    changed = np.argwhere(np.abs(with_ring - without).sum(-1) > 30)
    h, w = with_ring.shape[:2]
    radius = np.hypot(changed[:, 0] - h / 2, changed[:, 1] - w / 2)
    assert len(changed) > 100 and radius.max() < 2 * on_screen
    assert radius.min() > 0.3 * on_screen  # a ring around the cell, not on it
    save_settings({"review_cell_px": 160})  # the Settings: bigger cells
    _button(widget, "Next (n)").click()
    assert diameter * layer.scale[-1] * viewer.camera.zoom == pytest.approx(160, rel=0.01)
    save_settings({"review_cell_px": 0})  # 0: the zoom stays
    zoom = viewer.camera.zoom
    _button(widget, "Next (n)").click()
    assert viewer.camera.zoom == zoom


def test_review_keys_work_with_the_table_or_a_button_focused(review, qtbot):
    viewer, widget, layer = review
    _click_row(qtbot, widget, 1)
    first = widget.selected_labels()[0]
    qtbot.keyClick(widget.table, Qt.Key.Key_A)  # the table has the focus
    assert _status(layer)[first] == "accepted"
    qtbot.keyClick(widget.table, Qt.Key.Key_N)
    second = widget.selected_labels()[0]
    assert second != first
    qtbot.keyClick(widget.table, Qt.Key.Key_R)
    assert _status(layer)[second] == "rejected"
    qtbot.keyClick(widget.table, Qt.Key.Key_Z, Qt.KeyboardModifier.AltModifier)  # undo
    assert _status(layer)[second] == "unreviewed"
    button = _button(widget, "Unreviewed (u)")
    button.setFocus()
    qtbot.keyClick(button, Qt.Key.Key_C)  # a button has the focus: c sets the class
    assert layer.features.set_index("label").loc[second, "classification"] == \
        widget.classes.currentText()
    # typing in the filter box stays typing
    widget.cells.text_box.setFocus()
    qtbot.keyClicks(widget.cells.text_box, "area")
    assert widget.cells.text_box.text() == "area"


def test_filters_match_british_spelling_and_say_when_nothing_matches(review, qtbot):
    viewer, widget, layer = review
    labels = layer.features["label"].tolist()[:3]
    widget.set_class("Tumor", labels=labels)
    cells = widget.cells
    cells.set_filters(text="tumour")
    assert sorted(cells.visible_labels().tolist()) == sorted(labels)
    cells.set_filters(text="TUMOR accepted")
    assert cells.model.rowCount() == 3 and not cells.hint.isVisible()
    cells.set_filters(text="necrosis")
    _settle()
    assert cells.model.rowCount() == 0 and cells.hint.isVisible()
    assert "no cell matches 'necrosis'" in cells.hint.text() and "Tumor" in cells.hint.text()
    assert cells.hint.geometry().height() > 5  # shown in the dock, not only a tooltip


def test_selection_rings_stay_thin_when_zoomed_in(review, qtbot):
    viewer, widget, layer = review
    frame = layer.features
    chosen = frame.sort_values("area", ascending=False)["label"].tolist()[:2]
    widget.cells.select_labels(chosen)
    _settle()
    rings = viewer.layers[f"{layer.name} selection"]
    assert len(rings.data) == 2
    row = frame.set_index("label").loc[chosen[0]]
    viewer.camera.center = tuple(layer.data_to_world((row["y"], row["x"])))
    for zoom_px in (3, 8):  # screen pixels per image pixel
        viewer.camera.zoom = zoom_px / layer.scale[-1]
        with_ring = _canvas(viewer)
        rings.visible = False
        without = _canvas(viewer)
        rings.visible = True
        changed = np.abs(with_ring - without).sum(-1) > 30
        h, w = changed.shape
        across = changed[h // 2]  # the row through the ring's centre
        hits = np.flatnonzero(across)
        assert hits.size, zoom_px
        left = hits[hits < w // 2]
        band = np.split(left, np.flatnonzero(np.diff(left) > 1) + 1)[0]
        assert 2 <= band.size <= 5, (zoom_px, band.size)  # 3 px on screen at any zoom


def test_unknown_pixel_size_reads_unknown_assumed(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((64, 64, 3), np.uint8), rgb=True, name="no_size")
    _dock, recognise = viewer.window.add_plugin_dock_widget(PLUGIN, "Recognise nuclei")
    _settle()
    box = recognise._mpp.native
    assert recognise._mpp.value == 0 and box.text() == "unknown, assumed 0.25"
    shown = box.lineEdit()
    assert shown.fontMetrics().horizontalAdvance(box.text()) <= shown.width()  # whole
    recognise._mpp.value = 0.5
    assert box.text() == "0.500"
