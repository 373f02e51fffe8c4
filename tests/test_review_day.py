"""A pathologist's day in a shown napari viewer (issue 28, closing test).

Played through the docks as a user would: the H&E demo crop recognised (classical)
and reviewed with the keys (on the table and on the canvas) and a Shift / Ctrl
multi-selection; two IHC slides (the IHC sample and a second slide cut from it)
recognised with Stain = ihc, scored, one summary CSV each; a setting changed in the
Settings dock; napari closed and started again on the same config folder; the three
slides opened again: every review comes back, and so does the setting.
"""

import csv

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QPushButton

pytestmark = [pytest.mark.gui, pytest.mark.slow]

PLUGIN = "napari-pathrobust"
SECOND = "ihc_second"


def _settle(qtbot, ms=100):
    QApplication.processEvents()
    qtbot.wait(ms)


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


def _second_slide(viewer):
    """A second IHC slide: the sample's glands turned a quarter (other cells, same
    stain and pixel size)."""
    first = viewer.layers["ihc_sample"]
    return viewer.add_image(np.ascontiguousarray(np.rot90(first.data)), name=SECOND,
                            rgb=True, scale=first.scale, units=first.units,
                            metadata=dict(first.metadata))


def _recognise(qtbot, recognise, image, stain):
    recognise._image.value = image
    recognise._method.value = "classical"  # fast; the day is the same with psm
    recognise._stain.value = stain
    recognise.run()
    qtbot.waitUntil(lambda: not recognise.running, timeout=180_000)
    assert recognise.last_error is None, recognise.last_error
    assert "nuclei in" in recognise._status.value, recognise._status.value


def _click_row(qtbot, review, row, modifier=Qt.KeyboardModifier.NoModifier):
    index = review.model.index(row, 1)
    review.table.scrollTo(index)
    qtbot.mouseClick(review.table.viewport(), Qt.MouseButton.LeftButton, modifier,
                     review.table.visualRect(index).center())
    QApplication.processEvents()


def _button(review, text):
    found = [b for b in review.findChildren(QPushButton) if b.text() == text]
    assert len(found) == 1, text
    return found[0]


def _reviews(layer) -> dict:
    f = layer.features
    return {int(k): (str(s), str(c))
            for k, s, c in zip(f["label"], f["status"], f["classification"])}


def test_a_day_of_review_and_scoring_survives_a_restart(make_napari_viewer, qtbot, tmp_path):
    from napari_pathrobust.widgets._settings import load_settings

    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1400, 900)

    # -- morning: an H&E slide, recognised and reviewed with the keys ------------------
    viewer.open_sample(PLUGIN, "demo_he_crop")
    recognise = _dock(viewer, "Recognise nuclei")
    _recognise(qtbot, recognise, viewer.layers["demo_he_crop"], "he")
    he = viewer.layers["demo_he_crop_nuclei"]
    review = _dock(viewer, "Review cells")
    review._labels_box.value = he
    assert review.layer is he
    table, canvas = review.table, viewer.window._qt_viewer.canvas.native
    _click_row(qtbot, review, 0)
    first = review.selected_labels()[0]
    qtbot.keyClick(table, Qt.Key.Key_A)  # the table has the focus after the click
    qtbot.keyClick(table, Qt.Key.Key_N)
    second = review.selected_labels()[0]
    qtbot.keyClick(table, Qt.Key.Key_R)
    rings = viewer.layers[f"{he.name} selection"]
    assert len(rings.data) == 1  # the current cell is ringed
    viewer.layers.selection.active = he
    qtbot.keyClick(canvas, Qt.Key.Key_N)  # and on the canvas the same keys work
    third = review.selected_labels()[0]
    qtbot.keyClick(canvas, Qt.Key.Key_A)
    _settle(qtbot)
    state = _reviews(he)
    assert state[first][0] == "accepted" and state[second][0] == "rejected"
    assert state[third][0] == "accepted" and len({first, second, third}) == 3
    # several cells at once: Ctrl adds rows, Shift adds a range, one class for all
    review.cells.set_filters(status="unreviewed")
    _click_row(qtbot, review, 0)
    _click_row(qtbot, review, 2, Qt.KeyboardModifier.ControlModifier)
    _click_row(qtbot, review, 4, Qt.KeyboardModifier.ShiftModifier)
    several = review.selected_labels()
    assert len(several) >= 3 and len(rings.data) == len(several)
    review.classes.setCurrentText("Tumor")
    _button(review, "Set class (c)").click()
    review.cells.set_filters(status="all", text="tumour")  # British spelling finds Tumor
    assert sorted(review.cells.visible_labels().tolist()) == sorted(several)
    review.cells.set_filters(text="")
    he_reviews = _reviews(he)
    assert sum(c == "Tumor" for _s, c in he_reviews.values()) == len(several)

    # -- a setting changed in the Settings dock -----------------------------------------
    settings = _dock(viewer, "Settings")
    settings._cell_px.value = 120  # saved at once
    assert load_settings()["review_cell_px"] == 120
    _button(review, "Next (n)").click()
    diameter = 2 * np.sqrt(np.median(he.features["area"]) / np.pi)
    assert diameter * he.scale[-1] * viewer.camera.zoom == pytest.approx(120, rel=0.01)

    # -- afternoon: two IHC slides scored, one summary file each -------------------------
    viewer.open_sample(PLUGIN, "ihc")
    second_slide = _second_slide(viewer)
    summaries, ihc_reviews = [], {}
    scoring = _dock(viewer, "IHC scoring")
    for image in (viewer.layers["ihc_sample"], second_slide):
        _recognise(qtbot, recognise, image, "ihc")
        nuclei = viewer.layers[f"{image.name}_nuclei"]
        assert {"Positive", "Negative"} & set(nuclei.features["classification"])
        review._labels_box.value = nuclei  # reject one cell before scoring
        review.set_status("rejected", labels=[int(nuclei.features["label"].iat[0])])
        scoring._layer.value = nuclei
        scoring.apply()
        dest = scoring.export_summary(tmp_path / f"{image.name}_summary.csv")
        assert dest is not None and dest.exists(), scoring._status.value
        summaries.append(dest)
        ihc_reviews[nuclei.name] = _reviews(nuclei)
    rows = [list(csv.DictReader(path.open(newline=""))) for path in summaries]
    assert [r[0]["slide"] for r in rows] == ["ihc_sample", SECOND]
    assert rows[0][0]["n_cells"] != rows[1][0]["n_cells"] or \
        rows[0][0]["layer"] != rows[1][0]["layer"]
    for slide_rows, name in zip(rows, ("ihc_sample_nuclei", f"{SECOND}_nuclei")):
        scored = sum(s != "rejected" for s, _c in ihc_reviews[name].values())
        assert int(slide_rows[0]["n_cells"]) == scored  # the rejected cell is left out

    # -- evening: napari closed ... and started again the next morning -------------------
    viewer.close()
    _settle(qtbot, 300)
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1400, 900)
    viewer.open_sample(PLUGIN, "demo_he_crop")
    viewer.open_sample(PLUGIN, "ihc")
    _second_slide(viewer)
    review = _dock(viewer, "Review cells")  # restores every slide's result it finds
    _settle(qtbot)
    assert _reviews(viewer.layers["demo_he_crop_nuclei"]) == he_reviews
    for name, expected in ihc_reviews.items():
        assert _reviews(viewer.layers[name]) == expected, name
    settings = _dock(viewer, "Settings")
    assert settings._cell_px.value == 120 and load_settings()["review_cell_px"] == 120
    review._labels_box.value = viewer.layers["demo_he_crop_nuclei"]
    _button(review, "Next (n)").click()
    he = viewer.layers["demo_he_crop_nuclei"]
    assert diameter * he.scale[-1] * viewer.camera.zoom == pytest.approx(120, rel=0.01)
