"""IHC scoring: thresholds, bins, Ki-67 index, H-score, regions, and the job outputs."""

import csv
import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from napari_pathrobust.engine.ihc.scoring import (
    SUMMARY_COLUMNS,
    IhcThresholds,
    auto_thresholds,
    classify_cells,
    ihc_summary,
    region_mask,
    split_params,
    summary_in_region,
    summary_row,
    two_means_cut,
)
from napari_pathrobust.engine.io import slide_from_array
from napari_pathrobust.engine.jobs import JobOptions, segment_to_files
from napari_pathrobust.engine.jobs.region import RegionOptions, segment_region
from napari_pathrobust.engine.methods import MethodBase
from napari_pathrobust.engine.nucleus_records import NucleusRecord
from napari_pathrobust.engine.tiled import executor as tile_executor
from napari_pathrobust.engine.writers import GeoJSONWriter, PointsCSVWriter

DAB = "dab_nucleus_mean"


def cells(values, status=None, seed=0):
    rng = np.random.default_rng(seed)
    n = len(values)
    return pd.DataFrame({
        "label": np.arange(1, n + 1), "x": rng.uniform(0, 100, n), "y": rng.uniform(0, 100, n),
        "area": np.full(n, 50), "classification": ["Nucleus"] * n,
        "status": status or ["unreviewed"] * n, DAB: np.asarray(values, float)})


def test_single_threshold_gives_positive_negative_at_or_above_the_cut():
    table = classify_cells(cells([0.0, 0.19, 0.2, 0.5, np.nan]))
    assert list(table["classification"]) == ["Negative", "Negative", "Positive", "Positive",
                                             "Negative"]
    assert list(table["ihc_bin"]) == [0, 0, 1, 2, 0]


def test_bins_give_negative_1_2_3_plus():
    table = classify_cells(cells([0.1, 0.2, 0.39, 0.4, 0.6, 2.0]), IhcThresholds(mode="bins"))
    assert list(table["classification"]) == ["Negative", "1+", "1+", "2+", "3+", "3+"]
    assert list(table["ihc_bin"]) == [0, 1, 1, 2, 3, 3]


def test_moving_thresholds_moves_classes():
    values = [0.1, 0.25, 0.35, 0.5, 0.65, 0.8]
    low = classify_cells(cells(values), IhcThresholds(positive=0.2))
    high = classify_cells(cells(values), IhcThresholds(bins=(0.45, 0.6, 0.7)))
    assert (low["classification"] == "Positive").sum() == 5
    assert (high["classification"] == "Positive").sum() == 3
    bins = classify_cells(cells(values), IhcThresholds(mode="bins", bins=(0.3, 0.6, 0.7)))
    assert list(bins["classification"]) == ["Negative", "Negative", "1+", "1+", "2+", "3+"]


def test_classify_keeps_the_table_kind():
    as_dict = {k: np.asarray(v) for k, v in cells([0.1, 0.3]).items()}
    out = classify_cells(as_dict)
    assert isinstance(out, dict) and list(out["classification"]) == ["Negative", "Positive"]
    assert list(as_dict["classification"]) == ["Nucleus", "Nucleus"]  # not modified


def test_summary_equals_the_features_and_skips_rejected():
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 0.9, 200)
    status = ["rejected" if i % 10 == 0 else "unreviewed" for i in range(200)]
    th = IhcThresholds(mode="bins")
    table = classify_cells(cells(values, status), th)
    summary = ihc_summary(table, th)
    kept = table[table["status"] != "rejected"]
    counts = kept["classification"].value_counts()
    assert summary["n_cells"] == len(kept) == 180
    assert summary["n_0"] == counts.get("Negative", 0)
    assert summary["n_1plus"] == counts.get("1+", 0)
    assert summary["n_2plus"] == counts.get("2+", 0)
    assert summary["n_3plus"] == counts.get("3+", 0)
    assert summary["n_positive"] == (kept["ihc_bin"] > 0).sum()
    assert summary["labelling_index"] == pytest.approx(100 * summary["n_positive"] / 180)
    pct = kept["ihc_bin"].value_counts(normalize=True) * 100
    h = sum(k * pct.get(k, 0) for k in (1, 2, 3))
    assert summary["h_score"] == pytest.approx(h)
    assert 0 <= summary["h_score"] <= 300


def test_h_score_extremes():
    assert ihc_summary(cells([0.9] * 5))["h_score"] == pytest.approx(300)
    assert ihc_summary(cells([0.0] * 5))["h_score"] == 0
    empty = ihc_summary(cells([]))
    assert empty["n_cells"] == 0 and empty["labelling_index"] == 0


def test_region_summary_equals_summary_of_the_cells_inside():
    table = cells(np.random.default_rng(1).uniform(0, 0.8, 300), seed=2)
    box = (20, 10, 60, 70)  # y0, x0, y1, x1
    inside = table[(table.y >= 20) & (table.y < 60) & (table.x >= 10) & (table.x < 70)]
    assert summary_in_region(table, box) == ihc_summary(inside)
    triangle = np.array([[0, 0], [100, 0], [0, 100]], float)  # (y, x): x + y < 100
    mask = region_mask(table, triangle)
    assert np.array_equal(mask, (table.x + table.y < 100).to_numpy())
    th = IhcThresholds(mode="bins")
    assert summary_in_region(table, triangle, th) == ihc_summary(table[mask], th)


def test_region_uses_the_whole_table_auto_cut():
    table = cells([0.05] * 50 + [0.6] * 50)
    th = IhcThresholds(auto=True)
    whole = auto_thresholds(table, th)
    region = summary_in_region(table, (0, 0, 50, 50), th)
    assert region["thresholds"]["fitted_cut"] == whole.fitted_cut


def test_auto_cut_separates_two_populations_and_falls_back_without_dab():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.05, 0.02, 300), rng.normal(0.5, 0.05, 100)])
    fitted = auto_thresholds(cells(values), IhcThresholds(auto=True))
    assert 0.15 < fitted.fitted_cut < 0.4 and fitted.positive == fitted.fitted_cut
    summary = ihc_summary(cells(values), IhcThresholds(auto=True))
    assert summary["labelling_index"] == pytest.approx(25, abs=1)
    flat = auto_thresholds(cells(rng.normal(0.05, 0.005, 200)), IhcThresholds(auto=True))
    assert flat.fitted_cut is None and flat.positive == 0.2
    lo, hi, cut = two_means_cut(np.array([0, 0, 1, 1.0]))
    assert (lo, hi, cut) == (0, 1, 0.5)


@pytest.mark.parametrize("kwargs, words", [
    (dict(bins=(0.4, 0.2, 0.6)), "strictly increasing"),
    (dict(bins=(0.2, 0.2, 0.6)), "strictly increasing"),
    (dict(bins=(-0.1, 0.2, 0.6)), ">= 0"),
    (dict(positive=-0.2), ">= 0"),
    (dict(bins=(0.2, 0.4)), "3 bin thresholds"),
    (dict(mode="triple"), "mode"),
    (dict(measurement="dab_nuc_mean"), "expected one of dab_nucleus_mean"),
    (dict(positive=0.5), "below the 2\\+ threshold 0.4"),
    (dict(positive=0.3, bins=(0.2, 0.4, 0.6)), "same cut"),
    (dict(marker="  "), "marker"),
    (dict(marker="x" * 41), "at most 40"),
])
def test_bad_thresholds_are_refused_with_one_line(kwargs, words):
    with pytest.raises(ValueError, match=words) as info:
        IhcThresholds(**kwargs)
    assert "\n" not in str(info.value)


def test_thresholds_from_params():
    ihc, rest = split_params(["positive_threshold=0.25", "bins=0.25,0.45,0.7", "ihc_auto=true",
                              "threshold=0.4", "ihc-mode=bins", "marker=ER"])
    assert rest == ["threshold=0.4"]
    th = IhcThresholds.from_params(ihc)
    assert (th.positive, th.bins, th.auto, th.mode) == (0.25, (0.25, 0.45, 0.7), True, "bins")
    assert th.marker == "ER"
    moved = IhcThresholds.from_params({"positive_threshold": "0.3"}, base=th)
    assert moved.bins == (0.3, 0.45, 0.7) and moved.positive == 0.3  # 2+/3+ kept
    assert IhcThresholds.from_params({"bins": "0.1,0.5,0.9"}, base=th).positive == 0.1
    with pytest.raises(ValueError, match="same cut"):
        IhcThresholds.from_params({"positive_threshold": "0.25", "bins": "0.2,0.45,0.7"})
    with pytest.raises(ValueError, match="strictly increasing"):
        IhcThresholds.from_params({"bins": "0.5,0.4,0.6"})
    with pytest.raises(ValueError, match="number"):
        IhcThresholds.from_params({"positive_threshold": "high"})


def test_missing_measurement_is_one_clear_error():
    with pytest.raises(ValueError, match="dab_nucleus_mean"):
        classify_cells(pd.DataFrame({"label": [1], "x": [0.0], "y": [0.0]}))


def test_writers_write_classes_set_after_staging(tmp_path):
    recs = [NucleusRecord(i, 0, 0, np.ones((3, 3), bool), 1.0, float(i), 9,
                          {DAB: 0.1 * i}, classification='odd, "name"' if i == 2 else "Nucleus")
            for i in (1, 2, 3)]
    with PointsCSVWriter(tmp_path / "p.csv") as w_csv, \
            GeoJSONWriter(tmp_path / "c.geojson", run_id="r") as w_geo:
        for w in (w_csv, w_geo):
            w.add(recs)
            w.renumber(np.array([0, 3, 2, 1]))
            w.set_classes(np.array([None, "Positive", None, "2+"], dtype=object))
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["label"], r["classification"]) for r in rows] == [
        ("1", "Positive"), ("2", 'odd, "name"'), ("3", "2+")]
    assert rows[0][DAB] == repr(0.1 * 3)
    data = json.loads((tmp_path / "c.geojson").read_text())
    props = [f["properties"] for f in data["features"]]
    assert [p["classification"]["name"] for p in props] == ["Positive", 'odd, "name"', "2+"]
    assert props[2]["classification"]["color"] == [225, 150, 50]
    assert props[0]["measurements"][DAB] == pytest.approx(0.3)


# ------------------------------------------------------------------ jobs


class DiscMethod(MethodBase):
    """Dark discs are nuclei; ``params.stain`` as the real methods have it."""

    name = "discs"
    halo = 16
    working_mpp = None

    def __init__(self, stain="ihc"):
        self.params = type("P", (), {"stain": stain})()

    def segment_tile(self, rgb):
        return ndi.label(rgb[..., 0] < 200)[0]


def disc_image():
    """Discs whose green channel encodes their DAB level (0.05 .. 0.75)."""
    rgb = np.full((160, 160, 3), 255, np.uint8)
    yy, xx = np.mgrid[:160, :160]
    levels = {}
    for k, (cy, cx) in enumerate((y, x) for y in range(20, 160, 40) for x in range(20, 160, 40)):
        level = 0.05 + 0.7 * k / 15
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 64
        rgb[disc] = (100, int(round(255 * (1 - level))), 100)
        levels[(cy, cx)] = level
    return rgb


@pytest.fixture
def dab_measured(monkeypatch):
    patch_dab_measurement(monkeypatch)


def patch_dab_measurement(monkeypatch):
    """Records get ``dab_nucleus_mean`` from the green channel (independent of the H-DAB
    detection, so these tests pin the scoring alone)."""
    original = tile_executor.measure_objects

    def measure(labels, rgb, offset=(0, 0), keep=None, mpp=None):
        records = original(labels, rgb, offset=offset, keep=keep, mpp=mpp)
        for rec in records:
            y, x = rec.y0 - offset[0], rec.x0 - offset[1]
            h, w = rec.mask.shape
            green = rgb[y:y + h, x:x + w, 1][rec.mask].astype(float)
            rec.measurements[DAB] = float(np.mean(1 - green / 255))
        return records

    monkeypatch.setattr(tile_executor, "measure_objects", measure)


def test_ihc_job_writes_classes_summary_csv_and_run_json(tmp_path, dab_measured):
    th = IhcThresholds(mode="bins", bins=(0.2, 0.4, 0.6))
    result = segment_to_files(slide_from_array(disc_image(), name="ki"), tmp_path,
                              JobOptions(tile=96, workers=1, ihc=th), method=DiscMethod())
    assert result.n_nuclei == 16
    with open(result.outputs["points"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = pd.DataFrame({"label": [int(r["label"]) for r in rows],
                          DAB: [float(r[DAB]) for r in rows]})
    expected = classify_cells(table, th)["classification"].tolist()
    assert [r["classification"] for r in rows] == expected
    assert set(expected) == {"Negative", "1+", "2+", "3+"}
    geo = json.loads(result.outputs["geojson"].read_text())
    assert [f["properties"]["classification"]["name"] for f in geo["features"]] == expected
    with open(result.outputs["summary"], newline="") as fh:
        reader = csv.DictReader(fh)
        (row,) = list(reader)
    summary = ihc_summary(table, th)
    assert tuple(reader.fieldnames) == SUMMARY_COLUMNS  # the napari export's columns
    assert (row["slide"], row["layer"], row["region"]) == ("ki", "", "whole result")
    assert (row["marker"], row["mode"], row["bin_2plus"]) == ("Ki-67", "bins", "0.4")
    assert int(row["n_cells"]) == 16
    assert float(row["h_score"]) == pytest.approx(summary["h_score"])
    assert int(row["n_2plus"]) == summary["n_2plus"]
    run = json.loads(result.outputs["run"].read_text())
    assert run["ihc_summary"]["labelling_index"] == pytest.approx(summary["labelling_index"])
    assert run["outputs"]["summary"] == "ki_summary.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in result.outputs.values())


def test_he_job_writes_no_summary(tmp_path, dab_measured):
    result = segment_to_files(slide_from_array(disc_image(), name="he"), tmp_path,
                              JobOptions(tile=96, workers=1), method=DiscMethod("he"))
    assert "summary" not in result.outputs and not (tmp_path / "he_summary.csv").exists()
    assert "ihc_summary" not in json.loads(result.outputs["run"].read_text())
    with open(result.outputs["points"], newline="") as fh:
        assert {r["classification"] for r in csv.DictReader(fh)} == {"Nucleus"}


def test_segment_region_classifies_and_returns_the_summary(dab_measured):
    th = IhcThresholds(positive=0.3)
    result = segment_region(disc_image(), (0, 0, 160, 160),
                            RegionOptions(stain="ihc", ihc=th, tile=96),
                            method=DiscMethod())
    table = result.table
    assert list(table["classification"]) == list(classify_cells(table, th)["classification"])
    assert result.metadata["ihc_summary"] == ihc_summary(table, th)
    assert result.metadata["ihc_thresholds"]["positive"] == 0.3
    assert 0 < result.metadata["ihc_summary"]["n_positive"] < 16


# ------------------------------------------------------------------ one set of thresholds


def test_the_positive_threshold_is_the_1plus_bound_so_all_scores_agree():
    """Issue 28/10: moving the positive threshold moves the 1+ bound, so the labelling
    index, the H-score and the bin counts follow the same cut."""
    table = cells(np.linspace(0, 0.75, 16))
    low, high = IhcThresholds(positive=0.2), IhcThresholds(positive=0.35)
    assert high.bins == (0.35, 0.4, 0.6) and high.positive_cut == 0.35
    for th in (low, high, IhcThresholds(mode="bins", positive=0.35)):
        s = ihc_summary(table, th)
        assert s["n_positive"] == s["n_1plus"] + s["n_2plus"] + s["n_3plus"]
        assert s["n_0"] == s["n_cells"] - s["n_positive"]
    a, b = ihc_summary(table, low), ihc_summary(table, high)
    assert b["n_positive"] < a["n_positive"] and b["n_1plus"] < a["n_1plus"]
    assert b["h_score"] < a["h_score"]
    fitted = auto_thresholds(cells([0.05] * 50 + [0.6] * 50), IhcThresholds(auto=True))
    assert fitted.positive == fitted.bins[0] == fitted.fitted_cut


def test_the_marker_names_the_index_in_the_summary_and_the_row():
    table = cells([0.1, 0.3, 0.5, 0.7])
    th = IhcThresholds(mode="bins", marker="  ER \n")
    assert th.marker == "ER" and th.describe()["marker"] == "ER"
    summary = ihc_summary(table, th)
    assert summary["marker"] == "ER" and summary["labelling_index"] == 75
    row = summary_row(summary, slide="s1", layer="s1_nuclei", region="drawn region")
    assert tuple(row) == SUMMARY_COLUMNS
    assert (row["slide"], row["layer"], row["region"], row["marker"]) == (
        "s1", "s1_nuclei", "drawn region", "ER")
    assert (row["positive_threshold"], row["bin_1plus"], row["mode"]) == (0.2, 0.2, "bins")
    assert summary_row(ihc_summary(table))["marker"] == "Ki-67"  # the default


def test_ihc_job_summary_names_the_marker(tmp_path, dab_measured):
    th = IhcThresholds(marker="PR")
    result = segment_to_files(slide_from_array(disc_image(), name="pr1"), tmp_path,
                              JobOptions(tile=96, workers=1, ihc=th), method=DiscMethod())
    with open(result.outputs["summary"], newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["slide"], row["marker"], row["region"]) == ("pr1", "PR", "whole result")
    assert json.loads(result.outputs["run"].read_text())["ihc_summary"]["marker"] == "PR"
