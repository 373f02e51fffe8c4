"""The Recognise widget in a real viewer (runs under xvfb)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer_with_demo(make_napari_viewer):
    from napari_pathrobust._sample_data import demo_crop

    viewer = make_napari_viewer()
    (data, kwargs, _), = demo_crop()
    viewer.add_image(data, **kwargs)
    return viewer


def _widget(viewer):
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    widget = RecogniseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def test_run_adds_nuclei_and_centroids(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._seed.value = 7
    widget.run()
    assert widget.worker is not None and not widget._run.enabled
    qtbot.waitUntil(lambda: "demo_he_crop_centroids" in viewer.layers, timeout=120_000)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    points = viewer.layers["demo_he_crop_centroids"]
    n = int(nuclei.data.max())
    assert n > 50 and len(points.data) == n
    assert nuclei.metadata["seed"] == 7 and nuclei.metadata["method"] == "classical"
    assert {"label", "area", "mean_hematoxylin_od"} <= set(points.features.columns)
    np.testing.assert_allclose(nuclei.scale, viewer.layers["demo_he_crop"].scale)
    assert widget._run.enabled and "nuclei" in widget._status.value
    # a re-run updates the layers in place instead of adding new ones
    count = len(viewer.layers)
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert len(viewer.layers) == count


def test_cancel_adds_no_layer(viewer_with_demo, qtbot):
    viewer = viewer_with_demo
    widget = _widget(viewer)
    widget._tile.value = 256
    widget.run()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert "demo_he_crop_nuclei" not in viewer.layers
    assert widget._status.value == "cancelled"
