"""One cell vocabulary: base class and intensity class kept apart, never erased (#25.1)."""

import csv
import json

import numpy as np
import pandas as pd
import pytest

from napari_pathrobust.engine import cell_classes as cc
from napari_pathrobust.engine.ihc.scoring import (
    IhcCellSink,
    IhcThresholds,
    classify_cells,
    ihc_summary,
)
from napari_pathrobust.engine.jobs.export import export_csv, export_geojson
from napari_pathrobust.engine.nucleus_records import NucleusRecord, features_table
from napari_pathrobust.engine.results import read_cells_table, read_geojson_cells
from napari_pathrobust.engine.writers import GeoJSONWriter, PointsCSVWriter

DAB = "dab_nucleus_mean"


# ------------------------------------------------------------------ the vocabulary


@pytest.mark.parametrize("name, parts", [
    ("Tumor: Positive", ("Tumor", "Positive")), ("Positive", ("", "Positive")),
    ("Tumor", ("Tumor", "")), ("Nucleus", ("", "")), ("", ("", "")), (None, ("", "")),
    ("Unclassified", ("", "")), ("Stroma: 2+", ("Stroma", "2+")),
    ("Tumor: Foo", ("Tumor: Foo", "")), (float("nan"), ("", ""))])
def test_split_and_compose_round_trip(name, parts):
    assert cc.split(name) == parts
    assert cc.split(cc.compose(*parts)) == parts


def test_compose_names_like_qupath():
    assert cc.compose("Tumor", "Positive") == "Tumor: Positive"
    assert cc.compose("", "1+") == "1+" and cc.compose("Stroma", "") == "Stroma"
    assert cc.compose("", "") == cc.NO_CLASS
    assert cc.display_class("Tumor: Positive") == "Positive"
    assert cc.display_class("Tumor") == "Tumor"


def test_colours_of_a_compound_follow_its_intensity():
    from napari_pathrobust.engine.cells import DEFAULT_CLASS_COLORS, class_color

    assert class_color("Tumor: Positive") == list(DEFAULT_CLASS_COLORS["Positive"])
    assert class_color("Tumor") == list(DEFAULT_CLASS_COLORS["Tumor"])
    assert class_color("Tumor: Positive", {"Tumor: Positive": (1, 2, 3)}) == [1, 2, 3]


def _table(n=6, kind=dict):
    table = {"label": np.arange(1, n + 1), "x": np.arange(n) * 10.0,
             "y": np.arange(n) * 5.0, "area": np.full(n, 20),
             "classification": np.array(["Nucleus"] * n, object),
             "status": np.array(["unreviewed"] * n, object),
             DAB: np.linspace(0.0, 0.5, n)}
    return pd.DataFrame(table) if kind is pd.DataFrame else table


@pytest.mark.parametrize("kind", [dict, pd.DataFrame])
def test_a_classifier_never_overwrites_the_pathologist(kind):
    table = cc.with_classes(_table(kind=kind))
    table = cc.set_base(table, "Tumor", cc.PATHOLOGIST, mask=np.arange(6) < 2)
    table = cc.set_base(table, np.array(["Stroma"] * 6, object), cc.CLASSIFIER,
                        probability=np.full(6, 0.8))
    base = np.asarray(table[cc.BASE], object).tolist()
    source = np.asarray(table[cc.SOURCE], object).tolist()
    prob = np.asarray(table[cc.PROBABILITY], float)
    assert base == ["Tumor"] * 2 + ["Stroma"] * 4
    assert source == [cc.PATHOLOGIST] * 2 + [cc.CLASSIFIER] * 4
    assert np.isnan(prob[:2]).all() and np.allclose(prob[2:], 0.8)
    assert cc.named_mask(table).tolist() == [True] * 2 + [False] * 4
    # the pathologist may rename a cell the classifier named (and their own)
    table = cc.set_base(table, "Immune cells", cc.PATHOLOGIST, mask=np.arange(6) >= 4)
    assert np.asarray(table[cc.BASE], object).tolist()[4:] == ["Immune cells"] * 2
    assert np.isnan(np.asarray(table[cc.PROBABILITY], float)[4:]).all()
    assert type(table) is kind


def test_a_threshold_change_touches_only_the_intensity():
    table = cc.set_base(cc.with_classes(_table()), "Tumor", cc.PATHOLOGIST,
                        mask=np.arange(6) == 5)
    for cut in (0.2, 0.45, 0.05):
        table = classify_cells(table, IhcThresholds(positive=cut, bins=(cut, 0.6, 0.7)))
        assert table[cc.BASE][5] == "Tumor" and table[cc.SOURCE][5] == cc.PATHOLOGIST
        assert table["classification"][5] == "Tumor: Positive"
        assert table["classification"][0] == "Negative"
    assert table[cc.INTENSITY].tolist() == ["Negative"] + ["Positive"] * 5


def test_an_intensity_the_pathologist_set_survives_thresholds_and_counts(tmp_path):
    table = cc.with_classes(_table(kind=pd.DataFrame))  # DAB 0, 0.1, ... 0.5
    table = cc.set_intensity(table, "Positive", mask=np.arange(6) == 0, source=cc.PATHOLOGIST)
    table = cc.set_intensity(table, "Negative", mask=np.arange(6) == 5, source=cc.PATHOLOGIST)
    assert table[cc.INTENSITY_OVERRIDE].tolist() == [1.0, 0, 0, 0, 0, 1.0]
    for cut in (0.05, 0.25, 0.6):
        thresholds = IhcThresholds(positive=cut, bins=(cut, 0.7, 0.8))
        table = classify_cells(table, thresholds)
        assert table[cc.INTENSITY].tolist()[::5] == ["Positive", "Negative"]
        computed = (np.arange(6)[1:5] * 0.1 >= cut).sum()
        assert ihc_summary(table, thresholds)["n_positive"] == 1 + computed
    assert table["ihc_bin"].tolist()[::5] == [1, 0]
    table = cc.set_intensity(table, "", mask=np.arange(6) == 0, source=cc.PATHOLOGIST)
    assert table[cc.INTENSITY_OVERRIDE].tolist()[0] == 0.0  # cleared: thresholds decide
    assert classify_cells(table, IhcThresholds())[cc.INTENSITY].tolist()[0] == "Negative"
    # kept through Export's cells CSV (a numeric column) and the review session
    export_csv(tmp_path / "o.csv", table)
    back = read_cells_table(tmp_path / "o.csv")
    assert np.asarray(back[cc.INTENSITY_OVERRIDE], float).tolist()[::5] == [0.0, 1.0]
    from napari_pathrobust.engine.review.session import (
        load_session,
        save_cells,
        save_reviews,
    )

    token = save_cells(tmp_path, "s", cc.with_classes(_table(kind=pd.DataFrame)),
                       np.zeros((8, 8), np.uint32), "s_nuclei")
    save_reviews(tmp_path, "s", "s_nuclei", table, token=token)
    back = load_session(tmp_path, "s").features
    assert cc.intensity_overridden(back).tolist() == [False] * 5 + [True]


# ------------------------------------------------------------------ export and read back


def test_review_named_tumour_survives_thresholds_in_geojson_and_csv(tmp_path):
    labels = np.zeros((20, 80), np.uint32)
    frame = _table(kind=pd.DataFrame)
    for k in range(6):
        labels[2:8, 10 * k + 2:10 * k + 8] = k + 1
    frame["x"], frame["y"] = 10.0 * np.arange(6) + 4.5, 4.5
    named = cc.set_base(cc.with_classes(frame), "Tumor", cc.PATHOLOGIST,
                        mask=frame["label"].to_numpy() == 6)
    named.loc[named["label"] == 6, "status"] = "accepted"
    scored = classify_cells(named, IhcThresholds(positive=0.45, bins=(0.45, 0.6, 0.7)))
    scored = classify_cells(scored, IhcThresholds(positive=0.2, bins=(0.2, 0.6, 0.7)))
    export_geojson(tmp_path / "c.geojson", labels, scored, {"run_id": "r"})
    export_csv(tmp_path / "c.csv", scored)
    data = json.loads((tmp_path / "c.geojson").read_text())
    props = {f["properties"]["label"]: f["properties"] for f in data["features"]}
    assert props[6]["classification"]["name"] == "Tumor: Positive"
    assert props[6]["pathrobust"] == {"base_class": "Tumor", "intensity": "Positive",
                                      "class_source": "pathologist"}
    assert props[1]["classification"]["name"] == "Negative"
    with open(tmp_path / "c.csv", newline="") as fh:
        rows = {int(r["label"]): r for r in csv.DictReader(fh)}
    assert (rows[6]["base_class"], rows[6]["intensity"], rows[6]["class_source"],
            rows[6]["classification"]) == ("Tumor", "Positive", "pathologist",
                                           "Tumor: Positive")
    # read back: the parts come back as they were
    back = read_cells_table(tmp_path / "c.csv")
    assert back["base_class"][5] == "Tumor" and back["class_source"][5] == "pathologist"
    cells, _ = read_geojson_cells(tmp_path / "c.geojson")
    six = next(c for c in cells if c["label"] == 6)
    assert (six["base_class"], six["intensity"], six["class_source"]) == (
        "Tumor", "Positive", "pathologist")


def test_files_of_the_previous_format_still_open(tmp_path):
    old_csv = tmp_path / "old_cells.csv"
    old_csv.write_text("label,x,y,area,classification,status,solidity\n"
                       "1,1.0,2.0,9,Positive,accepted,0.9\n"
                       "2,3.0,4.0,9,Tumor,unreviewed,0.8\n"
                       "3,5.0,6.0,9,Nucleus,rejected,\n"
                       "4,7.0,8.0,9,Tumor: 2+,accepted,0.7\n")
    table = read_cells_table(old_csv)
    assert table["base_class"] == ["", "Tumor", "", "Tumor"]
    assert table["intensity"] == ["Positive", "", "", "2+"]
    # only people named cells then: their classes are the pathologist's (protected)
    assert table["class_source"] == ["", "pathologist", "", "pathologist"]
    assert table["classification"] == ["Positive", "Tumor", "Nucleus", "Tumor: 2+"]
    assert table["status"] == ["accepted", "unreviewed", "rejected", "accepted"]
    square = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    features = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
                 "properties": {"classification": {"name": name}, "label": k + 1}}
                for k, name in enumerate(("Positive", "Tumor", "Nucleus"))]
    old_geojson = tmp_path / "old.geojson"
    old_geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    cells, _ = read_geojson_cells(old_geojson)
    assert [(c["base_class"], c["intensity"], c["class_source"]) for c in cells] == [
        ("", "Positive", ""), ("Tumor", "", "pathologist"), ("", "", "")]
    from napari_pathrobust._reader import read_cells_csv, read_geojson

    ((_, kwargs, kind),) = read_geojson(str(old_geojson))
    assert kind == "labels" and list(kwargs["features"]["base_class"]) == ["", "Tumor", ""]
    assert list(kwargs["features"]["classification"]) == ["Positive", "Tumor", "Nucleus"]
    ((_, kwargs, kind),) = read_cells_csv(str(old_csv))
    assert list(kwargs["features"]["intensity"]) == ["Positive", "", "", "2+"]


def test_job_writers_keep_the_base_class_when_thresholds_set_the_intensity(tmp_path):
    recs = [NucleusRecord(i, 0, 0, np.ones((3, 3), bool), 1.0, 4.0 * i, 9, {DAB: 0.1 * i})
            for i in (1, 2, 3)]
    recs[2].base_class, recs[2].class_source = "Tumor", cc.CLASSIFIER
    recs[2].class_probability = 0.75
    sink = IhcCellSink(IhcThresholds(positive=0.25, bins=(0.25, 0.6, 0.7)))
    with PointsCSVWriter(tmp_path / "p.csv") as w_csv, \
            GeoJSONWriter(tmp_path / "c.geojson", run_id="r") as w_geo:
        for w in (w_csv, w_geo):
            w.add(recs)
            w.renumber(np.arange(4))
        sink.add(recs)
        sink.classify([w_csv, w_geo])
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["classification"] for r in rows] == ["Negative", "Negative", "Tumor: Positive"]
    assert rows[2]["class_probability"] == "0.75" and rows[2]["class_source"] == "classifier"
    data = json.loads((tmp_path / "c.geojson").read_text())
    names = [f["properties"]["classification"]["name"] for f in data["features"]]
    assert names == ["Negative", "Negative", "Tumor: Positive"]
    assert data["features"][2]["properties"]["pathrobust"]["class_probability"] == 0.75


def test_features_table_carries_the_parts():
    rec = NucleusRecord(1, 0, 0, np.ones((2, 2), bool), 0.5, 0.5, 4,
                        classification="Tumor: Positive")
    table = features_table([rec])
    assert (table["base_class"][0], table["intensity"][0]) == ("Tumor", "Positive")
    assert table["classification"][0] == "Tumor: Positive"


def test_region_feature_sink_keeps_every_class_field():
    from napari_pathrobust.engine.jobs.region import FeatureSink

    rec = NucleusRecord(3, 0, 0, np.ones((2, 2), bool), 0.5, 0.5, 4, {"area_um2": 0.25},
                        base_class="Stroma", intensity="Negative", class_source="classifier",
                        class_probability=0.81)
    sink = FeatureSink()
    sink.add([rec])
    table = sink.table()
    assert (table["base_class"][0], table["intensity"][0]) == ("Stroma", "Negative")
    assert (table["class_source"][0], table["class_probability"][0]) == ("classifier", 0.81)
    assert table["area_um2"][0] == 0.25 and rec.mask.shape == (2, 2)  # the record untouched


# ------------------------------------------------------------------ scores


def test_ihc_summary_counts_the_named_tumour_cells_when_present():
    table = _table(n=10)
    thresholds = IhcThresholds(positive=0.25, bins=(0.25, 0.6, 0.7))
    rule = ihc_summary(classify_cells(table, thresholds), thresholds)
    assert rule["type_source"] == "rule"
    named = cc.set_base(table, "Tumor", cc.PATHOLOGIST, mask=np.arange(10) >= 7)
    named = cc.set_base(named, "Immune cells", cc.CLASSIFIER, mask=np.arange(10) < 3)
    summary = ihc_summary(classify_cells(named, thresholds), thresholds)
    assert summary["type_source"] == "named" and summary["n_tumour"] == 3
    assert summary["n_tumour_positive"] == 3 and summary["tumour_index"] == 100.0
    assert summary["n_immune"] == 3 and summary["n_cells"] == 10  # both indices kept
    assert summary["labelling_index"] == pytest.approx(50.0)
    stroma = ihc_summary(classify_cells(named, thresholds), thresholds, base_class="Immune cells")
    assert stroma["n_tumour"] == 3 and stroma["n_tumour_positive"] == 0


# ------------------------------------------------------------------ the docks


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """Settings and autosaved sessions in the test's own folder (never the user's)."""
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    from napari_pathrobust.widgets._settings import save_settings

    save_settings({"results_dir": str(tmp_path / "results")})


def _review_and_ihc(make_napari_viewer, n: int, step: float):
    """A viewer with n square cells on a 4-wide grid (DAB rising by ``step`` with the
    label), the Review and IHC scoring docks bound to them."""
    from napari_pathrobust.widgets.ihc_scoring import IhcScoringWidget
    from napari_pathrobust.widgets.review import ReviewWidget

    labels = np.zeros((100, 100), np.uint32)
    grid = np.arange(n)
    for k in grid:
        y, x = 12 + 25 * (k // 4), 12 + 25 * (k % 4)
        labels[y - 6:y + 6, x - 6:x + 6] = k + 1
    features = {"index": grid + 1, "label": grid + 1, "x": 12.0 + 25 * (grid % 4),
                "y": 12.0 + 25 * (grid // 4), "area": np.full(n, 144),
                "classification": np.array(["Nucleus"] * n, object),
                "status": np.array(["unreviewed"] * n, object), DAB: step * grid}
    viewer = make_napari_viewer()
    layer = viewer.add_labels(labels, name="ki_nuclei", features=features)
    review = ReviewWidget(viewer)
    viewer.window.add_dock_widget(review)
    review.bind(layer)
    ihc = IhcScoringWidget(viewer)
    viewer.window.add_dock_widget(ihc)
    ihc._layer.value = layer
    return layer, review, ihc


@pytest.mark.gui
def test_a_cell_named_in_review_survives_ihc_thresholds(make_napari_viewer, tmp_path,
                                                          isolated_settings):
    layer, review, ihc = _review_and_ihc(make_napari_viewer, 16, 0.05)
    review.set_class("Tumor", labels=[16])  # the pathologist names the brightest cell
    ihc.apply()
    ihc._positive.value = 0.3  # a threshold moves: only intensities change
    ihc._positive.value = 0.1
    row = layer.features.set_index("label").loc[16]
    assert (row["base_class"], row["intensity"], row["class_source"]) == (
        "Tumor", "Positive", "pathologist")
    assert row["classification"] == "Tumor: Positive"
    assert layer.features.set_index("label").loc[1, "classification"] == "Negative"
    export_geojson(tmp_path / "k.geojson", layer.data, layer.features, {"run_id": "k"})
    export_csv(tmp_path / "k.csv", layer.features)
    data = json.loads((tmp_path / "k.geojson").read_text())
    names = {f["properties"]["label"]: f["properties"]["classification"]["name"]
             for f in data["features"]}
    assert names[16] == "Tumor: Positive" and names[1] == "Negative"
    with open(tmp_path / "k.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["label"] == "16")
    assert (row["base_class"], row["intensity"]) == ("Tumor", "Positive")
    assert "Tumor" in ihc.summaries["whole result"]["base_class"]
    assert ihc.summaries["whole result"]["type_source"] == "named"


@pytest.mark.gui
def test_an_intensity_named_in_review_survives_thresholds_and_undo(make_napari_viewer,
                                                                     isolated_settings):
    layer, review, ihc = _review_and_ihc(make_napari_viewer, 4, 0.1)
    ihc._positive.value = 0.15  # labels 3, 4 positive
    review.set_class("Positive", labels=[1])  # the pathologist: this pale one is positive
    assert ihc.summaries["whole result"]["n_positive"] == 3
    for cut in (0.05, 0.35):
        ihc._positive.value = cut
        row = layer.features.set_index("label").loc[1]
        assert (row["intensity"], row[cc.INTENSITY_OVERRIDE]) == ("Positive", 1.0)
    assert ihc.summaries["whole result"]["n_positive"] == 1 + 0  # 0.3 < 0.35
    review.undo_review()  # the naming goes, the thresholds decide again
    ihc.apply()
    row = layer.features.set_index("label").loc[1]
    assert (row["intensity"], row[cc.INTENSITY_OVERRIDE]) == ("Negative", 0.0)


def test_review_sessions_keep_the_parts_and_old_ones_migrate(tmp_path):
    from napari_pathrobust.engine.review.session import (
        load_session,
        save_cells,
        save_reviews,
        session_files,
    )

    frame = cc.with_classes(_table(kind=pd.DataFrame))
    labels = np.zeros((8, 8), np.uint32)
    token = save_cells(tmp_path, "s", frame, labels, "s_nuclei")
    named = cc.set_base(frame, "Tumor", cc.PATHOLOGIST, mask=np.arange(6) == 1)
    named = cc.set_base(named, "Stroma", cc.CLASSIFIER, probability=0.6,
                        mask=np.arange(6) == 2)
    save_reviews(tmp_path, "s", "s_nuclei", named, token=token)
    back = load_session(tmp_path, "s").features
    assert back[cc.BASE].tolist()[:3] == ["", "Tumor", "Stroma"]
    assert back[cc.SOURCE].tolist()[:3] == ["", cc.PATHOLOGIST, cc.CLASSIFIER]
    assert back[cc.PROBABILITY].tolist()[2] == pytest.approx(0.6)
    # a review saved before the parts: the names come back as the pathologist's
    review = session_files(tmp_path, "s")["review"]
    payload = json.loads(review.read_text())
    for column in cc.CLASS_COLUMNS:
        payload.pop(column)
    payload["classification"] = {"codes": [0, 1, 2, 0, 0, 0],
                                 "names": ["Nucleus", "Tumor", "Positive"]}
    review.write_text(json.dumps(payload))
    back = load_session(tmp_path, "s").features
    assert back[cc.BASE].tolist()[:3] == ["", "Tumor", ""]
    assert back[cc.INTENSITY].tolist()[:3] == ["", "", "Positive"]
    assert back[cc.SOURCE].tolist()[:3] == ["", cc.PATHOLOGIST, ""]
