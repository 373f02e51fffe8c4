"""The review keys inside the Review dock: a, r, u, n, c, Alt+Z and Alt+Shift+Z act the
same when the cell table (or a button of the dock) has the keyboard focus as on the
canvas, where :class:`._review_actions.LayerKeys` binds them on the layer. Text fields
(the filter, the class box) keep their keys."""

from typing import Callable

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QAbstractSpinBox, QComboBox, QLineEdit

_MODIFIERS = (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
              | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier)


def key_name(event) -> str:
    """napari's name of a key press (``a``, ``Alt-Z``, ``Alt-Shift-Z``), '' for others."""
    key = event.key()
    if not Qt.Key.Key_A <= key <= Qt.Key.Key_Z:
        return ""
    letter = chr(int(key))
    mods = event.modifiers() & _MODIFIERS
    if mods == Qt.KeyboardModifier.NoModifier:
        return letter.lower()
    names = [name for flag, name in ((Qt.KeyboardModifier.ControlModifier, "Control"),
                                     (Qt.KeyboardModifier.AltModifier, "Alt"),
                                     (Qt.KeyboardModifier.MetaModifier, "Meta"),
                                     (Qt.KeyboardModifier.ShiftModifier, "Shift"))
             if mods & flag]
    return "-".join([*names, letter.upper()])


class DockKeys(QObject):
    """Runs ``actions[name]()`` for the review keys pressed in the widgets it watches
    (:meth:`watch`), before Qt's own use of them (a table's type-to-search)."""

    def __init__(self, parent, actions: dict[str, Callable[[], None]]):
        super().__init__(parent)
        self._actions = actions

    def watch(self, widgets) -> None:
        """Watch ``widgets`` (text fields are left to their typing)."""
        for widget in widgets:
            editable = isinstance(widget, (QLineEdit, QAbstractSpinBox)) or (
                isinstance(widget, QComboBox) and widget.isEditable())
            if not editable:
                widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        action = self._actions.get(key_name(event))
        if action is None:
            return False
        if kind == QEvent.Type.ShortcutOverride:  # ours, not a window shortcut's
            event.accept()
            return True
        action()
        return True
