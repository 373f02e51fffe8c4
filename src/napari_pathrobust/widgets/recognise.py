"""Dock widget: recognise nuclei in the selected Image layer.

Thin over :func:`..engine.jobs.region.segment_region`: it picks the region and takes
the layer's array on the main thread, runs the job (method built, weights loaded,
tiles segmented) in a thread worker with progress and Cancel, and on return adds or
updates ``<image>_nuclei`` (Labels), ``<image>_centroids`` (Points) and one layer per
map the method returns (``<image>_activation``, ``<image>_pseudomask``, ...). Results
stay bound to the layer they were computed from. Regions above ``LARGE_PIXELS`` are
written to a zarr pyramid in the results folder and shown multiscale.
"""

import re

import napari
import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, SpinBox

from ..engine.device import check_device_name
from ..engine.image_formats import unit_to_um
from ..engine.jobs import LARGE_IMAGE_PIXELS
from ..engine.jobs.region import RegionOptions, segment_region
from ..engine.methods import DEFAULT_METHOD, available_methods
from ..engine.tiling import Box
from ._layers import image_shape, layer_choices, shape_region, upsert_layer, view_region
from ._runner import JobWidget
from ._settings import load_settings, results_dir

REGIONS = ("whole image", "current view", "shapes rectangle")
#: regions with more pixels go to a zarr pyramid instead of memory (tests lower it)
LARGE_PIXELS = LARGE_IMAGE_PIXELS


def layer_mpp(layer) -> float:
    """Microns per pixel of an image layer: its scale when its units are a length
    (napari >= 0.5 ``units``), else ``metadata["mpp"]``, else 0 (unknown)."""
    if layer is None:
        return 0.0
    units = getattr(layer, "units", None)
    if units is not None and len(units):
        factor = unit_to_um(str(units[-1]), default=None)
        if factor is not None:
            return float(layer.scale[-1]) * factor
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    try:
        return float(meta.get("mpp") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def mpp_field(layer) -> FloatSpinBox:
    """The "um per pixel" field, prefilled from ``layer`` (0 = unknown)."""
    return FloatSpinBox(label="um per pixel", min=0.0, max=50.0, step=0.005,
                        value=round(layer_mpp(layer), 4),
                        tooltip="pixel size in microns (0 = unknown: the method's working "
                                "resolution, 0.25, is assumed); other sizes are resampled")


def pixel_note(metadata: dict) -> str:
    """``, pixel size unknown: assumed ...`` for the status line, or ''."""
    if metadata.get("mpp_assumed"):
        return f", pixel size unknown: assumed {metadata.get('working_mpp'):g} um/px"
    return ""


class RecogniseWidget(JobWidget):
    """Recognise nuclei: image, um per pixel, method, device, tile, seed, region,
    Run / Cancel, progress."""

    title = "Recognise nuclei"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
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
        self._mpp = mpp_field(self._image.value)
        self._image.changed.connect(lambda layer: setattr(self._mpp, "value",
                                                          round(layer_mpp(layer), 4)))
        self._inputs = [self._image, self._mpp, self._method, self._device, self._tile,
                        self._seed, self._stain, self._region, self._shapes]
        self.extend([*self._inputs, *self.job_controls()])

    def device(self) -> str:
        """The device chosen in the widget (its default comes from the settings)."""
        return check_device_name(self._device.value)

    def _box(self, layer):
        """The chosen region as a Box, or a message saying why there is none."""
        region = self._region.value
        if region == "current view":
            box = view_region(self._viewer, layer)
        elif region == "shapes rectangle":
            if self._shapes.value is None or len(self._shapes.value.data) == 0:
                return "draw a rectangle in a Shapes layer and choose that layer first"
            box = shape_region(self._shapes.value, layer)
        else:
            box = Box(0, 0, *image_shape(layer))
        return box if box is not None else f"the {region} does not overlap {layer.name}"

    def run(self, _=None):
        """Start recognition on the chosen layer and region (ignored while running)."""
        layer = self._image.value
        if layer is None or self.running:
            if layer is None:
                self._status.value = "add or select an Image layer first"
            return None
        box = self._box(layer)
        if isinstance(box, str):
            self._status.value = box
            return None
        try:
            device = self.device()
        except ValueError as exc:
            self._status.value = str(exc)
            return None
        options = RegionOptions(method=self._method.value, device=device,
                                seed=int(self._seed.value), tile=self._tile.value or None,
                                stain=self._stain.value, memory_budget_mb=self._memory_mb)
        level0 = layer.data[0] if layer.multiscale else layer.data
        mpp, name = float(self._mpp.value) or None, layer.name
        dest = None
        if box.shape[0] * box.shape[1] > LARGE_PIXELS:
            dest = results_dir() / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}_nuclei.zarr"

        def job(reporter):
            return segment_region(level0, box, options, reporter, name=name, mpp=mpp,
                                  metadata={"source_layer": name}, zarr_dest=dest)

        return self.start_job(job, lambda result: self._on_done(layer, result),
                              f"{options.method}: {name}")

    def _on_done(self, source, result):
        metadata = result.metadata
        y0, x0 = metadata["region"][:2]
        scale = np.asarray(source.scale[-2:], dtype=float)
        translate = np.asarray(source.translate[-2:], dtype=float) + scale * (y0, x0)
        geometry = {"scale": tuple(scale), "translate": tuple(translate),
                    "units": tuple(source.units)[-2:], "metadata": metadata}
        prefix, table = source.name, result.table
        for name, data in result.maps.items():
            self._show_map(f"{prefix}_{name}", name, data, geometry)
        features = dict(table, index=table["label"])
        nuclei = upsert_layer(self._viewer, f"{prefix}_nuclei", "labels", result.labels,
                              dict(geometry, features=features))
        points = np.stack([table["y"], table["x"]], axis=1) if len(table["label"]) \
            else np.zeros((0, 2))
        upsert_layer(self._viewer, f"{prefix}_centroids", "points", points,
                     dict(geometry, features=table, size=6, face_color="yellow"))
        self._viewer.layers.selection.active = nuclei
        self._status.value = (f"{result.n_nuclei} nuclei in {result.seconds:.1f} s"
                              f"{pixel_note(metadata)}")

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
