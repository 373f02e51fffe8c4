"""Dock widget: recognise nuclei in the selected Image layer.

Thin over :func:`..engine.jobs.region.segment_region`: it picks the region and takes
the layer's array on the main thread, runs the job (method built, weights loaded,
tiles segmented) in a thread worker with progress and Cancel, and on return adds or
updates ``<image>_nuclei`` (Labels, outlines coloured by class and status),
``<image>_centroids`` (Points, hidden) and one hidden layer per map the method returns
(``<image>_activation``, ``<image>_pseudomask``, ...: tick its eye to show it).

One result per slide: a run on a new region adds its cells to ``<image>_nuclei``; a
run over reviewed cells keeps them and replaces only unreviewed ones
(``engine.review.merge``, through ``._cell_result`` as Adapt to image does), and the
status line says how many. Regions above
``LARGE_PIXELS`` are written to a zarr pyramid in the results folder and shown
multiscale; such a run replaces the result, so it is refused while the result holds
reviewed cells. "Whole image" on an image above ``WHOLE_SLIDE_PIXELS`` reads the
slide from its file (else its pyramid levels) and writes all result files into
``<results folder>/<image>_slide/`` (``engine.jobs.whole_slide``: tissue only,
resumable after Cancel); the result is that zarr pyramid, shown lazily, multiscale.
Results are autosaved beside the results and restored when the image is opened again.
"""

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, PushButton, SpinBox

from ..engine.api import DEFAULT_METHOD, Box, available_methods, check_device_name, unit_to_um
from ..engine.jobs import LARGE_IMAGE_PIXELS
from ..engine.jobs.region import RegionOptions, segment_region
from ..engine.jobs.segment import pixel_size_note
from ..engine.jobs.stain_note import run_label, stain_note
from ..engine.jobs.whole_slide import segment_whole_slide
from ._cell_result import large_dest, merged_result, refusal, show_cells
from ._device_choice import device_combo
from ._layers import (
    REGIONS,
    chosen_region,
    connect_while_alive,
    layer_choices,
    region_geometry,
    upsert_layer,
)
from ._remembered import remember
from ._review_session import image_fingerprint, restore
from ._runner import JobWidget
from ._settings import load_settings
from ._whole_slide import (
    done_message,
    pixel_size_refusal,
    whole_slide_folder,
    whole_slide_source,
)
from .cell_style import style_if_result

#: regions with more pixels go to a zarr pyramid instead of memory (tests lower it)
LARGE_PIXELS = LARGE_IMAGE_PIXELS
#: "whole image" on images with more pixels runs the whole-slide job (``_whole_slide``)
WHOLE_SLIDE_PIXELS = LARGE_IMAGE_PIXELS


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
    """The "um per pixel" field, prefilled from ``layer`` (0 = unknown, shown in words)."""
    field = FloatSpinBox(label="um per pixel", min=0.0, max=50.0, step=0.005,
                         value=round(layer_mpp(layer), 4),
                         tooltip="pixel size in microns (0 = unknown: the method's working "
                                 "resolution, 0.25, is assumed); other sizes are resampled")
    field.native.setSpecialValueText("unknown, assumed 0.25")  # shown at 0, not 0.000
    field.native.setButtonSymbols(field.native.ButtonSymbols.NoButtons)  # room for the words
    field.native.setStyleSheet("min-width: 11em")
    return field


def pixel_note(metadata: dict) -> str:
    """``, pixel size unknown: assumed ...`` for the status line, or ''."""
    note = pixel_size_note(metadata, hint="set 'um per pixel' to change it")
    return f", {note}" if note else ""


class RecogniseWidget(JobWidget):
    """Recognise nuclei: image, um per pixel, method, device, tile, seed, stain, stain
    normalisation (on: psm on H&E, gated per slide), region, Run / Cancel, progress.
    Method, tile, seed, stain and region are remembered between
    sessions (``_remembered``); the device defaults from the Settings."""

    title = "Recognise nuclei"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        settings = load_settings()
        self._memory_mb = float(settings["memory_budget_mb"])
        methods = available_methods()
        self._image = ComboBox(label="Image", choices=layer_choices(napari_viewer,
                                                                  napari.layers.Image))
        self._method = ComboBox(label="Method", choices=lambda _widget=None: available_methods(),
                                value=DEFAULT_METHOD if DEFAULT_METHOD in methods else methods[0],
                                tooltip="psm@<name>: a network kept by Adapt to image")
        self._refresh_methods_on_open(self._method)
        self._device = device_combo("Device", settings["device"],
                                    on_refused=lambda msg: setattr(self._status, "value", msg))
        self._tile = SpinBox(label="Tile (0 = auto)", min=0, max=8192, step=256,
                             value=settings["tile"])
        self._seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self._stain = ComboBox(label="Stain", choices=["he", "ihc"], value="he",
                               tooltip="ihc: hematoxylin-DAB detection, DAB measurements and "
                                       "Positive/Negative classes (see IHC scoring)")
        self._normalise = CheckBox(
            text="Stain normalisation", value=True,
            tooltip="psm, H&E: normalise the slide's colours to the training slides' where a "
                    "check on the slide finds it helps (decision in the layer's metadata, "
                    "'normalisation'); off: the colours as scanned")
        self._region = ComboBox(label="Region", choices=list(REGIONS), value=REGIONS[0])
        self._shapes = ComboBox(label="Shapes layer", nullable=True,
                                choices=layer_choices(napari_viewer, napari.layers.Shapes))
        self._mpp = mpp_field(self._image.value)
        # the device comes from the Settings; layer pickers and the pixel size follow layers
        # remembered values other than the defaults are marked (label " *", tooltip)
        self._remembered = remember(self, "recognise", [self._method, self._tile, self._seed,
                                                        self._stain, self._region], mark=True)
        self._reset = PushButton(text="Reset to defaults",
                                 tooltip="method, tile, seed, stain and region back to their "
                                         "defaults (fields marked * were remembered)")
        self._reset.changed.connect(lambda _=None: self._remembered.reset())
        self._image.changed.connect(lambda layer: setattr(self._mpp, "value",
                                                          round(layer_mpp(layer), 4)))
        self._inputs = [self._image, self._mpp, self._method, self._device, self._tile,
                        self._seed, self._stain, self._normalise, self._region, self._shapes,
                        self._reset]
        self.extend([*self._inputs, *self.job_controls()])
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self._on_inserted)])
        for layer in list(napari_viewer.layers):
            restore(napari_viewer, layer)

    @staticmethod
    def _refresh_methods_on_open(box: ComboBox) -> None:
        """List the methods again each time the drop-down opens, so a network just kept
        by Adapt to image appears without reopening the widget."""
        native = box.native
        show_popup = native.showPopup

        def refreshed_popup():
            box.reset_choices()
            show_popup()
        native.showPopup = refreshed_popup

    def _on_inserted(self, event):
        restore(self._viewer, event.value)
        style_if_result(event.value)

    def device(self) -> str:
        """The device chosen in the widget (its default comes from the settings)."""
        return check_device_name(self._device.value)

    def _box(self, layer):
        """The chosen region as a Box, or a message saying why there is none."""
        return chosen_region(self._viewer, self._region.value, self._shapes.value, layer)

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
        device = self.device_or_report()
        if device is None:
            return None
        options = RegionOptions(method=self._method.value, device=device,
                                seed=int(self._seed.value), tile=self._tile.value or None,
                                stain=self._stain.value, memory_budget_mb=self._memory_mb,
                                normalise=bool(self._normalise.value))
        level0 = layer.data[0] if layer.multiscale else layer.data
        mpp, name = float(self._mpp.value) or None, layer.name
        dest = None
        large = box.shape[0] * box.shape[1] > LARGE_PIXELS
        whole = self._region.value == REGIONS[0] and \
            box.shape[0] * box.shape[1] > max(LARGE_PIXELS, WHOLE_SLIDE_PIXELS)
        if large:
            dest = whole_slide_folder(layer) if whole else self._dest(layer)
        refusal = self._refusal(layer, box, dest is not None)
        if refusal:
            self._status.value = refusal
            return None
        # the autosaved review comes back only for these pixels (see _review_session)
        meta = {"source_layer": name, "source_fingerprint": image_fingerprint(layer)}
        if whole:  # from the slide's file (or its pyramid) into a results folder
            refused = pixel_size_refusal(layer, self._mpp.value)
            if refused:
                self._status.value = refused
                return None
            source, mpp = whole_slide_source(layer, self._mpp.value)

            def job(reporter):
                return segment_whole_slide(source, dest, options, reporter, name=name,
                                           mpp=mpp, metadata=meta)
            return self.start_job(job, lambda result: self._on_done(layer, result),
                                  f"{options.method}: whole slide {name} -> {dest}")

        def job(reporter):
            return segment_region(level0, box, options, reporter, name=name, mpp=mpp,
                                  metadata=meta, zarr_dest=dest)

        return self.start_job(job, lambda result: self._on_done(layer, result),
                              f"{options.method}: {name}")

    def _refusal(self, source, box, large: bool) -> str:
        """Why a run would lose reviews (``_cell_result.refusal``), or ''."""
        return refusal(self._viewer, source, box, large, LARGE_PIXELS)

    def _on_done(self, source, result):
        large = not isinstance(result.labels, np.ndarray)
        box = Box.of(result.metadata["region"])
        refused = self._refusal(source, box, large)
        if refused:  # reviews made while the job ran
            self._status.value = refused
            return
        labels, table, metadata, note = merged_result(self._viewer, source, result,
                                                      LARGE_PIXELS)
        if large:
            metadata.setdefault("zarr_labels", str(self._dest(source)))
        for name, data in result.maps.items():
            self._show_map(f"{source.name}_{name}", name, data,
                           self._geometry(source, dict(metadata, region=box.as_list())))
        show_cells(self._viewer, source, labels, table, metadata)
        self._status.value = (f"{result.n_nuclei} nuclei in {result.seconds:.1f} s "
                              f"({run_label(result.metadata)}){pixel_note(metadata)}"
                              f"{stain_note(result.metadata)}{note}{done_message(result)}")

    @staticmethod
    def _dest(source):
        return large_dest(source)

    @staticmethod
    def _geometry(source, metadata: dict) -> dict:
        return {**region_geometry(source, metadata["region"]), "metadata": metadata}

    def _show_map(self, layer_name: str, role: str, data, geometry: dict):
        """Add or update a map layer, hidden when new (tick its eye to show it)."""
        geometry = dict(geometry, visible=False)
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
