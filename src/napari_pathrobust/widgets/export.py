"""Dock widget: export a result (labels, cells, review) and reopen one.

Buttons write the chosen Labels layer as a label TIFF, an OME-Zarr pyramid, a CSV of
cells (centroid, class, status, measurements) or a QuPath GeoJSON; "Open result..."
reads a GeoJSON / label TIFF / label zarr back as a Labels layer with its features,
so a review can be continued. Writing (the export job, :mod:`..engine.jobs.export`)
runs in a thread worker with progress and Cancel; files appear only when complete.
"""

from pathlib import Path

import napari
from magicgui.widgets import ComboBox, PushButton

from .._reader import get_reader
from ..engine.jobs.export import (
    export_csv,
    export_geojson,
    export_labels_tiff,
    export_labels_zarr,
    with_geometry,
)
from ._layers import layer_choices
from ._runner import JobWidget

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


class ExportWidget(JobWidget):
    """Export the chosen Labels layer; reopen an exported result."""

    title = "Export"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text=None)
        self._labels = ComboBox(label="Labels", choices=layer_choices(napari_viewer,
                                                                    napari.layers.Labels))
        self._buttons = {}
        for kind, (text, _f, _s) in KINDS.items():
            button = PushButton(text=text)
            button.changed.connect(lambda _=None, k=kind: self._ask_and_export(k))
            self._buttons[kind] = button
        self._open = PushButton(text="Open result...")
        self._open.changed.connect(self._ask_and_open)
        self._inputs = [self._labels, *self._buttons.values(), self._open]
        self.extend([*self._inputs, *self.job_controls()])

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
        if layer is None or self.running:
            return None
        if kind not in KINDS:
            raise ValueError(f"unknown export kind {kind!r}; one of {', '.join(KINDS)}")
        data = layer.data
        metadata = with_geometry(layer.metadata, layer.scale, layer.translate)
        features = layer.features.copy()

        def job(reporter):
            if kind == "tiff":
                return export_labels_tiff(path, data, metadata)
            if kind == "zarr":
                return export_labels_zarr(path, data, metadata, reporter)
            if kind == "csv":
                return export_csv(path, features, metadata)
            return export_geojson(path, data, features, metadata, reporter)

        def done(written):
            self._status.value = f"wrote {Path(written).name}"

        return self.start_job(job, done, f"{kind}: {layer.name} -> {Path(path).name}")

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
