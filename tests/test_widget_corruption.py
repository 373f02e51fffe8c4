"""Corruption preview widget in a real viewer (runs under xvfb)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer_widget(make_napari_viewer, tmp_path):
    from napari_pathrobust.engine.synthetic import synthetic_he_tile
    from napari_pathrobust.widgets.corruption_preview import CorruptionPreviewWidget

    viewer = make_napari_viewer()
    rgb, _ = synthetic_he_tile((192, 192), seed=1)
    viewer.add_image(rgb, name="tile", rgb=True)
    widget = CorruptionPreviewWidget(viewer)
    widget._outdir.value = tmp_path / "rob"
    viewer.window.add_dock_widget(widget)
    return viewer, widget, rgb


def test_live_preview_updates(viewer_widget):
    from napari_pathrobust.engine.corrupt import corrupt

    viewer, widget, rgb = viewer_widget
    widget._kind.value = "hue"
    widget._severity.value = 4
    widget.update_preview()
    layer = viewer.layers["tile_corrupted"]
    y0, x0, y1, x1 = layer.metadata["region"]
    np.testing.assert_array_equal(layer.data, corrupt(rgb, "hue", 4, 0, "cpu")[y0:y1, x0:x1])
    widget._kind.value = "markup"
    widget.update_preview()
    assert viewer.layers["tile_corrupted"].metadata["kind"] == "markup"
    assert len([la for la in viewer.layers if la.name == "tile_corrupted"]) == 1


@pytest.mark.slow
def test_contact_sheet_and_report(viewer_widget, qtbot):
    viewer, widget, _ = viewer_widget
    widget.contact_sheet()
    qtbot.waitUntil(lambda: "tile_contact_sheet" in viewer.layers, timeout=60_000)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    sheet = viewer.layers["tile_contact_sheet"]
    assert sheet.data.ndim == 3 and len(sheet.metadata["kinds"]) == 19
    widget._severities.value = "3"
    widget._view_only.value = True
    widget.run_report()
    qtbot.waitUntil(lambda: widget.last_report is not None, timeout=120_000)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert widget.last_report["csv"].is_file()
    assert not widget.heatmap_label.pixmap().isNull()


def test_report_cancel(viewer_widget, qtbot):
    viewer, widget, _ = viewer_widget
    widget._severities.value = "1-5"
    widget.run_report()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.last_report is None and widget._status.value == "cancelled"


def test_preview_region_is_a_box_of_the_view(make_napari_viewer, qtbot):
    """metadata["region"] is [y0, x0, y1, x1] like every other region (not [y0, x0, h, w])."""
    from napari_pathrobust.engine.synthetic import synthetic_he_tile
    from napari_pathrobust.widgets._layers import camera
    from napari_pathrobust.widgets.corruption_preview import CorruptionPreviewWidget

    viewer = make_napari_viewer(show=True)  # drawn, so the layer knows what is on screen
    rgb, _ = synthetic_he_tile((192, 192), seed=1)
    image = viewer.add_image(rgb, name="tile", rgb=True)
    widget = CorruptionPreviewWidget(viewer)
    viewer.window.add_dock_widget(widget)
    cam = camera(viewer)
    cam.center, cam.zoom = (0, 120, 80), max(viewer.canvas.size) / 60
    qtbot.waitUntil(lambda: np.asarray(image.corner_pixels)[0, -2:].min() > 0, timeout=10_000)
    widget.update_preview()
    layer = viewer.layers["tile_corrupted"]
    y0, x0, y1, x1 = layer.metadata["region"]
    assert 0 < y0 < 120 < y1 <= 192 and 0 < x0 < 80 < x1 <= 192
    assert layer.data.shape == (y1 - y0, x1 - x0, 3)
    np.testing.assert_allclose(layer.translate, [y0, x0])


def test_report_reads_the_image_in_the_worker(viewer_widget, qtbot):
    """The robustness report never reads the slide on the GUI thread (bug 7)."""
    import threading

    import dask
    import dask.array as da

    viewer, widget, rgb = viewer_widget
    main_reads = []

    def read(block):
        if threading.current_thread() is threading.main_thread():
            main_reads.append(block.shape)
        return block

    lazy = da.from_array(rgb, chunks=(96, 96, 3)).map_blocks(read, dtype=rgb.dtype)
    viewer.layers.clear()
    viewer.add_image(lazy, name="lazy", rgb=True)
    widget._image.value = viewer.layers["lazy"]
    widget._live.value = False
    widget._severities.value = "3"
    with dask.config.set(scheduler="synchronous"):  # reads run in the reading thread
        main_reads.clear()
        widget.run_report()
        read_before_return = list(main_reads)
        qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert read_before_return == []  # run_report returned without reading the pixels
    assert widget.last_report is not None and widget.last_report["csv"].is_file()


def test_report_runs_on_the_settings_device(viewer_widget, qtbot, monkeypatch, tmp_path):
    import importlib

    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path))  # default: auto
    devices = []

    def record(images, outdir, method, kinds, severities, seed=0, device="cpu", *args):
        devices.append(device)
        raise RuntimeError("recorded")

    for module in ("napari_pathrobust.engine.jobs.robustness",
                   "napari_pathrobust.engine.robustness"):  # where it lived before
        try:
            monkeypatch.setattr(importlib.import_module(module), "robustness_report", record,
                                raising=False)
        except ImportError:
            pass
    viewer, widget, _ = viewer_widget
    widget._severities.value = "3"
    widget.run_report()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert devices == ["auto"]


def test_no_deprecated_napari_api(make_napari_viewer):
    """The widgets use napari's current API (e.g. viewer.scene.camera, not viewer.camera)."""
    import warnings

    from napari_pathrobust.widgets.adapt import AdaptWidget
    from napari_pathrobust.widgets.corruption_preview import CorruptionPreviewWidget
    from napari_pathrobust.widgets.export import ExportWidget
    from napari_pathrobust.widgets.recognise import RecogniseWidget
    from napari_pathrobust.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64, 3), np.uint8), name="tile", rgb=True)
    viewer.add_labels(np.zeros((64, 64), np.uint32), name="tile_nuclei")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for widget_type in (RecogniseWidget, CorruptionPreviewWidget, AdaptWidget,
                            ExportWidget, ReviewWidget):
            viewer.window.add_dock_widget(widget_type(viewer))
        viewer.layers["tile"].visible = False
    deprecated = [str(w.message) for w in caught if "deprecated" in str(w.message).lower()
                  and "pydantic" not in str(w.filename) + str(w.category)]
    assert deprecated == []
