"""The Review widget: table <-> canvas, status / class edits, label edits, export round trip."""

import napari
import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def results_folder(tmp_path, monkeypatch):
    """Settings and autosaved sessions in the test's own folder (never the user's)."""
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})
    return tmp_path / "results"


@pytest.fixture
def reviewed(make_napari_viewer):
    """A viewer with the synthetic tile and a result layer like Recognise makes."""
    from napari_pathrobust.engine.nucleus_records import features_table, measure_objects
    from napari_pathrobust.engine.synthetic import synthetic_he_tile
    from napari_pathrobust.widgets.review import ReviewWidget

    rgb, truth = synthetic_he_tile(shape=(256, 256), seed=3)
    records = measure_objects(truth, rgb)
    for label, rec in zip(np.unique(truth[truth > 0]), records):
        rec.label = int(label)
    viewer = make_napari_viewer()
    viewer.add_image(rgb, name="tile", rgb=True)
    table = features_table(records)
    metadata = {"source_layer": "tile", "region": [0, 0, 256, 256], "seed": 0}
    layer = viewer.add_labels(truth.astype(np.uint32), name="tile_nuclei", metadata=metadata,
                              features=dict(table, index=table["label"]))
    viewer.add_points(np.stack([table["y"], table["x"]], 1), name="tile_centroids",
                      features=table)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.bind(layer)
    return viewer, widget, layer


def test_status_class_and_counts(reviewed):
    viewer, widget, layer = reviewed
    n = len(layer.features)
    assert widget.model.rowCount() == n and f"unreviewed {n}" in widget.counts.text()
    first, second = (int(v) for v in layer.features["label"][:2])
    widget.select_label(second)
    assert layer.selected_label == second
    assert widget.selected_labels() == [second]
    np.testing.assert_allclose(getattr(viewer, "scene", viewer).camera.center[-2:],
                               layer.features.loc[1, ["y", "x"]].to_numpy(float))
    widget.set_status("accepted")
    widget.set_status("rejected", labels=[first])
    widget.set_class("Tumor", labels=[first, second])
    status = dict(zip(layer.features["label"], layer.features["status"]))
    assert status[first] == "rejected" and status[second] == "accepted"
    assert "accepted 1" in widget.counts.text() and "Tumor 2" in widget.counts.text()
    # the keyboard shortcut on the layer does the same
    widget.select_label(first)
    points = viewer.layers["tile_centroids"]
    assert list(points.features["status"]).count("accepted") == 1
    # picking a label on the canvas selects its row
    layer.selected_label = second
    assert widget.selected_labels() == [second]
    widget.next_unreviewed()
    assert layer.features.set_index("label").loc[widget.selected_labels()[0],
                                                 "status"] == "unreviewed"


def test_label_edits_remeasure(reviewed, qtbot):
    viewer, widget, layer = reviewed
    n = len(layer.features)
    victim = int(layer.features["label"].iloc[0])
    widget.set_status("accepted", labels=[victim])
    y, x = np.argwhere(layer.data == victim)[0]
    layer.fill((y, x), 0)  # erase the whole cell
    qtbot.waitUntil(lambda: not widget.busy)
    assert victim not in set(layer.features["label"]) and len(layer.features) == n - 1
    assert len(viewer.layers["tile_centroids"].data) == n - 1
    # split a cell: paint part of it with a new label
    target = int(layer.features["label"].iloc[0])
    area = int(layer.features["area"].iloc[0])
    widget.set_class("Tumor", labels=[target])
    pixels = np.argwhere(layer.data == target)
    middle = pixels[np.argmin(((pixels - pixels.mean(axis=0)) ** 2).sum(axis=1))]
    new = int(layer.data.max()) + 1
    layer.selected_label = new
    layer.brush_size = 3
    layer.paint(tuple(int(v) for v in middle), new)
    qtbot.waitUntil(lambda: not widget.busy)
    table = layer.features.set_index("label")
    # both cells the stroke shaped are the pathologist's masks: painted, reviewed
    assert new in table.index and table.loc[new, "status"] == "accepted"
    assert table.loc[new, "painted"] == 1.0 and table.loc[target, "painted"] == 1.0
    assert (table["painted"] == 1.0).sum() == 2  # cells the stroke missed: 0.0
    assert table.loc[target, "area"] < area and table.loc[target, "classification"] == "Tumor"
    assert table.loc[new, "area"] + table.loc[target, "area"] == area
    assert np.isfinite(table.loc[new, "mean_hematoxylin_od"])
    assert f"{n} cells" in widget.counts.text()


def test_review_survives_export_and_reopen(reviewed, tmp_path, qtbot):
    from napari_pathrobust.widgets.export import ExportWidget

    viewer, widget, layer = reviewed
    labels = [int(v) for v in layer.features["label"][:3]]
    widget.set_status("accepted", labels=labels[:2])
    widget.set_status("rejected", labels=labels[2:])
    widget.set_class("Immune cells", labels=labels[:1])
    export = ExportWidget(viewer)
    export.export("geojson", tmp_path / "a.geojson", layer=layer)
    qtbot.waitUntil(lambda: export.worker is None, timeout=30_000)
    (reopened,) = export.open(tmp_path / "a.geojson")
    assert reopened.name == "a" and isinstance(reopened, napari.layers.Labels)
    widget.bind(reopened)
    text = widget.counts.text()
    assert "accepted 2" in text and "rejected 1" in text and "Immune cells 1" in text
    before = layer.features.set_index("label")
    after = reopened.features.set_index("label")
    assert list(after.index) == list(before.index)
    np.testing.assert_allclose(after["perimeter"], before["perimeter"])
    # review continues on the reopened result and survives a second round
    widget.set_status("accepted", labels=labels[2:])
    export.export("geojson", tmp_path / "b.geojson", layer=reopened)
    qtbot.waitUntil(lambda: export.worker is None, timeout=30_000)
    (again,) = export.open(tmp_path / "b.geojson")
    assert list(again.features["status"]).count("accepted") == 3


def _hooks(layer) -> tuple:
    """What a widget can leave on a layer: keys, mouse callbacks, event connections."""
    return (dict(layer.keymap), list(layer.mouse_drag_callbacks),
            len(layer.events.paint.callbacks), len(layer.events.selected_label.callbacks))


@pytest.mark.parametrize("closing", ["dock close button", "close()"])
def test_review_unbinds_previous_layers_and_on_close(make_napari_viewer, closing):
    """Keys and callbacks leave a layer when another is chosen or the widget closes (bug 8)."""
    from napari_pathrobust.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    layers = [viewer.add_labels(np.zeros((32, 32), np.uint32), name=n) for n in "abc"]
    first, second, third = layers
    first.bind_key("n", lambda _layer: None)  # a binding of the user's own: comes back
    before = {layer.name: _hooks(layer) for layer in layers}
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.bind(first)
    assert _hooks(first) != before["a"]
    widget.bind(second)
    assert _hooks(first) == before["a"]
    widget.bind(third)
    assert _hooks(second) == before["b"] and _hooks(third) != before["c"]
    if closing == "close()":
        widget.close()
    else:
        viewer.window.remove_dock_widget(widget)  # what the dock's close button does
    assert widget.layer is None
    for layer in layers:
        assert _hooks(layer) == before[layer.name], layer.name
    viewer.add_labels(np.zeros((8, 8), np.uint32), name="later")  # a closed widget binds nothing
    assert widget.layer is None
