"""PSM commands end to end on the bundled demo crop."""

import json

import numpy as np
import pytest
import tifffile

from napari_pathrobust.cli import main


def test_segment_with_psm(demo_image, tmp_path):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path), "--method", "psm",
                 "--device", "cpu", "--seed", "2"]) == 0
    labels = tifffile.imread(tmp_path / "demo_he_crop_labels.tif")
    assert labels.max() > 50
    run = json.loads((tmp_path / "demo_he_crop_run.json").read_text())
    assert run["method"] == "psm" and run["seed"] == 2
    assert run["parameters"]["model_hash"]["seg"] and run["parameters"]["variant"] == "full"


def test_pseudo_masks_writes_maps(demo_image, tmp_path):
    assert main(["-q", "pseudo-masks", str(demo_image), "-o", str(tmp_path),
                 "--device", "cpu"]) == 0
    activation = tifffile.imread(tmp_path / "demo_he_crop_activation.tif")
    mask = tifffile.imread(tmp_path / "demo_he_crop_pseudomask.tif")
    assert activation.dtype == np.float32 and 0 <= activation.min() <= activation.max() <= 1
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1} and mask.mean() > 0.05
    for suffix in ("_labels.tif", "_points.csv", ".geojson", "_overlay.png"):
        assert (tmp_path / f"demo_he_crop{suffix}").exists()


def test_train_ssl_then_train_then_segment(demo_image, tmp_path, capsys):
    ssl = tmp_path / "ssl.pt"
    seg = tmp_path / "seg.pt"
    assert main(["-q", "train-ssl", str(demo_image), "-o", str(ssl), "--steps", "2",
                 "--batch", "2", "--crop", "64", "--device", "cpu"]) == 0
    assert main(["-q", "train", str(demo_image), "-o", str(seg), "--ssl", str(ssl),
                 "--steps", "2", "--batch", "2", "--crop", "128", "--device", "cpu"]) == 0
    for weights in (ssl, seg):
        card = json.loads(weights.with_suffix(".json").read_text())
        assert len(card["sha256"]) == 64 and card["data"] == ["demo_he_crop.png"]
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path / "out"), "--method",
                 "psm", "--model", str(seg), "--ssl-model", str(ssl), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and "demo_he_crop:" in out


@pytest.mark.parametrize("option", [["--model", "x.pt"], ["--precision", "bf16"]])
def test_network_options_need_a_learned_method(demo_image, tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(demo_image), "-o", str(tmp_path), "--method", "classical", *option])
    assert exc.value.code == 2 and "learned method" in capsys.readouterr().err


def test_fp16_on_the_cpu_is_refused_clearly(demo_image, tmp_path, capsys):
    assert main(["-q", "segment", str(demo_image), "-o", str(tmp_path), "--method", "psm",
                 "--precision", "fp16", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "demo_he_crop.png" in err and "fp16 needs a GPU" in err
    assert not list(tmp_path.glob("*_labels.tif"))


def test_ihc_stain_option(demo_image, tmp_path, capsys):
    import csv

    from PIL import Image
    from test_ihc import ihc_tile

    Image.fromarray(ihc_tile(seed=3)[0]).save(tmp_path / "ki67.png")
    assert main(["-q", "segment", str(tmp_path / "ki67.png"), "-o", str(tmp_path), "--method",
                 "psm", "--stain", "ihc", "--device", "cpu"]) == 0
    with open(tmp_path / "ki67_points.csv", newline="") as handle:
        classes = {row["classification"] for row in csv.DictReader(handle)}
    assert classes == {"Positive", "Negative"}
    assert (tmp_path / "ki67_summary.csv").exists()


def test_train_with_dar_strategy_on_the_demo_crop(demo_image, tmp_path, capsys):
    seg = tmp_path / "seg_dar.pt"
    assert main(["-q", "train", str(demo_image), "-o", str(seg), "--strategy", "dar",
                 "--targets", "agree", "--steps", "4", "--batch", "2", "--crop", "128",
                 "--width", "4", "--device", "cpu"]) == 0
    card = json.loads(seg.with_suffix(".json").read_text())
    assert card["training"]["strategy"]["strategy"] == "dar"
    assert card["target_variant"] == "agree" and card["labels_used"] is False
    assert "dar, loss" in capsys.readouterr().out


def test_train_with_self_training_rounds_on_the_demo_crop(demo_image, tmp_path, capsys):
    seg = tmp_path / "seg_st.pt"
    assert main(["-q", "train", str(demo_image), "-o", str(seg), "--steps", "2",
                 "--batch", "2", "--crop", "128", "--width", "4", "--device", "cpu",
                 "--self-training-rounds", "1", "--confident", "0.6", "--keep-rounds"]) == 0
    card = json.loads(seg.with_suffix(".json").read_text())
    assert card["self_training"]["rounds"] == 1 and card["self_training"]["confident"] == 0.6
    assert card["self_training"]["history"][0]["round"] == 1
    assert (tmp_path / "seg_st_round0.pt").exists() and card["labels_used"] is False
    assert "round 1 +" in capsys.readouterr().out


@pytest.mark.parametrize("option", [["--confident", "1.5"], ["--self-training-rounds", "-1"]])
def test_bad_self_training_options_are_refused(demo_image, tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exc:
        main(["train", str(demo_image), "-o", str(tmp_path / "x.pt"), *option])
    assert exc.value.code == 2 and option[0] in capsys.readouterr().err
