"""Dock widget: recognise nuclei in the selected Image layer.

Thin over the engine: it reads the layer (level 0, lazily) on the main thread, runs
``segment_slide`` in a thread worker with progress and Cancel, and on return adds or
updates ``<image>_nuclei`` (Labels), ``<image>_centroids`` (Points) and one layer per
map the method returns (``<image>_activation``, ``<image>_pseudomask``, ...). Results
stay bound to the layer they were computed from. Regions above
``LARGE_IMAGE_PIXELS`` are written to a zarr pyramid and shown multiscale.
"""

import re
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, Label, ProgressBar, PushButton, SpinBox

from ..engine.device import check_device_name
from ..engine.io import slide_from_array
from ..engine.jobs import LARGE_IMAGE_PIXELS
from ..engine.methods import DEFAULT_METHOD, available_methods, get_method
from ..engine.pipeline import segment_slide
from ._large_result import run_to_zarr
from ._layers import (
    FeatureSink,
    connect_while_alive,
    image_shape,
    layer_choices,
    shape_region,
    upsert_layer,
    view_region,
)
from ._runner import JobRunner, is_cancellation
from ._settings import load_settings, results_dir

REGIONS = ("whole image", "current view", "shapes rectangle")
#: regions with more pixels go to a zarr pyramid instead of memory (tests lower it)
LARGE_PIXELS = LARGE_IMAGE_PIXELS


def _build_method(name: str, device: str, seed: int = 0, stain: str = "he"):
    """The engine method with device, seed and stain (learned methods use them)."""
    extra = {"stain": stain} if name == "psm" else {}
    try:
        return get_method(name, device=device, seed=seed, **extra)
    except TypeError:
        return get_method(name)


class RecogniseWidget(Container):
    """Recognise nuclei: image, method, device, tile, seed, region, Run / Cancel, progress."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        settings = load_settings()
        self._memory_mb = float(settings["memory_budget_mb"])
        methods = available_methods()
        self._image = ComboBox(label="Image", choices=layer_choices(napari_viewer,
                                                                  napari.layers.Image))
        self._method = ComboBox(label="Method", choices=methods,
                                value=DEFAULT_METHOD if DEFAULT_METHOD in methods else methods[0])
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"],
                                value=settings["device"])
        self._tile = SpinBox(label="Tile (0 = auto)", min=0, max=8192, step=256,
                             value=settings["tile"])
        self._seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self._stain = ComboBox(label="Stain (PSM)", choices=["he", "ihc"], value="he",
                               tooltip="ihc: classify cells DAB-positive / negative")
        self._region = ComboBox(label="Region", choices=list(REGIONS), value=REGIONS[0])
        self._shapes = ComboBox(label="Shapes layer", nullable=True,
                                choices=layer_choices(napari_viewer, napari.layers.Shapes))
        self._run = PushButton(text="Run")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self._status = Label(label="Status", value="ready")
        self._inputs = (self._image, self._method, self._device, self._tile, self._seed,
                        self._stain, self._region, self._shapes)
        self.extend([*self._inputs, self._run, self._cancel, self._progress, self._status])
        self._run.changed.connect(self.run)
        self._cancel.changed.connect(self.cancel)
        self._runner = JobRunner(self._on_progress)
        self._activity = None
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self.reset_choices),
                                   (napari_viewer.layers.events.removed, self.reset_choices)])

    @property
    def worker(self):
        """The running thread worker (None when idle); tests wait on it."""
        return self._runner.worker

    def _box(self, layer):
        """(y0, x0, y1, x1) of the chosen region, or a message saying why there is none."""
        region = self._region.value
        if region == "current view":
            box = view_region(self._viewer, layer)
        elif region == "shapes rectangle":
            if self._shapes.value is None or len(self._shapes.value.data) == 0:
                return "draw a rectangle in a Shapes layer and choose that layer first"
            box = shape_region(self._shapes.value, layer)
        else:
            h, w = image_shape(layer)
            box = (0, 0, h, w)
        return box if box is not None else f"the {region} does not overlap {layer.name}"

    def run(self, _=None):
        """Start recognition on the chosen layer and region (ignored while running)."""
        layer = self._image.value
        if layer is None or self._runner.running:
            if layer is None:
                self._status.value = "add or select an Image layer first"
            return
        box = self._box(layer)
        if isinstance(box, str):
            self._status.value = box
            return
        y0, x0, y1, x1 = box
        level0 = layer.data[0] if layer.multiscale else layer.data
        mpp = layer.metadata.get("mpp") if isinstance(layer.metadata, dict) else None
        try:
            slide = slide_from_array(level0[y0:y1, x0:x1], name=layer.name, mpp=mpp)
            device = check_device_name(self._device.value)
        except ValueError as exc:
            self._status.value = str(exc)
            return
        tile = self._tile.value or None
        seed = int(self._seed.value)
        method = _build_method(self._method.value, device, seed, self._stain.value)
        params = {"method": method.name, "device": device, "tile": tile, "seed": seed,
                  "stain": self._stain.value,
                  "memory_budget_mb": self._memory_mb, "region": [y0, x0, y1, x1]}
        large = (y1 - y0) * (x1 - x0) > LARGE_PIXELS
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", layer.name)
        dest = results_dir() / f"{safe}_nuclei.zarr" if large else None
        memory_mb = self._memory_mb

        def job(reporter):
            sink = FeatureSink()
            if dest is not None:
                labels, maps, result = run_to_zarr(
                    slide, method, Path(dest), dict(params, source_layer=layer.name),
                    sink, reporter, tile=tile, seed=seed, memory_budget_mb=memory_mb)
            else:
                result = segment_slide(slide, method, tile=tile, seed=seed, sinks=[sink],
                                       polygons=False, memory_budget_mb=memory_mb,
                                       reporter=reporter)
                labels, maps = result.labels, result.maps
            return result, labels, maps, sink.table()

        self._set_running(True)
        self._status.value = f"running {method.name} on {layer.name}"
        self._activity = napari.utils.progress(total=1, desc=f"{method.name}: {layer.name}")
        self._runner.start(job, lambda out: self._on_done(layer, params, out),
                           self._on_error, lambda: self._set_running(False))

    def cancel(self, _=None):
        """Ask the running job to stop; nothing is added to the viewer or left on disk."""
        self._runner.cancel()
        self._status.value = "cancelling..."

    def _set_running(self, running: bool):
        self._run.enabled = not running
        self._cancel.enabled = running
        for widget in self._inputs:
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

    def _on_done(self, source, params, out):
        result, labels, maps, table = out
        info = dict(result.info)
        model_hash = (info.get("parameters") or {}).get("model_hash")
        metadata = {**params, **info, "source_layer": source.name, "model_hash": model_hash}
        metadata["region"] = params["region"]
        y0, x0 = params["region"][:2]
        scale = np.asarray(source.scale[-2:], dtype=float)
        translate = np.asarray(source.translate[-2:], dtype=float) + scale * (y0, x0)
        geometry = {"scale": tuple(scale), "translate": tuple(translate),
                    "units": tuple(source.units)[-2:], "metadata": metadata}
        prefix = source.name
        for name, data in maps.items():
            self._show_map(f"{prefix}_{name}", name, data, geometry)
        features = dict(table, index=table["label"])
        nuclei = upsert_layer(self._viewer, f"{prefix}_nuclei", "labels", labels,
                              dict(geometry, features=features))
        points = np.stack([table["y"], table["x"]], axis=1) if len(table["label"]) \
            else np.zeros((0, 2))
        upsert_layer(self._viewer, f"{prefix}_centroids", "points", points,
                     dict(geometry, features=table, size=6,
                          face_color="yellow"))
        self._viewer.layers.selection.active = nuclei
        self._status.value = f"{result.n_nuclei} nuclei in {result.seconds:.1f} s"

    def _show_map(self, layer_name: str, role: str, data, geometry: dict):
        if role == "pseudomask":
            upsert_layer(self._viewer, layer_name, "labels",
                         data if isinstance(data, list) else np.asarray(data, np.uint8),
                         dict(geometry, opacity=0.4))
        elif role == "activation":
            upsert_layer(self._viewer, layer_name, "image", data,
                         dict(geometry, colormap="turbo", blending="additive", opacity=0.6,
                              contrast_limits=(0.0, 1.0)))
        else:
            upsert_layer(self._viewer, layer_name, "image", data,
                         dict(geometry, blending="additive", opacity=0.6))
