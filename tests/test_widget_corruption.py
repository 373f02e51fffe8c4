"""Corruption preview widget in a real viewer (runs under xvfb)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _own_config(tmp_path, monkeypatch):
    """Remembered widget values and settings go to a fresh folder per test."""
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))


def _idle(widget, qtbot, timeout=30_000):
    """Wait until no preview runs or waits (a shown dock previews on its own)."""
    qtbot.waitUntil(lambda: widget.worker is None and not widget._pending
                    and not widget._timer.isActive(), timeout=timeout)


def _preview(widget, qtbot):
    widget.update_preview()
    _idle(widget, qtbot)
    assert widget.last_error is None, widget.last_error


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


def test_live_preview_updates(viewer_widget, qtbot):
    from napari_pathrobust.engine.corrupt import corrupt

    viewer, widget, rgb = viewer_widget
    widget._kind.value = "hue"
    widget._severity.value = 4
    _preview(widget, qtbot)
    layer = viewer.layers["tile_corrupted"]
    y0, x0, y1, x1 = layer.metadata["region"]
    np.testing.assert_array_equal(layer.data, corrupt(rgb, "hue", 4, 0, "cpu")[y0:y1, x0:x1])
    widget._kind.value = "markup"
    _preview(widget, qtbot)
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
    widget._method.value = "classical"  # quick; the default is psm (test below)
    widget._severities.value = "3"
    widget._view_only.value = True
    widget.run_report()
    qtbot.waitUntil(lambda: widget.last_report is not None, timeout=120_000)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert widget.last_report["csv"].is_file()
    assert not widget.heatmap_label.pixmap().isNull()


def test_report_cancel(viewer_widget, qtbot):
    viewer, widget, _ = viewer_widget
    widget._method.value = "classical"
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
    _preview(widget, qtbot)
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
    widget._method.value = "classical"
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


def test_preview_after_a_pan_runs_in_a_worker(viewer_widget, qtbot, monkeypatch):
    """Issue 16.6: a pan schedules one debounced preview, corrupted off the GUI thread."""
    import threading

    from napari_pathrobust.widgets import corruption_preview
    from napari_pathrobust.widgets._layers import camera

    viewer, widget, _rgb = viewer_widget
    real, threads = corruption_preview.corrupt, []

    def spy(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(corruption_preview, "corrupt", spy)
    cam = camera(viewer)
    for x in (90, 95, 100):  # three quick pans: one preview after the last
        cam.center = (0, 96, x)
    qtbot.waitUntil(lambda: "tile_corrupted" in viewer.layers and widget.worker is None,
                    timeout=30_000)
    assert threads and not any(threads)  # never on the GUI thread
    assert len(threads) == 1  # debounced
    assert widget._progress.value == widget._progress.max


def test_whole_slide_is_tiled_with_progress_and_cancel(viewer_widget, qtbot, monkeypatch):
    import time

    from napari_pathrobust.engine.corrupt import corrupt
    from napari_pathrobust.widgets import corruption_preview

    viewer, widget, rgb = viewer_widget
    widget._kind.value, widget._severity.value = "defocus", 2
    widget.whole_slide()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    layer = viewer.layers["tile_corrupted"]
    np.testing.assert_array_equal(layer.data, corrupt(rgb, "defocus", 2, 0, "cpu"))
    assert layer.metadata["whole_slide"] and widget._live.value is False
    assert widget._progress.value == widget._progress.max
    real = corruption_preview.corrupt_slide

    def wait_for_cancel(*args, reporter=None, **kwargs):
        for _ in range(1000):
            if reporter.cancel():
                break
            time.sleep(0.01)
        return real(*args, reporter=reporter, **kwargs)

    monkeypatch.setattr(corruption_preview, "corrupt_slide", wait_for_cancel)
    widget._kind.value = "hue"
    widget.whole_slide()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget._status.value == "cancelled"
    assert viewer.layers["tile_corrupted"].metadata["kind"] == "defocus"  # nothing replaced


def test_whole_slide_pyramid_in_zarr(tmp_path):
    """Large slides go to a zarr pyramid, published only when complete."""
    from napari_pathrobust.engine.corrupt import corrupt
    from napari_pathrobust.engine.errors import Cancelled
    from napari_pathrobust.engine.jobs.robustness import corrupt_slide
    from napari_pathrobust.engine.progress import Reporter
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb, _ = synthetic_he_tile((160, 200), seed=2)
    levels = corrupt_slide(rgb, "hue", 3, 1, "cpu", tmp_path / "c.zarr", tile=64,
                           min_side=64)
    whole = corrupt(rgb, "hue", 3, 1, "cpu")
    assert [lv.shape[:2] for lv in levels] == [(160, 200), (80, 100), (40, 50)]
    for k, level in enumerate(levels):
        np.testing.assert_array_equal(np.asarray(level), whole[::2 ** k, ::2 ** k])
    with pytest.raises(Cancelled):
        corrupt_slide(rgb, "hue", 3, 1, "cpu", tmp_path / "d.zarr", tile=64,
                      reporter=Reporter(cancel=lambda: True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]


def test_report_defaults_to_the_current_view(viewer_widget):
    from napari_pathrobust.widgets._layers import camera

    viewer, widget, _rgb = viewer_widget
    assert widget._view_only.value is True
    cam = camera(viewer)
    cam.center, cam.zoom = (0, 100, 100), max(viewer.canvas.size) / 50
    _data, box = widget.report_region(viewer.layers["tile"])
    assert box.y0 < 100 < box.y1 and box.shape[0] < 192
    widget._view_only.value = False
    assert tuple(widget.report_region(viewer.layers["tile"])[1]) == (0, 0, 192, 192)


def test_a_closed_preview_dock_no_longer_follows_the_camera(make_napari_viewer, qtbot):
    """napari's close button takes the widget out of its dock without destroying it; a
    later pan must not bring ``<image>_corrupted`` back."""
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-pathrobust", "demo_he_crop")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-pathrobust",
                                                        "Corruption preview")
    _preview(widget, qtbot)
    viewer.layers.remove(viewer.layers["demo_he_crop_corrupted"])
    dock.destroyOnClose()  # what napari's close button does
    assert widget.closed
    viewer.camera.zoom *= 1.3
    qtbot.wait(400)  # longer than the debounce
    assert widget.worker is None
    assert [layer.name for layer in viewer.layers] == ["demo_he_crop"]


# -- issue 28, item 11 ----------------------------------------------------------------
PLUGIN = "napari-pathrobust"


def test_live_preview_renders_when_the_dock_opens_and_goes_when_it_closes(
        make_napari_viewer, qtbot):
    """With Live preview ticked the view is corrupted as soon as the dock opens (no
    change, no pan needed); closing the dock takes the preview off the slide, and
    opening it again brings it back."""
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "demo_he_crop")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Corruption preview")
    assert widget._live.value is True
    qtbot.waitUntil(lambda: "demo_he_crop_corrupted" in viewer.layers, timeout=30_000)
    _idle(widget, qtbot)
    assert widget.last_error is None, widget.last_error
    dock.destroyOnClose()  # napari's close button
    assert [layer.name for layer in viewer.layers] == ["demo_he_crop"]
    viewer.window.add_dock_widget(widget, name="Corruption preview")
    qtbot.waitUntil(lambda: "demo_he_crop_corrupted" in viewer.layers, timeout=30_000)
    _idle(widget, qtbot)


def test_ticking_live_preview_renders_at_once(viewer_widget, qtbot):
    viewer, widget, _rgb = viewer_widget
    widget._live.value = False
    assert "tile_corrupted" not in viewer.layers
    widget._live.value = True
    assert widget.worker is not None  # started now, not after a pan or a debounce
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert "tile_corrupted" in viewer.layers


def test_a_destroyed_preview_widget_leaves_no_preview(viewer_widget, qtbot):
    viewer, widget, _rgb = viewer_widget
    _preview(widget, qtbot)
    assert "tile_corrupted" in viewer.layers
    widget.native.deleteLater()
    qtbot.waitUntil(lambda: "tile_corrupted" not in viewer.layers, timeout=10_000)
    assert [layer.name for layer in viewer.layers] == ["tile"]


def test_contact_sheet_is_captioned_at_the_slides_scale_without_unit_warnings(
        make_napari_viewer, qtbot):
    """Tiles are named (kind + severity), the sheet sits beside the slide in its units
    and scale (no "Inconsistent units" warning), and its progress reaches 100 %."""
    import warnings

    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "demo_he_crop")
    image = viewer.layers["demo_he_crop"]
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Corruption preview")
    widget._live.value = False
    notes = []
    notification_manager.notification_ready.connect(notes.append)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            widget._severity.value = 2
            _data, box, _factor = widget.visible_region(image)
            widget.contact_sheet()
            qtbot.waitUntil(lambda: "demo_he_crop_contact_sheet" in viewer.layers,
                            timeout=60_000)
            qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
            viewer.reset_view()
            qtbot.wait(300)  # drawn: napari checks the units on the next draw
    finally:
        notification_manager.notification_ready.disconnect(notes.append)
    said = [str(n.message) for n in notes] + [str(w.message) for w in caught]
    assert not [m for m in said if "units" in m.lower()], said
    from napari_pathrobust.engine.robustness.sheet import SHEET_THUMB

    sheet = viewer.layers["demo_he_crop_contact_sheet"]
    assert tuple(sheet.units) == tuple(image.units)
    side = min(*box.shape, 512)  # the sheet's crop of the view
    np.testing.assert_allclose(sheet.scale, np.asarray(image.scale) * side / SHEET_THUMB)
    assert sheet.translate[1] >= image.data.shape[1] * image.scale[1]  # beside the slide
    captions = sheet.metadata["captions"]
    assert captions[0] == "clean" and captions[1:] == [f"{k} 2" for k in
                                                      sheet.metadata["kinds"][1:]]
    assert len(captions) == 19
    assert widget._progress.value == widget._progress.max > 1
    assert "contact sheet" in widget._status.value


def test_report_defaults_to_recognises_method_and_explains_its_heatmap(viewer_widget, qtbot):
    from napari_pathrobust.engine.registry import DEFAULT_METHOD

    viewer, widget, _rgb = viewer_widget
    assert widget._method.value == DEFAULT_METHOD == "psm"
    widget._method.value = "classical"  # quick
    widget._live.value = False
    widget._severities.value = "3"
    widget.run_report()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.last_report is not None, widget.last_error
    assert "clean image's result (1 = unchanged)" in widget.heatmap_label.toolTip()
