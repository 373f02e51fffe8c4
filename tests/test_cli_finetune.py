"""``pathrobust finetune``: reviewed results in, a kept psm@NAME out; one-line refusals."""

import json

import numpy as np
import pytest
import tifffile

from napari_pathrobust.cli import main


def _reviewed(tmp_path, reviewed=True, painted=0, stain="he"):
    from napari_pathrobust.engine.jobs.export import export_labels_tiff
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    rgb, gt = synthetic_he_tile((128, 128), seed=5)
    tifffile.imwrite(tmp_path / "tile.tif", rgb)
    ids = [int(i) for i in np.unique(gt) if i]
    status = (["accepted"] * 5 + ["rejected"] * 2) if reviewed else []
    status += ["unreviewed"] * (len(ids) - len(status))
    centres = [np.argwhere(gt == i).mean(0) for i in ids]
    features = {"label": ids, "x": [c[1] for c in centres], "y": [c[0] for c in centres],
                "area": [1] * len(ids), "classification": ["Nucleus"] * len(ids),
                "status": status}
    if painted:  # Review marks the cells a stroke shaped: painted 1.0, accepted
        features["painted"] = [1.0] * painted + [0.0] * (len(ids) - painted)
    export_labels_tiff(tmp_path / "tile_labels.tif", gt, {"name": "tile", "stain": stain},
                       features)
    return tmp_path / "tile.tif", tmp_path / "tile_labels.tif"


def test_finetune_keeps_a_network_with_its_card(tmp_path, capsys):
    image, result = _reviewed(tmp_path)
    models = tmp_path / "models"
    assert main(["-q", "finetune", str(image), "--reviewed", str(result), "-o", "mine",
                 "--steps", "1", "--lr", "0", "--seed", "3", "--device", "cpu",
                 "--models-dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert "kept as psm@mine" in out and "5 accepted, 2 rejected, 0 painted" in out
    card = json.loads((models / "mine.json").read_text())
    assert card["seed"] == 3 and card["method"] == "erm" and card["finetuned"]
    assert (models / "mine.pt").is_file()


def test_finetune_reads_the_cells_csv_too(tmp_path, capsys):
    image, _ = _reviewed(tmp_path)
    assert main(["-q", "finetune", str(image), "--reviewed",
                 str(tmp_path / "tile_labels_cells.csv"), "-o", "csv", "--steps", "1",
                 "--lr", "0", "--device", "cpu", "--models-dir", str(tmp_path)]) == 0
    assert "psm@csv" in capsys.readouterr().out


def test_an_ihc_review_is_learnt_on_the_pseudo_he_psm_runs_see(tmp_path, capsys):
    from skimage.io import imread

    from napari_pathrobust.engine.jobs.finetune import network_view, read_reviewed

    image, result = _reviewed(tmp_path, stain="ihc")
    item = read_reviewed(image, result)
    raw = imread(image)[..., :3]
    assert item.stain == "ihc" and item.rgb.shape == raw.shape
    np.testing.assert_array_equal(item.rgb, network_view(raw, "ihc", 0.25))
    assert not np.array_equal(item.rgb, raw)
    models = tmp_path / "models"
    assert main(["-q", "finetune", str(image), "--reviewed", str(result), "-o", "ihc",
                 "--steps", "1", "--lr", "0", "--device", "cpu",
                 "--models-dir", str(models)]) == 0
    assert json.loads((models / "ihc.json").read_text())["stain"] == "ihc"


def test_cells_painted_in_review_reach_finetuning_through_export(tmp_path, capsys):
    image, result = _reviewed(tmp_path, painted=3)
    assert main(["-q", "finetune", str(image), "--reviewed", str(result), "-o", "p",
                 "--steps", "1", "--lr", "0", "--device", "cpu",
                 "--models-dir", str(tmp_path)]) == 0
    assert "2 accepted, 2 rejected, 3 painted" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("unreviewed", "tile_labels.tif: no reviewed cells"),
    ("pairs", "2 results for 1 images"),
])
def test_finetune_refusals_are_one_line(tmp_path, capsys, case, message):
    image, result = _reviewed(tmp_path, reviewed=case != "unreviewed")
    results = [str(result)] * (2 if case == "pairs" else 1)
    assert main(["-q", "finetune", str(image), "--reviewed", *results, "-o", "x",
                 "--device", "cpu", "--models-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
