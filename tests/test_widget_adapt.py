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
