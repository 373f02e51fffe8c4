"""Dock widget: preview clinical corruptions live and run a robustness report.

Kind, severity and seed update ``<image>_corrupted`` on the visible region of the
current view (so big images stay fast; multiscale images use the level on screen);
its ``metadata["region"]`` is that region as ``[y0, x0, y1, x1]`` in level-0 pixels
(``metadata["level"]``: the level corrupted).
*Contact sheet* adds every kind at the chosen severity as one grid Image layer;
*Robustness report* runs the engine's robustness job (method x 11 kinds x severities)
on the image or the view region. Preview corruption runs on the main thread (about
0.1-0.3 s per 1024 px view); the other jobs, including reading the pixels they need,
run in a thread worker with progress and Cancel (:class:`._runner.JobWidget`).
"""

import tempfile
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, PushButton, Slider, SpinBox
from qtpy.QtCore import QTimer

from ..engine.corrupt import BENCHMARK_KINDS, available_corruptions, corrupt
from ..engine.methods import available_methods
from ..engine.tiling import Box
from ._layers import camera, connect_while_alive
from ._runner import JobWidget

MAX_PREVIEW_SIDE = 2048


class CorruptionPreviewWidget(JobWidget):
    """Corruption preview: image, kind, severity, seed, live preview, contact sheet, report."""

    title = "Corruption preview"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text="Robustness report")
        self._image = ComboBox(label="Image", choices=self._image_layers)
        self._kind = ComboBox(label="Kind", choices=available_corruptions(), value="hue")
        self._severity = Slider(label="Severity", min=1, max=5, value=3)
        self._seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self._live = CheckBox(text="Live preview (visible region)", value=True)
        self._sheet = PushButton(text="Contact sheet (all kinds)")
        self._method = ComboBox(label="Method", choices=available_methods(), value="classical")
        self._severities = ComboBox(label="Severities", choices=["1-5", "1,3,5", "3"],
                                    value="1,3,5")
        self._view_only = CheckBox(text="Report on the current view region", value=False)
        self._outdir = FileEdit(label="Report folder", mode="d",
                                value=Path(tempfile.gettempdir()) / "pathrobust-robustness")
        self._inputs = [self._sheet, self._method, self._severities, self._view_only,
                        self._outdir]
        self.extend([self._image, self._kind, self._severity, self._seed, self._live,
                     *self._inputs, *self.job_controls()])
        self._heatmap_dock = None
        self.last_report = None
        self._timer = QTimer(self.native)  # dies with the widget
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.update_preview)
        for w in (self._image, self._kind, self._severity, self._seed, self._live):
            w.changed.connect(self._schedule)
        self._sheet.changed.connect(self.contact_sheet)
        cam = camera(napari_viewer)
        connect_while_alive(self, [(cam.events.center, self._schedule),
                                   (cam.events.zoom, self._schedule)])

    def _image_layers(self, _widget=None):
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)
                and layer.rgb and not layer.metadata.get("corruption_preview")]

    # ------------------------------------------------------------ visible region
    def visible_region(self, layer) -> tuple:
        """(array, Box, level factor): the on-screen part of ``layer``'s data (the
        displayed level for multiscale), at most MAX_PREVIEW_SIDE per side."""
        level = layer.data_level if layer.multiscale else 0
        data = layer.data[level] if layer.multiscale else layer.data
        factor = np.asarray(layer.downsample_factors[level][-2:]) if layer.multiscale \
            else np.ones(2)
        full = np.asarray(data.shape[:2])
        try:
            corners = np.asarray(layer.corner_pixels)[:, -2:]
            y0, x0 = np.clip(corners[0], 0, full)
            y1, x1 = np.clip(corners[1] + 1, 0, full)
        except Exception:  # noqa: BLE001 - no view yet: whole image
            y0 = x0 = 0
            y1, x1 = full
        if y1 - y0 < 2 or x1 - x0 < 2:
            y0, x0, (y1, x1) = 0, 0, full
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        h, w = int(min(y1 - y0, MAX_PREVIEW_SIDE)), int(min(x1 - x0, MAX_PREVIEW_SIDE))
        y0 = int(np.clip(cy - h // 2, 0, full[0] - h))
        x0 = int(np.clip(cx - w // 2, 0, full[1] - w))
        return data, Box(y0, x0, y0 + h, x0 + w), factor

    # ------------------------------------------------------------ preview
    def _schedule(self, *_):
        if self._live.value:
            self._timer.start()

    def update_preview(self, *_):
        """Corrupt the visible region now and add or update ``<image>_corrupted``."""
        layer = self._image.value
        if layer is None:
            return None
        data, box, factor = self.visible_region(layer)
        try:
            out = corrupt(data, self._kind.value, int(self._severity.value),
                          int(self._seed.value), self.device(), box)
        except ValueError as exc:
            self._status.value = str(exc)
            return None
        scale = np.asarray(layer.scale[-2:]) * factor
        translate = np.asarray(layer.translate[-2:]) + np.array(box.offset) * scale
        level0 = [int(round(v * f)) for v, f in zip(box, (*factor, *factor))]
        meta = {"corruption_preview": True, "kind": self._kind.value,
                "severity": int(self._severity.value), "seed": int(self._seed.value),
                "source_layer": layer.name, "region": level0,
                "level": int(layer.data_level) if layer.multiscale else 0}
        name = f"{layer.name}_corrupted"
        if name in self._viewer.layers:
            target = self._viewer.layers[name]
            target.data = out
            target.scale, target.translate, target.metadata = scale, translate, meta
        else:
            target = self._viewer.add_image(out, name=name, rgb=True, scale=scale,
                                            translate=translate, metadata=meta)
            self._viewer.layers.selection.active = layer
        h, w = box.shape
        self._status.value = f"{self._kind.value} {self._severity.value} on {h}x{w} px"
        return target

    # ------------------------------------------------------------ jobs
    def contact_sheet(self, _=None):
        """All kinds at the chosen severity as a grid Image layer (thread worker)."""
        layer = self._image.value
        if layer is None or self.running:
            return None
        data, box, _f = self.visible_region(layer)
        kinds, sev, seed = available_corruptions(), int(self._severity.value), int(self._seed.value)

        def job(reporter):
            from ..engine.robustness import kinds_grid

            return kinds_grid(np.asarray(data[box.slices]), kinds, sev, seed, reporter=reporter)

        def done(grid):
            meta = {"corruption_preview": True, "kinds": ["clean", *kinds], "severity": sev,
                    "seed": seed, "source_layer": layer.name, "ncols": 4}
            name = f"{layer.name}_contact_sheet"
            if name in self._viewer.layers:
                self._viewer.layers[name].data = grid
                self._viewer.layers[name].metadata = meta
            else:
                self._viewer.add_image(grid, name=name, rgb=True, metadata=meta, visible=True)
            self._status.value = f"contact sheet: clean + {len(kinds)} kinds at severity {sev}"

        return self.start_job(job, done, "contact sheet")

    def run(self, _=None):
        """Robustness report on the image (or the view region); the pixels are read and
        scored in the worker, never on the GUI thread."""
        layer = self._image.value
        if layer is None or self.running:
            if layer is None:
                self._status.value = "add or select an RGB Image layer first"
            return None
        from ..engine.robustness import parse_severities

        try:
            sevs, device = parse_severities(self._severities.value), self.device()
        except ValueError as exc:
            self._status.value = str(exc)
            return None
        if self._view_only.value:
            data, box, _f = self.visible_region(layer)
        else:
            data = layer.data[0] if layer.multiscale else layer.data
            box = Box(0, 0, *data.shape[:2])
        method, seed, name = self._method.value, int(self._seed.value), layer.name
        outdir = Path(self._outdir.value)

        def job(reporter):
            from ..engine.jobs.robustness import robustness_report
            from ..engine.robustness import RobustnessImage

            rgb = np.ascontiguousarray(np.asarray(data[box.slices])[..., :3])
            return robustness_report([RobustnessImage(name, rgb)], outdir, method,
                                     list(BENCHMARK_KINDS), sevs, seed, device, reporter)

        def done(result):
            self.last_report = result
            self._show_heatmap(result["files"]["heatmap"])
            worst = ", ".join(k for k, _ in result["ranking"][:3])
            self._status.value = f"report: {result['html']} (worst: {worst})"

        return self.start_job(job, done, "robustness report")

    run_report = run

    def _show_heatmap(self, png: Path):
        from qtpy.QtGui import QPixmap
        from qtpy.QtWidgets import QLabel

        label = QLabel()
        label.setPixmap(QPixmap(str(png)))
        label.setObjectName("robustness_heatmap")
        if self._heatmap_dock is not None:
            try:
                self._viewer.window.remove_dock_widget(self._heatmap_dock)
            except Exception:  # noqa: BLE001 - already closed by the user
                pass
        self._heatmap_dock = self._viewer.window.add_dock_widget(
            label, name="Robustness heatmap", area="right")
        self.heatmap_label = label
