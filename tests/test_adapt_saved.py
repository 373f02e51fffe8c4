"""Kept adapted networks: saved with a card, listed and built by the method registry
(``psm@<name>``), and ``pathrobust adapt`` saying what it did."""

import json

import numpy as np
import pytest


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def _tile(seed=2, shape=(128, 128)):
    from napari_pathrobust.engine.synthetic import synthetic_he_tile

    return synthetic_he_tile(shape, seed=seed)[0]


def _adapted(method="stain+bn"):
    from napari_pathrobust.engine.adapt.slide import SlideAdaptConfig, adapt_to_slide
    from napari_pathrobust.engine.methods.psm import PSMMethod

    psm = PSMMethod(maps=False, device="cpu")
    return adapt_to_slide(_tile(), psm, SlideAdaptConfig(method=method, gate=False)), psm


@pytest.mark.slow
def test_saved_network_is_listed_and_built_by_the_registry(config_dir):
    from napari_pathrobust.engine.adapt.saved import default_models_dir, save_adapted
    from napari_pathrobust.engine.registry import (
        DEFAULT_METHOD,
        available_methods,
        get_method,
        parse_method_params,
    )

    assert available_methods() == ["classical", "psm"] and DEFAULT_METHOD == "psm"
    adaptation, psm = _adapted()
    assert adaptation.kept and adaptation.reason == "gate off"
    path = save_adapted(adaptation, default_models_dir(), "my slide/1", image="slide.svs")
    assert path == config_dir / "models" / "my-slide-1.pt" and path.is_file()
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["adapted"] and card["method"] == "stain+bn" and card["image"] == "slide.svs"
    assert card["source_model_hash"] == psm.cards["seg"]["sha256"]
    assert card["stain_normalise"] and card["decision"] == "adapted" and card["seed"] == 0
    assert {"date", "settings", "sha256"} <= set(card)
    assert available_methods() == ["classical", "psm", "psm@my-slide-1"]
    assert parse_method_params("psm@my-slide-1", ["threshold=0.4"]) == {"threshold": 0.4}
    method = get_method("psm@my-slide-1", device="cpu", maps=False)
    assert method.name == "psm@my-slide-1" and method.normaliser is not None
    for key, value in method.psm.seg_net.state_dict().items():
        assert np.array_equal(value.numpy(), adaptation.net.state_dict()[key].numpy()), key
    from napari_pathrobust.engine.io import slide_from_array
    from napari_pathrobust.engine.tiled.pipeline import segment_slide

    labels = segment_slide(slide_from_array(_tile(3)), method, workers=1).labels
    assert np.asarray(labels).max() > 0
    with pytest.raises(ValueError):
        get_method("psm@missing")


def test_rolled_back_adaptation_is_not_saved(tmp_path):
    from napari_pathrobust.engine.adapt.saved import save_adapted

    adaptation, _ = _adapted("none")
    assert not adaptation.kept
    with pytest.raises(ValueError, match="nothing adapted"):
        save_adapted(adaptation, tmp_path, "x")


def test_cli_adapt_prints_and_records_the_decision(tmp_path, capsys):
    import tifffile

    from napari_pathrobust.cli import main

    tifffile.imwrite(tmp_path / "tile.tif", _tile(shape=(160, 160)))
    out = tmp_path / "out"
    assert main(["-q", "adapt", str(tmp_path / "tile.tif"), "-o", str(out), "--device",
                 "cpu", "--no-gate", "--keep", "t", "--models-dir", str(tmp_path / "m")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tile: Adapted network used: the never-worse check was off "
                               "[adapted (stain): gate off];"), lines
    assert "default models folder only" in lines[1] and (tmp_path / "m" / "t.pt").is_file()
    run = json.loads((out / "tile_run.json").read_text())
    info = run["parameters"]["adaptation"]
    assert info["decision"] == "adapted" and info["reason"] == "gate off"
    assert info["message"] == "Adapted network used: the never-worse check was off"
    assert main(["-q", "adapt", str(tmp_path / "tile.tif"), "-o", str(out), "--device",
                 "cpu", "--method", "none"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("tile: Original network used: adaptation was off (method none) "
                           "[kept source (none): adaptation off"), line
    assert json.loads((out / "tile_run.json").read_text())["parameters"]["adaptation"][
        "decision"] == "kept source"


def test_an_adapted_network_refuses_ihc_with_one_line():
    from napari_pathrobust.engine.adapt.saved import build_adapted

    with pytest.raises(ValueError, match="H&E only") as info:
        build_adapted("any", stain="ihc")
    assert "\n" not in str(info.value)
