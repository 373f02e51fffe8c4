"""Adapt-to-image widget in a real viewer (runs under xvfb)."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_adapt_widget_runs_plots_and_resets(make_napari_viewer, qtbot):
    from napari_pathrobust.engine.synthetic import synthetic_he_tile
    from napari_pathrobust.widgets.adapt import AdaptWidget

    viewer = make_napari_viewer()
    rgb, _ = synthetic_he_tile((160, 160), seed=4)
    viewer.add_image(rgb, name="tile", rgb=True)
    widget = AdaptWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._lr.value = "1e-4"
    widget._steps.value = 2
    widget.run()
    assert widget.worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert "rollbacks" in widget._status.value, widget._status.value
    source = viewer.layers["tile_source_nuclei"]
    adapted = viewer.layers["tile_adapted_nuclei"]
    assert source.data.shape == adapted.data.shape == rgb.shape[:2]
    assert source.data.max() > 0 and adapted.data.max() > 0
    assert adapted.metadata["adapted"] and not source.metadata["adapted"]
    assert adapted.metadata["adaptation"]["config"]["steps"] == 2
    log = widget.method.adapter.log
    assert len(log) >= 2
    assert not widget.plot.pixmap().isNull()
    weights = {k: v.clone() for k, v in widget.method.adapter.model.state_dict().items()}
    assert any(not np.array_equal(weights[k].numpy(), v.numpy())
               for k, v in widget.method.adapter.source_state.items())
    widget.reset()
    for k, v in widget.method.adapter.model.state_dict().items():
        assert np.array_equal(v.numpy(), widget.method.adapter.source_state[k].numpy())
    assert widget.method.adapter.log == []


@pytest.fixture
def demo_adapt(make_napari_viewer):
    """A viewer with the demo crop twice side by side (two 512 px adaptation tiles)."""
    from napari_pathrobust._sample_data import demo_crop
    from napari_pathrobust.widgets.adapt import AdaptWidget

    (data, _kwargs, _), = demo_crop()
    viewer = make_napari_viewer()
    viewer.add_image(data, name="one", rgb=True)
    viewer.add_image(np.concatenate([data, data[:, ::-1]], axis=1), name="demo", rgb=True)
    widget = AdaptWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._lr.value = "1e-4"
    widget.synchronous = True  # runs in the test's thread (ignored before JobWidget)
    return viewer, widget


def _run_to_end(widget, qtbot):
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)


def test_source_and_adapted_passes_share_one_nucleus_floor(demo_adapt, qtbot):
    viewer, widget = demo_adapt
    widget._image.value = viewer.layers["one"]
    _run_to_end(widget, qtbot)
    floor = widget.method.psm.instance_params.min_area
    assert floor > widget.method.psm.params.min_area  # fitted on the image
    for name in ("one_source_nuclei", "one_adapted_nuclei"):
        areas = np.bincount(np.asarray(viewer.layers[name].data).ravel())[1:]
        assert areas[areas > 0].min() >= floor, name


def test_cancel_keeps_the_weights_from_before_the_run(demo_adapt, qtbot, monkeypatch):
    from napari_pathrobust.engine.adapt.method import AdaptedPSM

    viewer, widget = demo_adapt
    _run_to_end(widget, qtbot)
    adapter = widget.method.adapter
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    assert any(not np.array_equal(before[k].numpy(), v.numpy())
               for k, v in adapter.source_state.items())
    steps = adapter.steps_done
    real = AdaptedPSM.segment_tile

    def adapt_one_tile_then_cancel(self, rgb):
        out = real(self, rgb)
        stop = getattr(widget, "cancel", None) or widget._runner.cancel
        stop()
        return out

    monkeypatch.setattr(AdaptedPSM, "segment_tile", adapt_one_tile_then_cancel)
    _run_to_end(widget, qtbot)
    assert widget._status.value == "cancelled"
    kept = widget.method.adapter
    assert kept.steps_done == steps
    for key, value in kept.model.state_dict().items():
        assert np.array_equal(value.numpy(), before[key].numpy()), key


def test_adaptation_runs_on_the_settings_device(demo_adapt, qtbot, monkeypatch, tmp_path):
    from napari_pathrobust.engine.adapt.method import AdaptedPSM

    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path))  # default: auto
    devices = []

    def record(self, config=None, device="auto", **kwargs):
        devices.append(device)
        raise RuntimeError("recorded")

    monkeypatch.setattr(AdaptedPSM, "__init__", record)
    viewer, widget = demo_adapt
    _run_to_end(widget, qtbot)
    assert devices == ["auto"]
