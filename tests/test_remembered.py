"""Widget values remembered between sessions and settings in napari's Preferences
(issue 16.7)."""

import json

import pytest


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path))
    return tmp_path


def _fields():
    from magicgui.widgets import CheckBox, ComboBox, FileEdit, SpinBox

    return [ComboBox(label="Kind", choices=["hue", "blur", "jpeg"], value="hue"),
            SpinBox(label="Seed", min=0, max=100, value=0),
            CheckBox(text="Live", value=True), FileEdit(label="Folder", mode="d", value="")]


@pytest.mark.gui
def test_values_are_restored_in_a_new_widget(config, qapp):
    from napari_pathrobust.widgets._remembered import remember

    kind, seed, live, folder = first = _fields()
    remember(None, "demo", first)
    kind.value, seed.value, live.value, folder.value = "jpeg", 7, False, str(config)
    stored = json.loads((config / "widgets.json").read_text())
    assert stored["demo"] == {"Kind": "jpeg", "Seed": 7, "Live": False, "Folder": str(config)}
    again = _fields()
    remember(None, "demo", again)
    assert [w.value for w in again[:3]] == ["jpeg", 7, False]
    assert str(again[3].value) == str(config)
    assert not [p for p in config.iterdir() if p.name.startswith(".")]  # atomic write


@pytest.mark.gui
def test_bad_or_stale_values_are_ignored(config, qapp):
    from napari_pathrobust.widgets._remembered import remember

    (config / "widgets.json").write_text(json.dumps(
        {"demo": {"Kind": "gone", "Seed": 500, "Live": "yes"}}))
    kind, seed, live, _folder = fields = _fields()
    remember(None, "demo", fields)
    assert (kind.value, seed.value, live.value) == ("hue", 100, True)  # clamped to max
    (config / "widgets.json").write_text("{not json")
    remember(None, "demo", _fields())  # a broken file means nothing saved


def test_settings_are_napari_preferences():
    """napari 0.9+ renders the manifest's configurations in Preferences: they build
    into a settings model with the plugin's defaults."""
    napari_settings = pytest.importorskip("napari.settings._plugin_config_generator")
    from napari_pathrobust.widgets._settings import SETTING_DEFAULTS

    model = napari_settings.plugin_configuration_generator()["napari-pathrobust"]
    assert model(config_path=None).general.model_dump() == SETTING_DEFAULTS


def test_preferences_win_and_are_written(config, monkeypatch):
    from types import SimpleNamespace

    from napari_pathrobust.widgets import _settings

    prefs = SimpleNamespace(**_settings.SETTING_DEFAULTS)
    monkeypatch.setattr(_settings, "napari_preferences", lambda: prefs)
    (config / "settings.json").write_text('{"tile": 512}')
    prefs.device = "cpu"
    assert _settings.load_settings()["device"] == "cpu"
    assert _settings.load_settings()["tile"] == 0  # Preferences win over the file
    _settings.save_settings({"memory_budget_mb": 2048})
    assert prefs.memory_budget_mb == 2048
    assert json.loads((config / "settings.json").read_text())["memory_budget_mb"] == 2048
