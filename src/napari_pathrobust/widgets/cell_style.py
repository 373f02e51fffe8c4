"""How cells look on the canvas: outlines coloured by class, status visible.

:func:`restyle` gives a nuclei Labels layer a ``DirectLabelColormap`` built from its
``features``, drawn as 1-pixel outlines: the class hue (QuPath's colours,
``engine.cells``) at the lightness that contrasts with the stain under the outlines
(``engine.cells.outline_colors``: at least 3:1 unreviewed, 4.5:1 accepted), a faint
grey for rejected cells (transparent with "hide rejected"). The stain is measured once
per result on its image (:func:`measure_stain`, kept in ``metadata["outline_under"]``),
else taken from the result's stain (H&E, IHC). :func:`auto_restyle` repaints the layer
whenever its features change.

Repaints stay fast on large results: the colour of a (class, status) pair is
registered once under a reserved label id at the front of the colour dict, so the
colour indices napari sends to the GPU never move; a status change then updates
the colormap's lookup for the changed cells and redraws only their bounding boxes
(napari's partial labels refresh). Anything else falls back to a full refresh. The
napari internals this needs are in :mod:`._napari_compat`, each with a public fallback.
"""

import weakref
from functools import lru_cache
from typing import Optional

import numpy as np
import pandas as pd
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_warning

from ..engine.api import outline_colors, outline_under, rejected_grey, stain_under
from ._napari_compat import (
    colours_edited,
    direct_colormap,
    fast_labels_backend,
    recolour_index,
    repaint_boxes,
    unwrap,
)

#: alpha of each status (contrast, not transparency, tells them apart); rejected: grey
STATUS_ALPHA = {"accepted": 1.0, "unreviewed": 1.0, "rejected": 0.8}
#: the side of the window (labels pixels) whose outlines measure_stain reads
MEASURE_SIDE = 1024
#: outline width in pixels
CONTOUR = 1
#: label id of palette entry k is RESERVED_TOP - k (above any realistic cell id)
RESERVED_TOP = 2**31 - 1
#: more changed cells than this: one full refresh instead of boxes
MAX_PARTIAL = 256

_STYLERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_AUTO: "weakref.WeakSet" = weakref.WeakSet()


@lru_cache(maxsize=1024)
def _outline(name: str, under: tuple) -> dict:
    return outline_colors(name, under)


def cell_color(classification: str, status: str, hide_rejected: bool = False,
               under=None) -> np.ndarray:
    """RGBA (floats 0-1) of a cell of ``classification`` with review ``status`` drawn over
    the stain colour ``under`` (sRGB; None: the class's default, see ``stain_under``)."""
    status = str(status)
    under = tuple(int(v) for v in (under if under is not None
                                   else stain_under(str(classification))))
    if status == "rejected":
        rgb = np.asarray(rejected_grey(under), float) / 255
        if hide_rejected:  # transparent (grey kept: a colour of its own, not background's)
            return np.array([*rgb, 0.0], np.float32)
    else:
        key = "accepted" if status == "accepted" else "unreviewed"
        rgb = np.asarray(_outline(str(classification), under)[key], float) / 255
    alpha = STATUS_ALPHA.get(status, STATUS_ALPHA["unreviewed"])
    return np.array([*rgb, alpha], np.float32)


def stain_of(layer) -> tuple:
    """(measured stain per class, stain name) from ``layer``'s metadata."""
    meta = layer.metadata if isinstance(getattr(layer, "metadata", None), dict) else {}
    measured = meta.get("outline_under")
    measured = {str(k): tuple(v) for k, v in measured.items()} \
        if isinstance(measured, dict) else {}
    return measured, meta.get("stain")


def layer_color(layer, classification: str, status: str) -> np.ndarray:
    """RGBA of a cell of ``classification`` / ``status`` as drawn in ``layer``."""
    measured, stain = stain_of(unwrap(layer))
    return cell_color(classification, status, hides_rejected(layer),
                      stain_under(str(classification), measured, stain))


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
        self.stain: tuple = ({}, None)  # see stain_of

    def color(self, cls: str, status: str) -> np.ndarray:
        measured, stain = self.stain
        return cell_color(cls, status, self.hide_rejected, stain_under(cls, measured, stain))

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
            out[k] = self.color(cls, status)
        return out

    # ------------------------------------------------------------------ full
    def full(self, layer, frame: pd.DataFrame) -> None:
        """Build the colour dict from scratch and set it (one full refresh)."""
        self.palette = {}
        self.stain = stain_of(layer)
        codes = self._codes(frame)
        colors = self._colors()
        data = layer.data[0] if layer.multiscale else layer.data
        dtype = np.dtype(getattr(data, "dtype", np.int64))
        big = int(codes.index.max()) > 65535 if len(codes) else False
        fast = fast_labels_backend()
        if big and not fast:
            if not self.warned:
                show_warning("more than 65535 cells: install napari[partsegcore] (or numba) "
                             "to colour them by class and status")
                self.warned = True
            self.codes, self.cmap = None, None
            return
        self.reserved = fast and dtype.itemsize > 2
        table: dict = {}
        if self.reserved:
            for k, color in enumerate(colors):
                table[RESERVED_TOP - k] = color
        table[None] = self.color("Nucleus", "unreviewed")
        table[0] = np.zeros(4, np.float32)
        for label, k in zip(codes.index.tolist(), codes.to_numpy().tolist()):
            table[label] = colors[k]
        cmap = direct_colormap(table)
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
        k = self.palette[key]
        color = self.color("", "rejected")
        others = [RESERVED_TOP - j for j in range(len(self.palette)) if j != k]
        if not recolour_index(cmap, RESERVED_TOP - k, color, others):
            return False  # the colour index is shared, or no napari cache: rebuild
        table = cmap.color_dict
        table[RESERVED_TOP - k] = color
        for label in self.codes.index[self.codes.to_numpy() == k].tolist():
            table[label] = color
        layer.events.colormap()  # the GPU colour table
        return True

    # ------------------------------------------------------------------ incremental
    def update(self, layer, frame: pd.DataFrame) -> None:
        """Recolour only the cells whose (class, status) changed."""
        if self.cmap is None or self.codes is None or layer.colormap is not self.cmap \
                or self.data_id != id(layer.data) or self.stain != stain_of(layer):
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
        added = [RESERVED_TOP - k for k in range(before, len(self.palette))]
        for label, color in zip(added, colors[before:]):
            table[label] = color
        for label in gone.tolist():
            table.pop(label, None)
        for label in changed.tolist():
            table[label] = colors[int(codes.at[label])]
        if self.reserved:  # a changed cell takes its palette entry's colour index
            moved = {label: RESERVED_TOP - int(codes.at[label]) for label in changed.tolist()}
        else:
            added, moved = changed.tolist(), {}
        unique = None
        if len(self.palette) != before:  # every cell has a palette colour: count those
            unique = len({tuple(c) for c in colors} | {tuple(table[None]), tuple(table[0])})
        if not colours_edited(cmap, added, moved, gone.tolist(), unique):
            self.cmap = direct_colormap(dict(table))  # napari's public path: a new colormap
            layer.colormap = self.cmap
            return
        if len(self.palette) != before:
            layer.events.colormap()  # the GPU colour table gains the new colours
        # removed cells' pixels already show another id (the edit redrew them)
        boxes = None if layer.multiscale or len(changed) > MAX_PARTIAL \
            else _boxes(layer, frame, changed.tolist())
        if boxes is None:
            layer.refresh(extent=False)
            return
        repaint_boxes(layer, boxes)


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


def _frame(layer) -> Optional[pd.DataFrame]:
    frame = layer.features
    if frame is None or "label" not in getattr(frame, "columns", ()):
        return None
    return frame


def restyle(layer, hide_rejected: Optional[bool] = None, full: bool = False) -> None:
    """Colour ``layer``'s cells by class and status, as outlines.

    ``hide_rejected``: make rejected cells transparent (None keeps the layer's choice);
    ``full``: rebuild everything (else only changed cells are recoloured)."""
    layer = unwrap(layer)
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
    layer = unwrap(layer)
    styler = _STYLERS.get(layer)
    if styler is not None:
        styler.hint = [int(v) for v in labels]
    layer.events.features()


def hides_rejected(layer) -> bool:
    """Whether ``layer`` hides its rejected cells."""
    styler = _STYLERS.get(unwrap(layer))
    return bool(styler and styler.hide_rejected)


def auto_restyle(layer) -> None:
    """Restyle ``layer`` now and whenever its features (or data) change."""
    layer = unwrap(layer)
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


def measure_stain(layer, image) -> Optional[dict]:
    """Measure the stain under ``layer``'s outlines on ``image`` (the Image layer it was
    recognised on), per class, in one window of at most ``MEASURE_SIDE`` pixels a side
    at its centre, and keep it in ``layer.metadata["outline_under"]`` (the outlines are
    coloured against it). Returns it, or None when it cannot be read (lazy labels, a
    grey or non-8-bit image: the stain's defaults are used)."""
    layer, image = unwrap(layer), unwrap(image)
    frame = _frame(layer)
    if frame is None or image is None or layer.multiscale or \
            not isinstance(layer.data, np.ndarray) or layer.data.ndim != 2:
        return None
    pixels = image.data[0] if image.multiscale else image.data
    if pixels.ndim != (3 if image.rgb else 2):
        return None
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    oy, ox = (int(v) for v in (meta.get("region") or (0, 0))[:2])
    height, width = layer.data.shape
    y0, x0 = max(0, height // 2 - MEASURE_SIDE // 2), max(0, width // 2 - MEASURE_SIDE // 2)
    y1, x1 = min(height, y0 + MEASURE_SIDE), min(width, x0 + MEASURE_SIDE)
    window = np.asarray(pixels[oy + y0:oy + y1, ox + x0:ox + x1])
    labels = layer.data[y0:y1, x0:x1]
    if window.shape[:2] != labels.shape:
        return None
    classes = dict(zip(frame["label"].to_numpy().tolist(),
                       frame["classification"].astype(str).tolist())) \
        if "classification" in frame.columns else {}
    under = outline_under(window, labels, classes)
    if not under:
        return None
    layer.metadata = {**meta, "outline_under": under}
    return under
