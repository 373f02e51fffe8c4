"""Dock widget: export a result (labels, cells, review) and reopen one.

The Labels choice starts on the cell result (``<image>_nuclei``: a Labels layer with a
per-cell features table), never on a 0/1 mask. Buttons write it as a label TIFF (plus
``<stem>_cells.csv``), an OME-Zarr pyramid (cells table inside), a CSV of cells
(centroid, class, status, measurements) or a QuPath GeoJSON: every format carries
status and class. "Leave rejected cells out" drops rejected cells from every format.
"Open result..." reads any of them back (Labels with features; a CSV as Points), so a
review can be continued. Writing (the export job, :mod:`..engine.jobs.export`) runs in
a thread worker with progress and Cancel; files appear only when complete.
"""

from pathlib import Path

import napari
from magicgui.widgets import CheckBox, ComboBox, PushButton

from .._reader import get_reader
from ..engine.jobs import LARGE_IMAGE_PIXELS
from ..engine.jobs.export import (
    export_csv,
    export_geojson,
    export_labels_tiff,
    export_labels_zarr,
    rejected_labels,
    with_geometry,
)
from ._layers import cell_result_choices, prefer_cell_result
from ._remembered import remember
from ._runner import JobWidget
from .cell_style import style_if_result

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
        self._labels = ComboBox(label="Labels", choices=cell_result_choices(napari_viewer))
        self._drop_rejected = CheckBox(text="Leave rejected cells out", value=False)
        self._buttons = {}
        for kind, (text, _f, _s) in KINDS.items():
            button = PushButton(text=text)
            button.changed.connect(lambda _=None, k=kind: self._ask_and_export(k))
            self._buttons[kind] = button
        self._open = PushButton(text="Open result...")
        self._open.changed.connect(self._ask_and_open)
        self._inputs = [self._labels, self._drop_rejected, *self._buttons.values(), self._open]
        self.extend([*self._inputs, *self.job_controls()])
        remember(self, "export", [self._drop_rejected])
        self.reset_choices()

    def reset_choices(self, *_):
        """Refresh the layer list; move off a non-result (e.g. a mask) onto the cell
        result when one appears."""
        super().reset_choices()
        prefer_cell_result(self._labels, self._viewer)

    def _ask_and_export(self, kind: str):
        layer = self._labels.value
        if layer is None:
            self._status.value = "choose a Labels layer first"
            return
        path = _save_path(self.native, kind, layer.name)
        if path:
            self.export(kind, path)

    def export(self, kind: str, path, layer=None, drop_rejected=None):
        """Write ``layer`` (default: the chosen one) as ``kind`` to ``path`` in a worker;
        ``drop_rejected`` (default: the checkbox) leaves rejected cells out."""
        layer = layer or self._labels.value
        if layer is None or self.running:
            return None
        if kind not in KINDS:
            raise ValueError(f"unknown export kind {kind!r}; one of {', '.join(KINDS)}")
        drop = bool(self._drop_rejected.value if drop_rejected is None else drop_rejected)
        data = layer.data
        height, width = (data[0] if layer.multiscale else data).shape[-2:]
        if kind == "tiff" and layer.multiscale and height * width > LARGE_IMAGE_PIXELS:
            self._status.value = (f"not written: {layer.name} ({height} x {width} pixels) is "
                                  f"too large for one TIFF; export it as OME-Zarr or GeoJSON")
            return None
        metadata = with_geometry(layer.metadata, layer.scale, layer.translate)
        features = layer.features.copy() if "label" in layer.features.columns else None
        n_dropped = len(rejected_labels(features)) if drop else 0

        def job(reporter):
            if kind == "tiff":
                return export_labels_tiff(path, data, metadata, features, reporter, drop)
            if kind == "zarr":
                return export_labels_zarr(path, data, metadata, reporter, features=features,
                                          drop_rejected=drop)
            if kind == "csv":
                return export_csv(path, features, metadata, reporter, drop)
            return export_geojson(path, data, features, metadata, reporter, drop)

        def done(written):
            self._progress.max = max(1, int(self._progress.max))
            self._progress.value = self._progress.max
            left_out = f" ({n_dropped} rejected cells left out)" if n_dropped else ""
            self._status.value = f"wrote {Path(written).name}{left_out}"

        return self.start_job(job, done, f"{kind}: {layer.name} -> {Path(path).name}")

    def _ask_and_open(self, _=None):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Open result", "", "Results (*.geojson *.tif *.tiff *.zarr *.csv)")
        if path:
            self.open(path)

    def open(self, path):
        """Add the result stored at ``path`` (GeoJSON / label TIFF / zarr / cells CSV) to
        the viewer, with its features (status, classification, measurements)."""
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
            style_if_result(added[-1])
        self._status.value = f"opened {Path(path).name}"
        return added
