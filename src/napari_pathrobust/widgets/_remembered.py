"""Widget values remembered between sessions (``<config dir>/widgets.json``).

``remember(widget, key, fields)`` sets each magicgui value widget in ``fields`` from
the values saved under ``key`` (if any) and saves it again whenever it changes, so a
dock opens with the choices the user made last time. Supported: ComboBox (stored by
choice name; a saved name no longer offered is ignored), SpinBox / FloatSpinBox /
Slider (clamped to the range), CheckBox, LineEdit and FileEdit (its text: an empty
one stays empty). A field is named by its ``name``, else its ``label``, else its
``text`` (unique within ``key``).

With ``mark=True`` a field that comes back with another value than its default gets
:data:`MARK` after its label and a tooltip saying so, until it is changed; the returned
:class:`Remembered` resets every field to its default.

The file lives next to ``settings.json`` and is written atomically with the settings'
own JSON store (``engine.settings``); a missing or broken file means no saved values.
Layer pickers should not be remembered (layers do not outlive a session).
"""

from pathlib import Path
from typing import Any

from magicgui.widgets import FileEdit

from ..engine.api import config_dir, read_json, write_json

__all__ = ["remember", "remembered_path", "load_remembered", "field_name", "Remembered",
           "MARK", "REMEMBERED_TIP"]

#: appended to the label of a field showing a remembered, non-default value
MARK = " *"
REMEMBERED_TIP = "remembered from the last session"


def remembered_path() -> Path:
    """The JSON file holding every widget's remembered values."""
    return config_dir() / "widgets.json"


def load_remembered() -> dict[str, dict[str, Any]]:
    """All remembered values, ``{key: {field: value}}`` ({} when none or unreadable)."""
    return {k: v for k, v in read_json(remembered_path()).items() if isinstance(v, dict)}


def _save(key: str, field: str, value: Any) -> None:
    stored = load_remembered()
    stored.setdefault(key, {})[field] = value
    try:
        write_json(remembered_path(), stored, indent=1)
    except OSError:  # a read-only config folder must not break the widget
        pass


def field_name(widget) -> str:
    """The name a field is stored under: ``name``, else ``label``, else ``text``."""
    for attr in ("name", "label", "text"):
        value = getattr(widget, attr, "")
        if isinstance(value, str) and value:
            return value
    raise ValueError(f"{type(widget).__name__} has no name, label or text to remember it by")


def _stored_value(widget) -> Any:
    """The JSON value saved for ``widget``'s current value."""
    if isinstance(widget, FileEdit):  # its value turns '' into Path('.')
        return widget.line_edit.value
    if hasattr(widget, "current_choice"):
        return str(widget.current_choice)
    value = widget.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(widget).__name__}: cannot remember a {type(value).__name__}")


def _restore(widget, value: Any) -> None:
    """Set ``widget`` from a saved value; values that no longer fit are ignored."""
    if isinstance(widget, FileEdit):
        if isinstance(value, str):  # the text as typed: FileEdit.value = '' gives the cwd
            widget.line_edit.value = "" if value in ("", ".") else value
        return
    if hasattr(widget, "current_choice"):
        names = [str(n) for n, _d in _choice_pairs(widget)]
        if isinstance(value, str) and value in names:
            widget.value = widget.get_choice(value)
        return
    current = widget.value
    if isinstance(current, bool):
        if isinstance(value, bool):
            widget.value = value
        return
    if isinstance(current, (int, float)) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        lo, hi = getattr(widget, "min", None), getattr(widget, "max", None)
        value = type(current)(value)
        if lo is not None:
            value = max(lo, value)
        if hi is not None:
            value = min(hi, value)
        widget.value = value
        return
    if isinstance(current, (str, Path)) and isinstance(value, str):
        widget.value = value


def _choice_pairs(combo) -> list:
    """(name, value) pairs a ComboBox offers (magicgui keeps them in its backend)."""
    return list(combo._widget._mgui_get_choices())


class Remembered:
    """The fields :func:`remember` restored: which came back marked, and a reset."""

    def __init__(self):
        self._fields: list = []  # (field, name, default JSON value, label, tooltip)
        self.marked: set = set()  # names of the fields shown with MARK

    def _add(self, field, name: str, default, mark: bool) -> None:
        label, tooltip = field.label, field.tooltip
        self._fields.append((field, name, default, label, tooltip))
        if not mark or _stored_value(field) == default:
            return
        self.marked.add(name)
        field.label = f"{label}{MARK}"
        shown = default if default != "" else "empty"
        field.tooltip = (f"{tooltip}\n" if tooltip else "") + \
            f"{REMEMBERED_TIP} (default: {shown})"
        field.changed.connect(lambda _=None: self._unmark(name))

    def _unmark(self, name: str) -> None:
        if name not in self.marked:
            return
        self.marked.discard(name)
        for field, known, _default, label, tooltip in self._fields:
            if known == name:
                field.label, field.tooltip = label, tooltip

    def reset(self) -> None:
        """Every field back to its default value (saved as the remembered value)."""
        for field, name, default, _label, _tooltip in self._fields:
            _restore(field, default)
            self._unmark(name)


def remember(widget, key: str, fields: list, mark: bool = False) -> Remembered:
    """Restore ``fields`` (magicgui value widgets of ``widget``) from the values saved
    under ``key``, then save each one whenever it changes. With ``mark``, fields that
    come back with a non-default value are marked (see the module docstring)."""
    saved = load_remembered().get(key, {})
    remembered = Remembered()
    for field in fields:
        name = field_name(field)
        default = _stored_value(field)
        if name in saved:
            try:
                _restore(field, saved[name])
            except (TypeError, ValueError):
                pass

        def on_change(_=None, field=field, name=name):
            try:
                _save(key, name, _stored_value(field))
            except TypeError:
                pass

        field.changed.connect(on_change)
        remembered._add(field, name, default, mark)
    return remembered
