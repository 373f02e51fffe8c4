"""Dock widget: adapt the PSM network to the open image (OCL / TENT test-time training).

Takes the image (level 0; a centre crop of at most MAX_SIDE a side for bigger images)
on the main thread; :func:`..engine.jobs.region.compare_adaptation` then segments it
in a thread worker with the source network and streams its tiles through the adapter,
both under one fitted nucleus floor. On return it shows ``<image>_source_nuclei`` and
``<image>_adapted_nuclei`` side by side (same place, toggle visibility) and a plot of
loss and nucleus fraction per step. The adaptation continues across runs (continual)
until *Reset to source* restores the source weights; a cancelled or failed run keeps
the weights from before it (the source weights for a first run).
"""

import io

import napari
import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, LineEdit, PushButton, SpinBox
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import QLabel

from ..engine.adapt import METHODS, AdaptConfig
from ._layers import layer_choices, upsert_layer
from ._runner import JobWidget
from .recognise import layer_mpp, mpp_field, pixel_note

MAX_SIDE = 2048
TILE = 512


def plot_png(log: list[dict]) -> bytes:
    """PNG of loss and nucleus fraction per step (matplotlib, Agg)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 2.6), dpi=80)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    steps = [r["step"] for r in log]
    ax1.plot(steps, [r["loss"] for r in log], color="tab:blue")
    ax1.set_ylabel("loss")
    ax2.plot(steps, [r["fraction"] for r in log], color="tab:red", label="adapted")
    ax2.plot(steps, [r["source_fraction"] for r in log], color="grey", ls="--", label="source")
    for r in log:
        if r["event"]:
            ax2.axvline(r["step"], color="k", lw=0.8)
    ax2.set_ylabel("nucleus frac.")
    ax2.set_xlabel("step")
    ax2.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class AdaptWidget(JobWidget):
    """Adapt to image: method, steps, learning rate, restoration, Run / Reset / Cancel."""

    title = "Adapt to image"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, run_text="Adapt and segment")
        self._image = ComboBox(label="Image", choices=layer_choices(napari_viewer,
                                                                  napari.layers.Image))
        self._method = ComboBox(label="Method", choices=list(METHODS), value="ocl")
        self._steps = SpinBox(label="Steps per tile", min=1, max=20, value=1)
        self._lr = LineEdit(label="Learning rate", value="")
        self._restore = FloatSpinBox(label="Restore p", min=0.0, max=1.0, step=0.005, value=0.01)
        self._reset = PushButton(text="Reset to source")
        self._mpp = mpp_field(self._image.value)
        self._image.changed.connect(lambda layer: setattr(self._mpp, "value",
                                                          round(layer_mpp(layer), 4)))
        self._inputs = [self._image, self._mpp, self._method, self._steps, self._lr,
                        self._restore, self._reset]
        self.extend([*self._inputs, *self.job_controls()])
        self.plot = QLabel()
        self.plot.setMinimumHeight(120)
        self.native.layout().addWidget(self.plot)
        self.method = None  # the AdaptedPSM, kept across runs (continual)
        self._key = None
        self.last_result = None
        self._reset.changed.connect(self.reset)

    def config(self) -> AdaptConfig:
        text = self._lr.value.strip()
        return AdaptConfig(method=self._method.value, steps=int(self._steps.value),
                           lr=float(text) if text else None,
                           restore_p=float(self._restore.value))

    def reset(self, _=None):
        """Back to the source weights (the next run starts a fresh stream)."""
        if self.method is not None:
            self.method.adapter.reset()
            self.method.adapter.log.clear()
        self.plot.clear()
        self._status.value = "reset to the source weights"

    def run(self, _=None):
        """Segment the image with the source and the adapted network (thread worker)."""
        layer = self._image.value
        if layer is None or self.running:
            if layer is None:
                self._status.value = "add or select an RGB Image layer first"
            return None
        try:
            config, device = self.config(), self.device()
        except ValueError as exc:
            self._status.value = str(exc)
            return None
        data = layer.data[0] if layer.multiscale else layer.data
        h, w = data.shape[:2]
        y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
        crop = data[y0:y0 + MAX_SIDE, x0:x0 + MAX_SIDE]
        key = (config.method, config.steps, config.lr, config.restore_p, device)
        if self.method is None or key != self._key:
            self.method, self._key = None, key
        current, name, mpp = self.method, layer.name, float(self._mpp.value) or None

        def job(reporter):
            from ..engine.adapt.method import AdaptedPSM
            from ..engine.jobs.region import compare_adaptation

            rgb = np.ascontiguousarray(np.asarray(crop)[..., :3])
            method = current or AdaptedPSM(config, device=device)
            return compare_adaptation(rgb, method, TILE, reporter, name=name, mpp=mpp)

        def done(result):
            method = result.method
            self.method, self.last_result = method, result
            meta = {"adaptation": method.adapter.describe(), "source_layer": layer.name,
                    "offset": [y0, x0], "region": [y0, x0, y0 + result.source.shape[0],
                                                   x0 + result.source.shape[1]]}
            scale = np.asarray(layer.scale[-2:])
            translate = np.asarray(layer.translate[-2:]) + np.array([y0, x0]) * scale
            kw = {"metadata": meta, "scale": scale, "translate": translate}
            upsert_layer(self._viewer, f"{layer.name}_source_nuclei", "labels", result.source,
                         dict(kw, metadata={**meta, "adapted": False}))
            upsert_layer(self._viewer, f"{layer.name}_adapted_nuclei", "labels",
                         result.adapted, dict(kw, metadata={**meta, "adapted": True}))
            self.show_plot(result.log)
            n_src = len(np.unique(result.source)) - 1
            n_ada = len(np.unique(result.adapted)) - 1
            rb = method.adapter.rollbacks
            self._status.value = (f"source {n_src} / adapted {n_ada} nuclei, "
                                  f"{method.adapter.steps_done} steps, {rb} rollbacks"
                                  f"{pixel_note(result.info)}")

        return self.start_job(job, done, f"adapting {name}")

    def show_plot(self, log: list[dict]) -> None:
        """Show the loss / fraction plot for ``log`` in the dock."""
        if not log:
            self.plot.clear()
            return
        pix = QPixmap()
        pix.loadFromData(plot_png(log), "PNG")
        self.plot.setPixmap(pix)
