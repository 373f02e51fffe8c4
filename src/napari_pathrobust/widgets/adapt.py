"""Dock widget: adapt the PSM network to the open image, then recognise nuclei with it.

The region is chosen as in Recognise (whole image, current view, a Shapes rectangle)
and read on the main thread; :func:`..engine.jobs.adapt.adapt_region` adapts on sample
tiles of the region, lets the never-worse gate keep the adapted network or roll back
to the source, and segments the region (thread worker, progress, Cancel). The cells go
where Recognise puts them (``._cell_result``): into the slide's ``<image>_nuclei``,
drawn as outlines, merged with the cells already there (reviewed cells are kept); its
``metadata["adaptation"]`` says what was done and why. The status line says the
outcome in plain words (``engine.adapt.gate.outcome_message``), its tooltip the numbers.
With *Keep adapted network* a kept network is saved with its model card in the models
folder and appears in Recognise's methods as ``psm@<name>``.
"""

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, LineEdit

from ..engine.api import (
    DEFAULT_SLIDE_METHOD,
    SLIDE_METHODS,
    Box,
    SlideAdaptConfig,
    check_device_name,
    outcome_details,
)
from . import recognise
from ._cell_result import large_dest, merged_result, refusal, show_cells
from ._device_choice import device_combo
from ._layers import REGIONS, chosen_region, layer_choices
from ._review_session import image_fingerprint
from ._runner import JobWidget
from ._settings import load_settings
from .recognise import layer_mpp, mpp_field, pixel_note


class AdaptWidget(JobWidget):
    """Adapt to image: image, region, method, device, gate, keep network, Run / Cancel."""

    title = "Adapt to image"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text="Adapt and recognise")
        settings = load_settings()
        self._image = ComboBox(label="Image", choices=layer_choices(napari_viewer,
                                                                  napari.layers.Image))
        self._mpp = mpp_field(self._image.value)
        self._image.changed.connect(lambda layer: setattr(self._mpp, "value",
                                                          round(layer_mpp(layer), 4)))
        self._region = ComboBox(label="Region", choices=list(REGIONS), value=REGIONS[0])
        self._shapes = ComboBox(label="Shapes layer", nullable=True,
                                choices=layer_choices(napari_viewer, napari.layers.Shapes))
        self._method = ComboBox(label="Method", choices=list(SLIDE_METHODS),
                                value=DEFAULT_SLIDE_METHOD,
                                tooltip="stain: colours normalised to the training "
                                        "slides; bn: BatchNorm statistics re-estimated "
                                        "on the region")
        self._device = device_combo("Device", settings["device"])  # cuda:N too
        self._gate = CheckBox(label="Never worse (check and roll back)", value=True)
        self._keep = CheckBox(label="Keep adapted network", value=False)
        self._name = LineEdit(label="Network name", value="",
                              tooltip="empty: <image>-<method>")
        self._inputs = [self._image, self._mpp, self._region, self._shapes, self._method,
                        self._device, self._gate, self._keep, self._name]
        self.extend([*self._inputs, *self.job_controls()])
        self.last_result = None
        self.saved = None  # path of the last kept network

    def device(self) -> str:
        """The device chosen in the widget (its default comes from the settings)."""
        return check_device_name(self._device.value)

    def config(self) -> SlideAdaptConfig:
        return SlideAdaptConfig(method=self._method.value, gate=bool(self._gate.value))

    def _box(self, layer):
        """The chosen region as a Box, or a message saying why there is none."""
        return chosen_region(self._viewer, self._region.value, self._shapes.value, layer)

    def run(self, _=None):
        """Adapt to the chosen region and recognise its nuclei (thread worker)."""
        layer = self._image.value
        if layer is None or self.running:
            if layer is None:
                self._status.value = "add or select an RGB Image layer first"
            return None
        box = self._box(layer)
        if isinstance(box, str):
            self._status.value = box
            return None
        try:
            config, device = self.config(), self.device()
        except ValueError as exc:
            self._status.value = str(exc)
            return None
        level0 = layer.data[0] if layer.multiscale else layer.data
        name, mpp = layer.name, float(self._mpp.value) or None
        keep = bool(self._keep.value)
        net_name = self._name.value.strip() or f"{name}-{config.method}"
        large = box.shape[0] * box.shape[1] > recognise.LARGE_PIXELS
        refused = self._refusal(layer, box, large)
        if refused:
            self._status.value = refused
            return None
        dest = large_dest(layer) if large else None
        # as Recognise records it: the autosaved review comes back only for these pixels
        meta = {"source_layer": name, "source_fingerprint": image_fingerprint(layer)}
        self._status.tooltip = None

        def job(reporter):
            from ..engine.api import default_models_dir, save_adapted
            from ..engine.jobs.adapt import adapt_region

            out = adapt_region(level0, box, config, device, reporter, name=name, mpp=mpp,
                               metadata=meta, zarr_dest=dest)
            saved = None
            if keep and out.adaptation.kept:
                saved = save_adapted(out.adaptation, default_models_dir(), net_name,
                                     image=name, extra={"region": box.as_list()})
            return out, saved

        return self.start_job(job, lambda res: self._on_done(layer, *res),
                              f"adapting to {name}")

    def _refusal(self, source, box, large: bool) -> str:
        """Why a run would lose reviews (``_cell_result.refusal``), or ''."""
        return refusal(self._viewer, source, box, large, recognise.LARGE_PIXELS)

    def _on_done(self, source, out, saved):
        """Show the cells in the slide's result, as Recognise does; say the outcome."""
        result, adaptation = out.region, out.adaptation
        self.last_result, self.saved = out, saved
        kept = ""
        if saved is not None:
            kept = f"; network kept as psm@{saved.stem}"
        elif self._keep.value:
            kept = "; no network saved (the original was used)"
        large = not isinstance(result.labels, np.ndarray)
        refused = self._refusal(source, Box.of(result.metadata["region"]), large)
        if refused:  # reviews made while the job ran
            self._status.value = refused + kept
            return
        labels, table, metadata, note = merged_result(self._viewer, source, result,
                                                      recognise.LARGE_PIXELS)
        metadata["kept_network"] = str(saved) if saved else None
        if large:
            metadata["zarr_labels"] = str(large_dest(source))
        show_cells(self._viewer, source, labels, table, metadata)
        self._status.value = (f"{adaptation.message}. {result.n_nuclei} nuclei in "
                              f"{result.seconds:.1f} s{pixel_note(metadata)}{note}{kept}")
        self._status.tooltip = outcome_details(adaptation.method, adaptation.reason,
                                               adaptation.decision)
