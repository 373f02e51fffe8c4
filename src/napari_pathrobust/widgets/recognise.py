"""Dock widget: recognise nuclei in the selected Image layer.

Thin over :func:`..engine.jobs.region.segment_region`: it picks the region and takes
the layer's array on the main thread, runs the job (method built, weights loaded,
tiles segmented) in a thread worker with progress and Cancel, and on return adds or
updates ``<image>_nuclei`` (Labels, outlines coloured by class and status),
``<image>_centroids`` (Points, hidden) and one hidden layer per map the method returns
(``<image>_activation``, ``<image>_pseudomask``, ...: tick its eye to show it).

One result per slide: a run on a new region adds its cells to ``<image>_nuclei``; a
run over reviewed cells keeps them and replaces only unreviewed ones
(``engine.review.merge``), and the status line says how many. Regions above
``LARGE_PIXELS`` are written to a zarr pyramid in the results folder and shown
multiscale; such a run replaces the result, so it is refused while the result holds
reviewed cells. Results are autosaved beside the results and restored when the
image is opened again.
"""

from contextlib import nullcontext

import napari
import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, SpinBox

from ..engine.device import check_device_name
from ..engine.image_formats import unit_to_um
from ..engine.jobs import LARGE_IMAGE_PIXELS
from ..engine.jobs.region import RegionOptions, segment_region
from ..engine.registry import DEFAULT_METHOD, available_methods
from ..engine.review.merge import merge_region, reviewed_mask, union_box
from ..engine.review.session import safe_name
from ..engine.tiled.tiling import Box
from ._layers import (
    REGIONS,
    chosen_region,
    connect_while_alive,
    layer_choices,
    region_geometry,
    upsert_layer,
)
from ._remembered import remember
from ._review_session import autosave, image_fingerprint, in_memory, restore
from ._runner import JobWidget
from ._settings import load_settings, results_dir
from .cell_style import auto_restyle, style_if_result

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


def _unwrapped(layer):
    """The layer itself: napari hands plugin widgets a viewer whose layers come wrapped
    in a fresh ``PublicOnlyProxy`` at each look-up, so ``is`` needs the wrapped object."""
    return getattr(layer, "__wrapped__", layer)


class RecogniseWidget(JobWidget):
    """Recognise nuclei: image, um per pixel, method, device, tile, seed, stain, region,
    Run / Cancel, progress. Method, tile, seed, stain and region are remembered between
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
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"],
                                value=settings["device"])
        self._tile = SpinBox(label="Tile (0 = auto)", min=0, max=8192, step=256,
                             value=settings["tile"])
        self._seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self._stain = ComboBox(label="Stain", choices=["he", "ihc"], value="he",
                               tooltip="ihc: hematoxylin-DAB detection, DAB measurements and "
                                       "Positive/Negative classes (see IHC scoring)")
        self._region = ComboBox(label="Region", choices=list(REGIONS), value=REGIONS[0])
        self._shapes = ComboBox(label="Shapes layer", nullable=True,
                                choices=layer_choices(napari_viewer, napari.layers.Shapes))
        self._mpp = mpp_field(self._image.value)
        # the device comes from the Settings; layer pickers and the pixel size follow layers
        remember(self, "recognise", [self._method, self._tile, self._seed, self._stain,
                                     self._region])
        self._image.changed.connect(lambda layer: setattr(self._mpp, "value",
                                                          round(layer_mpp(layer), 4)))
        self._inputs = [self._image, self._mpp, self._method, self._device, self._tile,
                        self._seed, self._stain, self._region, self._shapes]
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
                                stain=self._stain.value, memory_budget_mb=self._memory_mb)
        level0 = layer.data[0] if layer.multiscale else layer.data
        mpp, name = float(self._mpp.value) or None, layer.name
        dest = None
        if box.shape[0] * box.shape[1] > LARGE_PIXELS:
            dest = self._dest(layer)
        refusal = self._refusal(layer, box, dest is not None)
        if refusal:
            self._status.value = refusal
            return None
        # the autosaved review comes back only for these pixels (see _review_session)
        meta = {"source_layer": name, "source_fingerprint": image_fingerprint(layer)}

        def job(reporter):
            return segment_region(level0, box, options, reporter, name=name, mpp=mpp,
                                  metadata=meta, zarr_dest=dest)

        return self.start_job(job, lambda result: self._on_done(layer, result),
                              f"{options.method}: {name}")

    def _existing(self, source):
        """The slide's current result layer, or None."""
        name = f"{source.name}_nuclei"
        return self._viewer.layers[name] if name in self._viewer.layers else None

    def _mergeable(self, existing, box, large: bool) -> bool:
        """True when a new region can be merged into ``existing`` in memory."""
        region = (existing.metadata or {}).get("region")
        if large or region is None or not in_memory(existing) or \
                tuple(existing.data.shape[-2:]) != Box.of(region).shape:
            return False
        union = union_box(Box.of(region), Box.of(box))
        return union.shape[0] * union.shape[1] <= LARGE_PIXELS

    def _refusal(self, source, box, large: bool) -> str:
        """Why a run would lose reviews (it would replace a result holding reviewed
        cells that cannot be merged), or ''."""
        existing = self._existing(source)
        if existing is None or self._mergeable(existing, box, large):
            return ""
        reviewed = int(reviewed_mask(existing.features).sum())
        if not reviewed:
            return ""
        return (f"not run: {existing.name} holds {reviewed} reviewed cells and this region "
                f"cannot be merged into it in memory (the result would be replaced); "
                f"export the reviews and rename or remove {existing.name} first")

    def _on_done(self, source, result):
        metadata = dict(result.metadata)
        large = not isinstance(result.labels, np.ndarray)
        box = Box.of(metadata["region"])
        existing = self._existing(source)
        refusal = self._refusal(source, box, large)
        if refusal:  # reviews made while the job ran
            self._status.value = refusal
            return
        labels, table, note = result.labels, dict(result.table), ""
        if existing is not None and self._mergeable(existing, box, large):
            old_meta = dict(existing.metadata or {})
            labels, frame, union, report = merge_region(
                np.asarray(existing.data), existing.features, Box.of(old_meta["region"]),
                result.labels, table, box)
            table = {c: frame[c].to_numpy() for c in frame.columns}
            metadata["regions"] = [*old_meta.get("regions", [old_meta["region"]]),
                                   box.as_list()]
            metadata["region"] = union.as_list()
            metadata["run_id"] = old_meta.get("run_id") or metadata.get("run_id")
            note = f"; {report.message()}"
        elif existing is not None:
            note = f"; replaced {existing.name} ({len(existing.features)} unreviewed cells)"
        if large:
            metadata["zarr_labels"] = str(self._dest(source))
        prefix = source.name
        geometry = self._geometry(source, metadata)
        for name, data in result.maps.items():
            self._show_map(f"{prefix}_{name}", name, data,
                           self._geometry(source, dict(metadata, region=box.as_list())))
        features = dict(table, index=table["label"])
        name = f"{prefix}_nuclei"
        previous = self._viewer.layers[name] if name in self._viewer.layers else None
        # one repaint for the new data and features together (not one per change)
        with previous.events.features.blocker() if previous is not None else nullcontext():
            nuclei = upsert_layer(self._viewer, name, "labels", labels,
                                  dict(geometry, features=features))
        if previous is not None and _unwrapped(nuclei) is _unwrapped(previous):
            nuclei.events.features()
        auto_restyle(nuclei)
        points = np.stack([table["y"], table["x"]], axis=1) if len(table["label"]) \
            else np.zeros((0, 2))
        upsert_layer(self._viewer, f"{prefix}_centroids", "points", points,
                     dict(geometry, features=table, size=6, face_color="yellow",
                          visible=False))
        self._viewer.layers.selection.active = nuclei
        autosave(nuclei, cells=True)
        self._status.value = (f"{result.n_nuclei} nuclei in {result.seconds:.1f} s"
                              f"{pixel_note(metadata)}{note}")

    @staticmethod
    def _dest(source):
        return results_dir() / f"{safe_name(source.name)}_nuclei.zarr"

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
