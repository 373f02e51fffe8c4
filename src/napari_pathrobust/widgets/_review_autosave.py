"""When the Review widget autosaves: shortly after the last change, so a burst of clicks
or strokes is written once (what is written: :func:`._review_session.autosave`)."""

from typing import Callable

from qtpy.QtCore import QTimer

from ._review_session import autosave

#: autosave this long after the last change (a burst of clicks is written once)
AUTOSAVE_MS = 250
#: ... and this long after the last label edit (the labels are rewritten with the cells)
AUTOSAVE_CELLS_MS = 1500


class Autosave:
    """Debounced autosave of the layer under review.

    Inputs: ``parent`` (the Qt object owning the timer), ``layer()`` (the layer under
    review, or None) and ``saved()`` (called after each successful save)."""

    def __init__(self, parent, layer: Callable, saved: Callable[[], None]):
        self._layer, self._saved = layer, saved
        self._cells = False  # the cells (labels, measurements) changed, not only reviews
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.save_now)

    def changed(self, cells: bool = False) -> None:
        """Something changed (``cells``: the cells themselves): save a little later."""
        self._cells |= cells
        # the cells (labels included) are heavy: a stroke burst is written once, later
        self._timer.setInterval(AUTOSAVE_CELLS_MS if self._cells else AUTOSAVE_MS)
        self._timer.start()

    def save_now(self) -> None:
        """Write the pending autosave now."""
        self._timer.stop()
        cells, self._cells = self._cells, False
        layer = self._layer()
        if layer is not None and autosave(layer, cells=cells) is not None:
            self._saved()
