"""Recognise accumulates one result per slide and never drops reviewed cells silently."""

import numpy as np
import pytest
from test_widget_recognise import _patch_get_method, _ToyMethod

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def results_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})
    return tmp_path / "results"


@pytest.fixture
def recognise(make_napari_viewer, monkeypatch):
    from napari_pathrobust._sample_data import demo_crop
    from napari_pathrobust.widgets import recognise as module
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    monkeypatch.setattr(module, "available_methods", lambda: ["classical", "toy"])
    _patch_get_method(monkeypatch, lambda name, **kw: _ToyMethod())
    viewer = make_napari_viewer()
    (data, kwargs, _), = demo_crop()
    viewer.add_image(data, **kwargs)
    widget = RecogniseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._method.value = "toy"
    return viewer, widget


def _run(widget, qtbot, rect=None):
    viewer = widget._viewer
    if rect is not None:
        scale = viewer.layers["demo_he_crop"].scale[-1]
        y0, x0, y1, x1 = rect
        shapes = viewer.add_shapes([np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])
                                    * scale], shape_type="rectangle")
        widget._region.value = "shapes rectangle"
        widget._shapes.value = shapes
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)


def _slide_pixels(layer, label):
    """Slide (row, col) pixels of ``label``."""
    y0, x0 = layer.metadata["region"][:2]
    return {(int(y) + y0, int(x) + x0) for y, x in np.argwhere(np.asarray(layer.data) == label)}


def test_new_region_adds_cells_and_reviews_survive_a_rerun(recognise, qtbot):
    viewer, widget = recognise
    _run(widget, qtbot, (100, 100, 300, 300))
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    first = len(nuclei.features)
    assert first > 5
    # review: cells in the part that the next region covers (slide rows/cols >= 200)
    table = nuclei.features.copy()
    inside = table[(table["y"] >= 110) & (table["x"] >= 110)]
    reviewed = [int(v) for v in inside["label"][:3]]
    assert len(reviewed) == 3
    table.loc[table["label"] == reviewed[0], ["classification", "status"]] = ["Tumor",
                                                                               "accepted"]
    table.loc[table["label"].isin(reviewed[1:]), "status"] = "rejected"
    nuclei.features = table
    before = {label: _slide_pixels(nuclei, label) for label in reviewed}
    from napari_pathrobust.widgets.review import ReviewWidget

    review = ReviewWidget(viewer)
    viewer.window.add_dock_widget(review)
    review.bind(nuclei)
    # an overlapping region: its unreviewed cells replace the old ones there
    _run(widget, qtbot, (200, 200, 400, 400))
    qtbot.waitUntil(lambda: len(review.cells.frame) == len(nuclei.features))  # table follows
    assert viewer.layers["demo_he_crop_nuclei"] is nuclei
    assert nuclei.metadata["region"] == [100, 100, 400, 400]
    assert nuclei.data.shape == (300, 300)
    scale = viewer.layers["demo_he_crop"].scale[-1]
    np.testing.assert_allclose(nuclei.translate, np.array([100, 100]) * scale)
    by_label = nuclei.features.set_index("label")
    assert by_label.loc[reviewed[0], "classification"] == "Tumor"
    assert by_label.loc[reviewed[0], "status"] == "accepted"
    assert (by_label.loc[reviewed[1:], "status"] == "rejected").all()
    for label in reviewed:
        assert _slide_pixels(nuclei, label) == before[label]  # same cell, same pixels
    assert nuclei.features["label"].is_unique
    assert set(np.unique(nuclei.data[nuclei.data > 0])) == set(nuclei.features["label"])
    assert len(nuclei.features) > first  # the new region added cells
    assert "reviewed kept" in widget._status.value
    assert "unreviewed replaced" in widget._status.value
    points = viewer.layers["demo_he_crop_centroids"]
    assert len(points.data) == len(nuclei.features)


def test_run_that_would_replace_reviews_is_refused(recognise, qtbot, monkeypatch):
    from napari_pathrobust.widgets import recognise as module

    viewer, widget = recognise
    _run(widget, qtbot)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    table = nuclei.features.copy()
    table.loc[table.index[:4], "status"] = "accepted"
    nuclei.features = table
    monkeypatch.setattr(module, "LARGE_PIXELS", 1000)  # the next run would go to zarr
    data = nuclei.data
    widget.run()
    assert widget.worker is None and widget._status.value.startswith("not run")
    assert "4 reviewed cells" in widget._status.value
    assert nuclei.data is data and list(nuclei.features["status"]).count("accepted") == 4


def test_result_restored_when_the_slide_is_opened_again(recognise, qtbot,
                                                        make_napari_viewer):
    from napari_pathrobust._sample_data import demo_crop
    from napari_pathrobust.widgets.recognise import RecogniseWidget

    viewer, widget = recognise
    _run(widget, qtbot)
    nuclei = viewer.layers["demo_he_crop_nuclei"]
    table = nuclei.features.copy()
    table.loc[table.index[0], "status"] = "rejected"
    nuclei.features = table
    from napari_pathrobust.widgets._review_session import autosave

    autosave(nuclei)  # (the Review widget does this on every change)
    other = make_napari_viewer()
    other.window.add_dock_widget(RecogniseWidget(other))
    (data, kwargs, _), = demo_crop()
    other.add_image(data, **kwargs)
    restored = other.layers["demo_he_crop_nuclei"]
    assert list(restored.features["status"]) == list(table["status"])
    np.testing.assert_allclose(restored.translate, nuclei.translate)
    assert restored.contour >= 1
