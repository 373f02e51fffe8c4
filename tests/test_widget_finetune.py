"""Improve network dock in a real viewer (xvfb): the reviewed cells of a result layer
fine-tune the network in a worker; the decision is said, a kept network is listed."""

import functools

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def dock(make_napari_viewer, monkeypatch):
    import pandas as pd

    from napari_pathrobust.engine.synthetic import synthetic_he_tile
    from napari_pathrobust.widgets import finetune
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"device": "cpu"})
    # one step, no change (lr 0): the never-worse check keeps it, quickly
    monkeypatch.setattr(finetune, "FinetuneConfig",
                        functools.partial(finetune.FinetuneConfig, steps=1, lr=0.0))
    rgb, gt = synthetic_he_tile((128, 128), seed=2)
    ids = [int(i) for i in np.unique(gt) if i]
    centres = [np.argwhere(gt == i).mean(0) for i in ids]
    status = ["accepted"] * 4 + ["rejected"] * 2 + ["unreviewed"] * (len(ids) - 6)
    features = pd.DataFrame({"label": ids, "y": [c[0] for c in centres],
                             "x": [c[1] for c in centres], "status": status})
    viewer = make_napari_viewer()
    viewer.add_image(rgb, name="tile", rgb=True)
    viewer.add_labels(gt, name="tile_nuclei", features=features,
                      metadata={"source_layer": "tile", "region": [0, 0, 128, 128]})
    widget = finetune.FinetuneWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.synchronous = True
    return viewer, widget


def test_improve_network_keeps_and_lists_it(dock):
    from napari_pathrobust.engine.api import available_methods

    viewer, widget = dock
    assert widget._result.value.name == "tile_nuclei" and widget._image.value.name == "tile"
    widget._name.value = "from review"
    widget.run()
    assert widget.last_error is None, widget.last_error
    assert "kept as psm@from-review" in widget._status.value
    assert "4 accepted, 2 rejected" in widget._status.value
    assert "psm@from-review" in available_methods()


def test_no_reviewed_cells_says_so(dock):
    viewer, widget = dock
    viewer.layers["tile_nuclei"].features["status"] = "unreviewed"
    widget.run()
    assert widget.last_result is None
    assert "no reviewed cells" in widget._status.value


def test_an_ihc_result_is_improved_on_psm_pseudo_he(dock):
    viewer, widget = dock
    layer = viewer.layers["tile_nuclei"]
    layer.metadata = {**layer.metadata, "stain": "ihc"}
    widget._name.value = "ihc review"
    widget.run()
    assert widget.last_error is None, widget.last_error
    assert widget.last_result.card["stain"] == "ihc"
