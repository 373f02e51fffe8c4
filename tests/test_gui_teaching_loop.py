"""Issue 25, the whole teaching loop in a shown viewer: recognise, name cells in Review,
train the cell classifier, see every cell classified, correct, retrain, improve the
network from the review, re-run with the kept network: the review survives."""

import functools

import numpy as np
import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def _dock(viewer, cls):
    widget = cls(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def _run(widget, qtbot, timeout=180_000):
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)
    assert widget.last_error is None if hasattr(widget, "last_error") else True


def test_name_train_correct_retrain_finetune_rerun(make_napari_viewer, qtbot, tmp_path,
                                                    monkeypatch):
    from napari_pathrobust.engine.api import available_methods
    from napari_pathrobust.engine.synthetic import synthetic_he_tile
    from napari_pathrobust.widgets import finetune
    from napari_pathrobust.widgets._settings import save_settings
    from napari_pathrobust.widgets.classifier import ClassifierWidget
    from napari_pathrobust.widgets.recognise import RecogniseWidget
    from napari_pathrobust.widgets.review import ReviewWidget

    save_settings({"device": "cpu", "results_dir": str(tmp_path / "results")})
    # fine-tuning: a few quick steps (the figures are benchmarks/eval_finetune_review.py)
    monkeypatch.setattr(finetune, "FinetuneConfig",
                        functools.partial(finetune.FinetuneConfig, steps=2))
    viewer = make_napari_viewer(show=True)
    rgb, _ = synthetic_he_tile((256, 256), seed=3)
    viewer.add_image(rgb, name="tile", rgb=True)

    # 1. recognise
    recognise = _dock(viewer, RecogniseWidget)
    recognise._method.value = "classical"
    _run(recognise, qtbot)
    layer = viewer.layers["tile_nuclei"]
    cells = layer.features.set_index("label")
    assert len(cells) >= 20, recognise._status.value

    # 2. the pathologist names 6 large cells Tumor and 6 small ones Stroma in Review
    review = _dock(viewer, ReviewWidget)
    review.bind(layer)
    by_area = cells["area"].sort_values().index.to_numpy()
    small, large = [int(v) for v in by_area[:6]], [int(v) for v in by_area[-6:]]
    review.set_class("Tumor", labels=large)
    review.set_class("Stroma", labels=small)

    # 3. train the classifier: every other cell gets a class and a probability
    classifier = _dock(viewer, ClassifierWidget)
    classifier.synchronous = True
    classifier._result.value = layer
    assert classifier.refresh_counts() == {"Stroma": 6, "Tumor": 6}
    classifier.run()
    assert classifier.last_error is None, classifier._status.value
    table = layer.features.set_index("label")
    others = ~table.index.isin(small + large)
    assert set(table.loc[others, "class_source"]) == {"classifier"}
    assert set(table.loc[others, "base_class"]) <= {"Tumor", "Stroma"}
    assert table.loc[others, "class_probability"].between(0, 1).all()
    assert (table.loc[large, "classification"] == "Tumor").all()

    # 4. correct one of the classifier's cells, retrain: the correction is kept
    corrected = int(table.index[others][0])
    other_class = "Stroma" if table.loc[corrected, "base_class"] == "Tumor" else "Tumor"
    review.set_class(other_class, labels=[corrected])
    assert sum(classifier.refresh_counts().values()) == 13
    classifier.run()
    table = layer.features.set_index("label")
    assert table.loc[corrected, "base_class"] == other_class
    assert table.loc[corrected, "class_source"] == "pathologist"
    assert sum(classifier.classifier.card["counts"].values()) == 13

    # 5. accept / reject a few more, then improve the network from the review
    unreviewed = [int(v) for v in table.index[table["status"] == "unreviewed"]]
    review.set_status("rejected", labels=unreviewed[:3])
    improve = _dock(viewer, finetune.FinetuneWidget)
    improve._result.value = layer
    improve._image.value = viewer.layers["tile"]
    improve._name.value = "loop"
    _run(improve, qtbot)
    assert improve.last_result is not None, improve._status.value
    assert "13 accepted, 3 rejected" in improve._status.value
    assert "psm@loop" in available_methods() or "kept the source" in improve._status.value

    # 6. re-run with the kept network (the source one when it was not kept): the
    # reviewed and named cells survive the merge, classes and statuses alike
    recognise.reset_choices()
    method = "psm@loop" if "psm@loop" in available_methods() else "psm"
    recognise._method.value = method
    _run(recognise, qtbot)
    assert layer is viewer.layers["tile_nuclei"]
    table = layer.features.set_index("label")
    assert layer.metadata["method"] == method
    assert (table["status"] != "unreviewed").sum() >= 16
    named = table[table["class_source"] == "pathologist"]
    assert len(named) == 13 and set(named["base_class"]) == {"Tumor", "Stroma"}
    assert (table["status"] == "rejected").sum() == 3
    np.testing.assert_array_equal(np.unique(layer.data)[1:], np.sort(table.index.to_numpy()))
