"""Dock widget: preview clinical corruptions live and run a robustness report.

Kind, severity and seed update ``<image>_corrupted`` on the current view
(:func:`._layers.view_region`; multiscale images use the level on screen), debounced
after a pan or zoom and computed in a thread worker, never on the GUI thread; its
``metadata["region"]`` is that region as ``[y0, x0, y1, x1]`` in level-0 pixels
(``metadata["level"]``: the level corrupted). With *Live preview* ticked it renders as
soon as the dock is shown or the box is ticked; closing the dock removes the preview
(a whole-slide result is hidden instead). *Whole slide (tiled)* corrupts the whole
image tile by tile into a pyramid (in memory, or a zarr in the results folder for large
slides) with progress and Cancel, and pauses the live preview.
*Contact sheet* adds every kind at the chosen severity as one captioned grid Image
layer, beside the slide at its scale and units;
*Robustness report* runs the engine's robustness job (method x 11 kinds x severities;
the method defaults to Recognise's) on the current view (level 0, at most
``MAX_REPORT_SIDE`` a side) by default, or the whole image. Every job, including
reading the pixels it needs, runs in a thread worker with progress and Cancel
(:class:`._runner.JobWidget`). The widget's choices (not the image) are remembered.
"""

import re
import tempfile
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, PushButton, Slider, SpinBox
from qtpy.QtCore import QEvent, QObject, QTimer

from ..engine.api import (
    BENCHMARK_KINDS,
    DEFAULT_METHOD,
    Box,
    available_corruptions,
    available_methods,
    corrupt,
)
from ..engine.jobs.robustness import corrupt_slide
from ._docking import scrolling
from ._layers import camera, connect_while_alive, image_shape, upsert_layer, view_region
from ._remembered import remember
from ._runner import JobWidget
from ._settings import results_dir

#: longest side of a live preview (pixels of the displayed level)
MAX_PREVIEW_SIDE = 2048
#: longest side of the view region a robustness report scores (level-0 pixels)
MAX_REPORT_SIDE = 2048
#: whole-slide corruptions above this many pixels go to a zarr in the results folder
WHOLE_IN_MEMORY_PIXELS = 8192 * 8192
#: milliseconds of quiet after a pan, zoom or change before the preview is recomputed
DEBOUNCE_MS = 150


def _put_away(viewer, names) -> None:
    """Remove the live previews named ``names`` from ``viewer``; hide whole-slide
    results (costly to redo). Quiet when the viewer is closing."""
    for name in list(names):
        try:
            if name in viewer.layers:
                layer = viewer.layers[name]
                if layer.metadata.get("whole_slide"):
                    layer.visible = False
                else:
                    viewer.layers.remove(layer)
        except Exception:  # noqa: BLE001 - a viewer being torn down
            pass
    names.clear()


class _DockEvents(QObject):
    """Calls ``shown()`` when the widget is shown (its dock opened) and ``closed()``
    when napari's close button takes it out of its dock (parent None)."""

    def __init__(self, widget, shown, closed):
        super().__init__(widget)
        self._shown, self._closed = shown, closed
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        kind = event.type()
        if kind == QEvent.Type.Show:
            self._shown()
        elif kind == QEvent.Type.ParentChange and obj.parent() is None:
            self._closed()
        return False


def _centred(box: Box, full, side: int) -> Box:
    """``box`` cut to at most ``side`` a side around its centre, inside ``full``."""
    h, w = min(box.shape[0], side), min(box.shape[1], side)
    cy, cx = (box.y0 + box.y1) // 2, (box.x0 + box.x1) // 2
    y0 = int(np.clip(cy - h // 2, 0, full[0] - h))
    x0 = int(np.clip(cx - w // 2, 0, full[1] - w))
    return Box(y0, x0, y0 + h, x0 + w)


class CorruptionPreviewWidget(JobWidget):
    """Corruption preview: image, kind, severity, seed, live preview, whole slide,
    contact sheet, report."""

    title = "Corruption preview"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text="Robustness report")
        self._image = ComboBox(label="Image", choices=self._image_layers)
        self._kind = ComboBox(label="Kind", choices=available_corruptions(), value="hue")
        self._severity = Slider(label="Severity", min=1, max=5, value=3)
        self._seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self._live = CheckBox(text="Live preview (current view)", value=True)
        self._whole = PushButton(text="Whole slide (tiled)")
        self._sheet = PushButton(text="Contact sheet (all kinds)")
        methods = available_methods()
        self._method = ComboBox(label="Method", choices=methods,
                                value=DEFAULT_METHOD if DEFAULT_METHOD in methods
                                else methods[0], tooltip="as in Recognise nuclei")
        self._severities = ComboBox(label="Severities", choices=["1-5", "1,3,5", "3"],
                                    value="1,3,5")
        self._view_only = CheckBox(text="Report on the current view (off: whole image)",
                                   value=True)
        self._outdir = FileEdit(label="Report folder", mode="d",
                                value=Path(tempfile.gettempdir()) / "pathrobust-robustness")
        self._inputs = [self._whole, self._sheet, self._method, self._severities,
                        self._view_only, self._outdir]
        self.extend([self._image, self._kind, self._severity, self._seed, self._live,
                     *self._inputs, *self.job_controls()])
        remember(self, "corruption_preview",
                 [self._kind, self._severity, self._seed, self._live, self._method,
                  self._severities, self._view_only, self._outdir])
        self._heatmap_dock = None
        self.last_report = None
        self._pending = False  # a preview was asked for while a job ran
        self._previews: set = set()  # names of the layers this widget shows over slides
        self._timer = QTimer(self.native)  # dies with the widget
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._live_preview)
        for w in (self._image, self._kind, self._severity, self._seed):
            w.changed.connect(self._schedule)
        self._live.changed.connect(self._on_live)
        self._dock_events = _DockEvents(self.native, self._schedule, self._on_closed)
        viewer, names = napari_viewer, self._previews
        self.native.destroyed.connect(lambda *_: _put_away(viewer, names))
        self._sheet.changed.connect(self.contact_sheet)
        self._whole.changed.connect(self.whole_slide)
        cam = camera(napari_viewer)
        connect_while_alive(self, [(cam.events.center, self._schedule),
                                   (cam.events.zoom, self._schedule)])

    def _image_layers(self, _widget=None):
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)
                and layer.rgb and not layer.metadata.get("corruption_preview")]

    # ------------------------------------------------------------ view region
    def visible_region(self, layer) -> tuple:
        """(array, Box, level factor): the part of ``layer``'s displayed level under the
        current view (:func:`._layers.view_region`; the whole image when the view is
        tiny), at most MAX_PREVIEW_SIDE a side. Reads no pixels."""
        level = layer.data_level if layer.multiscale else 0
        data = layer.data[level] if layer.multiscale else layer.data
        factor = np.asarray(layer.downsample_factors[level][-2:], float) if layer.multiscale \
            else np.ones(2)
        full = tuple(int(v) for v in data.shape[:2])
        box0 = view_region(self._viewer, layer)
        if box0 is None:
            box = Box(0, 0, *full)
        else:
            box = Box(int(box0.y0 // factor[0]), int(box0.x0 // factor[1]),
                      int(-(-box0.y1 // factor[0])), int(-(-box0.x1 // factor[1]))).clip(full)
            if min(box.shape) < 2:
                box = Box(0, 0, *full)
        return data, _centred(box, full, MAX_PREVIEW_SIDE), factor

    def report_region(self, layer) -> tuple:
        """(level-0 array, Box) the robustness report scores: the current view (at most
        MAX_REPORT_SIDE a side, around its centre) or the whole image."""
        data = layer.data[0] if layer.multiscale else layer.data
        full = tuple(int(v) for v in data.shape[:2])
        box = view_region(self._viewer, layer) if self._view_only.value else None
        if box is None:
            return data, Box(0, 0, *full)
        return data, _centred(box, full, MAX_REPORT_SIDE)

    # ------------------------------------------------------------ preview
    def _schedule(self, *_):
        if self._live.value and not self.closed:
            self._timer.start()  # restarts: one preview after the last event

    def _live_preview(self):
        if self._live.value and not self.closed:
            self.update_preview()

    def _on_live(self, ticked):
        """Ticked: render the current view at once (no debounce)."""
        if ticked:
            self._timer.stop()
            self._live_preview()

    def _on_closed(self):
        """The dock was closed: no more previews, and none left over the slide."""
        self._timer.stop()
        self._pending = False
        _put_away(self._viewer, self._previews)

    def _watch(self, worker) -> None:
        """Run a preview asked for during this job once it has finished."""
        if worker is not None:
            worker.finished.connect(self._after_job)

    def _after_job(self, *_):
        if self._pending:
            self._pending = False
            self._schedule()

    def update_preview(self, *_):
        """Corrupt the current view in a worker, then add or update ``<image>_corrupted``.
        Returns the worker (None when there is nothing to do, or when synchronous)."""
        layer = self._image.value
        if layer is None:
            return None
        if self.running:
            self._pending = True
            return None
        data, box, factor = self.visible_region(layer)
        kind, sev, seed = self._kind.value, int(self._severity.value), int(self._seed.value)
        device = self.device_or_report()
        if device is None:
            return None
        level = int(layer.data_level) if layer.multiscale else 0

        def job(reporter):
            reporter.report(0, 1, f"preview {kind} {sev}")
            out = corrupt(data, kind, sev, seed, device, box)
            reporter.report(1, 1, f"preview {kind} {sev}")
            return out

        def done(out):
            if self.closed:  # the dock was closed while it ran: show nothing
                return
            scale = np.asarray(layer.scale[-2:]) * factor
            translate = np.asarray(layer.translate[-2:]) + np.array(box.offset) * scale
            level0 = [int(round(v * f)) for v, f in zip(box, (*factor, *factor))]
            meta = {"corruption_preview": True, "kind": kind, "severity": sev, "seed": seed,
                    "source_layer": layer.name, "region": level0, "level": level}
            self._show(layer, out, dict(rgb=True, scale=scale, translate=translate,
                                        units=tuple(layer.units)[-2:],
                                        metadata=meta))
            h, w = box.shape
            self._status.value = f"{kind} {sev} on {h}x{w} px"

        worker = self.start_job(job, done, f"preview {kind}")
        self._watch(worker)
        return worker

    def _show(self, source, data, kwargs):
        name = f"{source.name}_corrupted"
        added = name not in self._viewer.layers
        target = upsert_layer(self._viewer, name, "image", data, kwargs)
        self._previews.add(name)
        if added and source in self._viewer.layers:
            self._viewer.layers.selection.active = source
        return target

    def whole_slide(self, _=None):
        """Corrupt the whole image tile by tile (worker, progress, Cancel) into a pyramid
        shown as ``<image>_corrupted``; pauses the live preview."""
        layer = self._image.value
        if layer is None or self.running:
            return None
        data = layer.data[0] if layer.multiscale else layer.data
        h, w = (int(v) for v in data.shape[:2])
        kind, sev, seed = self._kind.value, int(self._severity.value), int(self._seed.value)
        device = self.device_or_report()
        if device is None:
            return None
        dest = None
        if h * w > WHOLE_IN_MEMORY_PIXELS:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", layer.name)
            dest = results_dir() / f"{safe}_corrupted.zarr"

        def job(reporter):
            return corrupt_slide(data, kind, sev, seed, device, dest, reporter=reporter)

        def done(levels):
            import dask.array as da

            levels = [lv if isinstance(lv, np.ndarray) else da.from_zarr(lv) for lv in levels]
            meta = {"corruption_preview": True, "kind": kind, "severity": sev, "seed": seed,
                    "source_layer": layer.name, "region": [0, 0, h, w], "level": 0,
                    "whole_slide": True}
            self._live.value = False  # a pan must not replace the whole-slide result
            self._timer.stop()
            self._pending = False
            self._show(layer, levels if len(levels) > 1 else levels[0],
                       dict(rgb=True, scale=np.asarray(layer.scale[-2:]),
                            units=tuple(layer.units)[-2:],
                            translate=np.asarray(layer.translate[-2:]), metadata=meta))
            self._status.value = f"{kind} {sev} on the whole image ({h}x{w} px)"

        worker = self.start_job(job, done, f"whole slide {kind}")
        self._watch(worker)
        return worker

    # ------------------------------------------------------------ jobs
    def contact_sheet(self, _=None):
        """All kinds at the chosen severity as a captioned grid Image layer (thread
        worker), beside the slide, at its scale and units."""
        layer = self._image.value
        if layer is None or self.running:
            return None
        data, box, factor = self.visible_region(layer)
        kinds, sev, seed = available_corruptions(), int(self._severity.value), int(self._seed.value)
        device = self.device_or_report()
        if device is None:
            return None

        def job(reporter):
            from ..engine.api import captioned_sheet

            return captioned_sheet(np.asarray(data[box.slices]), kinds, sev, seed, device,
                                   reporter=reporter)

        def done(sheet):
            meta = {"corruption_preview": True, "kinds": ["clean", *kinds], "severity": sev,
                    "seed": seed, "source_layer": layer.name, "ncols": sheet.ncols,
                    "captions": sheet.captions}
            scale = np.asarray(layer.scale[-2:], float)
            width = image_shape(layer)[1] * scale[1]  # level 0, in world units
            translate = np.asarray(layer.translate[-2:], float) + (0.0, 1.05 * width)
            upsert_layer(self._viewer, f"{layer.name}_contact_sheet", "image", sheet.image,
                         dict(rgb=True, metadata=meta, scale=scale * factor * sheet.pixel,
                              translate=translate, units=tuple(layer.units)[-2:]))
            self._status.value = (f"contact sheet: clean + {len(kinds)} kinds at severity "
                                  f"{sev}, right of {layer.name}")

        worker = self.start_job(job, done, "contact sheet")
        self._watch(worker)
        return worker

    def run(self, _=None):
        """Robustness report on the current view (default) or the whole image; the
        pixels are read and scored in the worker, never on the GUI thread."""
        layer = self._image.value
        if layer is None or self.running:
            if layer is None:
                self._status.value = "add or select an RGB Image layer first"
            return None
        from ..engine.api import parse_severities

        try:
            sevs, device = parse_severities(self._severities.value), self.device()
        except ValueError as exc:
            self._status.value = str(exc)
            return None
        data, box = self.report_region(layer)
        method, seed, name = self._method.value, int(self._seed.value), layer.name
        outdir = Path(self._outdir.value)

        def job(reporter):
            from ..engine.api import RobustnessImage
            from ..engine.jobs.robustness import robustness_report

            rgb = np.ascontiguousarray(np.asarray(data[box.slices])[..., :3])
            return robustness_report([RobustnessImage(name, rgb)], outdir, method,
                                     list(BENCHMARK_KINDS), sevs, seed, device, reporter)

        def done(result):
            from ..engine.api import main_metric, metric_label

            self.last_report = result
            self._show_heatmap(result["files"]["heatmap"])
            self.heatmap_label.setToolTip(metric_label(result["rows"],
                                                       main_metric(result["rows"])))
            worst = ", ".join(k for k, _ in result["ranking"][:3])
            self._status.value = f"report: {result['html']} (worst: {worst})"

        worker = self.start_job(job, done, "robustness report")
        self._watch(worker)
        return worker

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
            scrolling(label), name="Robustness heatmap", area="right")  # never too big
        self.heatmap_label = label
