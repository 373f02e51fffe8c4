"""Dock widget: plugin settings (default device, tile size, memory budget, results folder,
the size Review zooms a cell to).

The fields come from ``engine.settings.SETTINGS_SCHEMA`` (titles, bounds, descriptions), which
napari's File > Preferences > PathRobust renders too (see :mod:`._settings`). A change
is saved at once, and only the setting changed (no need to press Save, which writes the
whole form); edits made in Preferences show up here live. The device is a drop-down
that also takes a typed name (``cuda:1``); an empty results folder stays empty (the
user cache folder).
"""

import napari
from magicgui.widgets import Container, FileEdit, PushButton, SpinBox

from . import _settings
from ._device_choice import device_combo, set_device
from ._docking import fit_in_dock
from ._layers import connect_while_alive
from ._status import StatusLine

_SPEC = {s.key: s for s in _settings.SETTINGS_SCHEMA}


def _spin(key: str, step: int) -> SpinBox:
    spec = _SPEC[key]
    return SpinBox(label=spec.title, min=spec.minimum, max=spec.maximum, step=step,
                   tooltip=spec.description)


def folder_text(edit: FileEdit) -> str:
    """A FileEdit's text ('' when empty: its value would be ``Path('.')``)."""
    return edit.line_edit.value.strip()


def set_folder_text(edit: FileEdit, text: str) -> None:
    """Show ``text`` as typed (``FileEdit.value = ''`` would show the current folder)."""
    edit.line_edit.value = text


class SettingsWidget(Container):
    """Edit and save the defaults the other widgets start with."""

    def __init__(self, napari_viewer: napari.viewer.Viewer = None):
        super().__init__(labels=True)
        fit_in_dock(self.native)  # scrolls, tabs with the other docks
        spec = _SPEC["device"]
        self._device = device_combo(spec.title, "auto", spec.description,
                                    on_refused=self._refused)
        self._tile = _spin("tile", 256)
        self._budget = _spin("memory_budget_mb", 256)
        spec = _SPEC["results_dir"]
        self._results = FileEdit(label=spec.title, mode="d", tooltip=spec.description)
        self._cell_px = _spin("review_cell_px", 10)
        self._save = PushButton(text="Save")
        self._status = StatusLine(str(_settings.settings_path()), label="File",
                                  log_as="Settings")
        self._fields = {"device": self._device, "tile": self._tile,
                        "memory_budget_mb": self._budget, "results_dir": self._results,
                        "review_cell_px": self._cell_px}
        self.extend([*self._fields.values(), self._save, self._status])
        self._refreshing = False
        self._refresh()
        self._save.changed.connect(lambda _=None: self.save())
        for key, field in self._fields.items():
            field.changed.connect(lambda _=None, key=key: self._autosave(key))
        prefs = _settings.napari_preferences()
        if prefs is not None:
            connect_while_alive(self, [(getattr(prefs.events, key), self._refresh)
                                       for key in self._fields])

    def value(self, key: str):
        """The form's value of setting ``key``."""
        field = self._fields[key]
        if isinstance(field, FileEdit):
            return folder_text(field)
        return int(field.value) if isinstance(field, SpinBox) else field.value

    def _refused(self, message: str) -> None:
        self._status.value = f"not saved: {message}"

    def _autosave(self, key: str) -> None:
        if not self._refreshing:
            self.save([key])

    def _refresh(self, _=None):
        """Show the stored values (also after a change in napari's Preferences)."""
        values = _settings.load_settings()
        self._refreshing = True
        try:
            set_device(self._device, values["device"])
            self._tile.value = int(values["tile"])
            self._budget.value = int(values["memory_budget_mb"])
            self._cell_px.value = int(values["review_cell_px"])
            if folder_text(self._results) != values["results_dir"]:
                set_folder_text(self._results, values["results_dir"])
        finally:
            self._refreshing = False
        problems = _settings.preference_problems()
        if problems:
            self._status.value = "; ".join(problems)

    def save(self, keys=None):
        """Write the settings ``keys`` (default: the whole form) to the settings file
        and napari's Preferences; new widgets start with these values."""
        try:
            path = _settings.save_settings({k: self.value(k) for k in keys or self._fields})
        except (OSError, ValueError) as exc:
            self._status.value = f"not saved: {exc}"
            return
        self._status.value = f"saved to {path}"
