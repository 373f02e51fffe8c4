"""The Review widget's session: autosave + restore in a new viewer, undo / redo,
napari's own undo re-measured, plot and counts linked to the cells."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def results_folder(tmp_path, monkeypatch):
    """Settings and results in the test's own folder (never the user's)."""
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})
    return tmp_path / "results"


def _tile():
    from napari_pathrobust.engine.nucleus_records import features_table, measure_objects
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb, truth = synthetic_he_tile(shape=(256, 256), seed=3)
    records = measure_objects(truth, rgb)
    for label, rec in zip(np.unique(truth[truth > 0]), records):
        rec.label = int(label)
    return rgb, truth.astype(np.uint32), features_table(records)


def _open(viewer, rgb, truth=None, table=None):
    """Add the tile (and a result like Recognise's) and a docked Review widget."""
    from napari_pathrobust.widgets.review import ReviewWidget

    viewer.add_image(rgb, name="tile", rgb=True)
    if truth is not None:
        metadata = {"source_layer": "tile", "region": [0, 0, 256, 256], "seed": 0}
        viewer.add_labels(truth, name="tile_nuclei", metadata=metadata,
                          features=dict(table, index=table["label"]))
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


@pytest.fixture
def session(make_napari_viewer):
    rgb, truth, table = _tile()
    viewer = make_napari_viewer()
    widget = _open(viewer, rgb, truth, table)
    layer = viewer.layers["tile_nuclei"]
    widget.bind(layer)
    return viewer, widget, layer, rgb


def _status(layer) -> dict:
    return dict(zip(layer.features["label"], layer.features["status"]))


def test_autosave_then_restore_in_a_new_viewer(session, make_napari_viewer, results_folder,
                                              qtbot):
    viewer, widget, layer, rgb = session
    first, second, third = (int(v) for v in layer.features["label"][:3])
    widget.set_status("rejected", labels=[first])
    widget.set_class("Tumor", labels=[second])  # a class accepts an unreviewed cell
    assert _status(layer)[second] == "accepted"
    review = results_folder / "tile_review.json"
    qtbot.waitUntil(lambda: review.exists() and "Tumor" in review.read_text())  # autosaved
    saved = json.loads(review.read_text())
    assert saved["layer"] == "tile_nuclei" and "Tumor" in saved["classification"]["names"]
    assert not [p for p in results_folder.iterdir() if p.name.startswith(".")]  # no temp
    # napari "killed": the first widget is never closed; a new viewer opens the slide
    other = make_napari_viewer()
    new_widget = _open(other, rgb)
    restored = other.layers["tile_nuclei"]
    assert _status(restored) == _status(layer)
    np.testing.assert_array_equal(restored.data, layer.data)
    assert "restored tile_nuclei" in new_widget.status.text()
    assert new_widget.layer is restored
    from napari_pathrobust.widgets.cell_style import layer_color

    # coloured against the stain measured on the reopened slide
    assert "outline_under" in restored.metadata
    np.testing.assert_allclose(restored.colormap.map(second),
                               layer_color(restored, "Tumor", "accepted"))


def test_undo_redo_review_and_colours(session):
    from napari_pathrobust.widgets.cell_style import cell_color

    viewer, widget, layer, _ = session
    first, second = (int(v) for v in layer.features["label"][:2])
    widget.set_status("accepted", labels=[first, second])
    widget.set_class("Immune cells", labels=[second])
    np.testing.assert_allclose(layer.colormap.map(second),
                               cell_color("Immune cells", "accepted"))
    widget.undo_review()
    assert layer.features.set_index("label").loc[second, "classification"] == "Nucleus"
    np.testing.assert_allclose(layer.colormap.map(second), cell_color("Nucleus", "accepted"))
    widget.undo_review()
    assert _status(layer)[first] == "unreviewed" and _status(layer)[second] == "unreviewed"
    np.testing.assert_allclose(layer.colormap.map(first), cell_color("Nucleus", "unreviewed"))
    widget.redo_review()
    widget.redo_review()
    assert layer.features.set_index("label").loc[second, "classification"] == "Immune cells"
    # the keys on the layer do the same: Alt+Z undoes, Alt+Shift+Z redoes
    keys = {str(k): func for k, func in layer.keymap.items()}
    keys["Alt+Z"](layer)
    assert layer.features.set_index("label").loc[second, "classification"] == "Nucleus"
    [redo] = [func for key, func in keys.items() if "Alt" in key and "Shift" in key]
    redo(layer)
    assert layer.features.set_index("label").loc[second, "classification"] == "Immune cells"
    widget.hide_rejected.setChecked(True)
    widget.set_status("rejected", labels=[first])
    assert layer.colormap.map(first)[3] == 0  # hidden


def test_napari_undo_is_remeasured(session, qtbot):
    viewer, widget, layer, _ = session
    n = len(layer.features)
    target = int(layer.features["label"].iloc[0])
    pixels = np.argwhere(layer.data == target)
    middle = pixels[np.argmin(((pixels - pixels.mean(axis=0)) ** 2).sum(axis=1))]
    new = int(layer.data.max()) + 1
    layer.brush_size = 3
    layer.paint(tuple(int(v) for v in middle), new)
    qtbot.waitUntil(lambda: not widget.busy)
    assert len(layer.features) == n + 1
    layer.undo()  # napari's own undo: no paint event, no button
    qtbot.waitUntil(lambda: not widget.busy)
    assert new not in set(layer.features["label"]) and len(layer.features) == n
    assert layer.features.set_index("label").loc[target, "area"] == len(pixels)
    layer.redo()
    qtbot.waitUntil(lambda: not widget.busy)
    assert new in set(layer.features["label"])
    widget.bind(None)
    assert "undo" not in layer.__dict__ and "redo" not in layer.__dict__


def test_plot_and_counts_select_cells(session):
    viewer, widget, layer, _ = session
    frame = layer.features
    lo, hi = np.percentile(frame["area"], [40, 60])
    expected = set(frame["label"][(frame["area"] >= lo) & (frame["area"] <= hi)].astype(int))
    widget.plot.select_range(lo, hi)
    assert set(widget.cells.selected_labels()) == expected
    assert layer.selected_label in expected
    rings = viewer.layers["tile_nuclei selection"]  # the cells ringed on the canvas
    assert len(rings.data) == len(expected) and viewer.layers.selection.active is not rings
    # counts: the whole result, then a drawn region
    widget.set_status("accepted", labels=list(expected)[:2])
    counts = widget.count_panel.counts()
    assert counts.loc["total", "total"] == len(frame) and counts.loc["total", "accepted"] == 2
    viewer.add_shapes([np.array([[0, 0], [0, 128], [128, 128], [128, 0]])],
                      shape_type="polygon", name="region")
    widget.count_panel.scope.setCurrentText("drawn region")
    inside = ((frame["y"] < 128) & (frame["x"] < 128)).sum()
    assert widget.count_panel.counts().loc["total", "total"] == inside
    assert f"{inside} cells in the drawn region" in widget.count_panel.note.text()
    widget.count_panel.scope.setCurrentText("current view")
    assert widget.count_panel.counts().loc["total", "total"] <= len(frame)


def test_reviews_of_another_slide_with_the_same_name_are_not_restored(
        make_napari_viewer, results_folder):
    """Two slides may share a name (image.tif in two folders): the autosave names the
    pixels it belongs to, and a different image of that name does not get it."""
    from napari_pathrobust.widgets._review_session import autosave, image_fingerprint

    rgb, truth, table = _tile()
    viewer = make_napari_viewer()
    image = viewer.add_image(rgb, name="tile", rgb=True)
    metadata = {"source_layer": "tile", "region": [0, 0, 256, 256],
                "source_fingerprint": image_fingerprint(image)}
    layer = viewer.add_labels(truth, name="tile_nuclei", metadata=metadata,
                              features=dict(table, index=table["label"]))
    assert autosave(layer, cells=True) is not None
    other = make_napari_viewer()
    _open(other, rgb[::-1].copy())  # same name, other pixels
    assert "tile_nuclei" not in other.layers
    again = make_napari_viewer()
    _open(again, rgb)  # the same slide
    assert "tile_nuclei" in again.layers


def test_hide_box_follows_the_layer_and_undo_forgets_replaced_cells(session):
    viewer, widget, layer, rgb = session
    widget.hide_rejected.setChecked(True)
    other = viewer.add_labels(layer.data.copy(), name="other_nuclei",
                              features=layer.features.copy())
    widget.bind(other)
    assert not widget.hide_rejected.isChecked()  # other shows its rejected cells
    widget.bind(layer)
    assert widget.hide_rejected.isChecked()
    first = int(layer.features["label"][0])
    widget.set_status("accepted", labels=[first])
    # cells change elsewhere (e.g. Recognise replaced some): old undo steps may name
    # ids that now mean other cells, so they are dropped
    layer.features = layer.features[layer.features["label"] != first].reset_index(drop=True)
    widget.undo_review()
    assert first not in set(layer.features["label"])
    assert not widget.actions.history.can_undo


def test_reviews_of_another_result_of_the_slide_do_not_mix(session, make_napari_viewer,
                                                          results_folder):
    """Reviewing a second result of the same slide saves its own cells with its
    reviews; the restored session is that result, whole."""
    from napari_pathrobust.widgets._review_session import autosave

    viewer, widget, layer, rgb = session
    first = int(layer.features["label"][0])
    widget.set_status("rejected", labels=[first])
    widget.save_now()
    reopened = layer.features.copy()
    reopened["status"] = "unreviewed"
    other = viewer.add_labels(layer.data[:, ::-1].copy(), name="tile_export",
                              metadata=dict(layer.metadata), features=reopened)
    widget.bind(other)
    widget.set_status("accepted", labels=[first])
    widget.save_now()
    assert autosave(other) is not None
    again = make_napari_viewer()
    _open(again, rgb)
    restored = again.layers["tile_export"]
    np.testing.assert_array_equal(restored.data, other.data)
    assert _status(restored)[first] == "accepted"
