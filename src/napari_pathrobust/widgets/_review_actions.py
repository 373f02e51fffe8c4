"""The Review widget's decisions: status and class edits of cells, their undo / redo,
and the keys that trigger them on the layer under review.

:class:`ReviewActions` edits the ``status`` and class columns (the base class the
pathologist names, see ``engine.cell_classes``) of the layer's ``features`` in place
(only the cells concerned repaint) and remembers each change for Undo review / Redo
review. :class:`LayerKeys` binds keys on one layer and gives back the bindings they
replaced when unbound.
"""

from typing import Callable, Optional

import pandas as pd

from ..engine.api import (
    ACCEPTED,
    INTENSITY_CLASSES,
    INTENSITY_OVERRIDE,
    PATHOLOGIST,
    REJECTED,
    REVIEW_COLUMNS,
    UNREVIEWED,
    ReviewHistory,
    set_base,
    set_intensity,
    with_classes,
)

STATUS_KEYS = {"a": ACCEPTED, "r": REJECTED, "u": UNREVIEWED}
#: the columns a class edit writes: the compound and its parts
CLASS_EDIT = ("classification", "base_class", "intensity", "class_source",
              "class_probability")
UNDO_KEY, REDO_KEY = "Alt-Z", "Alt-Shift-Z"


class ReviewActions:
    """Status / class edits of the cells under review, with undo / redo.

    Inputs: ``layer()`` (the Labels layer under review, or None), ``selected()`` (the
    labels an action applies to when it is given none), ``features()`` (the layer's
    table with the review columns added), ``changed(labels)`` (those cells' class or
    status changed in place: repaint, sync, autosave) and ``say(text)`` (status line)."""

    def __init__(self, layer: Callable, selected: Callable[[], list],
                 features: Callable[[], pd.DataFrame], changed: Callable[[list], None],
                 say: Callable[[str], None]):
        self._layer, self._selected, self._features = layer, selected, features
        self._changed, self._say = changed, say
        self.history = ReviewHistory()
        self._cells: set = set()  # the cells the undo steps were made on

    def cells_are(self, labels: set, forget: bool = False) -> None:
        """The layer now holds the cells ``labels``; with ``forget``, undo steps made on
        other cells are dropped (their ids may now mean other cells)."""
        if forget and set(labels) != self._cells:
            self.history.clear()
        self._cells = set(labels)

    def set_status(self, status: str, labels=None) -> None:
        """Set the review status of the selected (or given) cells."""
        def edit(frame, rows):
            frame.loc[rows, "status"] = status
        self._edit(labels, edit, f"{status}: {{}} cell(s)")

    def set_class(self, name: str, labels=None) -> None:
        """Name the selected (or given) cells: their base class, set by the pathologist
        (an intensity name sets the intensity instead; ``Nucleus`` clears the base);
        unreviewed ones become accepted (naming a cell is reviewing it)."""
        if not name:
            return
        layer = self._layer()
        if name in INTENSITY_CLASSES and layer is not None and "label" in layer.features \
                and INTENSITY_OVERRIDE not in layer.features:
            layer.features[INTENSITY_OVERRIDE] = 0.0  # before the edit: undo restores it

        def edit(frame, rows):
            part = frame.loc[rows]
            named = set_intensity(part, str(name), source=PATHOLOGIST) \
                if name in INTENSITY_CLASSES else set_base(part, str(name), PATHOLOGIST)
            for column in (*CLASS_EDIT, INTENSITY_OVERRIDE):
                if column in named.columns and column in frame.columns:
                    frame.loc[rows, column] = named[column].to_numpy()
            unreviewed = rows & (frame["status"].astype(str).to_numpy() == UNREVIEWED)
            frame.loc[unreviewed, "status"] = ACCEPTED
        self._edit(labels, edit, f"classified {name}: {{}} cell(s)")

    def undo(self) -> None:
        """Undo the last status / class change."""
        self._replay(self.history.undo_values(), "undone")

    def redo(self) -> None:
        """Redo the last undone status / class change."""
        self._replay(self.history.redo_values(), "redone")

    def _edit(self, labels, edit, message: str) -> None:
        """Apply ``edit(frame, rows)`` to the layer's features in place for ``labels``
        (class / status only), remember it for undo, report the change."""
        layer = self._layer()
        labels = self._selected() if labels is None else [int(v) for v in labels]
        if layer is None or not labels:
            return
        frame = layer.features
        if "label" not in frame.columns:
            self._say(f"{layer.name} has no cell table: choose a result of Recognise "
                      "(or re-measure)")
            return
        if not set(REVIEW_COLUMNS) - {INTENSITY_OVERRIDE} <= set(frame.columns):
            layer.features = with_classes(self._features())  # add the review columns
            frame = layer.features  # (napari keeps its own copy)
        rows = frame["label"].isin(labels).to_numpy()
        columns = ["label", *(c for c in REVIEW_COLUMNS if c in frame.columns)]
        before = frame.loc[rows, columns].copy()
        edit(frame, rows)
        self.history.record(before, frame.loc[rows, columns], labels)
        self._changed(labels)
        self._say(message.format(len(labels)))

    def _replay(self, values: Optional[pd.DataFrame], what: str) -> None:
        layer = self._layer()
        if values is None or layer is None:
            self._say(f"nothing to be {what}")
            return
        ReviewHistory.apply(layer.features, values, inplace=True)
        labels = [int(v) for v in values.index]
        self._changed(labels)
        self._say(f"review of {len(labels)} cell(s) {what}")


class LayerKeys:
    """Key bindings (key -> function of the layer) put on one layer at a time; the
    layer's own bindings of those keys come back when they are taken off."""

    def __init__(self, actions: dict):
        self._actions = actions
        self._bound: dict = {}  # key -> (our function, the layer's binding before ours)

    def bind(self, layer) -> None:
        for key, func in self._actions.items():
            self._bound[key] = (func, layer.bind_key(key, func, overwrite=True))

    def unbind(self, layer) -> None:
        bound, self._bound = self._bound, {}
        for key, (ours, previous) in bound.items():
            current = layer.bind_key(key, None)  # take the key's binding off
            kept = previous if current is ours else current  # someone rebound it: keep theirs
            if kept is not None:
                layer.bind_key(key, kept, overwrite=True)
