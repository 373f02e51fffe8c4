"""Tests for engine.writers: label TIFF / OME-Zarr, overlay, run JSON, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _writer_scenes import labelled_records, leftovers, rasterise, scene  # noqa: F401
from PIL import Image

from napari_pathrobust.engine.errors import Cancelled, InputError
from napari_pathrobust.engine.progress import Reporter
from napari_pathrobust.engine.writers import (
    OmeZarrLabelsWriter,
    atomic_path,
    read_labels_tiff,
    read_ome_zarr_labels,
    write_labels_tiff,
    write_overlay_png,
    write_run_json,
)

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




def test_ome_zarr_extra_file_is_published_with_the_labels(tmp_path):
    """A cells table staged inside the zarr appears only when the labels are complete."""
    from napari_pathrobust.engine.writers import OmeZarrLabelsWriter

    with OmeZarrLabelsWriter(tmp_path / "a.zarr", (8, 8), chunk=4) as writer:
        writer.array[:] = 1
        writer.staged_file("cells.csv").write_text("label\n1\n")
        with pytest.raises(ValueError):
            writer.staged_file("../x.csv")
    assert (tmp_path / "a.zarr" / "cells.csv").read_text() == "label\n1\n"
    writer = OmeZarrLabelsWriter(tmp_path / "b.zarr", (8, 8), chunk=4)
    writer.staged_file("cells.csv").write_text("label\n")
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr"]
