"""Cell classifier dock: train -> classify -> correct -> retrain, save / load, apply."""

import numpy as np
import pandas as pd
import pytest
from _cell_scenes import two_kind_scene

from napari_pathrobust.engine.cell_classes import PATHOLOGIST, set_base, with_classes

pytestmark = pytest.mark.gui


def _cells(kinds, per_class):
    labels = np.array(sorted(kinds))
    named = np.zeros(len(labels), bool)
    for cls in ("A", "B"):
        named[np.flatnonzero([kinds[v] == cls for v in labels])[:per_class]] = True
    base = np.array([kinds[v] for v in labels], dtype=object)
    table = with_classes({"label": labels, "index": labels,
                          "status": np.full(len(labels), "unreviewed", dtype=object)})
    return pd.DataFrame(set_base(table, base, PATHOLOGIST, mask=named)), base, named


@pytest.fixture
def dock(make_napari_viewer):
    from napari_pathrobust.widgets.classifier import ClassifierWidget

    viewer = make_napari_viewer()
    rgb, lab, kinds = two_kind_scene()
    viewer.add_image(rgb, name="scene", rgb=True)
    cells, truth, named = _cells(kinds, 6)
    layer = viewer.add_labels(lab, name="scene_nuclei", features=cells,
                              metadata={"mpp": 0.5})
    widget = ClassifierWidget(viewer)
    widget.synchronous = True
    return viewer, widget, layer, truth, named


def test_train_classify_correct_retrain(dock, tmp_path):
    viewer, widget, layer, truth, named = dock
    assert widget._result.value is layer and widget._image.value.name == "scene"
    assert widget.refresh_counts() == {"A": 6, "B": 6}
    widget.run()
    assert widget.last_error is None, widget._status.value
    out = layer.features
    others = ~named
    assert (out["base_class"][others] == truth[others]).mean() >= 0.95
    assert set(out["class_source"][others]) == {"classifier"}
    assert (out["class_probability"][others] > 0.5).all()
    assert list(out["class_source"][named]) == [PATHOLOGIST] * named.sum()
    assert widget.classifier.card["counts"] == {"A": 6, "B": 6}
    # the pathologist corrects (names) two more cells, one of them against the classifier
    extra = np.flatnonzero(others)[:2]
    wrong = "B" if truth[extra[0]] == "A" else "A"
    values = truth.copy()
    values[extra[0]] = wrong
    fixed = set_base(layer.features, values, PATHOLOGIST,
                     mask=np.isin(np.arange(len(truth)), extra))
    layer.features = fixed
    assert sum(widget.refresh_counts().values()) == 14
    widget.run()
    assert sum(widget.classifier.card["counts"].values()) == 14
    assert layer.features["base_class"][extra[0]] == wrong  # never overridden
    assert layer.features["class_source"][extra[0]] == PATHOLOGIST

    path = widget.save(tmp_path / "cells.classifier.zip")
    widget.classifier = None
    assert widget.load(path) is not None and widget.classifier.card["counts"]
    assert widget.load(tmp_path / "missing.zip") is None
    assert "missing.zip" in widget._status.value


def test_apply_to_another_result(dock):
    viewer, widget, layer, truth, named = dock
    widget.run()
    rgb, lab, kinds = two_kind_scene(seed=1, offset=100)
    viewer.add_image(rgb, name="other", rgb=True)
    cells, truth2, _ = _cells(kinds, 0)
    other = viewer.add_labels(lab, name="other_nuclei", features=cells,
                              metadata={"mpp": 0.5})
    widget.reset_choices()
    widget.apply(other)
    assert widget.last_error is None, widget._status.value
    assert (other.features["base_class"] == truth2).mean() >= 0.95
    assert "other_nuclei: classified" in widget._status.value


def test_docks_from_the_plugin_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-pathrobust", "demo_he_crop")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-pathrobust", "Cell classifier")
    assert widget.title == "Cell classifier" and widget._image.value is not None
    widget.run()  # no cell result yet: says so, nothing runs
    assert widget.worker is None and "choose a cell result" in widget._status.value
