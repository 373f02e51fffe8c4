"""Tests for the record writers: CSV and QuPath GeoJSON round trips, staging, final ids."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from _writer_scenes import labelled_records, leftovers, rasterise, scene  # noqa: F401
from shapely.geometry import shape as shapely_shape

from napari_pathrobust.engine.errors import Cancelled
from napari_pathrobust.engine.nucleus_records import BASE_COLUMNS
from napari_pathrobust.engine.results import read_geojson_polygons
from napari_pathrobust.engine.writers import GeoJSONWriter, PointsCSVWriter, feature_id

# --------------------------------------------------------------------------- CSV

def test_points_csv_round_trip(tmp_path):
    lab, rgb = scene()
    recs = labelled_records(lab, rgb, mpp=0.5)
    recs[1].classification = "Tumor, grade 2"
    dest = tmp_path / "points.csv"
    with PointsCSVWriter(dest) as w:
        w.add(recs[:5])
        w.add(recs[5:])
    text = dest.read_text()
    lines = text.splitlines()
    assert len(lines) == len(recs) + 1
    assert lines[0].startswith("label,x,y,area,classification,status,")
    rows = list(csv.DictReader(dest.open(newline="")))
    assert len(rows) == len(recs)
    for row, rec in zip(rows, recs):
        assert int(row["label"]) == rec.label
        assert float(row["x"]) == rec.centroid_x and float(row["y"]) == rec.centroid_y
        assert int(row["area"]) == rec.area
        assert row["classification"] == rec.classification
        assert float(row["area_um2"]) == pytest.approx(rec.area * 0.25)
        assert float(row["mean_hematoxylin_od"]) == pytest.approx(
            rec.measurements["mean_hematoxylin_od"])
    assert list(rows[0])[len(BASE_COLUMNS):] == list(recs[0].measurements)[1:]  # no area again


def test_points_csv_missing_measurement_and_empty(tmp_path):
    lab, rgb = scene()
    recs = labelled_records(lab, rgb)
    del recs[2].measurements["solidity"]
    with PointsCSVWriter(tmp_path / "p.csv") as w:
        w.add(recs)
    rows = list(csv.DictReader((tmp_path / "p.csv").open(newline="")))
    assert rows[2]["solidity"] == "" and rows[1]["solidity"] != ""
    with PointsCSVWriter(tmp_path / "empty.csv"):
        pass
    assert (tmp_path / "empty.csv").read_text() == ",".join(BASE_COLUMNS) + "\n"
    with pytest.raises(ValueError):
        with PointsCSVWriter(tmp_path / "bad.csv") as w:
            recs[0].label = 0
            w.add(recs[:1])
    assert not (tmp_path / "bad.csv").exists()


# --------------------------------------------------------------------------- GeoJSON

def test_geojson_qupath_round_trip(tmp_path):
    lab, rgb = scene()
    recs = labelled_records(lab, rgb, mpp=0.25)
    meta = {"parameters": {"sigma": 2.0}, "seed": 0, "model_hash": "abc123"}
    dest = tmp_path / "nuclei.geojson"
    with GeoJSONWriter(dest, metadata=meta) as w:
        for rec in recs:
            w.add([rec])
    data = json.loads(dest.read_text())
    assert data["type"] == "FeatureCollection" and data["pathrobust"] == meta
    feats = data["features"]
    assert len(feats) == len(recs)
    ids = {f["id"] for f in feats}
    assert len(ids) == len(recs) and feats[0]["id"] == feature_id(recs[0].label)
    for feat, rec in zip(feats, recs):
        props = feat["properties"]
        assert feat["type"] == "Feature" and props["objectType"] == "detection"
        assert props["classification"]["name"] == "Nucleus"
        assert len(props["classification"]["color"]) == 3
        assert props["label"] == rec.label and props["status"] == "unreviewed"
        assert props["measurements"]["area_um2"] == pytest.approx(rec.area * 0.0625)
        geom = shapely_shape(feat["geometry"])
        assert geom.geom_type == "Polygon" and geom.is_valid
        ring = feat["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]
        assert all(round(v, 2) == v for pt in ring for v in pt)
        if rec.area >= 30:
            back = rasterise(ring, rec.y0, rec.x0, rec.mask.shape)
            assert (back & rec.mask).sum() / (back | rec.mask).sum() >= 0.95
    polys = read_geojson_polygons(dest)
    assert [p["label"] for p in polys] == [r.label for r in recs]
    assert polys[0]["classification"] == "Nucleus"
    assert polys[0]["measurements"]["area"] == recs[0].area
    assert polys[0]["polygon"][0] == tuple(feats[0]["geometry"]["coordinates"][0][0])


def test_geojson_empty_and_nan(tmp_path):
    with GeoJSONWriter(tmp_path / "e.geojson", metadata={"seed": np.int64(3)}):
        pass
    data = json.loads((tmp_path / "e.geojson").read_text())
    assert data["features"] == [] and data["pathrobust"] == {"seed": 3}
    lab, rgb = scene()
    recs = labelled_records(lab, None)
    recs[0].measurements["odd"] = float("nan")
    with GeoJSONWriter(tmp_path / "n.geojson") as w:
        w.add(recs[:1])
    text = (tmp_path / "n.geojson").read_text()
    assert "NaN" not in text and json.loads(text)["features"][0]["properties"][
        "measurements"]["odd"] is None


# --- atomicity of streamed writers

@pytest.mark.parametrize("cls", [PointsCSVWriter, GeoJSONWriter])
@pytest.mark.parametrize("exc", [RuntimeError, Cancelled])
def test_streamed_writers_atomic(tmp_path, cls, exc):
    lab, rgb = scene()
    recs = labelled_records(lab, rgb)
    dest = tmp_path / "out.txt"
    dest.write_text("older run")
    with pytest.raises(exc):
        with cls(dest) as w:
            w.add(recs[:3])
            raise exc("stop")
    assert dest.read_text() == "older run"
    assert leftovers(tmp_path) == []
    w = cls(dest)
    w.add(recs)
    w.abort()
    assert dest.read_text() == "older run" and leftovers(tmp_path) == []
    with pytest.raises(RuntimeError):
        w.add(recs)
    # a fresh writer with no old file and a failure leaves nothing
    new = tmp_path / "new.txt"
    with pytest.raises(exc):
        with cls(new) as w:
            raise exc("stop")
    assert not new.exists() and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- renumber (bug 11)

@pytest.mark.parametrize("cls", [PointsCSVWriter, GeoJSONWriter])
def test_streamed_writers_renumber_to_final_id_order(tmp_path, cls):
    """Records arrive with provisional ids; the file lists them once each, in ascending
    final id, with the final ids (and ids 0 in the table are dropped)."""
    lab, rgb = scene()
    recs = labelled_records(lab, rgb)
    n = len(recs)
    rng = np.random.default_rng(1)
    lut = np.zeros(n + 1, np.int64)
    lut[1:] = rng.permutation(n) + 1
    dropped = recs[-1].label
    lut[dropped] = 0
    dest = tmp_path / ("out.csv" if cls is PointsCSVWriter else "out.geojson")
    writer = cls(dest, run_id="abc") if cls is GeoJSONWriter else cls(dest)
    with writer as w:
        w.add(recs[::2])
        w.add(recs[1::2])
        w.renumber(lut)
    by_final = {int(lut[r.label]): r for r in recs if lut[r.label] > 0}
    if cls is PointsCSVWriter:
        rows = list(csv.DictReader(dest.open(newline="")))
        labels = [int(row["label"]) for row in rows]
        xs = [float(row["x"]) for row in rows]
    else:
        feats = json.loads(dest.read_text())["features"]
        labels = [f["properties"]["label"] for f in feats]
        xs = [min(p[0] for p in f["geometry"]["coordinates"][0]) for f in feats]
        assert [f["id"] for f in feats] == [feature_id(k, "abc") for k in labels]
    assert labels == sorted(by_final)
    for label, x in zip(labels, xs):
        rec = by_final[label]
        if cls is PointsCSVWriter:
            assert x == rec.centroid_x
        else:
            assert rec.x0 - 1 <= x <= rec.x0 + rec.mask.shape[1]
    assert leftovers(tmp_path) == []


def test_staged_records_live_next_to_the_temporary_output(tmp_path):
    lab, rgb = scene()
    recs = labelled_records(lab, rgb)
    w = GeoJSONWriter(tmp_path / "x.geojson")
    w.add(recs)
    staged = [p.name for p in tmp_path.iterdir()]
    assert len(staged) == 1 and staged[0].startswith(".x.geojson.tmp-")
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_feature_ids_depend_on_run_and_label():
    a, b = feature_id(1, "0" * 32), feature_id(1, "f" * 32)
    assert a != b and feature_id(1, "0" * 32) == a != feature_id(2, "0" * 32)
    import uuid

    assert uuid.UUID(a).version == 5
