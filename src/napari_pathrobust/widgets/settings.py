"""Dock widget: plugin settings (default device, tile size, memory budget, results folder)."""

import napari
from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton, SpinBox

from ._settings import load_settings, save_settings, settings_path


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

    def save(self, _=None):
        """Write the settings file; new widgets start with these values."""
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
