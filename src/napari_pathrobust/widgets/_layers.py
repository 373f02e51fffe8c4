"""Layer helpers shared by the dock widgets (main thread only).

* :func:`upsert_layer` updates ``<image>_<role>`` in place or adds it,
* :func:`view_region` / :func:`shape_region` turn the current view or a Shapes
  rectangle into a pixel :class:`~..engine.tiled.tiling.Box` of an image layer,
* :func:`connect_while_alive` ties viewer-event connections to a widget's lifetime,
* :func:`is_cell_result` / :func:`cell_result_choices` tell cell results (Labels with a
  per-cell features table, e.g. ``<image>_nuclei``) from maps such as the pseudo-mask.
"""

from typing import Optional

import numpy as np

from ..engine.api import Box
from ..engine.jobs.region import clip_box


def image_shape(layer) -> tuple[int, int]:
    """(rows, cols) of level 0 of an RGB or grey image layer."""
    data = layer.data[0] if layer.multiscale else layer.data
    return (int(data.shape[0]), int(data.shape[1]))


def _world_box_to_data(layer, corners_world: np.ndarray) -> Optional[Box]:
    data = np.array([layer.world_to_data(c) for c in corners_world])[:, -2:]
    lo, hi = data.min(axis=0), data.max(axis=0)
    return clip_box(lo[0], lo[1], hi[0], hi[1], image_shape(layer))


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def view_region(viewer, layer) -> Optional[Box]:
    """Pixel box of ``layer`` visible in the canvas (None if under 16 px a side)."""
    cam = camera(viewer)
    center = np.asarray(cam.center, dtype=float)[-2:]
    half = np.asarray(viewer.canvas.size, dtype=float) / (2.0 * cam.zoom)
    ndim = viewer.dims.ndim
    corners = []
    for dy in (-1, 1):
        for dx in (-1, 1):
            point = np.zeros(ndim)
            point[-2:] = center + np.array([dy, dx]) * half
            corners.append(point)
    return _world_box_to_data(layer, np.array(corners))


def shape_region(shapes, layer) -> Optional[Box]:
    """Pixel box of ``layer`` under the selected (else the last) shape of ``shapes``."""
    if shapes is None or len(shapes.data) == 0:
        return None
    selected = sorted(shapes.selected_data)
    vertices = np.asarray(shapes.data[selected[0] if selected else -1], dtype=float)
    world = np.array([shapes.data_to_world(v) for v in vertices])
    return _world_box_to_data(layer, world)


def region_geometry(image, region) -> dict:
    """``scale``, ``translate`` and ``units`` that put a result computed on ``region``
    (a box, first two values y0, x0; None = the whole image) of ``image`` over it."""
    scale = np.asarray(image.scale[-2:], dtype=float)
    y0, x0 = (region or (0, 0))[:2]
    translate = np.asarray(image.translate[-2:], dtype=float) + scale * (y0, x0)
    return {"scale": tuple(scale), "translate": tuple(translate),
            "units": tuple(image.units)[-2:]}


#: the regions Recognise and Adapt offer
REGIONS = ("whole image", "current view", "shapes rectangle")


def chosen_region(viewer, region: str, shapes, layer):
    """The Box of ``layer`` that ``region`` (one of :data:`REGIONS`) names, or a message
    saying why there is none (no rectangle drawn, no overlap)."""
    if region == "current view":
        box = view_region(viewer, layer)
    elif region == "shapes rectangle":
        if shapes is None or len(shapes.data) == 0:
            return "draw a rectangle in a Shapes layer and choose that layer first"
        box = shape_region(shapes, layer)
    else:
        box = Box(0, 0, *image_shape(layer))
    return box if box is not None else f"the {region} does not overlap {layer.name}"


def upsert_layer(viewer, name: str, kind: str, data, kwargs: dict):
    """Update layer ``name`` in place (data, metadata, geometry) or add it.

    A layer of another type, or one whose multiscale-ness changes, is replaced at
    the same position in the layer list.
    """
    multiscale = isinstance(data, list)
    if name in viewer.layers:
        layer = viewer.layers[name]
        # __class__, not type(): a docked plugin widget sees napari's PublicOnlyProxy
        same_kind = layer.__class__.__name__.lower() == kind
        if same_kind and getattr(layer, "multiscale", False) == multiscale:
            layer.data = data
            for key in ("metadata", "scale", "translate", "units", "features"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
            return layer
        index = viewer.layers.index(layer)
        viewer.layers.remove(layer)
        added = getattr(viewer, f"add_{kind}")(data, name=name, **kwargs)
        viewer.layers.move(viewer.layers.index(added), index)
        return added
    return getattr(viewer, f"add_{kind}")(data, name=name, **kwargs)


def layer_choices(viewer, cls):
    """A ComboBox ``choices`` callable listing the viewer's layers of type ``cls``."""
    def choices(_widget=None):
        return [layer for layer in viewer.layers if isinstance(layer, cls)]
    return choices


def connect_while_alive(widget, pairs) -> None:
    """Connect ``(emitter, callback)`` pairs (viewer events) and disconnect them when the
    widget's Qt object is destroyed, so a closed dock never receives late events."""
    pairs = list(pairs)
    for emitter, callback in pairs:
        emitter.connect(callback)

    def disconnect(*_):
        for emitter, callback in pairs:
            try:
                emitter.disconnect(callback)
            except (RuntimeError, TypeError, ValueError):
                pass

    getattr(widget, "native", widget).destroyed.connect(disconnect)


def is_cell_result(layer) -> bool:
    """True for a Labels layer with a per-cell features table (a ``label`` column):
    a nuclei result, not a 0/1 mask or an activation map."""
    import napari

    if not isinstance(layer, napari.layers.Labels):
        return False
    features = getattr(layer, "features", None)
    return features is not None and "label" in getattr(features, "columns", ())


def cell_result_choices(viewer):
    """A ComboBox ``choices`` callable listing Labels layers, cell results first
    (``*_nuclei`` before other results, the top-most first), then the other Labels."""
    import napari

    def rank(layer) -> int:
        if is_cell_result(layer):
            return 0 if layer.name.endswith("_nuclei") else 1
        return 2

    def choices(_widget=None):
        layers = [layer for layer in viewer.layers if isinstance(layer, napari.layers.Labels)]
        order = {id(layer): i for i, layer in enumerate(layers)}
        return sorted(layers, key=lambda layer: (rank(layer), -order[id(layer)]))
    return choices


def best_cell_result(viewer):
    """The cell result an export or review should start on (None without one)."""
    found = [layer for layer in cell_result_choices(viewer)() if is_cell_result(layer)]
    return found[0] if found else None


def prefer_cell_result(box, viewer) -> None:
    """Move layer picker ``box`` off a non-result (a mask, nothing) onto the viewer's
    best cell result, when there is one; a chosen result is left alone."""
    if not is_cell_result(box.value):
        best = best_cell_result(viewer)
        if best is not None:
            box.value = best


def shape_polygon(shapes, layer, area_shapes=("rectangle", "polygon")):
    """(N, 2) (y, x) vertices, in ``layer``'s pixels, of the selected (else last) shape
    of a Shapes layer; None without one, or when that shape has no inside (an ellipse
    is stored as its box, a line has none)."""
    if shapes is None or len(shapes.data) == 0:
        return None
    selected = sorted(shapes.selected_data)
    index = selected[0] if selected else len(shapes.data) - 1
    if shapes.shape_type[index] not in area_shapes:
        return None
    world = [shapes.data_to_world(v) for v in np.asarray(shapes.data[index], dtype=float)]
    return np.array([np.asarray(layer.world_to_data(w), float)[-2:] for w in world])



#: the class columns a cell result shares with its centroid points
POINT_CLASS_COLUMNS = ("classification", "base_class", "intensity", "class_source",
                       "class_probability", "ihc_bin")


def sync_centroid_classes(viewer, layer, classified) -> None:
    """Give Recognise's ``<image>_centroids`` points of ``layer`` the classes of
    ``classified`` (its new features), when they are the same cells in the same order."""
    import napari

    name = layer.name[:-len("_nuclei")] + "_centroids" \
        if layer.name.endswith("_nuclei") else None
    points = viewer.layers[name] if name in viewer.layers else None
    if not isinstance(points, napari.layers.Points) or len(points.data) != len(classified):
        return
    frame = points.features.copy()
    if "label" in frame and list(frame["label"]) != list(classified["label"]):
        return
    for column in POINT_CLASS_COLUMNS:
        if column in classified:
            frame[column] = classified[column].to_numpy()
    points.features = frame
