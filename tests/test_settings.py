"""One settings schema (engine.settings): the manifest mirrors it, napari's Preferences
model built from the manifest accepts what it accepts, one validation everywhere
(issue 23.6)."""

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from napari_pathrobust.engine import settings

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = [ROOT / "napari.yaml", ROOT / "src" / "napari_pathrobust" / "napari.yaml"]


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.parent.name)
def test_the_manifest_mirrors_the_schema(path):
    general = yaml.safe_load(path.read_text())["contributions"]["configurations"]["general"]
    assert general["title"] == "PathRobust"
    props = general["properties"]
    assert list(props) == [s.key for s in settings.SETTINGS_SCHEMA]  # same keys, same order
    assert props == settings.manifest_properties()  # types, defaults, bounds, titles
    for spec in settings.SETTINGS_SCHEMA:
        assert {"type", "default", "title", "description"} <= set(props[spec.key])
        assert props[spec.key]["default"] == settings.SETTING_DEFAULTS[spec.key]
    assert "enum" not in props["device"]  # cuda:N could not be listed


def test_napari_preferences_accept_what_the_schema_accepts():
    """napari builds the Preferences model from the manifest: cuda:N is accepted there
    as in the CLI, the bounds are enforced, the defaults are the schema's; a device
    name napari cannot check is ignored when read."""
    generator = pytest.importorskip("napari.settings._plugin_config_generator")
    from pydantic import ValidationError

    model = generator.plugin_configuration_generator()["napari-pathrobust"]
    prefs = model(config_path=None).general
    assert prefs.model_dump() == settings.SETTING_DEFAULTS
    prefs.device = "cuda:1"  # refused by the enum before
    assert settings.load_settings(prefs)["device"] == "cuda:1"
    for key, bad in (("tile", -1), ("tile", 70000), ("memory_budget_mb", 10)):
        with pytest.raises(ValidationError):
            setattr(prefs, key, bad)
        with pytest.raises(ValueError):
            settings.check_setting(key, bad)
    schema = type(prefs).model_json_schema()["properties"]
    assert schema["device"]["type"] == "string" and "enum" not in schema["device"]
    assert schema["tile"]["minimum"] == 0 and schema["tile"]["maximum"] == 65536
    prefs.device = "gpu"  # napari takes any text: the plugin does not use it
    assert settings.load_settings(prefs)["device"] == "auto"
    assert "device 'gpu'" in settings.preference_problems(prefs)[0]


def test_one_device_validation_for_settings_and_cli():
    from napari_pathrobust.cli._common import device_arg

    for name in ("auto", "cpu", "mps", "cuda", "cuda:0", "CUDA:1 "):
        assert settings.check_setting("device", name) == device_arg(name) == \
            name.strip().lower()
    for bad in ("gpu", "cuda:x", "cuda1", 3):
        with pytest.raises(ValueError) as exc:
            settings.check_setting("device", bad)
        assert "\n" not in str(exc.value)
        if isinstance(bad, str):
            with pytest.raises(argparse.ArgumentTypeError, match=str(exc.value)[:20]):
                device_arg(bad)


def test_values_are_checked_by_type_and_bounds():
    check = settings.check_setting
    assert check("tile", 512) == 512 and check("memory_budget_mb", 2048.0) == 2048
    assert check("results_dir", "") == "" and check("results_dir", "~/r") == "~/r"
    for key, bad in (("tile", True), ("tile", "512"), ("tile", 1.5), ("memory_budget_mb", 63),
                     ("results_dir", "relative/folder"), ("results_dir", 5), ("colour", 1)):
        with pytest.raises(ValueError, match=repr(key)):
            check(key, bad)


def test_load_and_save(config):
    assert settings.load_settings() == settings.SETTING_DEFAULTS  # no file
    (config / "settings.json").write_text(json.dumps(
        {"device": "cuda:2", "tile": -5, "memory_budget_mb": 2048, "other": 1}))
    loaded = settings.load_settings()
    assert loaded == {**settings.SETTING_DEFAULTS, "device": "cuda:2", "memory_budget_mb": 2048}
    with pytest.raises(ValueError, match="unknown setting"):
        settings.save_settings({"colour": "red"})
    with pytest.raises(ValueError, match="'tile'"):
        settings.save_settings({"tile": -1})
    path = settings.save_settings({"tile": 256})
    assert json.loads(path.read_text()) == {**loaded, "tile": 256}
    assert not [p for p in config.iterdir() if p.name.startswith(".")]  # atomic
    (config / "settings.json").write_text("{broken")
    assert settings.load_settings() == settings.SETTING_DEFAULTS


def test_preferences_win_and_only_the_saved_keys_are_set(config):
    prefs = SimpleNamespace(**settings.SETTING_DEFAULTS)
    prefs.device, prefs.tile = "cpu", "bad"
    assert settings.load_settings(prefs)["device"] == "cpu"
    assert settings.preference_problems(prefs) == [
        "Preferences setting 'tile': expected an integer from 0 to 65536, got 'bad' "
        "(not used)"]
    prefs.tile = 0
    touched = []

    class Watched(SimpleNamespace):
        def __setattr__(self, key, value):
            touched.append(key)
            super().__setattr__(key, value)

    watched = Watched(**vars(prefs))
    touched.clear()
    settings.save_settings({"memory_budget_mb": 4096}, watched)
    assert touched == ["memory_budget_mb"] and watched.results_dir == ""
    stored = json.loads((config / "settings.json").read_text())
    assert stored == {**settings.SETTING_DEFAULTS, "device": "cpu", "memory_budget_mb": 4096}


def test_results_dir(config):
    assert settings.results_dir() == config / "results"  # isolated: not the user's cache
    assert settings.results_dir({"results_dir": "~/big"}) == Path.home() / "big"
    settings.save_settings({"results_dir": str(config / "r")})
    assert settings.results_dir() == config / "r"


def test_the_widgets_use_the_same_store(config):
    """widgets._settings adds napari's Preferences and nothing else."""
    from napari_pathrobust.widgets import _settings

    assert _settings.SETTING_DEFAULTS is settings.SETTING_DEFAULTS
    assert _settings.SETTINGS_SCHEMA is settings.SETTINGS_SCHEMA
    _settings.save_settings({"device": "cuda:1"})
    assert settings.load_settings()["device"] == "cuda:1" == _settings.load_settings()["device"]
    assert _settings.results_dir() == settings.results_dir()
