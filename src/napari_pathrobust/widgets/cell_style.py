"""How cells look on the canvas: outlines coloured by class, status visible.

:func:`restyle` gives a nuclei Labels layer a ``DirectLabelColormap`` built from its
``features``: the class colour (``engine.writers.tables.class_color``, QuPath's
conventions) at full opacity for accepted cells, lighter for unreviewed ones, grey
for rejected ones (transparent with "hide rejected"), drawn as 1-pixel outlines.
:func:`auto_restyle` repaints the layer whenever its features change.

Repaints stay fast on large results: the colour of a (class, status) pair is
registered once under a reserved label id at the front of the colour dict, so the
colour indices napari sends to the GPU never move; a status change then updates
the colormap's lookup for the changed cells and redraws only their bounding boxes
(napari's partial labels refresh). Anything else falls back to a full refresh.
"""

import weakref
from typing import Optional

import numpy as np
import pandas as pd
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.colormaps.colormap import LabelColormapBase
from napari.utils.notifications import show_warning

from ..engine.writers.tables import class_color

#: alpha of each status; rejected cells are grey
STATUS_ALPHA = {"accepted": 1.0, "unreviewed": 0.7, "rejected": 0.75}
REJECTED_RGB = (70, 70, 70)
#: unreviewed cells: the class colour mixed with this much white
UNREVIEWED_LIGHTEN = 0.4
#: outline width in pixels
CONTOUR = 1
#: label id of palette entry k is RESERVED_TOP - k (above any realistic cell id)
RESERVED_TOP = 2**31 - 1
#: more changed cells than this: one full refresh instead of boxes
MAX_PARTIAL = 256

_STYLERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_AUTO: "weakref.WeakSet" = weakref.WeakSet()


def cell_color(classification: str, status: str, hide_rejected: bool = False) -> np.ndarray:
    """RGBA (floats 0-1) of a cell of ``classification`` with review ``status``."""
    status = str(status)
    if status == "rejected":
        rgb = np.asarray(REJECTED_RGB, float) / 255
        if hide_rejected:  # transparent (grey kept: a colour of its own, not background's)
            return np.array([*rgb, 0.0], np.float32)
    else:
        rgb = np.asarray(class_color(str(classification)), float) / 255
        if status != "accepted":
            rgb = rgb + (1 - rgb) * UNREVIEWED_LIGHTEN
    alpha = STATUS_ALPHA.get(status, STATUS_ALPHA["unreviewed"])
    return np.array([*rgb, alpha], np.float32)


def _fast_backend() -> bool:
    """True when napari maps big label ids with a compiled backend (numba, PartSegCore)."""
    try:  # napari internals: any other napari counts as "no fast backend"
        from napari.utils.colormaps import _accelerated_cmap as accel

        return accel.labels_raw_to_texture_direct is not \
            accel._labels_raw_to_texture_direct_numpy
    except (ImportError, AttributeError):
        return False


def _clear_cache(cmap) -> None:
    """Drop the colormap's cached lookups (napari internals; a newer colormap that has
    no such cache needs nothing)."""
    try:
        cmap._clear_cache()
    except AttributeError:
        pass


class _Styler:
    """The colour state of one layer: palette (class, status) -> index, cell codes."""

    def __init__(self, layer):
        self.layer = weakref.ref(layer)
        self.hide_rejected = False
        self.palette: dict[tuple[str, str], int] = {}
        self.codes: Optional[pd.Series] = None  # label -> palette index
        self.cmap: Optional[DirectLabelColormap] = None
        self.data_id: Optional[int] = None
        self.reserved = False
        self.warned = False
        self.hint = None  # labels whose class / status alone changed (see notify)

    # ------------------------------------------------------------------ helpers
    def _codes(self, frame: pd.DataFrame) -> pd.Series:
        classes = frame["classification"].astype(str).to_numpy() \
            if "classification" in frame.columns else np.full(len(frame), "Nucleus", object)
        statuses = frame["status"].astype(str).to_numpy() \
            if "status" in frame.columns else np.full(len(frame), "unreviewed", object)
        classes = np.where(statuses == "rejected", "", classes)  # grey whatever the class
        pairs = pd.MultiIndex.from_arrays([classes, statuses])
        uniques = pairs.unique()
        for pair in uniques:
            if pair not in self.palette:
                self.palette[pair] = len(self.palette)
        codes = pd.Index([self.palette[p] for p in uniques]).to_numpy()
        index = uniques.get_indexer(pairs)
        return pd.Series(codes[index], index=frame["label"].to_numpy(np.int64))

    def _colors(self) -> list[np.ndarray]:
        out = [None] * len(self.palette)
        for (cls, status), k in self.palette.items():
            out[k] = cell_color(cls, status, self.hide_rejected)
        return out

    # ------------------------------------------------------------------ full
    def full(self, layer, frame: pd.DataFrame) -> None:
        """Build the colour dict from scratch and set it (one full refresh)."""
        self.palette = {}
        codes = self._codes(frame)
        colors = self._colors()
        data = layer.data[0] if layer.multiscale else layer.data
        dtype = np.dtype(getattr(data, "dtype", np.int64))
        big = int(codes.index.max()) > 65535 if len(codes) else False
        if big and not _fast_backend():
            if not self.warned:
                show_warning("more than 65535 cells: install napari[partsegcore] (or numba) "
                             "to colour them by class and status")
                self.warned = True
            self.codes, self.cmap = None, None
            return
        self.reserved = _fast_backend() and dtype.itemsize > 2
        cmap = DirectLabelColormap(color_dict={None: cell_color("Nucleus", "unreviewed"),
                                               0: np.zeros(4)})
        table = cmap.color_dict
        fresh = type(table)(table.default_factory) if hasattr(table, "default_factory") \
            else {}
        if self.reserved:
            for k, color in enumerate(colors):
                fresh[RESERVED_TOP - k] = color
        fresh[None] = table[None]
        fresh[0] = table[0]
        for label, k in zip(codes.index.tolist(), codes.to_numpy().tolist()):
            fresh[label] = colors[k]
        table.clear()
        table.update(fresh)
        _clear_cache(cmap)
        self.codes, self.cmap = codes, cmap
        self.data_id = id(layer.data)
        layer.colormap = cmap

    def recolour_rejected(self, layer, frame: pd.DataFrame) -> bool:
        """Hide / show rejected cells by changing their one palette colour (the GPU colour
        table only: no pixel is re-mapped); False when a full rebuild is needed."""
        key = ("", "rejected")
        cmap = self.cmap
        if cmap is None or self.codes is None or not self.reserved or \
                layer.colormap is not cmap or key not in self.palette:
            return False
        cached = cmap.__dict__.get("_label_mapping_and_color_dict")
        if cached is None or len(getattr(cmap, "_cache_other", ())):
            return False  # not napari 0.9's cache layout: rebuild
        mapping, index_colors = cached
        k = self.palette[key]
        index = mapping.get(RESERVED_TOP - k)
        others = [mapping.get(RESERVED_TOP - j) for j in range(len(self.palette)) if j != k]
        if index is None or index in others or index == mapping.get(0):
            return False  # the colour index is shared: rebuild
        color = cell_color("", "rejected", self.hide_rejected)
        table = cmap.color_dict
        table[RESERVED_TOP - k] = color
        for label in self.codes.index[self.codes.to_numpy() == k].tolist():
            table[label] = color
        index_colors[index] = color
        LabelColormapBase._clear_cache(cmap)
        layer.events.colormap()  # the GPU colour table
        return True

    # ------------------------------------------------------------------ incremental
    def update(self, layer, frame: pd.DataFrame) -> None:
        """Recolour only the cells whose (class, status) changed."""
        if self.cmap is None or self.codes is None or layer.colormap is not self.cmap \
                or self.data_id != id(layer.data):
            self.full(layer, frame)
            return
        before = len(self.palette)
        hint, self.hint = self.hint, None
        if hint is not None:  # only these cells changed (their ids did not)
            rows = frame[frame["label"].isin(hint)]
            some = self._codes(rows)
            if not some.index.isin(self.codes.index).all():
                hint = None
        if hint is None:
            codes = self._codes(frame)
        if len(self.palette) != before and not self.reserved:
            self.full(layer, frame)
            return
        if hint is not None:
            old = self.codes.loc[some.index]
            changed = some.index[old.to_numpy() != some.to_numpy()]
            gone = pd.Index([], dtype=np.int64)
            codes = self.codes
            codes.loc[some.index] = some.to_numpy()
        else:
            old = self.codes.reindex(codes.index)
            changed = codes.index[(old.to_numpy() != codes.to_numpy()) | old.isna().to_numpy()]
            gone = self.codes.index.difference(codes.index)
        self.codes = codes
        if len(changed) == 0 and len(gone) == 0 and len(self.palette) == before:
            return
        colors = self._colors()
        cmap = self.cmap
        table = cmap.color_dict
        for k in range(before, len(self.palette)):
            table[RESERVED_TOP - k] = colors[k]
        for label in gone.tolist():
            table.pop(label, None)
        for label in changed.tolist():
            table[label] = colors[int(codes.at[label])]
        if not _patch_caches(cmap, before, colors, codes, changed, gone):
            _clear_cache(cmap)
        if len(self.palette) != before:
            layer.events.colormap()  # the GPU colour table gains the new colours
        # removed cells' pixels already show another id (the edit redrew them)
        boxes = None if layer.multiscale or len(changed) > MAX_PARTIAL \
            else _boxes(layer, frame, changed.tolist())
        if boxes is None:
            layer.refresh(extent=False)
            return
        for box in boxes:
            _partial_refresh(layer, box)


def _patch_caches(cmap, before: int, colors, codes, changed, gone) -> bool:
    """Update the colormap's cached label -> colour index mapping in place (instead of
    rebuilding it from every cell); False when the caches are not as expected."""
    cached = cmap.__dict__
    if "_label_mapping_and_color_dict" not in cached \
            or len(getattr(cmap, "_cache_other", ())):
        return False  # (numba's typed dicts, or another napari: rebuilt from scratch)
    mapping, index_colors = cached["_label_mapping_and_color_dict"]
    for k in range(before, len(colors)):
        color = tuple(colors[k])
        same = [i for i, c in index_colors.items() if tuple(c) == color]
        if same:
            mapping[RESERVED_TOP - k] = same[0]
        else:
            mapping[RESERVED_TOP - k] = len(index_colors)
            index_colors[len(index_colors)] = colors[k]
    for label in gone.tolist():
        mapping.pop(label, None)
    for label in changed.tolist():
        mapping[label] = mapping[RESERVED_TOP - int(codes.at[label])]
    if len(colors) != before:  # every cell has a palette colour: count those
        table = cmap.color_dict
        unique = {tuple(c) for c in colors} | {tuple(table[None]), tuple(table[0])}
        cached["_num_unique_colors"] = len(unique)
    cached.pop("_array_map", None)
    LabelColormapBase._clear_cache(cmap)  # the per-dtype lookups only
    return True


def _boxes(layer, frame: pd.DataFrame, labels) -> Optional[list]:
    """Bounding boxes (slices) of ``labels`` near their centroids, None when unknown."""
    if not labels or not {"x", "y"} <= set(frame.columns) or layer.ndim != 2:
        return None if labels else []
    data = layer.data
    height, width = data.shape
    ids = frame["label"].to_numpy()
    rows = np.flatnonzero(np.isin(ids, labels))
    if rows.size != len(set(labels)):
        return None  # a removed cell: where it was is unknown here
    ys, xs = frame["y"].to_numpy(float)[rows], frame["x"].to_numpy(float)[rows]
    areas = frame["area"].to_numpy(float)[rows] if "area" in frame.columns \
        else np.full(rows.size, 1024.0)
    out = []
    for label, y, x, area in zip(ids[rows].tolist(), ys, xs, areas):
        grow = int(max(8, np.sqrt(max(area, 1.0))))
        while True:
            y0, x0 = max(0, int(y) - grow), max(0, int(x) - grow)
            y1, x1 = min(height, int(y) + grow + 1), min(width, int(x) + grow + 1)
            window = np.asarray(data[y0:y1, x0:x1]) == label
            edge = (window[0].any() and y0 > 0) or (window[-1].any() and y1 < height) or \
                (window[:, 0].any() and x0 > 0) or (window[:, -1].any() and x1 < width)
            if not edge or grow > max(height, width):
                break
            grow *= 2
        out.append((slice(y0, y1), slice(x0, x1)))
    return out


def _texture(layer, raw, box) -> np.ndarray:
    """Colour indices napari sends to the GPU for ``raw[box]`` (outlines included),
    mapped through the colormap's cached lookup of only the labels in the box."""
    from napari.utils.colormaps import _accelerated_cmap as accel

    sliced = layer._calculate_contour(raw, box)
    if sliced is None:
        sliced = raw[box]
    mapping = layer.colormap._values_mapping_to_minimum_values_set()[0]
    values, inverse = np.unique(sliced, return_inverse=True)
    lut = np.array([mapping.get(int(v), accel.MAPPING_OF_UNKNOWN_VALUE) for v in values])
    view = layer._slice.image.view
    return lut.astype(view.dtype)[inverse.reshape(sliced.shape)]


def _partial_refresh(layer, box) -> None:
    """Redraw ``box`` of a 2-D labels layer (napari's partial labels update)."""
    try:
        box = layer._expand_updated_slice_for_contour(box)
        image = layer._slice.image
        if not layer._slicing_state.loaded or image.raw.shape != layer.data.shape \
                or image.view.dtype.itemsize > 2 or layer.colormap.use_selection:
            raise ValueError("not a plain 2-D slice")
        colors = _texture(layer, image.raw, box)
        image.view[box] = colors
        layer.events.labels_update(data=colors, offset=[s.start for s in box])
    except (AttributeError, TypeError, ValueError, IndexError):
        layer.refresh(extent=False)


def _frame(layer) -> Optional[pd.DataFrame]:
    frame = layer.features
    if frame is None or "label" not in getattr(frame, "columns", ()):
        return None
    return frame


def restyle(layer, hide_rejected: Optional[bool] = None, full: bool = False) -> None:
    """Colour ``layer``'s cells by class and status, as outlines.

    ``hide_rejected``: make rejected cells transparent (None keeps the layer's choice);
    ``full``: rebuild everything (else only changed cells are recoloured)."""
    frame = _frame(layer)
    styler = _STYLERS.get(layer)
    if styler is None and frame is None:
        return  # not a cell result (e.g. a mask): left as it is
    if styler is None:
        styler = _STYLERS[layer] = _Styler(layer)
        full = True
        if layer.contour == 0:
            layer.contour = CONTOUR
        layer.opacity = 1.0  # each status has its own opacity
    if hide_rejected is not None and bool(hide_rejected) != styler.hide_rejected:
        styler.hide_rejected = bool(hide_rejected)
        if full or frame is None or not styler.recolour_rejected(layer, frame):
            full = True
    if frame is None:
        return
    if full:
        styler.full(layer, frame)
    else:
        styler.update(layer, frame)


def notify(layer, labels) -> None:
    """Say that ``layer.features`` was edited in place for the cells ``labels`` (their
    class or status only): emits the features event, and the repaint looks at those
    cells only (fast on 100,000+ cells)."""
    styler = _STYLERS.get(layer)
    if styler is not None:
        styler.hint = [int(v) for v in labels]
    layer.events.features()


def hides_rejected(layer) -> bool:
    """Whether ``layer`` hides its rejected cells."""
    styler = _STYLERS.get(layer)
    return bool(styler and styler.hide_rejected)


def auto_restyle(layer) -> None:
    """Restyle ``layer`` now and whenever its features (or data) change."""
    if layer in _AUTO:
        restyle(layer)
        return
    _AUTO.add(layer)
    layer.events.features.connect(_on_features)
    restyle(layer)


def style_if_result(layer) -> None:
    """Outline and colour ``layer`` by class and status when it is a cell result (a
    Labels layer with a per-cell table), e.g. one reopened from a file; else nothing."""
    from ._layers import is_cell_result

    if is_cell_result(layer):
        auto_restyle(layer)


def _on_features(event) -> None:
    layer = event.source
    if _frame(layer) is not None:
        restyle(layer)
