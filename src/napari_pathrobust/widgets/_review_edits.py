"""The Review widget's label edits: re-measure the cells napari's tools touch.

Paint, erase and fill strokes arrive as ``events.paint`` (emitted before the pixels
are written, so the cells are measured on the next event-loop turn). napari's own
undo / redo of a stroke emits no paint event: :func:`._napari_compat.watch_undo_redo`
reports the item they replay (when napari's history cannot be read, every cell is
re-measured instead).
"""

from typing import Callable

import numpy as np
import pandas as pd
from qtpy.QtCore import QTimer

from ..engine.api import to_rgb_uint8
from ._cell_edits import paint_extent, remeasure
from ._napari_compat import unwatch_undo_redo, watch_undo_redo


class LabelEdits:
    """Re-measures the cells of one Labels layer at a time after label edits.

    Inputs: ``viewer`` (where the result's source image is, for colour measurements),
    ``features()`` (the layer's cell table, review columns included) and
    ``store(frame)`` (takes the re-measured table: Review sets it, repaints and
    autosaves). :meth:`attach` chooses the layer, :meth:`detach` lets it go."""

    def __init__(self, viewer, features: Callable[[], pd.DataFrame],
                 store: Callable[[pd.DataFrame], None]):
        self._viewer = viewer
        self._features = features
        self._store = store
        self.layer = None
        self._pending: list = []  # (label ids, box) of edits not measured yet

    def attach(self, layer) -> None:
        """Follow the edits of ``layer`` (None: of no layer)."""
        self.detach()
        self.layer = layer
        if layer is not None:
            layer.events.paint.connect(self._on_paint)
            watch_undo_redo(layer, self._replayed)

    def detach(self) -> None:
        """Take every hook off the layer; edits not measured yet are dropped."""
        layer, self.layer, self._pending = self.layer, None, []
        if layer is not None:
            layer.events.paint.disconnect(self._on_paint)
            unwatch_undo_redo(layer)

    @property
    def busy(self) -> bool:
        """True while label edits wait to be measured (tests wait on it)."""
        return bool(self._pending)

    def remeasure_all(self) -> None:
        """Re-measure every cell keeping status and class."""
        if self.layer is None:
            return
        labels = self._labels_data()
        ids = set(np.unique(np.asarray(labels)).tolist()) | set(self._features()["label"])
        box = (0, 0, int(labels.shape[-2]), int(labels.shape[-1]))
        self._store(remeasure(labels, self._features(), ids, box, self._rgb_at(),
                              self._mpp()))

    # ------------------------------------------------------------------ internals

    def _on_paint(self, event):
        # napari emits the paint event before writing the pixels: measure on the next turn
        self._queue(event.value, painted=True)

    def _replayed(self, item):
        """napari's own undo / redo replayed ``item`` (None: which cells is unknown)."""
        if item is None:
            self.remeasure_all()
        else:
            self._queue(item, painted=False)

    def _queue(self, atoms, painted: bool):
        ids, box = paint_extent(atoms)
        if box is None:
            return
        if not self._pending:
            QTimer.singleShot(0, self._flush)
        self._pending.append((ids, box, painted))

    def _flush(self):
        pending, self._pending = self._pending, []
        if self.layer is None or not pending:
            return
        for painted in (False, True):  # strokes after replays: a stroke's mark wins
            batch = [p for p in pending if p[2] == painted]
            if not batch:
                continue
            ids = set().union(*(p[0] for p in batch))
            boxes = np.array([p[1] for p in batch])
            box = (*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))
            self._store(remeasure(self._labels_data(), self._features(), ids,
                                  tuple(int(v) for v in box), self._rgb_at(), self._mpp(),
                                  painted=painted))

    def _mpp(self):
        return (self.layer.metadata or {}).get("mpp")

    def _labels_data(self):
        data = self.layer.data
        return data[0] if isinstance(data, list) or self.layer.multiscale else data

    def _rgb_at(self):
        """A function reading the source image under a box of the labels, or None."""
        layer = self.layer
        source = (layer.metadata or {}).get("source_layer")
        if not source or source not in self._viewer.layers:
            return None
        image = self._viewer.layers[source]
        data = image.data[0] if image.multiscale else image.data
        oy, ox = ((layer.metadata or {}).get("region") or (0, 0))[:2]

        def read(box):
            y0, x0, y1, x1 = box
            crop = data[oy + y0:oy + y1, ox + x0:ox + x1]
            return to_rgb_uint8(np.asarray(crop), source) if image.rgb else None
        return read
