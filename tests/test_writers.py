"""Tests for engine.writers: round trips, QuPath GeoJSON, atomicity."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import shape as shapely_shape
from skimage.draw import disk, ellipse
from skimage.draw import polygon as draw_polygon

from napari_pathrobust.engine.errors import Cancelled, InputError
from napari_pathrobust.engine.nucleus_records import measure_objects
from napari_pathrobust.engine.progress import Reporter
from napari_pathrobust.engine.writers import (
    GeoJSONWriter,
    OmeZarrLabelsWriter,
    PointsCSVWriter,
    atomic_path,
    feature_id,
    read_geojson_polygons,
    read_labels_tiff,
    read_ome_zarr_labels,
    write_labels_tiff,
    write_overlay_png,
    write_run_json,
)


def scene(h=160, w=200, seed=0):
    rng = np.random.default_rng(seed)
    lab = np.zeros((h, w), np.int32)
    n = 0
    for cy in range(18, h - 10, 34):
        for cx in range(18, w - 40, 34):
            n += 1
            rr, cc = ellipse(cy, cx, rng.uniform(5, 11), rng.uniform(4, 9),
                             rotation=rng.uniform(0, np.pi), shape=lab.shape)
            lab[rr, cc] = n
    for cy in (30, 100):  # touching pair
        rr, cc = disk((cy, w - 20), 8, shape=lab.shape)
        n += 1
        lab[rr, cc] = n
        n += 1
        lab[rr[cc < w - 20], cc[cc < w - 20]] = n
    rgb = rng.integers(150, 256, (h, w, 3)).astype(np.uint8)
    rgb[lab > 0] = (90, 50, 150)
    return lab, rgb


def labelled_records(lab, rgb, mpp=None):
    recs = measure_objects(lab, rgb, mpp=mpp)
    for i, rec in enumerate(recs, start=1):
        rec.label = i
    return recs


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def rasterise(ring, y0, x0, shape):
    pts = np.asarray(ring)
    out = np.zeros(shape, bool)
    rr, cc = draw_polygon(pts[:, 1] - 0.5 - y0, pts[:, 0] - 0.5 - x0, shape=shape)
    out[rr, cc] = True
    return out


# --------------------------------------------------------------------------- atomic_path

def test_atomic_path_file_and_dir(tmp_path):
    dest = tmp_path / "sub" / "a.txt"
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent and tmp.name.startswith(".a.txt.tmp-")
        tmp.write_text("new")
    assert dest.read_text() == "new"
    ddir = tmp_path / "d.zarr"
    ddir.mkdir()
    (ddir / "old").write_text("old")
    with atomic_path(ddir) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("x")
    assert sorted(p.name for p in ddir.iterdir()) == ["new"]
    assert leftovers(tmp_path) == [] and leftovers(dest.parent) == []


@pytest.mark.parametrize("exc", [RuntimeError, Cancelled])
def test_atomic_path_failure_keeps_old(tmp_path, exc):
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    with pytest.raises(exc):
        with atomic_path(dest) as tmp:
            tmp.write_text("partial")
            raise exc("boom")
    assert dest.read_text() == "old"
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- TIFF

@pytest.mark.parametrize("shape", [(64, 80), (2100, 300)])
def test_labels_tiff_round_trip(tmp_path, shape):
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 70000, shape).astype(np.int64)
    meta = {"method": "watershed", "seed": 7, "params": {"sigma": 1.5}, "note": "µm ok"}
    out = write_labels_tiff(tmp_path / "labels.tif", lab, metadata=meta, mpp=0.25)
    back, meta_back = read_labels_tiff(out)
    assert back.dtype == np.uint32
    np.testing.assert_array_equal(back, lab)
    assert {k: meta_back[k] for k in meta} == meta
    assert meta_back["mpp"] == pytest.approx(0.25)
    assert leftovers(tmp_path) == []


def test_labels_tiff_rejects_bad_input(tmp_path):
    with pytest.raises(InputError):
        write_labels_tiff(tmp_path / "x.tif", -np.ones((4, 4), np.int32))
    with pytest.raises(InputError):
        write_labels_tiff(tmp_path / "x.tif", np.zeros((4, 4, 2), np.int32))
    with pytest.raises(InputError):
        read_labels_tiff(tmp_path / "missing.tif")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- OME-Zarr

def test_ome_zarr_tile_by_tile_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    shape = (2300, 1500)
    full = rng.integers(0, 1000, shape).astype(np.uint32)
    dest = tmp_path / "labels.ome.zarr"
    calls = []
    with OmeZarrLabelsWriter(dest, shape, chunk=512, metadata={"seed": 1}, mpp=0.5) as w:
        for y0 in range(0, shape[0], 700):       # tiles not aligned with chunks
            for x0 in range(0, shape[1], 600):
                w.array[y0:y0 + 700, x0:x0 + 600] = full[y0:y0 + 700, x0:x0 + 600]
        assert not dest.exists()
        w.finalize(Reporter(progress=lambda d, t, m: calls.append((d, t))))
    assert calls and calls[-1][0] == calls[-1][1]
    levels, attrs = read_ome_zarr_labels(dest)
    assert [lv.shape for lv in levels] == [(2300, 1500), (1150, 750), (575, 375)]
    np.testing.assert_array_equal(levels[0][:], full)
    np.testing.assert_array_equal(levels[1][:], full[::2, ::2])
    np.testing.assert_array_equal(levels[2][:], full[::4, ::4])
    assert all(lv.dtype == np.uint32 for lv in levels)
    ms = attrs["ome"]["multiscales"][0]
    assert attrs["ome"]["version"] == "0.5"
    assert [a["name"] for a in ms["axes"]] == ["y", "x"]
    assert all(a["unit"] == "micrometer" for a in ms["axes"])
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    assert scales == [[0.5, 0.5], [1.0, 1.0], [2.0, 2.0]]
    assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2"]
    assert attrs["pathrobust"]["seed"] == 1 and attrs["pathrobust"]["mpp"] == 0.5
    assert leftovers(tmp_path) == []


def test_ome_zarr_small_has_single_level_and_replaces_old(tmp_path):
    dest = tmp_path / "l.zarr"
    dest.mkdir()
    (dest / "stale").write_text("x")
    w = OmeZarrLabelsWriter(dest, (100, 50), chunk=64)
    w.array[:] = 5
    w.finalize()
    levels, attrs = read_ome_zarr_labels(dest)
    assert len(levels) == 1 and levels[0].shape == (100, 50) and (levels[0][:] == 5).all()
    assert "unit" not in attrs["ome"]["multiscales"][0]["axes"][0]
    assert not (dest / "stale").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("how", ["exception", "abort", "cancel"])
def test_ome_zarr_atomic(tmp_path, how):
    dest = tmp_path / "l.zarr"
    dest.mkdir()
    (dest / "old").write_text("keep me")
    if how == "exception":
        with pytest.raises(RuntimeError):
            with OmeZarrLabelsWriter(dest, (300, 300), chunk=128) as w:
                w.array[:100, :100] = 1
                raise RuntimeError("tile worker died")
    elif how == "abort":
        w = OmeZarrLabelsWriter(dest, (300, 300), chunk=128)
        w.array[:] = 2
        w.abort()
    else:
        w = OmeZarrLabelsWriter(dest, (2048, 2048), chunk=256)
        with pytest.raises(Cancelled):
            w.finalize(Reporter(cancel=lambda: True))
    assert (dest / "old").read_text() == "keep me"
    assert sorted(p.name for p in dest.iterdir()) == ["old"]
    assert leftovers(tmp_path) == []


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
    assert list(rows[0])[6:] == list(recs[0].measurements)[1:]  # 'area' not repeated


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
    assert (tmp_path / "empty.csv").read_text() == "label,x,y,area,classification,status\n"
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


def test_tiff_png_json_failures_leave_old(tmp_path, monkeypatch):
    import tifffile

    for name, call in [
        ("l.tif", lambda p: write_labels_tiff(p, np.ones((8, 8), np.int32))),
        ("o.png", lambda p: write_overlay_png(p, np.zeros((8, 8, 3), np.uint8),
                                              np.ones((8, 8), np.int32))),
        ("r.json", lambda p: write_run_json(p, {"x": object()})),  # not serialisable
    ]:
        dest = tmp_path / name
        dest.write_text("old")
        if name == "l.tif":
            def broken(path, *a, **k):
                Path(path).write_bytes(b"partial")
                raise Cancelled("stop")
            monkeypatch.setattr(tifffile, "imwrite", broken)
        if name == "o.png":
            def broken_save(self, *a, **k):
                raise OSError("disk full")
            monkeypatch.setattr(Image.Image, "save", broken_save)
        with pytest.raises((Cancelled, OSError, TypeError)):
            call(dest)
        assert dest.read_text() == "old"
        assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- overlay + run json

def test_overlay_png_downsampled(tmp_path):
    lab, rgb = scene(h=300, w=500)
    out = write_overlay_png(tmp_path / "ov.png", rgb, lab, max_side=128, color=(255, 0, 0))
    img = np.asarray(Image.open(out))
    f = int(np.ceil(500 / 128))
    assert img.shape == (int(np.ceil(300 / f)), int(np.ceil(500 / f)), 3)
    assert (img == (255, 0, 0)).all(axis=2).any()
    full = np.asarray(Image.open(write_overlay_png(tmp_path / "full.png", rgb, lab)))
    assert full.shape == (300, 500, 3)
    edge = (full == (0, 255, 0)).all(axis=2)
    assert edge.sum() < (lab > 0).sum() and not edge[lab == 0].any()
    assert leftovers(tmp_path) == []


def test_run_json(tmp_path):
    info = {"parameters": {"sigma": np.float32(1.5)}, "seed": np.int64(4), "model_hash": None,
            "input": tmp_path / "in.tif"}
    out = write_run_json(tmp_path / "run.json", info)
    data = json.loads(out.read_text())
    assert data["seed"] == 4 and data["parameters"]["sigma"] == 1.5
    assert data["input"].endswith("in.tif") and "numpy" in data["versions"]


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
