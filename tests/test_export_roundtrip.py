"""Export widget: defaults to the nuclei result, leaves rejected cells out on request,
completes its progress, and every format round-trips statuses and classes (issue 16.5)."""

import numpy as np
import pytest
from skimage.draw import disk

pytestmark = pytest.mark.gui

STATUS = ["accepted", "rejected", "unreviewed", "accepted", "rejected", "unreviewed"]
CLASS = ["Tumor", "Stroma", "Nucleus", "Positive", "Tumor", "Immune cells"]


def _result():
    labels = np.zeros((96, 128), np.uint32)
    centres = [(12, 12), (12, 60), (40, 30), (40, 100), (75, 20), (80, 90)]
    for label, (cy, cx) in enumerate(centres, start=1):
        rr, cc = disk((cy, cx), 7, shape=labels.shape)
        labels[rr, cc] = label
    ids = np.arange(1, len(centres) + 1)
    features = {
        "label": ids, "y": [float(c[0]) for c in centres], "x": [float(c[1]) for c in centres],
        "area": [int((labels == i).sum()) for i in ids], "classification": CLASS,
        "status": STATUS, "eccentricity": np.linspace(0.1, 0.6, len(ids)), "index": ids}
    return labels, features


@pytest.fixture
def viewer_result(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    viewer = make_napari_viewer()
    labels, features = _result()
    layer = viewer.add_labels(labels, name="slide_nuclei", features=features,
                              metadata={"region": [200, 300, 296, 428], "mpp": 0.5},
                              scale=(0.5, 0.5), translate=(100.0, 150.0))
    viewer.add_labels((labels > 0).astype(np.uint8), name="slide_pseudomask")
    return viewer, layer


def _export(widget, qtbot, kind, path, drop):
    widget.export(kind, path, drop_rejected=drop)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget.last_error is None, widget.last_error
    assert widget._progress.value == widget._progress.max  # progress completes
    assert widget._status.value.startswith(f"wrote {path.name}")


def _by_label(features) -> dict:
    f = features if isinstance(features, dict) else {c: list(features[c])
                                                     for c in features.columns}
    return {int(lab): (str(s), str(c))
            for lab, s, c in zip(f["label"], f["status"], f["classification"])}


def test_export_defaults_to_the_nuclei_result(viewer_result):
    from napari_pathrobust.widgets.export import ExportWidget

    viewer, layer = viewer_result
    widget = ExportWidget(viewer)
    assert widget._labels.value is layer  # not the 0/1 pseudo-mask added after it
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="other_mask")
    assert widget._labels.value is layer


@pytest.mark.parametrize("drop", [False, True])
def test_every_format_round_trips_the_review(viewer_result, tmp_path, qtbot, drop):
    from napari_pathrobust.widgets.export import ExportWidget

    viewer, layer = viewer_result
    widget = ExportWidget(viewer)
    viewer.window.add_dock_widget(widget)
    expected = _by_label(layer.features)
    if drop:
        expected = {k: v for k, v in expected.items() if v[0] != "rejected"}
    kept_pixels = np.isin(layer.data, list(expected)) * layer.data
    for kind, name in (("tiff", "r.tif"), ("zarr", "r.zarr"), ("csv", "r.csv"),
                       ("geojson", "r.geojson")):
        path = tmp_path / name
        _export(widget, qtbot, kind, path, drop)
        (reopened,) = widget.open(path)
        assert _by_label(reopened.features) == expected, kind
        if kind != "csv":  # a reopened result is drawn as the review draws it: outlines
            assert reopened.contour > 0, kind
        if kind == "csv":  # centroids in slide pixels (region origin added)
            np.testing.assert_allclose(reopened.data[:, 0], np.asarray(layer.features["y"])[
                np.isin(layer.features["label"], list(expected))] + 200)
            continue
        data = np.asarray(reopened.data[0] if reopened.multiscale else reopened.data)
        if kind == "geojson":  # polygons are outlines: nearly the same pixels
            assert (data == kept_pixels).mean() > 0.99
        else:
            np.testing.assert_array_equal(data, kept_pixels)
            np.testing.assert_allclose(reopened.features["x"],
                                       np.asarray(layer.features["x"])[
                                           np.isin(layer.features["label"], list(expected))])
        np.testing.assert_allclose(reopened.translate, layer.translate)
    if not drop:
        assert (tmp_path / "r_cells.csv").is_file()
        assert (tmp_path / "r.zarr" / "cells.csv").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_drop_rejected_is_remembered(viewer_result):
    from napari_pathrobust.widgets.export import ExportWidget

    viewer, _layer = viewer_result
    ExportWidget(viewer)._drop_rejected.value = True
    assert ExportWidget(viewer)._drop_rejected.value is True


def test_npe2_tiff_writer_writes_the_cells_table(viewer_result, tmp_path):
    from napari_pathrobust._reader import get_reader

    viewer, layer = viewer_result
    viewer.layers.selection = {layer}
    written = viewer.layers.save(str(tmp_path / "n.tif"), selected=True,
                                 plugin="napari-pathrobust")
    assert sorted(written) == sorted([str(tmp_path / "n.tif"), str(tmp_path / "n_cells.csv")])
    (_data, kwargs, _), = get_reader(str(tmp_path / "n.tif"))(str(tmp_path / "n.tif"))
    assert _by_label(kwargs["features"]) == _by_label(layer.features)


def test_foreign_csv_is_not_claimed(tmp_path):
    from napari_pathrobust._reader import get_reader

    (tmp_path / "points.csv").write_text("index,axis-0,axis-1\n0,1,2\n")
    assert get_reader(str(tmp_path / "points.csv")) is None


def test_a_multiscale_result_exports(viewer_result, tmp_path, qtbot):
    """napari wraps pyramids in MultiScaleData (a Sequence, not a list)."""
    from napari_pathrobust.widgets.export import ExportWidget

    viewer, layer = viewer_result
    pyramid = viewer.add_labels([layer.data, layer.data[::2, ::2]], name="big_nuclei",
                                features=layer.features, metadata=dict(layer.metadata))
    widget = ExportWidget(viewer)
    for kind, name in (("zarr", "m.zarr"), ("tiff", "m.tif"), ("geojson", "m.geojson")):
        widget.export(kind, tmp_path / name, layer=pyramid)
        qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
        assert widget.last_error is None, widget.last_error
        (reopened,) = widget.open(tmp_path / name)
        assert _by_label(reopened.features) == _by_label(layer.features)
