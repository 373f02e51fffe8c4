"""The Settings dock and napari's Preferences (issues 23.6 and 28.1): a change saves
only the setting touched, an empty results folder stays empty, cuda:N is a device
everywhere, and napari 0.9 renders the manifest's settings in File > Preferences."""

import json

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def napari_prefs(tmp_path, monkeypatch):
    """Fresh settings as a user has them: no NAPARI_PATHROBUST_CONFIG_DIR, so this
    plugin's real napari Preferences are used; they, settings.json and the cache live
    under ``tmp_path``. Yields the Preferences' ``general`` section."""
    from napari import settings as napari_settings

    monkeypatch.delenv("NAPARI_PATHROBUST_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(napari_settings, "_CFG_PATH", str(tmp_path / "napari" / "s.yaml"))
    napari_settings._clear_plugin_settings_cache()
    yield napari_settings.get_plugin_settings("napari-pathrobust").general
    napari_settings._clear_plugin_settings_cache()


def _stored() -> dict:
    from napari_pathrobust.engine.settings import settings_path

    return json.loads(settings_path().read_text())


def test_changing_the_device_twice_keeps_an_empty_results_folder(
        make_napari_viewer, napari_prefs, tmp_path, monkeypatch):
    """Issue 28.1: the results folder became the folder napari was started from."""
    from napari_pathrobust.engine.settings import SETTING_DEFAULTS, settings_path
    from napari_pathrobust.widgets.settings import SettingsWidget

    monkeypatch.chdir(tmp_path)  # the folder napari "was started from"
    assert str(settings_path()).startswith(str(tmp_path / "xdg-config"))
    assert not settings_path().exists() and napari_prefs.model_dump() == SETTING_DEFAULTS
    widget = SettingsWidget(make_napari_viewer())
    widget._device.value = "cpu"
    assert _stored() == {**SETTING_DEFAULTS, "device": "cpu"}
    widget._device.value = "auto"
    assert _stored() == SETTING_DEFAULTS  # only the device changed, and back
    assert napari_prefs.model_dump() == SETTING_DEFAULTS
    assert widget._results.line_edit.value == ""  # shown empty: the cache folder


def test_a_change_saves_only_the_setting_touched(make_napari_viewer, napari_prefs):
    from napari_pathrobust.engine.settings import SETTING_DEFAULTS
    from napari_pathrobust.widgets.settings import SettingsWidget

    widget = SettingsWidget(make_napari_viewer())
    napari_prefs.tile = 70 * 256  # set in Preferences, above the old dock's 8192 maximum
    assert widget._tile.value == 70 * 256  # shown live, not clamped
    widget._budget.value = 4096
    assert _stored() == {**SETTING_DEFAULTS, "tile": 70 * 256, "memory_budget_mb": 4096}
    assert napari_prefs.model_dump() == {**SETTING_DEFAULTS, "tile": 70 * 256,
                                         "memory_budget_mb": 4096}
    napari_prefs.device = "gpu"  # Preferences take any text; the plugin does not use it
    assert widget._device.value == "auto" and "device 'gpu'" in widget._status.value


def test_cuda_n_is_a_device_in_settings_recognise_and_adapt(make_napari_viewer):
    from napari_pathrobust.widgets._settings import load_settings, save_settings
    from napari_pathrobust.widgets.adapt import AdaptWidget
    from napari_pathrobust.widgets.recognise import RecogniseWidget
    from napari_pathrobust.widgets.settings import SettingsWidget

    save_settings({"device": "cuda:1"})  # refused by the Settings dock before
    viewer = make_napari_viewer()
    settings = SettingsWidget(viewer)
    assert settings._device.value == "cuda:1"
    assert {"auto", "cpu", "mps", "cuda", "cuda:1"} <= set(settings._device.choices)
    recognise, adapt = RecogniseWidget(viewer), AdaptWidget(viewer)  # kept: not docked
    assert recognise.device() == "cuda:1" and adapt.device() == "cuda:1"
    line = settings._device.native.lineEdit()
    line.setText("CUDA:3")  # typed
    line.editingFinished.emit()
    assert settings._device.value == "cuda:3" and load_settings()["device"] == "cuda:3"
    line.setText("gpu")
    line.editingFinished.emit()
    assert settings._device.value == "cuda:3" and line.text() == "cuda:3"
    assert settings._status.value.startswith("not saved: device 'gpu'")
    assert load_settings()["device"] == "cuda:3"


def test_preferences_render_and_feed_the_dock(make_napari_viewer, napari_prefs, qtbot):
    """napari 0.9.2's File > Preferences shows a PathRobust page built from the manifest:
    the device is a text field that takes cuda:1, and the dock follows it."""
    from napari._qt.dialogs.preferences_dialog import PreferencesDialog
    from napari._vendor.qt_json_builder.qt_jsonschema_form.widgets import FormWidget

    from napari_pathrobust.engine.settings import SETTINGS_SCHEMA
    from napari_pathrobust.widgets.settings import SettingsWidget

    widget = SettingsWidget(make_napari_viewer())
    dialog = PreferencesDialog()
    qtbot.addWidget(dialog)
    pages = [dialog._list.item(i).text() for i in range(dialog._list.count())]
    form, = dialog._stack.widget(pages.index("PathRobust")).findChildren(FormWidget)
    fields = form.widget.widgets
    assert list(fields) == [s.key for s in SETTINGS_SCHEMA]
    assert type(fields["device"]).__name__ == "TextSchemaWidget"
    assert type(fields["tile"]).__name__ == "SpinSchemaWidget"
    fields["device"].state = "cuda:1"
    assert napari_prefs.device == "cuda:1" and widget._device.value == "cuda:1"
    assert widget.value("device") == "cuda:1"
    fields["results_dir"].state = "/data/results"
    assert widget._results.line_edit.value == "/data/results"
    fields["results_dir"].state = ""
    assert widget._results.line_edit.value == ""


def test_an_empty_folder_is_remembered_empty(make_napari_viewer, tmp_path, monkeypatch):
    """A FileEdit's empty text used to come back as the folder napari started in."""
    from magicgui.widgets import FileEdit

    from napari_pathrobust.widgets._remembered import remember, remembered_path

    monkeypatch.chdir(tmp_path)
    make_napari_viewer()  # a QApplication
    first = FileEdit(label="Folder", mode="d", value="")
    remember(None, "demo", [first])
    first.line_edit.value = "/data"
    first.line_edit.value = ""
    assert json.loads(remembered_path().read_text())["demo"] == {"Folder": ""}
    again = FileEdit(label="Folder", mode="d", value="/elsewhere")
    remember(None, "demo", [again])
    assert again.line_edit.value == ""
