"""``pathrobust train-classifier`` and ``pathrobust segment --classifier``."""

import csv
import json

import numpy as np
import pytest
import tifffile
from _cell_scenes import two_kind_scene

from napari_pathrobust.cli import main
from napari_pathrobust.engine import api

pytestmark = pytest.mark.slow


def _scene(size=320, seed=0):
    return two_kind_scene(size, seed, noise=4)


def _named_result(tmp_path, image, lab, kinds, classes=("A", "B"), per_class=6):
    """A label TIFF + cells table as Export writes it, a few cells named per class."""
    labels = np.array(sorted(kinds))
    named = np.zeros(len(labels), bool)
    for cls in classes:
        named[np.flatnonzero([kinds[v] == cls for v in labels])[:per_class]] = True
    base = np.array([kinds[v] for v in labels], dtype=object)
    cells = _with_named(labels, base, named)
    return api.export_labels_tiff(tmp_path / "train.tif", lab, {"source": str(image),
                                                                "mpp": 0.5},
                                  features=cells)


def _with_named(labels, base, named):
    from napari_pathrobust.engine.cell_classes import PATHOLOGIST, set_base, with_classes

    ys = np.zeros(len(labels))
    cells = with_classes({"label": labels, "x": ys, "y": ys, "area": np.ones(len(labels)),
                          "status": np.full(len(labels), "unreviewed", dtype=object)})
    return set_base(cells, base, PATHOLOGIST, mask=named)


def test_train_then_segment_with_the_classifier(tmp_path, capsys):
    rgb, lab, kinds = _scene()
    image = tmp_path / "scene.tif"
    tifffile.imwrite(image, rgb, photometric="rgb")
    train = _named_result(tmp_path, image, lab, kinds)
    model = tmp_path / "cells.classifier.zip"
    assert main(["-q", "train-classifier", str(train), "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "2 classes (A 6, B 6)" in out and model.is_file()
    card = api.load_classifier(model).card
    assert card["trained_on"][0]["named"] == 12

    code = main(["-q", "segment", str(image), "-o", str(tmp_path / "out"), "--method",
                 "classical", "--mpp", "0.5", "--classifier", str(model)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "scene: classified (" in captured.out
    with open(tmp_path / "out" / "scene_points.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["classification"] for r in rows} <= {"A", "B"}
    assert all(0.5 <= float(r["class_probability"]) <= 1 for r in rows)
    truth = [kinds.get(int(lab[int(round(float(r["y"]))), int(round(float(r["x"])))]))
             for r in rows]
    hits = [t == r["classification"] for t, r in zip(truth, rows) if t]
    assert len(hits) >= 0.8 * len(rows) and np.mean(hits) >= 0.9
    run = json.loads((tmp_path / "out" / "scene_run.json").read_text())
    assert run["classifier"]["classes"] == ["A", "B"] and run["classifier"]["sha256"]
    geo = json.loads((tmp_path / "out" / "scene.geojson").read_text())
    assert {f["properties"]["classification"]["name"] for f in geo["features"]} <= {"A", "B"}
    assert not list((tmp_path / "out").glob(".*"))  # no staging left behind


def test_refusals_are_one_line(tmp_path, capsys):
    rgb, lab, kinds = _scene()
    image = tmp_path / "scene.tif"
    tifffile.imwrite(image, rgb, photometric="rgb")
    train = _named_result(tmp_path, image, lab, kinds, classes=("A",))
    assert main(["-q", "train-classifier", str(train), "-o", str(tmp_path / "m.zip")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "only 'A' is named" in err
    assert not (tmp_path / "m.zip").exists()

    train = _named_result(tmp_path, image, lab, kinds, per_class=3)
    assert main(["-q", "train-classifier", str(train), "-o", str(tmp_path / "m.zip")]) == 1
    err = capsys.readouterr().err.strip()
    assert "class 'A'" in err and "at least 5" in err

    train = _named_result(tmp_path, tmp_path / "gone.tif", lab, kinds)
    assert main(["-q", "train-classifier", str(train), "-o", str(tmp_path / "m.zip")]) == 1
    assert "give it with --image" in capsys.readouterr().err
    assert main(["-q", "train-classifier", str(train), "-o", str(tmp_path / "m.zip"),
                 "--image", str(image)]) == 0
    capsys.readouterr()

    (tmp_path / "junk.zip").write_bytes(b"junk")
    with pytest.raises(SystemExit) as exc:
        main(["-q", "segment", str(image), "-o", str(tmp_path / "o"), "--method", "classical",
              "--classifier", str(tmp_path / "junk.zip")])
    assert exc.value.code == 2
    assert "junk.zip: not a cell classifier file" in capsys.readouterr().err


def test_trains_on_geojson_and_zarr_results(tmp_path, capsys):
    rgb, lab, kinds = _scene()
    image = tmp_path / "scene.tif"
    tifffile.imwrite(image, rgb, photometric="rgb")
    tif = _named_result(tmp_path, image, lab, kinds)
    cells = api.read_cells_table(tmp_path / "train_cells.csv")
    meta = {"source": str(image), "mpp": 0.5, "image_shape": list(lab.shape)}
    geo = api.export_geojson(tmp_path / "train.geojson", lab, cells, dict(meta))
    zarr = api.export_labels_zarr(tmp_path / "train.zarr", lab, dict(meta), features=cells)
    model = tmp_path / "m.classifier.zip"
    assert main(["-q", "train-classifier", str(geo), str(zarr), str(tif), "-o",
                 str(model)]) == 0, capsys.readouterr().err
    assert "2 classes (A 18, B 18)" in capsys.readouterr().out
