"""Dock widget: plugin settings (default device, tile size, memory budget, results folder).

The same settings appear in napari's File > Preferences > PathRobust (napari 0.9+ renders
the manifest's ``configurations``; see :mod:`._settings`); this dock edits them from the
plugin and keeps the plugin's own store (``settings.json``) for napari versions without
plugin configuration. Every change is saved at once (no need to press Save), so the
values are remembered between sessions; edits made in Preferences show up here live.
"""

import napari
from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton, SpinBox

from ._layers import connect_while_alive
from ._settings import load_settings, napari_preferences, save_settings, settings_path


class SettingsWidget(Container):
    """Edit and save the defaults the other widgets start with."""

    def __init__(self, napari_viewer: napari.viewer.Viewer = None):
        super().__init__(labels=True)
        values = load_settings()
        self._device = ComboBox(label="Default device", choices=["auto", "cpu", "cuda", "mps"],
                                value=values["device"])
        self._tile = SpinBox(label="Default tile (0 = auto)", min=0, max=8192, step=256,
                             value=values["tile"])
        self._budget = SpinBox(label="Memory budget (MB)", min=64, max=1_000_000, step=256,
                               value=int(values["memory_budget_mb"]))
        self._results = FileEdit(label="Large results folder", mode="d",
                                 value=values["results_dir"] or "")
        self._save = PushButton(text="Save")
        self._status = Label(label="File", value=str(settings_path()))
        self.extend([self._device, self._tile, self._budget, self._results, self._save,
                     self._status])
        self._save.changed.connect(self.save)
        self._refreshing = False
        for field in (self._device, self._tile, self._budget, self._results):
            field.changed.connect(self._autosave)
        prefs = napari_preferences()
        if prefs is not None:
            connect_while_alive(self, [(getattr(prefs.events, key), self._refresh)
                                       for key in ("device", "tile", "memory_budget_mb",
                                                   "results_dir")])

    def _autosave(self, _=None):
        if not self._refreshing:
            self.save()

    def _refresh(self, _=None):
        """Show values changed elsewhere (napari's Preferences)."""
        values = load_settings()
        self._refreshing = True
        try:
            self._device.value = values["device"]
            self._tile.value = min(int(values["tile"]), self._tile.max)
            self._budget.value = int(values["memory_budget_mb"])
            self._results.value = values["results_dir"] or ""
        finally:
            self._refreshing = False

    def save(self, _=None):
        """Write the settings file (and napari's Preferences); new widgets start with
        these values."""
        folder = str(self._results.value) if self._results.value else ""
        folder = "" if folder in (".", "") else folder
        try:
            path = save_settings({"device": self._device.value, "tile": int(self._tile.value),
                                  "memory_budget_mb": int(self._budget.value),
                                  "results_dir": folder})
        except (OSError, ValueError) as exc:
            self._status.value = f"not saved: {exc}"
            return
        self._status.value = f"saved to {path}"
