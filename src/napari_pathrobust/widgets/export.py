"""Dock widget: export a result (labels, cells, review) and reopen one.

Buttons write the chosen Labels layer as a label TIFF, an OME-Zarr pyramid, a CSV of
cells (centroid, class, status, measurements) or a QuPath GeoJSON; "Open result..."
reads a GeoJSON / label TIFF / label zarr back as a Labels layer with its features,
so a review can be continued. Writing runs in a thread worker with progress and
Cancel; files appear only when complete.
"""

from pathlib import Path

import napari
from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton

from .._reader import get_reader
from .._writer import (
    export_csv,
    export_geojson,
    export_labels_tiff,
    export_labels_zarr,
    with_geometry,
)
from ._layers import connect_while_alive, layer_choices
from ._runner import JobRunner, is_cancellation

#: export kind -> (button text, file filter, default suffix)
KINDS = {
    "tiff": ("Labels -> TIFF...", "Label TIFF (*.tif *.tiff)", ".tif"),
    "zarr": ("Labels -> OME-Zarr...", "OME-Zarr (*.zarr)", ".zarr"),
    "csv": ("Cells -> CSV...", "CSV (*.csv)", ".csv"),
    "geojson": ("Cells -> QuPath GeoJSON...", "GeoJSON (*.geojson)", ".geojson"),
}


def _save_path(parent, kind: str, suggestion: str):
    from qtpy.QtWidgets import QFileDialog

    _text, filters, suffix = KINDS[kind]
    path, _ = QFileDialog.getSaveFileName(parent, "Export", suggestion + suffix, filters)
    return path or None


class ExportWidget(Container):
    """Export the chosen Labels layer; reopen an exported result."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._labels = ComboBox(label="Labels", choices=layer_choices(napari_viewer,
                                                                    napari.layers.Labels))
        self._buttons = {}
        for kind, (text, _f, _s) in KINDS.items():
            button = PushButton(text=text)
            button.changed.connect(lambda _=None, k=kind: self._ask_and_export(k))
            self._buttons[kind] = button
        self._open = PushButton(text="Open result...")
        self._open.changed.connect(self._ask_and_open)
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._cancel.changed.connect(lambda _=None: self._runner.cancel())
        self._progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self._status = Label(label="Status", value="ready")
        self.extend([self._labels, *self._buttons.values(), self._open, self._cancel,
                     self._progress, self._status])
        self._runner = JobRunner(self._on_progress)
        self._activity = None
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self.reset_choices),
                                   (napari_viewer.layers.events.removed, self.reset_choices)])

    @property
    def worker(self):
        """The running thread worker (None when idle)."""
        return self._runner.worker

    def _ask_and_export(self, kind: str):
        layer = self._labels.value
        if layer is None:
            self._status.value = "choose a Labels layer first"
            return
        path = _save_path(self.native, kind, layer.name)
        if path:
            self.export(kind, path)

    def export(self, kind: str, path, layer=None):
        """Write ``layer`` (default: the chosen one) as ``kind`` to ``path`` in a worker."""
        layer = layer or self._labels.value
        if layer is None or self._runner.running:
            return None
        data = layer.data
        metadata = with_geometry(layer.metadata, layer.scale, layer.translate)
        features = layer.features.copy()
        if kind == "tiff":
            def job(reporter):
                return export_labels_tiff(path, data, metadata)
        elif kind == "zarr":
            def job(reporter):
                return export_labels_zarr(path, data, metadata, reporter)
        elif kind == "csv":
            def job(reporter):
                return export_csv(path, features, metadata)
        elif kind == "geojson":
            def job(reporter):
                return export_geojson(path, data, features, metadata, reporter)
        else:
            raise ValueError(f"unknown export kind {kind!r}; one of {', '.join(KINDS)}")
        self._set_running(True, f"{kind}: {layer.name}")
        self._status.value = f"writing {Path(path).name}"
        return self._runner.start(job, self._on_done, self._on_error,
                                  lambda: self._set_running(False))

    def _ask_and_open(self, _=None):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Open result", "", "Results (*.geojson *.tif *.tiff *.zarr)")
        if path:
            self.open(path)

    def open(self, path):
        """Add the result stored at ``path`` (GeoJSON / label TIFF / zarr) to the viewer."""
        reader = get_reader(str(path))
        if reader is None:
            self._status.value = f"{Path(path).name}: not a file this plugin opens"
            return []
        try:
            layer_data = reader(str(path))
        except (OSError, ValueError) as exc:
            self._status.value = f"failed: {exc}"
            return []
        added = []
        for data, kwargs, kind in layer_data:
            added.append(getattr(self._viewer, f"add_{kind}")(data, **kwargs))
        self._status.value = f"opened {Path(path).name}"
        return added

    def _set_running(self, running: bool, description: str = ""):
        for button in (*self._buttons.values(), self._open, self._labels):
            button.enabled = not running
        self._cancel.enabled = running
        if running:
            self._activity = napari.utils.progress(total=1, desc=description)
        elif self._activity is not None:
            self._activity.close()
            self._activity = None

    def _on_progress(self, done: int, total: int, message: str):
        self._progress.max = max(1, total)
        self._progress.value = min(done, max(1, total))
        if self._activity is not None:
            self._activity.total = max(1, total)
            self._activity.n = done
            self._activity.set_description(message or "writing")

    def _on_done(self, path):
        self._status.value = f"wrote {Path(path).name}"

    def _on_error(self, exc: BaseException):
        if is_cancellation(exc):
            self._status.value = "cancelled"
            return
        self._status.value = f"failed: {exc}"
        napari.utils.notifications.show_error(f"Export failed: {exc}")
