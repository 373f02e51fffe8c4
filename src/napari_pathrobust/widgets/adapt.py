"""Dock widget: adapt the PSM network to the open image (OCL / TENT test-time training).

Reads the image (level 0; a centre crop of at most MAX_SIDE a side for bigger images)
on the main thread, then in a thread worker segments it with the source network and
streams its tiles through the adapter. On return it shows ``<image>_source_nuclei`` and
``<image>_adapted_nuclei`` side by side (same place, toggle visibility) and a plot of
loss and nucleus fraction per step. The adaptation continues across runs (continual)
until *Reset to source* restores the source weights.
"""

import io

import napari
import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import QLabel

from ..engine.adapt import METHODS, AdaptConfig
from ._layers import connect_while_alive, layer_choices, upsert_layer
from ._runner import JobRunner, is_cancellation

MAX_SIDE = 2048
TILE = 512


class _SourceOnly:
    """The adapter's frozen source network as a pipeline method (for comparison)."""

    name = "psm-source"
    alignment = 8

    def __init__(self, adapted):
        self.halo, self._adapted = adapted.halo, adapted

    def fit(self, sample):
        return self

    def segment_tile(self, rgb):
        return self._adapted.source_tile(rgb)

    def describe(self):
        return {"name": self.name}


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


class AdaptWidget(Container):
    """Adapt to image: method, steps, learning rate, restoration, Run / Reset / Cancel."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._image = ComboBox(label="Image", choices=layer_choices(napari_viewer,
                                                                  napari.layers.Image))
        self._method = ComboBox(label="Method", choices=list(METHODS), value="ocl")
        self._steps = SpinBox(label="Steps per tile", min=1, max=20, value=1)
        self._lr = LineEdit(label="Learning rate", value="")
        self._restore = FloatSpinBox(label="Restore p", min=0.0, max=1.0, step=0.005, value=0.01)
        self._run = PushButton(text="Adapt and segment")
        self._reset = PushButton(text="Reset to source")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self._status = Label(label="Status", value="ready")
        self.extend([self._image, self._method, self._steps, self._lr, self._restore,
                     self._run, self._reset, self._cancel, self._progress, self._status])
        self.plot = QLabel()
        self.plot.setMinimumHeight(120)
        self.native.layout().addWidget(self.plot)
        self._runner = JobRunner(self._on_progress)
        self.method = None  # the AdaptedPSM, kept across runs (continual)
        self._key = None
        self.last_result = None
        self._run.changed.connect(self.run)
        self._reset.changed.connect(self.reset)
        self._cancel.changed.connect(self._runner.cancel)
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self.reset_choices),
                                   (napari_viewer.layers.events.removed, self.reset_choices)])

    @property
    def worker(self):
        """The running thread worker (None when idle); tests wait on it."""
        return self._runner.worker

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
        if layer is None or self._runner.running:
            if layer is None:
                self._status.value = "add or select an RGB Image layer first"
            return
        try:
            config = self.config()
        except ValueError as exc:
            self._status.value = str(exc)
            return
        data = layer.data[0] if layer.multiscale else layer.data
        h, w = data.shape[:2]
        y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
        rgb = np.ascontiguousarray(np.asarray(data[y0:y0 + MAX_SIDE, x0:x0 + MAX_SIDE])[..., :3])
        key = (config.method, config.steps, config.lr, config.restore_p)
        if self.method is None or key != self._key:
            self.method, self._key = None, key
        current = self.method

        def job(reporter):
            from ..engine.adapt.method import AdaptedPSM
            from ..engine.io import slide_from_array
            from ..engine.pipeline import segment_slide

            method = current or AdaptedPSM(config, device="cpu")
            slide = slide_from_array(rgb, name=layer.name)
            src = segment_slide(slide, _SourceOnly(method), tile=TILE, workers=1,
                                reporter=reporter.sub(0, 1, 3))
            ada = segment_slide(slide, method, tile=TILE, workers=1,
                                reporter=reporter.sub(1, 2, 3))
            return method, src.labels, ada.labels, list(method.adapter.log)

        def done(result):
            method, source, adapted, log = result
            self.method, self.last_result = method, result
            meta = {"adaptation": method.adapter.describe(), "source_layer": layer.name,
                    "offset": [y0, x0]}
            scale = np.asarray(layer.scale[-2:])
            translate = np.asarray(layer.translate[-2:]) + np.array([y0, x0]) * scale
            kw = {"metadata": meta, "scale": scale, "translate": translate}
            upsert_layer(self._viewer, f"{layer.name}_source_nuclei", "labels", source,
                         dict(kw, metadata={**meta, "adapted": False}))
            upsert_layer(self._viewer, f"{layer.name}_adapted_nuclei", "labels", adapted,
                         dict(kw, metadata={**meta, "adapted": True}))
            self.show_plot(log)
            n_src, n_ada = len(np.unique(source)) - 1, len(np.unique(adapted)) - 1
            rb = method.adapter.rollbacks
            self._status.value = (f"source {n_src} / adapted {n_ada} nuclei, "
                                  f"{method.adapter.steps_done} steps, {rb} rollbacks")

        self._start(job, done)

    def show_plot(self, log: list[dict]) -> None:
        """Show the loss / fraction plot for ``log`` in the dock."""
        if not log:
            self.plot.clear()
            return
        pix = QPixmap()
        pix.loadFromData(plot_png(log), "PNG")
        self.plot.setPixmap(pix)

    # ------------------------------------------------------------ runner plumbing
    def _start(self, job, done):
        self._run.enabled, self._reset.enabled, self._cancel.enabled = False, False, True
        self._status.value = "adapting..."

        def error(exc):
            self._status.value = "cancelled" if is_cancellation(exc) else f"failed: {exc}"

        def finish():
            self._run.enabled, self._reset.enabled, self._cancel.enabled = True, True, False

        self._runner.start(job, done, error, finish)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self._progress.max = max(total, 1)
        self._progress.value = done
        if message:
            self._status.value = message
