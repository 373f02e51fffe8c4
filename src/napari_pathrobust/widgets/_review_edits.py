"""The Review widget's label edits: re-measure the cells napari's tools touch, and keep
``<image>_centroids`` in step with the cells.

Paint, erase and fill strokes arrive as ``events.paint`` (emitted before the pixels
are written, so the cells are measured on the next event-loop turn). napari's own
undo / redo of a stroke emits no paint event: :meth:`LabelEdits._wrap_history`
wraps the layer's ``undo`` / ``redo`` so the item they replay is measured too.
"""

import numpy as np
import pandas as pd
from qtpy.QtCore import QTimer

from ..engine.io import to_rgb_uint8
from ..engine.review.session import REVIEW_COLUMNS
from ._cell_edits import paint_extent, remeasure


class LabelEdits:
    """Mixin for the Review widget (needs ``_layer``, ``_viewer``, ``_pending``,
    ``features()`` and ``_store(frame, cells=True)``)."""

    def _wrap_history(self, layer):
        """Re-measure after napari's own undo / redo (they emit no paint event)."""
        for name, stack in (("undo", "_undo_history"), ("redo", "_redo_history")):
            original = getattr(type(layer), name)

            def wrapped(original=original, stack=stack):
                history = getattr(layer, stack, None)
                item = list(history[-1]) if history else None
                original(layer)
                if item:
                    self._queue(item)
            wrapped.pathrobust = True
            setattr(layer, name, wrapped)

    @staticmethod
    def _unwrap_history(layer):
        for name in ("undo", "redo"):
            if getattr(layer.__dict__.get(name), "pathrobust", False):
                delattr(layer, name)

    def _rgb_at(self):
        """A function reading the source image under a box of the labels, or None."""
        layer = self._layer
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

    def _labels_data(self):
        data = self._layer.data
        return data[0] if isinstance(data, list) or self._layer.multiscale else data

    def _on_paint(self, event):
        # napari emits the paint event before writing the pixels: measure on the next turn
        self._queue(event.value)

    def _queue(self, atoms):
        ids, box = paint_extent(atoms)
        if box is None:
            return
        if not self._pending:
            QTimer.singleShot(0, self._flush_edits)
        self._pending.append((ids, box))

    def _flush_edits(self):
        pending, self._pending = self._pending, []
        if self._layer is None or not pending:
            return
        ids = set().union(*(p[0] for p in pending))
        boxes = np.array([p[1] for p in pending])
        box = (*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))
        mpp = (self._layer.metadata or {}).get("mpp")
        self._store(remeasure(self._labels_data(), self.features(), ids,
                              tuple(int(v) for v in box), self._rgb_at(), mpp), cells=True)

    @property
    def busy(self) -> bool:
        """True while label edits wait to be measured (tests wait on it)."""
        return bool(self._pending)

    def remeasure_all(self):
        """Re-measure every cell keeping status and class."""
        if self._layer is None:
            return
        labels = self._labels_data()
        ids = set(np.unique(np.asarray(labels)).tolist()) | set(self.features()["label"])
        mpp = (self._layer.metadata or {}).get("mpp")
        box = (0, 0, int(labels.shape[-2]), int(labels.shape[-1]))
        self._store(remeasure(labels, self.features(), ids, box, self._rgb_at(), mpp),
                    cells=True)

    def _sync_points(self, frame: pd.DataFrame):
        """Keep ``<image>_centroids`` (if shown) in step with the cells."""
        source = (self._layer.metadata or {}).get("source_layer")
        name = f"{source}_centroids"
        if not source or name not in self._viewer.layers or not {"x", "y"} <= set(frame):
            return
        points = self._viewer.layers[name]
        points.data = np.stack([frame["y"].to_numpy(float), frame["x"].to_numpy(float)], 1)
        points.features = frame.drop(columns=["index"], errors="ignore")

    def _sync_review_points(self, labels):
        """Copy the review columns to ``<image>_centroids`` (same cells, same order)."""
        source = (self._layer.metadata or {}).get("source_layer")
        name = f"{source}_centroids"
        if not source or name not in self._viewer.layers:
            return
        points, frame = self._viewer.layers[name].features, self._layer.features
        if "label" not in points.columns or len(points) != len(frame) or \
                not np.array_equal(points["label"].to_numpy(), frame["label"].to_numpy()):
            self._sync_points(self.features())
            return
        rows = frame["label"].isin(labels).to_numpy()
        for column in REVIEW_COLUMNS:
            points.loc[rows, column] = frame.loc[rows, column].to_numpy()

    def _mark_on_canvas(self, labels):
        """Ring the selected cells on the canvas (Points ``<result> selection``, added on
        the first multi-cell selection; the labels layer stays the active one)."""
        layer = self._layer
        if layer is None:
            return
        name = f"{layer.name} selection"
        frame = layer.features
        if len(labels) < 2 and name not in self._viewer.layers:
            return
        rows = np.flatnonzero(frame["label"].isin(labels).to_numpy()) \
            if {"label", "x", "y"} <= set(frame.columns) else np.zeros(0, int)
        points = np.stack([frame["y"].to_numpy(float)[rows],
                           frame["x"].to_numpy(float)[rows]], 1)
        sizes = 2.5 * np.sqrt(frame["area"].to_numpy(float)[rows] / np.pi) + 4 \
            if "area" in frame.columns else np.full(rows.size, 12.0)
        if name in self._viewer.layers:
            marks = self._viewer.layers[name]
            marks.data = points
            marks.size = sizes if rows.size else 12
            return
        active = self._viewer.layers.selection.active
        self._viewer.add_points(points, name=name, size=sizes, face_color="transparent",
                                border_color="yellow", border_width=0.08,
                                scale=layer.scale, translate=layer.translate,
                                units=layer.units)
        self._viewer.layers.selection.active = active

