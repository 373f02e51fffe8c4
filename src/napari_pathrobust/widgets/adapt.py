"""Dock widget: adapt the PSM network to the open image, then recognise nuclei with it.

The region is chosen as in Recognise (whole image, current view, a Shapes rectangle)
and read on the main thread; :func:`..engine.jobs.adapt.adapt_region` adapts on sample
tiles of the region, lets the never-worse gate keep the adapted network or roll back
to the source, and segments the region (thread worker, progress, Cancel). The result
is ``<image>_adapted_nuclei`` (Labels with a features table; its metadata say what was
done and why). With *Keep adapted network* a kept network is saved with its model
card in the models folder and appears in Recognise's methods as ``psm@<name>``.
"""

import napari
from magicgui.widgets import CheckBox, ComboBox, LineEdit

from ..engine.adapt.slide import DEFAULT_SLIDE_METHOD, SLIDE_METHODS, SlideAdaptConfig
from ..engine.device import check_device_name
from ._layers import REGIONS, chosen_region, layer_choices, region_geometry, upsert_layer
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
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"],
                                value=settings["device"])
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

        def job(reporter):
            from ..engine.adapt.saved import default_models_dir, save_adapted
            from ..engine.jobs.adapt import adapt_region

            out = adapt_region(level0, box, config, device, reporter, name=name, mpp=mpp,
                               metadata={"source_layer": name})
            saved = None
            if keep and out.adaptation.kept:
                saved = save_adapted(out.adaptation, default_models_dir(), net_name,
                                     image=name, extra={"region": box.as_list()})
            return out, saved

        return self.start_job(job, lambda res: self._on_done(layer, *res),
                              f"adapting to {name}")

    def _on_done(self, source, out, saved):
        result, adaptation = out.region, out.adaptation
        self.last_result, self.saved = out, saved
        metadata = dict(result.metadata, kept_network=str(saved) if saved else None)
        table = result.table
        upsert_layer(self._viewer, f"{source.name}_adapted_nuclei", "labels", result.labels,
                     {**region_geometry(source, metadata["region"]), "metadata": metadata,
                      "features": dict(table, index=table["label"])})
        note = ""
        if saved is not None:
            note = f"; kept as psm@{saved.stem}"
        elif self._keep.value:
            note = "; nothing kept (source network used)"
        self._status.value = (f"{adaptation.summary()}; {result.n_nuclei} nuclei in "
                              f"{result.seconds:.1f} s{note}{pixel_note(metadata)}")
