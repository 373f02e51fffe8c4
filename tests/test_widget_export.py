"""Export / open: npe2 writers, the reader, the Export and Settings widgets, round trips."""

import filecmp
import json
import time

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def result(make_napari_viewer):
    """Viewer with a reviewed result of the classical method on the demo crop."""
    from napari_pathrobust._sample_data import demo_crop
    from napari_pathrobust.engine.io import slide_from_array
    from napari_pathrobust.engine.nucleus_records import features_table
    from napari_pathrobust.engine.registry import get_method
    from napari_pathrobust.engine.tiled.pipeline import segment_slide

    (data, kwargs, _), = demo_crop()
    crop = data[100:356, 50:306]
    run = segment_slide(slide_from_array(crop, mpp=0.25), get_method("classical"),
                        keep_records=True, polygons=False)
    table = features_table(run.records)
    table["status"][:5] = "accepted"
    table["classification"][:3] = "Tumor"
    viewer = make_napari_viewer()
    metadata = {**run.info, "source_layer": "demo_he_crop", "region": [100, 50, 356, 306]}
    layer = viewer.add_labels(run.labels, name="demo_he_crop_nuclei", metadata=metadata,
                              scale=(0.25, 0.25), translate=(25.0, 12.5),
                              features=dict(table, index=table["label"]))
    return viewer, layer


def _same_dir(a, b):
    cmp = filecmp.dircmp(a, b)
    assert not (cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files), a
    for sub in cmp.common_dirs:
        _same_dir(a / sub, b / sub)


def test_npe2_writers_round_trip_byte_identical(result, tmp_path):
    from napari_pathrobust._reader import get_reader

    viewer, layer = result
    for suffix in (".geojson", ".tif", ".zarr"):
        first, second = tmp_path / "1" / f"cells{suffix}", tmp_path / "2" / f"cells{suffix}"
        _save(viewer, layer, first)
        (data, kwargs, kind), = get_reader(str(first))(str(first))
        assert kind == "labels"
        reopened = viewer.add_labels(data, **kwargs)
        np.testing.assert_allclose(reopened.translate, layer.translate)
        np.testing.assert_allclose(reopened.scale, layer.scale)
        _save(viewer, reopened, second)
        if first.is_dir():
            _same_dir(first, second)
        else:
            assert filecmp.cmp(first, second, shallow=False), suffix
    # the GeoJSON keeps review columns and measurements, in slide pixels
    text = (tmp_path / "1" / "cells.geojson").read_text()
    collection = json.loads(text)
    assert not [k for k in collection["pathrobust"] if "time" in k or "date" in k]
    props = collection["features"][0]["properties"]
    assert props["status"] == "accepted" and props["classification"]["name"] == "Tumor"
    ring = np.array(collection["features"][0]["geometry"]["coordinates"][0])
    assert ring[:, 1].min() >= 100 and ring[:, 0].min() >= 50  # region origin added


def _save(viewer, layer, path):
    viewer.layers.selection = {layer}
    path.parent.mkdir(exist_ok=True)
    written = viewer.layers.save(str(path), selected=True, plugin="napari-pathrobust")
    assert written and path.exists()


def test_csv_and_reopened_features(result, tmp_path):
    from napari_pathrobust._reader import read_geojson
    from napari_pathrobust._writer import export_csv, export_geojson

    viewer, layer = result
    export_geojson(tmp_path / "a.geojson", layer.data, layer.features, layer.metadata)
    (labels, kwargs, _), = read_geojson(tmp_path / "a.geojson")
    features = kwargs["features"]
    assert features["label"] == list(layer.features["label"])
    assert features["status"][:5] == ["accepted"] * 5
    assert (labels == layer.data).mean() > 0.99  # outlines drop holes only
    export_csv(tmp_path / "a.csv", features, kwargs["metadata"])
    header, first = (tmp_path / "a.csv").read_text().splitlines()[:2]
    assert header.startswith("label,x,y,area,classification,status,base_class,intensity,"
                             "class_source,class_probability,perimeter")
    assert float(first.split(",")[2]) >= 100  # y in slide pixels
    # reopening a CSV-exported result again gives the same CSV
    export_geojson(tmp_path / "b.geojson", labels, features, kwargs["metadata"])
    (labels2, kwargs2, _), = read_geojson(tmp_path / "b.geojson")
    export_csv(tmp_path / "b.csv", kwargs2["features"], kwargs2["metadata"])
    assert filecmp.cmp(tmp_path / "a.csv", tmp_path / "b.csv", shallow=False)


def test_qupath_geojson_without_labels_opens(tmp_path):
    from napari_pathrobust._reader import get_reader

    square = [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]
    tri = [[30, 5], [40, 5], [35, 15], [30, 5]]
    feats = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
              "properties": {"objectType": "detection",
                             "classification": {"name": "Tumor"}}} for ring in (square, tri)]
    path = tmp_path / "qupath.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    (labels, kwargs, kind), = get_reader(str(path))(str(path))
    assert kind == "labels" and set(np.unique(labels)) == {0, 1, 2}
    assert int((labels == 1).sum()) == 100  # the 10 x 10 square, pixel-exact
    assert kwargs["features"]["classification"] == ["Tumor", "Tumor"]
    assert kwargs["features"]["status"] == ["unreviewed", "unreviewed"]


def test_export_widget_and_cancel(result, tmp_path, qtbot):
    from napari_pathrobust.widgets.export import ExportWidget

    viewer, layer = result
    widget = ExportWidget(viewer)
    viewer.window.add_dock_widget(widget)
    for kind, name in (("tiff", "a.tif"), ("csv", "a.csv"), ("zarr", "a.zarr"),
                       ("geojson", "a.geojson")):
        widget.export(kind, tmp_path / name, layer=layer)
        assert not widget._buttons["csv"].enabled  # inputs disabled while writing
        qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
        assert (tmp_path / name).exists() and widget._status.value == f"wrote {name}"
    # a cancelled export leaves no file and no temporary behind
    from napari_pathrobust.widgets import export

    real = export.export_geojson

    def wait_for_cancel(path, data, features, metadata, reporter, *rest):
        for _ in range(1000):  # runs in the worker thread: plain polling
            if reporter.cancel():
                break
            time.sleep(0.01)
        return real(path, data, features, metadata, reporter, *rest)

    export.export_geojson = wait_for_cancel
    try:
        widget.export("geojson", tmp_path / "c.geojson", layer=layer)
        widget._cancel.clicked()
    finally:
        export.export_geojson = real
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget._status.value == "cancelled"
    assert not any(p.name.startswith((".c.geojson", "c.geojson")) for p in tmp_path.iterdir())


def test_settings_widget_saves_defaults(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path))
    from napari_pathrobust.widgets._settings import load_settings
    from napari_pathrobust.widgets.recognise import RecogniseWidget
    from napari_pathrobust.widgets.settings import SettingsWidget

    viewer = make_napari_viewer()
    settings = SettingsWidget(viewer)
    settings._device.value = "cpu"
    settings._tile.value = 512
    settings._budget.value = 2048
    settings.save()
    assert "saved" in settings._status.value
    assert load_settings()["memory_budget_mb"] == 2048
    (tmp_path / "settings.json").write_text('{"tile": -5, "device": "cpu"}')
    assert load_settings()["tile"] == 0  # bad values fall back to defaults
    settings.save()
    widget = RecogniseWidget(viewer)
    assert widget._device.value == "cpu" and widget._tile.value == 512
