"""The Points layers beside a reviewed result (main thread): ``<image>_centroids``
(Recognise's cell centres, kept in step with the cells) and ``<result> selection``
(rings around the current cell and the cells selected in the table or the plot: yellow,
darkened on pale stains, ``RING_PX`` screen pixels wide at any zoom)."""

import weakref
from typing import Callable

import numpy as np
import pandas as pd

from ..engine.api import REVIEW_COLUMNS, outline_colors, stain_under
from ._layers import camera
from ._napari_compat import unwrap
from .cell_style import stain_of

#: the rings' width on screen (pixels), whatever the zoom
RING_PX = 3.0
#: the rings' colour before the contrast check (yellow)
RING_RGB = (255, 230, 0)


def _centroids_name(layer):
    source = (layer.metadata or {}).get("source_layer")
    return f"{source}_centroids" if source else None


def sync_points(viewer, layer, frame: pd.DataFrame) -> None:
    """Give ``<image>_centroids`` (if shown) the cells of ``frame``: positions and table."""
    name = _centroids_name(layer)
    if name is None or name not in viewer.layers or not {"x", "y"} <= set(frame):
        return
    points = viewer.layers[name]
    points.data = np.stack([frame["y"].to_numpy(float), frame["x"].to_numpy(float)], 1)
    points.features = frame.drop(columns=["index"], errors="ignore")


def sync_review_points(viewer, layer, labels,
                       features: Callable[[], pd.DataFrame]) -> None:
    """Copy the review columns of cells ``labels`` to ``<image>_centroids`` (same cells,
    same order; otherwise all of ``features()`` is copied)."""
    name = _centroids_name(layer)
    if name is None or name not in viewer.layers:
        return
    points, frame = viewer.layers[name].features, layer.features
    if "label" not in points.columns or len(points) != len(frame) or \
            not np.array_equal(points["label"].to_numpy(), frame["label"].to_numpy()):
        sync_points(viewer, layer, features())
        return
    rows = frame["label"].isin(labels).to_numpy()
    for column in REVIEW_COLUMNS:
        if column in frame.columns:
            points.loc[rows, column] = frame.loc[rows, column].to_numpy()


def ring_color(layer) -> np.ndarray:
    """RGBA of the selection rings over ``layer``'s slide: yellow, as dark or light as
    contrasts with its stain (``engine.cells.outline_colors``)."""
    measured, stain = stain_of(layer)
    rgb = outline_colors("ring", stain_under("", measured, stain), {"ring": RING_RGB})
    return np.array([*np.asarray(rgb["accepted"], float) / 255, 1.0])


def _keep_thin(viewer, marks) -> None:
    """Keep ``marks``' ring width ``RING_PX`` screen pixels as the view zooms."""
    cam, ref = unwrap(camera(viewer)), weakref.ref(unwrap(marks))  # not a passing proxy

    def update(_event=None):
        points = ref()
        if points is not None:
            points.border_width = RING_PX / (cam.zoom * abs(float(points.scale[-1])))
    cam.events.zoom.connect(update)
    update()


def mark_selection(viewer, layer, labels) -> None:
    """Ring the cells ``labels`` of ``layer`` on the canvas (Points ``<result>
    selection``, added on the first selection; ``layer`` stays active)."""
    if layer is None:
        return
    name = f"{layer.name} selection"
    frame = layer.features
    if not len(labels) and name not in viewer.layers:
        return
    rows = np.flatnonzero(frame["label"].isin(labels).to_numpy()) \
        if {"label", "x", "y"} <= set(frame.columns) else np.zeros(0, int)
    points = np.stack([frame["y"].to_numpy(float)[rows],
                       frame["x"].to_numpy(float)[rows]], 1)
    sizes = 2.5 * np.sqrt(frame["area"].to_numpy(float)[rows] / np.pi) + 4 \
        if "area" in frame.columns else np.full(rows.size, 12.0)
    if name in viewer.layers:
        marks = viewer.layers[name]
        marks.data = points
        marks.size = sizes if rows.size else 12
        marks.border_color = ring_color(layer)
        marks.border_width_is_relative = False
        marks.border_width = RING_PX / (camera(viewer).zoom * abs(float(marks.scale[-1])))
        return
    active = viewer.layers.selection.active
    marks = viewer.add_points(points, name=name, size=sizes, face_color="transparent",
                              border_color=ring_color(layer), border_width_is_relative=False,
                              scale=layer.scale, translate=layer.translate, units=layer.units)
    _keep_thin(viewer, marks)
    viewer.layers.selection.active = active
