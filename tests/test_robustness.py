"""Robustness harness: project method, user callables, TorchScript, CLI end to end."""

import csv
import sys
import types

import numpy as np
import pytest

from napari_pathrobust.engine.errors import InputError
from napari_pathrobust.engine.robustness import (
    RobustnessImage,
    load_model,
    parse_severities,
    run_robustness,
    sensitivity_ranking,
)
from napari_pathrobust.engine.synthetic import synthetic_he_tile


@pytest.fixture(scope="module")
def image():
    rgb, lab = synthetic_he_tile((128, 128), seed=2)
    return RobustnessImage("syn", rgb, lab)


def _dark_mask(rgb):
    return (rgb.astype(float).mean(-1) < 150).astype(np.uint8)  # binary -> components


def _red_class(rgb):
    return np.array([rgb[..., 0].mean(), rgb[..., 2].mean()])  # scores for 2 classes


@pytest.fixture
def user_module():
    mod = types.ModuleType("pr_user_models")
    mod.dark_mask, mod.red_class = _dark_mask, _red_class
    sys.modules["pr_user_models"] = mod
    yield mod
    sys.modules.pop("pr_user_models")


def test_parse_severities():
    assert parse_severities("1-5") == [1, 2, 3, 4, 5]
    assert parse_severities("1,3,5") == [1, 3, 5]
    with pytest.raises(ValueError):
        parse_severities("0-7")


def test_callable_segmentation_against_gt_and_clean(image, user_module):
    model = load_model("pr_user_models:dark_mask")
    rows = run_robustness([image], model, ["hue", "flipping"], [1, 5])
    assert len(rows) == 1 + 4 and rows[0]["severity"] == 0 and rows[0]["reference"] == "gt"
    flip = [r for r in rows if r["kind"] == "flipping"]
    clean_aji = rows[0]["aji"]
    for r in flip:  # a pixelwise model is flip-equivariant: GT mapped through the flip
        assert r["aji"] == pytest.approx(clean_aji, abs=1e-9) and r["agreement_aji"] == 1.0
    rows2 = run_robustness([RobustnessImage("syn", image.rgb)], model, ["hue"], [5])
    assert rows2[1]["reference"] == "clean" and 0 <= rows2[1]["aji"] <= 1


def test_classification_agreement_and_accuracy(image, user_module):
    model = load_model("pr_user_models:red_class")
    img = RobustnessImage("syn", image.rgb, label=0)
    rows = run_robustness([img], model, ["hue", "brightness"], [1, 5])
    assert {"agreement", "correct"} <= set(rows[1])
    assert rows[0]["agreement"] == 1.0 and rows[0]["correct"] in (0.0, 1.0)


def test_torchscript_model(tmp_path, image):
    import torch

    class Net(torch.nn.Module):
        def forward(self, x):
            return (x.mean(dim=1, keepdim=True) < 0.6).float()  # (1, 1, H, W) mask

    path = tmp_path / "net.pt"
    torch.jit.script(Net()).save(str(path))
    model = load_model(str(path))
    rows = run_robustness([image], model, ["defocus"], [1, 5])
    assert rows[0]["nuclei_count"] > 5
    assert rows[2]["agreement_aji"] <= rows[1]["agreement_aji"] + 1e-9


def test_bad_models_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(InputError, match="TorchScript"):
        load_model(str(bad))
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        onnx = tmp_path / "m.onnx"
        onnx.write_bytes(b"x")
        with pytest.raises(InputError, match="onnxruntime"):
            load_model(str(onnx))
    with pytest.raises(InputError, match="unknown model"):
        load_model("nonsense")


def test_report_files(tmp_path, image):
    from napari_pathrobust.engine.jobs.robustness import robustness_report

    res = robustness_report([image], tmp_path, "classical", ["markup", "flipping"], [1, 5])
    for name in ("robustness.csv", "report.html", "heatmap_aji.png", "heatmap_aji.svg",
                 "curves_aji.png", "examples.png", "robustness_run.json"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "robustness.csv")))
    assert rows[0].keys() >= {"kind", "severity", "image", "aji", "object_dice", "pixel_f1",
                              "detection_f1", "nuclei_count"}
    assert len(rows) == 5
    assert sensitivity_ranking(res["rows"], "aji")[0][0] == "markup"


def test_cli_corrupt_and_robustness(tmp_path, demo_image, capsys):
    from napari_pathrobust.cli import main

    assert main(["corrupt", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("brightness") and len(lines) == 18
    out = tmp_path / "c.png"
    assert main(["-q", "corrupt", str(demo_image), "--kind", "rotation", "--severity", "2",
                 "--seed", "3", "-o", str(out)]) == 0
    from PIL import Image

    arr = np.asarray(Image.open(out))
    assert arr.shape == (512, 512, 3)
    assert main(["-q", "corrupt", str(demo_image), "--kind", "bogus", "-o", str(out)]) == 2
    rob = tmp_path / "rob"
    assert main(["-q", "robustness", str(demo_image), "--kinds", "hue", "rotation",
                 "--severities", "5", "--crop", "160", "-o", str(rob)]) == 0
    assert (rob / "robustness.csv").is_file() and (rob / "report.html").is_file()


@pytest.fixture
def recorded_psm(monkeypatch):
    """Record every PSM method built (its device) and every network weight file it asks for
    (the process-wide cache aside: one request per network per method)."""
    from napari_pathrobust.engine.methods import psm

    record = {"devices": [], "loads": []}
    real_load = psm.load_model_cached

    def counting_load(path, *args, **kwargs):
        record["loads"].append(str(path))
        return real_load(path, *args, **kwargs)

    class RecordingPSM(psm.PSMMethod):
        def __init__(self, *args, **kwargs):
            record["devices"].append(kwargs.get("device"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(psm, "load_model_cached", counting_load)
    monkeypatch.setattr(psm, "PSMMethod", RecordingPSM)
    return record


def _cli_robustness(demo_image, outdir, kinds, severities):
    from napari_pathrobust.cli import main

    return main(["-q", "robustness", str(demo_image), "--method", "psm", "--kinds", *kinds,
                 "--severities", severities, "--crop", "96", "--device", "cpu",
                 "-o", str(outdir)])


def test_robustness_builds_builtin_method_on_the_chosen_device(tmp_path, demo_image,
                                                               recorded_psm):
    assert _cli_robustness(demo_image, tmp_path / "rob", ["hue"], "5") == 0
    assert recorded_psm["devices"] == ["cpu"]  # --device reaches the method


def test_robustness_loads_the_weights_once_per_run(tmp_path, demo_image, recorded_psm):
    assert _cli_robustness(demo_image, tmp_path / "rob", ["hue", "brightness", "flipping"],
                           "1,5") == 0
    assert len(recorded_psm["devices"]) == 1  # one method for the clean and 6 corrupted
    loads = recorded_psm["loads"]
    assert loads and len(loads) == len(set(loads))  # each network's weights read once
