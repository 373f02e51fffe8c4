"""Widget values remembered between sessions (``<config dir>/widgets.json``).

``remember(widget, key, fields)`` sets each magicgui value widget in ``fields`` from
the values saved under ``key`` (if any) and saves it again whenever it changes, so a
dock opens with the choices the user made last time. Supported: ComboBox (stored by
choice name; a saved name no longer offered is ignored), SpinBox / FloatSpinBox /
Slider (clamped to the range), CheckBox, LineEdit and FileEdit. A field is named by
its ``name``, else its ``label``, else its ``text`` (unique within ``key``).

The file lives next to ``settings.json`` (``NAPARI_PATHROBUST_CONFIG_DIR`` overrides
the folder) and is written atomically; a missing or broken file means no saved values.
Layer pickers should not be remembered (layers do not outlive a session).
"""

import json
from pathlib import Path
from typing import Any

from ..engine.writers import atomic_path
from ._settings import config_dir

__all__ = ["remember", "remembered_path", "load_remembered", "field_name"]


def remembered_path() -> Path:
    """The JSON file holding every widget's remembered values."""
    return config_dir() / "widgets.json"


def load_remembered() -> dict[str, dict[str, Any]]:
    """All remembered values, ``{key: {field: value}}`` ({} when none or unreadable)."""
    try:
        stored = json.loads(remembered_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict):
        return {}
    return {k: v for k, v in stored.items() if isinstance(v, dict)}


def _save(key: str, field: str, value: Any) -> None:
    stored = load_remembered()
    stored.setdefault(key, {})[field] = value
    path = remembered_path()
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n",
                           encoding="utf-8")
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


def remember(widget, key: str, fields: list) -> None:
    """Restore ``fields`` (magicgui value widgets of ``widget``) from the values saved
    under ``key``, then save each one whenever it changes."""
    saved = load_remembered().get(key, {})
    for field in fields:
        name = field_name(field)
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
