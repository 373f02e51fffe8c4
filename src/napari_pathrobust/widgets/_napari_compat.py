"""The one module that touches napari internals: private attributes of napari objects
and the ``PublicOnlyProxy`` napari wraps a plugin dock's viewer in.

napari says private access goes away no earlier than 0.10, and the dependency has no
upper bound, so every internal is used here only for speed or precision, and each
function has a public fallback that gives the same result, taken whenever the internal
is missing or has another shape (never an error at a user's desk):

* :func:`unwrap` / :func:`same_layer`: ``__wrapped__`` of the proxy; fallback: the
  proxy itself, and layers compared by their public ``unique_id``;
* :func:`fast_labels_backend`: the active colour-mapping function; fallback:
  ``napari.utils.colormap_backend.get_backend()`` and the installed packages;
* :func:`direct_colormap`: a ``DirectLabelColormap`` filled in place (ms for 100,000
  cells); fallback: its public constructor (validates every colour, ~0.6 s);
* :func:`colours_edited` / :func:`recolour_index`: napari's cached label -> texture
  lookup patched in place; fallback: False, and the caller assigns a new colormap;
* :func:`repaint_boxes`: napari's partial labels refresh; fallback:
  ``layer.refresh(extent=False)`` (a full redraw, the same pixels);
* :func:`watch_undo_redo`: the history item napari's undo / redo replays; fallback:
  ``None`` (the caller re-measures every cell).

:data:`INTERNALS` lists each internal; ``tests/test_napari_compat.py`` checks their
shape in the installed napari (so an upgrade fails there, loudly), runs every fallback
(:data:`USE_INTERNALS` off) and checks that no other module uses a napari internal.
"""

from collections import deque
from importlib.util import find_spec
from typing import Callable, Iterable, Optional

import numpy as np
from napari.utils.colormaps import DirectLabelColormap

#: every napari internal used here, by owner (checked by tests/test_napari_compat.py)
INTERNALS = {
    "napari.utils.colormaps._accelerated_cmap": (
        "labels_raw_to_texture_direct", "_labels_raw_to_texture_direct_numpy"),
    "napari.utils._proxies.PublicOnlyProxy": ("__wrapped__",),
    "napari.utils.colormaps.colormap.LabelColormapBase": ("_clear_cache", "_cache_other"),
    "napari.utils.colormaps.DirectLabelColormap": (
        "_clear_cache", "_label_mapping_and_color_dict", "_num_unique_colors", "_array_map",
        "_values_mapping_to_minimum_values_set"),
    "napari.layers.Labels": ("_slice", "_calculate_contour", "_undo_history",
                             "_redo_history"),
}
#: False: every function takes its public fallback (tests switch it off)
USE_INTERNALS = True
#: what may go wrong when an internal has another shape
_CHANGED = (AttributeError, TypeError, ValueError, IndexError, KeyError)
_UNKNOWN = object()


def _private(obj, name: str):
    """``obj.<name>`` for a napari internal; AttributeError when internals are off."""
    if not USE_INTERNALS:
        raise AttributeError(name)
    return getattr(obj, name)


def _cached(obj, name: str):
    """The value napari cached for ``cached_property`` ``name`` of ``obj``, or None."""
    return vars(obj).get(name) if USE_INTERNALS else None


# ---------------------------------------------------------------------- proxies


def unwrap(obj):
    """The napari object behind a ``PublicOnlyProxy`` (a docked plugin's viewer hands
    out a fresh proxy at each look-up, and private access through it warns), else
    ``obj``. Fallback: ``obj`` itself (the public API works the same through it)."""
    try:
        inner = _private(obj, "__wrapped__")
    except AttributeError:
        return obj
    return inner if type(inner).__module__.startswith("napari.") else obj


def same_layer(a, b) -> bool:
    """Whether ``a`` and ``b`` are one layer, either possibly behind a proxy (``is``
    cannot tell two proxies of it apart). Fallback: their public ``unique_id``."""
    if a is None or b is None:
        return a is b
    if unwrap(a) is unwrap(b):
        return True
    ids = getattr(a, "unique_id", None), getattr(b, "unique_id", None)
    return ids[0] is not None and ids[0] == ids[1]


# ---------------------------------------------------------------------- colormaps


def fast_labels_backend() -> bool:
    """True when napari maps big label ids with a compiled backend (numba or
    PartSegCore). Fallback: the backend asked for and the packages installed."""
    try:
        from napari.utils.colormaps import _accelerated_cmap as accel

        return _private(accel, "labels_raw_to_texture_direct") is not \
            _private(accel, "_labels_raw_to_texture_direct_numpy")
    except (ImportError, AttributeError):
        pass
    try:
        from napari.utils.colormap_backend import ColormapBackend, get_backend

        backend = get_backend()
    except (ImportError, AttributeError):
        return False
    packages = {ColormapBackend.numba: ("numba",),
                ColormapBackend.partsegcore: ("PartSegCore_compiled_backend",),
                ColormapBackend.fastest_available: ("numba", "PartSegCore_compiled_backend")}
    return any(find_spec(name) is not None for name in packages.get(backend, ()))


def _clear_cache(cmap) -> bool:
    try:
        _private(cmap, "_clear_cache")()
    except AttributeError:
        return False
    return True


def direct_colormap(colors: dict) -> DirectLabelColormap:
    """A ``DirectLabelColormap`` of ``colors`` (label or None -> RGBA float32 array, in
    the order given), built without validating each colour: napari's dict is filled in
    place and its caches dropped. Fallback: the public constructor."""
    default = colors.get(None, np.zeros(4, np.float32))
    cmap = DirectLabelColormap(color_dict={None: default, 0: np.zeros(4, np.float32)})
    if not _clear_cache(cmap):
        return DirectLabelColormap(color_dict=dict(colors))
    table = cmap.color_dict
    table.clear()
    table.update(colors)
    _clear_cache(cmap)
    return cmap


def colours_edited(cmap, added: Iterable = (), moved: Optional[dict] = None,
                   gone: Iterable = (), unique: Optional[int] = None) -> bool:
    """Tell napari's caches that ``cmap.color_dict`` was edited in place: ``added``
    labels may carry new colours, each ``moved`` label now has the colour of the label
    it maps to (one already in the dict), ``gone`` labels were removed, ``unique`` is
    the new number of distinct colours (None: unchanged). napari's label -> texture
    lookup is patched in place (not rebuilt from every cell), else dropped. False when
    neither can be done: the caller must then give the layer a new colormap
    (:func:`direct_colormap`); napari ignores in-place edits otherwise."""
    try:
        if _patch_lookup(cmap, list(added), moved or {}, list(gone), unique):
            return True
    except _CHANGED:
        pass
    return _clear_cache(cmap)


def _patch_lookup(cmap, added, moved, gone, unique) -> bool:
    cached = _cached(cmap, "_label_mapping_and_color_dict")
    if cached is None or len(_private(cmap, "_cache_other")):
        return False  # not computed yet, or numba's typed dicts: cleared instead
    mapping, index_colors = cached
    if not isinstance(mapping, dict) or not isinstance(index_colors, dict):
        return False
    table = cmap.color_dict
    for label in added:
        color = tuple(table[label])
        same = [i for i, c in index_colors.items() if tuple(c) == color]
        if same:
            mapping[label] = same[0]
        else:
            mapping[label] = len(index_colors)
            index_colors[len(index_colors)] = table[label]
    for label in gone:
        mapping.pop(label, None)
    for label, like in moved.items():
        mapping[label] = mapping[like]
    if unique is not None:
        vars(cmap)["_num_unique_colors"] = int(unique)
    vars(cmap).pop("_array_map", None)
    _clear_base_cache(cmap)
    return True


def _clear_base_cache(cmap) -> None:
    """Drop only the per-dtype lookups (not the label -> index mapping)."""
    from napari.utils.colormaps.colormap import LabelColormapBase

    _private(LabelColormapBase, "_clear_cache")(cmap)


def recolour_index(cmap, label: int, color, others: Iterable = ()) -> bool:
    """Give the texture index of ``label`` the colour ``color`` in napari's cached
    lookup, so every label sharing it changes colour with no pixel re-mapped (the
    caller sets their ``color_dict`` entries too). False when that index is shared with
    one of ``others`` or the background, or napari's cache is not there (fallback: the
    caller builds a new colormap)."""
    try:
        cached = _cached(cmap, "_label_mapping_and_color_dict")
        if cached is None or len(_private(cmap, "_cache_other")):
            return False
        mapping, index_colors = cached
        index = mapping.get(label)
        if index is None or index == mapping.get(0) or \
                index in {mapping.get(other) for other in others}:
            return False
        index_colors[index] = color
        _clear_base_cache(cmap)
    except _CHANGED:
        return False
    return True


# ---------------------------------------------------------------------- labels layers


def repaint_boxes(layer, boxes) -> None:
    """Redraw only ``boxes`` (tuples of slices) of a 2-D labels layer after colours of
    the labels there changed, outlines included (napari's partial labels refresh,
    mapping only the labels in each box). Fallback: one full ``layer.refresh``."""
    layer = unwrap(layer)
    try:
        for box in boxes:
            _repaint_box(layer, box)
    except _CHANGED:
        layer.refresh(extent=False)


def _repaint_box(layer, box) -> None:
    shape = layer.data.shape
    if layer.contour >= 1:  # the outline of a cell reaches this far outside its box
        grow = max(1, int(layer.contour))
        box = tuple(slice(max(0, s.start - grow), min(n, s.stop + grow))
                    for s, n in zip(box, shape))
    image = _private(layer, "_slice").image
    raw, view = image.raw, image.view
    if not layer.loaded or raw.shape != shape or view.dtype.itemsize > 2 \
            or layer.colormap.use_selection:
        raise ValueError("not a plain 2-D slice")
    sliced = _private(layer, "_calculate_contour")(raw, box)
    if sliced is None:
        sliced = raw[box]
    mapping = _private(layer.colormap, "_values_mapping_to_minimum_values_set")()[0]
    values, inverse = np.unique(sliced, return_inverse=True)
    unknown = mapping.get(None, 0)
    lut = np.array([mapping.get(int(v), unknown) for v in values])
    colors = lut.astype(view.dtype)[inverse.reshape(sliced.shape)]
    view[box] = colors
    layer.events.labels_update(data=colors, offset=[s.start for s in box])


def _history_top(layer, stack: str):
    """The item napari's undo / redo would replay next (a list of paint atoms), None
    when there is none, or ``_UNKNOWN`` when napari's history cannot be read."""
    try:
        history = _private(layer, stack)
    except AttributeError:
        return _UNKNOWN
    if not isinstance(history, (deque, list)):
        return _UNKNOWN
    return list(history[-1]) if history else None


def watch_undo_redo(layer, replayed: Callable[[Optional[list]], None]) -> None:
    """Call ``replayed(item)`` after napari's own undo / redo of ``layer`` (they emit no
    paint event), ``item`` being the history item replayed (paint atoms, as
    ``events.paint`` gives). Fallback: ``replayed(None)``: the caller re-measures all.
    :func:`unwatch_undo_redo` takes the hooks off."""
    layer = unwrap(layer)
    unwatch_undo_redo(layer)
    for name, stack in (("undo", "_undo_history"), ("redo", "_redo_history")):
        original = getattr(layer, name)

        def wrapped(original=original, stack=stack):
            item = _history_top(layer, stack)
            original()
            if item is _UNKNOWN:
                replayed(None)
            elif item:
                replayed(item)
        wrapped.pathrobust = True
        setattr(layer, name, wrapped)


def unwatch_undo_redo(layer) -> None:
    """Remove :func:`watch_undo_redo`'s hooks from ``layer`` (none: nothing)."""
    layer = unwrap(layer)
    for name in ("undo", "redo"):
        if getattr(vars(layer).get(name), "pathrobust", False):
            delattr(layer, name)
