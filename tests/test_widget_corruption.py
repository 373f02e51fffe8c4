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
    y0, x0, h, w = layer.metadata["region"]
    np.testing.assert_array_equal(layer.data, corrupt(rgb, "hue", 4, 0, "cpu",
                                                      (y0, x0, h, w)))
    widget._kind.value = "markup"
    widget.update_preview()
    assert viewer.layers["tile_corrupted"].metadata["kind"] == "markup"
    assert len([la for la in viewer.layers if la.name == "tile_corrupted"]) == 1


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
