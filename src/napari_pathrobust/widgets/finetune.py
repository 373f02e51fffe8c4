"""Dock widget "Improve network": fine-tune the PSM network on the reviewed cells of a
result and keep it as ``psm@<name>``.

The chosen result layer (a Labels layer whose cells table has ``status``) and its image
are read on the main thread, only around the reviewed cells; the fine-tuning
(``engine.jobs.finetune.finetune_to_model``) runs in a thread worker with progress and
Cancel. On return the status line says the never-worse decision; a kept network is in
the models folder, so Recognise's method list offers it as ``psm@<name>``. An IHC
result is learnt on the pseudo-H&E psm's IHC runs feed the network.
"""

import napari
import numpy as np
from magicgui.widgets import ComboBox, LineEdit

from ..engine.api import FINETUNE_METHODS, PAINTED, FinetuneConfig, result_stain
from ._layers import cell_result_choices, layer_choices, prefer_cell_result
from ._runner import JobWidget

#: context read around the reviewed cells (px), as the job reads files
MARGIN = 256


def reviewed_crop(result, image):
    """``(rgb, labels, table)`` around the reviewed cells of ``result`` over ``image``
    (layer data read here, on the main thread), or a message saying why not."""
    features = getattr(result, "features", None)
    if features is None or "status" not in getattr(features, "columns", ()):
        return f"{result.name} has no review statuses (review some cells first)"
    status = features["status"].astype(str).str.strip().str.lower().to_numpy()
    reviewed = status != "unreviewed"
    if not reviewed.any():
        return f"{result.name}: no reviewed cells (accept, reject or paint some first)"
    labels = result.data[0] if result.multiscale else result.data
    h, w = labels.shape[:2]
    ys = features["y"].to_numpy(float)[reviewed]
    xs = features["x"].to_numpy(float)[reviewed]
    y0, x0 = max(0, int(np.nanmin(ys)) - MARGIN), max(0, int(np.nanmin(xs)) - MARGIN)
    y1 = min(h, int(np.nanmax(ys)) + MARGIN + 1)
    x1 = min(w, int(np.nanmax(xs)) + MARGIN + 1)
    oy, ox = ((result.metadata or {}).get("region") or (0, 0))[:2]
    pixels = image.data[0] if image.multiscale else image.data
    rgb = np.asarray(pixels[oy + y0:oy + y1, ox + x0:ox + x1])
    crop = np.asarray(labels[y0:y1, x0:x1])
    if rgb.shape[:2] != crop.shape[:2] or rgb.ndim != 3:
        return f"{result.name} does not lie on {image.name} (an RGB image)"
    table = {c: features[c].to_numpy() for c in ("label", "status", PAINTED)
             if c in features.columns}
    return rgb, crop, table


class FinetuneWidget(JobWidget):
    """Improve network: result, image, method, name, Improve / Cancel."""

    title = "Improve network"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text="Improve network")
        self._result = ComboBox(label="Reviewed result", choices=cell_result_choices(
            napari_viewer))
        self._image = ComboBox(label="Image", choices=layer_choices(napari_viewer,
                                                                  napari.layers.Image))
        self._method = ComboBox(label="Training", choices=list(FINETUNE_METHODS),
                                value=FinetuneConfig().method,
                                tooltip="erm: weighted loss; dar: units whose gradient "
                                        "disagrees with the reviewed cells' follow them")
        self._name = LineEdit(label="Network name", value="",
                              tooltip="kept as psm@<name>; empty: <image>-reviewed")
        self._inputs = [self._result, self._image, self._method, self._name]
        self.extend([*self._inputs, *self.job_controls()])
        prefer_cell_result(self._result, napari_viewer)
        self._result.changed.connect(self._follow_source)
        self._follow_source(self._result.value)
        self.last_result = None

    def _follow_source(self, layer) -> None:
        source = (getattr(layer, "metadata", None) or {}).get("source_layer")
        if source and source in self._viewer.layers:
            self._image.value = self._viewer.layers[source]

    def run(self, _=None):
        """Fine-tune on the chosen result's reviewed cells (thread worker)."""
        result, image = self._result.value, self._image.value
        if self.running:
            return None
        if result is None or image is None:
            self._status.value = "choose a reviewed result and its image"
            return None
        crop = reviewed_crop(result, image)
        if isinstance(crop, str):
            self._status.value = crop
            return None
        device = self.device_or_report()
        if device is None:
            return None
        rgb, labels, table = crop
        name = self._name.value.strip() or f"{image.name}-reviewed"
        config = FinetuneConfig(method=self._method.value)
        title = image.name
        meta = result.metadata if isinstance(result.metadata, dict) else {}
        stain, mpp = result_stain(meta), meta.get("mpp")

        def job(reporter):
            from ..engine.api import finetune_to_model, network_view, reviewed_image

            # an IHC review is learnt on the pseudo-H&E psm's IHC runs feed the network
            item = reviewed_image(title, network_view(rgb, stain, mpp), labels, table, stain)
            return finetune_to_model([], [], name, config, device=device,
                                     reporter=reporter, reviewed=[item])

        return self.start_job(job, self._on_done, f"improving the network on {title}")

    def _on_done(self, out) -> None:
        self.last_result = out
        self._status.value = out.message
