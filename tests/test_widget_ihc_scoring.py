"""The IHC scoring widget: live classes, scores per scope, bad thresholds, export."""

import csv
from pathlib import Path

import napari
import numpy as np
import pytest

from napari_pathrobust.engine.ihc.scoring import IhcThresholds, ihc_summary, summary_in_region

pytestmark = pytest.mark.gui

DAB = "dab_nucleus_mean"


@pytest.fixture
def scored(make_napari_viewer):
    """A viewer with a 4 x 4 grid of square cells whose DAB rises with the label."""
    from napari_pathrobust.widgets.ihc_scoring import IhcScoringWidget

    labels = np.zeros((200, 200), np.uint32)
    rows = []
    for k in range(16):
        y, x = 25 + 50 * (k // 4), 25 + 50 * (k % 4)
        labels[y - 8:y + 8, x - 8:x + 8] = k + 1
        rows.append((k + 1, float(x), float(y), 0.05 * k))
    label, x, y, dab = (np.array(c) for c in zip(*rows))
    features = {"index": label, "label": label, "x": x, "y": y, "area": np.full(16, 256),
                "classification": np.array(["Nucleus"] * 16, object),
                "status": np.array(["unreviewed"] * 16, object), DAB: dab}
    viewer = make_napari_viewer()
    layer = viewer.add_labels(labels, name="ki_nuclei", features=features)
    viewer.add_points(np.stack([y, x], 1), name="ki_centroids",
                      features={k: v for k, v in features.items() if k != "index"})
    widget = IhcScoringWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._layer.value = layer
    return viewer, widget, layer


def classes(layer):
    return list(layer.features["classification"])


def test_thresholds_recolour_live_and_scores_match_the_features(scored):
    viewer, widget, layer = scored
    assert classes(layer).count("Positive") == 12  # DAB >= 0.2: labels 5..16
    widget._bins[2].value = 0.7  # 3+, 2+, then positive / 1+: increasing at every step
    widget._bins[1].value = 0.6
    widget._positive.value = 0.5
    assert classes(layer).count("Positive") == 6
    whole = widget.summaries["whole result"]
    assert whole == ihc_summary(layer.features, IhcThresholds(bins=(0.5, 0.6, 0.7)))
    assert whole["n_positive"] == (layer.features["classification"] == "Positive").sum()
    assert "Ki-67 index 37.5 %" in widget._scores["whole result"].value
    widget._positive.value = 0.2
    widget._bins[1].value = 0.4
    widget._bins[2].value = 0.6
    widget._mode.value = "bins (negative, 1+, 2+, 3+)"
    assert classes(layer)[:5] == ["Negative"] * 4 + ["1+"]
    assert set(classes(layer)) == {"Negative", "1+", "2+", "3+"}
    assert list(layer.features["ihc_bin"]) == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert widget.summaries["whole result"]["h_score"] == pytest.approx(150)
    assert layer.metadata["ihc_thresholds"]["mode"] == "bins"
    points = viewer.layers["ki_centroids"].features
    assert list(points["classification"]) == classes(layer)


def test_bad_thresholds_are_refused_in_the_status_line(scored):
    viewer, widget, layer = scored
    before = classes(layer)
    widget._mode.value = "bins (negative, 1+, 2+, 3+)"
    before = classes(layer)
    widget._bins[1].value = 0.1  # 2+ below 1+
    assert "strictly increasing" in widget._status.value
    assert "\n" not in widget._status.value
    assert classes(layer) == before  # nothing recoloured
    widget._bins[1].value = 0.45
    assert widget._status.value.startswith("classified")


def test_region_and_view_scores_equal_the_cells_inside(scored):
    viewer, widget, layer = scored
    shapes = viewer.add_shapes([np.array([[0, 0], [0, 100], [100, 100], [100, 0]])],
                               shape_type="rectangle", name="roi")
    widget._shapes.value = shapes
    region = widget.summaries["drawn region"]
    inside = layer.features[(layer.features.x < 100) & (layer.features.y < 100)]
    assert region == ihc_summary(inside, widget.thresholds) and region["n_cells"] == 4
    shapes.add_polygons([np.array([[0, 0], [190, 0], [0, 190]])])  # last shape: triangle
    widget.update_scores()
    triangle = layer.features[layer.features.x + layer.features.y < 190]
    assert widget.summaries["drawn region"] == ihc_summary(triangle, widget.thresholds)
    from napari_pathrobust.widgets._layers import view_region

    box = view_region(viewer, layer)
    assert widget.summaries["current view"] == summary_in_region(layer.features, box,
                                                                 widget.thresholds)


def test_rejected_cells_leave_the_scores_and_export_writes_rows(scored, tmp_path):
    viewer, widget, layer = scored
    frame = layer.features.copy()
    frame.loc[frame["label"] == 16, "status"] = "rejected"
    layer.features = frame  # e.g. a Review edit
    assert widget.summaries["whole result"]["n_cells"] == 15
    dest = widget.export_summary(tmp_path / "scores.csv")
    with open(dest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["region"] == "whole result" and int(rows[0]["n_cells"]) == 15
    assert float(rows[0]["labelling_index"]) == pytest.approx(11 / 15 * 100)
    assert not [p for p in tmp_path.iterdir() if p.name != "scores.csv"]


def test_the_index_counts_the_class_chosen_and_named_classes_appear(scored, tmp_path):
    viewer, widget, layer = scored
    assert widget._counted.value == "Tumor"
    assert list(widget._counted.choices) == ["Tumor", "Immune cells", "Stroma"]
    frame = layer.features.copy()
    named = {1: "Macrophage", 2: "Macrophage", 15: "Tumor", 16: "Tumor"}
    for label, name in named.items():
        frame.loc[frame["label"] == label, ["base_class", "class_source"]] = \
            (name, "pathologist")
    layer.features = frame  # as Review names cells
    assert "Macrophage" in widget._counted.choices and widget._counted.value == "Tumor"
    whole = widget.summaries["whole result"]
    assert (whole["base_class"], whole["type_source"], whole["n_tumour"]) == (
        "Tumor", "named", 2)
    widget._counted.value = "Macrophage"  # DAB 0.0 and 0.05: both negative
    whole = widget.summaries["whole result"]
    assert (whole["base_class"], whole["n_tumour"], whole["tumour_index"]) == (
        "Macrophage", 2, 0.0)
    assert "Macrophage cells (named) 0.0 % (0/2; 14 other left out)" in \
        widget._scores["whole result"].value
    assert widget.summaries["current view"]["base_class"] == "Macrophage"
    layer.features = frame.assign(intensity="")  # another edit keeps the choice
    assert widget._counted.value == "Macrophage"
    dest = widget.export_summary(tmp_path / "scores.csv")
    with open(dest, newline="") as fh:
        assert next(csv.DictReader(fh))["base_class"] == "Macrophage"


def test_auto_cut_and_missing_measurement(scored, make_napari_viewer):
    viewer, widget, layer = scored
    widget._auto.value = True
    assert widget.thresholds.fitted_cut is not None and "automatic cut" in widget._status.value
    plain = viewer.add_labels(np.zeros((10, 10), np.uint32), name="he_nuclei",
                              features={"label": [1], "x": [1.0], "y": [1.0]})
    widget._layer.value = plain
    assert "dab_nucleus_mean" in widget._status.value
    assert isinstance(viewer.layers["ki_nuclei"], napari.layers.Labels)


def test_drawn_region_follows_the_layer_scale(scored):
    viewer, widget, layer = scored
    layer.scale = (2, 2)  # world = 2 x pixels: a 200-world-unit square is 100 px
    shapes = viewer.add_shapes([np.array([[0, 0], [0, 200], [200, 200], [200, 0]])],
                               shape_type="rectangle", name="roi")
    widget._shapes.value = shapes
    assert widget.summaries["drawn region"]["n_cells"] == 4


def test_the_nuclei_choice_starts_on_the_cell_result_not_a_mask(make_napari_viewer):
    """Recognise adds the pseudo-mask (a Labels layer without a cell table) above the
    nuclei; the widget must start on the nuclei."""
    from napari_pathrobust.widgets.ihc_scoring import IhcScoringWidget

    viewer = make_napari_viewer()
    labels = np.zeros((64, 64), np.uint32)
    labels[10:20, 10:20] = 1
    nuclei = viewer.add_labels(labels, name="ki_nuclei", features={
        "label": [1], "x": [15.0], "y": [15.0], "classification": ["Nucleus"],
        "status": ["unreviewed"], DAB: [0.5]})
    viewer.add_labels((labels > 0).astype(np.uint8), name="ki_pseudomask")
    widget = IhcScoringWidget(viewer)
    assert widget._layer.value is nuclei
    viewer.add_labels(labels.copy(), name="another_mask")
    assert widget._layer.value is nuclei


def test_view_and_region_scores_follow_the_camera_and_the_shapes(scored, qtbot):
    """No button: the view score follows a zoom, the region score a shape edit."""
    from napari_pathrobust.widgets._layers import camera, view_region

    viewer, widget, layer = scored
    viewer.reset_view()
    qtbot.wait(400)
    whole_view = widget.summaries["current view"]
    camera(viewer).center = (25, 25)
    camera(viewer).zoom = camera(viewer).zoom * 6
    box = view_region(viewer, layer)
    expected = summary_in_region(layer.features, box, widget.thresholds)
    qtbot.waitUntil(lambda: widget.summaries["current view"] == expected, timeout=3000)
    assert expected != whole_view
    shapes = viewer.add_shapes(name="roi")
    widget._shapes.value = shapes
    shapes.add_rectangles([np.array([[0, 0], [100, 100]])])
    inside = layer.features[(layer.features.x < 100) & (layer.features.y < 100)]
    qtbot.waitUntil(lambda: widget.summaries["drawn region"]
                    == ihc_summary(inside, widget.thresholds), timeout=3000)


def test_an_ellipse_or_a_line_is_not_scored_as_a_polygon(scored):
    viewer, widget, layer = scored
    shapes = viewer.add_shapes(name="roi")
    widget._shapes.value = shapes
    shapes.add_ellipses([np.array([[0, 0], [100, 100]])])
    widget.update_scores()
    assert widget.summaries["drawn region"] is None
    assert "rectangle or polygon" in widget._scores["drawn region"].value
    shapes.add_paths([np.array([[0, 0], [100, 100], [0, 100]])])
    widget.update_scores()
    assert widget.summaries["drawn region"] is None


# ------------------------------------------------------------------ issue 28, items 3 and 10


def test_moving_the_positive_threshold_moves_every_score(scored):
    """The positive threshold is the 1+ bound: index, H-score and bins follow it."""
    viewer, widget, layer = scored
    widget._positive.value = 0.3  # DAB 0.05 k: 1+ k = 6, 7; 2+ k = 8..11; 3+ k = 12..15
    whole = widget.summaries["whole result"]
    assert widget.thresholds.bins == (0.3, 0.4, 0.6)
    assert whole == ihc_summary(layer.features, IhcThresholds(bins=(0.3, 0.4, 0.6)))
    assert (whole["n_positive"], whole["n_1plus"], whole["n_2plus"], whole["n_3plus"]) == (
        10, 2, 4, 4)
    assert whole["h_score"] == pytest.approx((2 + 2 * 4 + 3 * 4) / 16 * 100)
    assert "1+: 2, 2+: 4, 3+: 4" in widget._scores["whole result"].value
    assert list(layer.features["ihc_bin"] > 0) == list(layer.features["classification"]
                                                       == "Positive")
    before = classes(layer)
    widget._positive.value = 0.45  # above 2+: refused, nothing recoloured
    assert "strictly increasing" in widget._status.value and classes(layer) == before


def test_the_fitted_cut_is_shown_in_its_box_and_the_set_value_comes_back(scored):
    from napari_pathrobust.widgets._remembered import load_remembered

    viewer, widget, layer = scored
    widget._auto.value = True
    cut = widget.thresholds.fitted_cut
    assert cut is not None and abs(cut - 0.2) > 0.05
    assert widget._positive.value == pytest.approx(cut, abs=5e-4)
    assert not widget._positive.enabled and "fitted" in widget._positive.label
    whole = widget.summaries["whole result"]
    assert whole == ihc_summary(layer.features, widget.thresholds)
    assert whole["n_positive"] == whole["n_1plus"] + whole["n_2plus"] + whole["n_3plus"]
    assert widget.read_thresholds().positive == 0.2  # the set value is kept ...
    saved = load_remembered().get("ihc_scoring", {})
    assert saved.get("positive_threshold", 0.2) == 0.2  # ... and the fitted one not saved
    widget._auto.value = False
    assert widget._positive.value == pytest.approx(0.2) and widget._positive.enabled
    assert "fitted" not in widget._positive.label
    assert widget.summaries["whole result"]["n_positive"] == 12


def test_the_marker_names_the_index_and_the_export(scored, tmp_path):
    viewer, widget, layer = scored
    widget._marker.value = "ER"
    text = widget._scores["whole result"].value
    assert text.startswith("ER index 75.0 %") and "Ki-67" not in text
    assert layer.metadata["ihc_thresholds"]["marker"] == "ER"
    with open(widget.export_summary(tmp_path / "er.csv"), newline="") as fh:
        assert {row["marker"] for row in csv.DictReader(fh)} == {"ER"}
    widget._marker.value = " "
    assert "IHC marker" in widget._status.value
    assert widget._scores["whole result"].value.startswith("ER index")


def test_the_summary_csv_follows_the_chosen_layer_and_rows_say_where(scored, tmp_path):
    viewer, widget, layer = scored
    widget._dest.value = tmp_path / "ki_nuclei_summary.csv"
    other = viewer.add_labels(np.asarray(layer.data).copy(), name="b2_nuclei",
                              features=layer.features.copy(),
                              metadata={"source_layer": "slide b2"})
    widget._layer.value = other
    assert Path(widget._dest.value) == tmp_path / "b2_nuclei_summary.csv"
    shapes = viewer.add_shapes([np.array([[0, 0], [0, 100], [100, 100], [100, 0]])],
                               shape_type="rectangle", name="roi")
    widget._shapes.value = shapes
    widget._positive.value = 0.3
    dest = widget.export_summary()
    assert dest == tmp_path / "b2_nuclei_summary.csv"
    assert not (tmp_path / "ki_nuclei_summary.csv").exists()
    with open(dest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["region"] for r in rows] == ["whole result", "current view", "drawn region"]
    assert {(r["slide"], r["layer"], r["marker"], r["mode"]) for r in rows} == {
        ("slide b2", "b2_nuclei", "Ki-67", "positive")}
    assert {(r["positive_threshold"], r["bin_1plus"], r["bin_2plus"]) for r in rows} == {
        ("0.3", "0.3", "0.4")}
    widget._layer.value = layer  # back: the name follows, the folder stays
    assert Path(widget._dest.value) == tmp_path / "ki_nuclei_summary.csv"
    layer.name = "ki renamed_nuclei"  # stays chosen; the name follows
    assert widget._layer.value is layer
    assert Path(widget._dest.value) == tmp_path / "ki_renamed_nuclei_summary.csv"
