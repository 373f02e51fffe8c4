"""PSM commands end to end on the bundled demo crop."""

import json
from pathlib import Path

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


def test_train_for_ihc_renders_its_images_and_segment_uses_the_network(tmp_path, capsys,
                                                                        monkeypatch):
    """`train --stain ihc` trains on what `segment --stain ihc` feeds the network (the
    pseudo-H&E render of the H-DAB detection image), says so on the card, and an IHC run
    given that network uses it."""
    from PIL import Image

    from napari_pathrobust.engine.jobs import train_psm
    from napari_pathrobust.engine.jobs.training_images import render_ihc
    from napari_pathrobust.engine.synthetic import synthetic_ihc_tile

    field = tmp_path / "ki67.png"
    Image.fromarray(synthetic_ihc_tile(size=256, seed=3)[0]).save(field)
    seen = []
    real = train_psm.render_ihc
    monkeypatch.setattr(train_psm, "render_ihc", lambda img: seen.append(img) or real(img))
    seg = tmp_path / "ihc_seg.pt"
    assert main(["-q", "train", str(field), "-o", str(seg), "--stain", "ihc", "--steps", "2",
                 "--batch", "2", "--crop", "128", "--width", "4", "--device", "cpu",
                 "--mpp", "0.25"]) == 0
    card = json.loads(seg.with_suffix(".json").read_text())
    assert card["stain"] == "ihc" and "pseudo-H&E" in card["input"]
    assert card["labels_used"] is False and len(seen) == 1
    rendered = render_ihc(seen[0])
    assert rendered.shape == seen[0].shape and rendered[..., 2].mean() > rendered[..., 1].mean()
    capsys.readouterr()
    assert main(["-q", "segment", str(field), "-o", str(tmp_path / "out"), "--method", "psm",
                 "--stain", "ihc", "--model", str(seg), "--device", "cpu"]) == 0
    run = json.loads((tmp_path / "out" / "ki67_run.json").read_text())
    assert card["sha256"][:16] in json.dumps(run)


def test_train_can_start_from_a_network(demo_image, tmp_path):
    """`--init`: every network starts from the given weights (its width), named on the
    card; a network of another shape is refused in one line."""
    import torch

    from napari_pathrobust.engine.methods.psm import BUILDERS, SEG_WEIGHTS, _bundled
    from napari_pathrobust.engine.models.unet import CompactUNet
    from napari_pathrobust.engine.models.weights import load_model
    from napari_pathrobust.engine.psm.segtrain import SegTrainConfig, train_segmentation

    start = _bundled(SEG_WEIGHTS)
    seg = tmp_path / "from_he.pt"
    assert main(["-q", "train", str(demo_image), "-o", str(seg), "--init", start,
                 "--steps", "1", "--batch", "2", "--crop", "128", "--lr", "1e-9",
                 "--device", "cpu"]) == 0
    card = json.loads(seg.with_suffix(".json").read_text())
    assert card["init_weights"]["sha256"] == json.loads(
        Path(start).with_suffix(".json").read_text())["sha256"]
    trained, _ = load_model(seg, BUILDERS)
    original, _ = load_model(start, BUILDERS)
    weight = "down.0.0.weight"
    assert torch.allclose(trained.state_dict()[weight], original.state_dict()[weight],
                          atol=1e-6)
    with pytest.raises(ValueError, match="width 8"):
        train_segmentation([np.zeros((64, 64, 3), np.uint8)], [None],
                           SegTrainConfig(width=8, steps=1), init=CompactUNet(width=4))


def test_an_init_that_is_not_a_nucleus_network_is_refused_before_training(
        demo_image, tmp_path, capsys, monkeypatch):
    from napari_pathrobust.engine.jobs import train_psm
    from napari_pathrobust.engine.methods.psm import SSL_WEIGHTS, _bundled

    monkeypatch.setattr(train_psm, "load_training_images",
                        lambda *a, **k: pytest.fail("read images before checking --init"))
    seg = tmp_path / "x.pt"
    assert main(["-q", "train", str(demo_image), "-o", str(seg), "--init",
                 _bundled(SSL_WEIGHTS), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "psm_ssl.pt" in err and "expected a nucleus network" in err
    assert not list(tmp_path.iterdir())


def test_ihc_runs_use_the_bundled_ihc_network_when_shipped():
    from napari_pathrobust.engine.methods.psm import (
        SEG_WEIGHTS,
        SEG_WEIGHTS_IHC,
        _bundled,
        default_seg_weights,
    )

    assert default_seg_weights("he") == _bundled(SEG_WEIGHTS)
    assert default_seg_weights("ihc") == (_bundled(SEG_WEIGHTS_IHC) or _bundled(SEG_WEIGHTS))
