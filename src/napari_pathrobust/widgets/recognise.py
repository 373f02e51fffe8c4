"""Dock widget: recognise nuclei in the selected Image layer.

Thin over the engine: it reads the layer on the main thread, runs
``segment_slide`` in a thread worker with progress and Cancel, and adds or
updates ``<image>_nuclei`` (Labels) and ``<image>_centroids`` (Points) on return.
"""

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton, SpinBox

from ..engine.device import check_device_name
from ..engine.features import features_table
from ..engine.io import slide_from_array
from ..engine.methods import available_methods, get_method
from ..engine.pipeline import segment_slide
from ._runner import JobRunner, is_cancellation


class RecogniseWidget(Container):
    """Recognise nuclei: image, method, device, tile, seed, Run / Cancel, progress."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._image = ComboBox(label="Image", choices=self._image_layers)
        self._method = ComboBox(label="Method", choices=available_methods(), value="classical")
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"],
                                value="auto")
        self._tile = SpinBox(label="Tile (0 = auto)", min=0, max=8192, step=256, value=0)
        self._seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self._run = PushButton(text="Run")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self._status = Label(label="Status", value="ready")
        self.extend([self._image, self._method, self._device, self._tile, self._seed,
                     self._run, self._cancel, self._progress, self._status])
        self._run.changed.connect(self.run)
        self._cancel.changed.connect(self.cancel)
        self._runner = JobRunner(self._on_progress)
        self._activity = None
        napari_viewer.layers.events.inserted.connect(self.reset_choices)
        napari_viewer.layers.events.removed.connect(self.reset_choices)

    def _image_layers(self, _widget=None):
        return [layer for layer in self._viewer.layers if isinstance(layer, napari.layers.Image)]

    @property
    def worker(self):
        """The running thread worker (None when idle); tests wait on it."""
        return self._runner.worker

    def run(self, _=None):
        """Start recognition on the chosen layer (ignored while a run is going)."""
        layer = self._image.value
        if layer is None or self._runner.running:
            if layer is None:
                self._status.value = "add or select an Image layer first"
            return
        data = layer.data[0] if layer.multiscale else layer.data
        try:
            slide = slide_from_array(data, name=layer.name)
            device = check_device_name(self._device.value)
        except ValueError as exc:
            self._status.value = str(exc)
            return
        method = get_method(self._method.value)
        tile = self._tile.value or None
        seed = int(self._seed.value)

        def job(reporter):
            return segment_slide(slide, method, tile=tile, seed=seed, keep_records=True,
                                 polygons=False,
                                 reporter=reporter)

        self._set_running(True)
        self._status.value = f"running {method.name} on {layer.name}"
        self._activity = napari.utils.progress(total=1, desc=f"{method.name}: {layer.name}")
        params = {"method": method.name, "device": device, "tile": tile, "seed": seed}
        self._runner.start(job, lambda result: self._on_done(layer, params, result),
                           self._on_error, lambda: self._set_running(False))

    def cancel(self, _=None):
        """Ask the running job to stop; nothing is added to the viewer."""
        self._runner.cancel()
        self._status.value = "cancelling..."

    def _set_running(self, running: bool):
        self._run.enabled = not running
        self._cancel.enabled = running
        for widget in (self._image, self._method, self._device, self._tile, self._seed):
            widget.enabled = not running
        if not running and self._activity is not None:
            self._activity.close()
            self._activity = None

    def _on_progress(self, done: int, total: int, message: str):
        self._progress.max = max(1, total)
        self._progress.value = min(done, max(1, total))
        activity = self._activity
        if activity is not None:
            activity.total = max(1, total)
            activity.n = done
            activity.set_description(message or "working")

    def _on_error(self, exc: BaseException):
        if is_cancellation(exc):
            self._status.value = "cancelled"
            return
        self._status.value = f"failed: {exc}"
        napari.utils.notifications.show_error(f"Recognise nuclei failed: {exc}")

    def _on_done(self, source, params, result):
        metadata = {**params, **result.info, "source_layer": source.name}
        labels = np.asarray(result.labels)
        geometry = {"scale": source.scale[-2:], "translate": source.translate[-2:],
                    "units": tuple(source.units)[-2:]}
        nuclei = self._upsert(f"{source.name}_nuclei", "labels", labels, metadata, geometry)
        nuclei.features = features_table(result.records)
        points = np.array([[r.centroid_y, r.centroid_x] for r in result.records],
                          dtype=float).reshape(-1, 2)
        centroids = self._upsert(f"{source.name}_centroids", "points", points, metadata,
                                 dict(geometry, size=6, face_color="yellow"))
        centroids.features = features_table(result.records)
        self._status.value = f"{result.n_nuclei} nuclei in {result.seconds:.1f} s"

    def _upsert(self, name, kind, data, metadata, kwargs):
        """Update the layer called ``name`` in place, or add it."""
        if name in self._viewer.layers:
            layer = self._viewer.layers[name]
            layer.data = data
            layer.metadata = metadata
            return layer
        add = getattr(self._viewer, f"add_{kind}")
        return add(data, name=name, metadata=metadata, **kwargs)
