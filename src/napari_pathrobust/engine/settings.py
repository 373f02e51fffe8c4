"""Plugin settings: one schema, one validation, one atomic JSON store (Qt-free).

:data:`SETTINGS_SCHEMA` declares every setting once (key, JSON type, default, bounds, title,
description); napari.yaml's ``configurations.general`` mirrors it (a test checks), so
napari 0.9+ shows the same fields in File > Preferences > PathRobust. Everything that
reads or writes a setting validates it with :func:`check_setting`: the Settings dock,
napari's Preferences (read through ``widgets._settings``) and the CLI's ``--device``.

The store is ``<config dir>/settings.json`` (``NAPARI_PATHROBUST_CONFIG_DIR`` overrides
the folder, and isolates the default results folder too); read order: defaults, then
settings.json, then the Preferences object a caller passes (napari's, which wins).
:func:`read_json` / :func:`write_json` (atomic) are the store shared with the widgets'
remembered values.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from .device import check_device_name
from .writers import atomic_path

__all__ = ["Setting", "SETTINGS_SCHEMA", "SETTING_DEFAULTS", "check_setting", "config_dir",
           "settings_path", "read_json", "write_json", "load_settings", "save_settings",
           "results_dir", "default_results_dir", "preference_problems", "manifest_properties"]


@dataclass(frozen=True)
class Setting:
    """One setting: its JSON-schema type, default, bounds and the words shown for it.

    ``check`` normalises a value of the right type or raises ValueError. It is the only
    check of a string's format (the device name): npe2 0.10 drops a JSON-schema
    ``pattern``, and a ``maxLength`` makes napari's Preferences raise at each keystroke
    past it, so the manifest declares a plain string (napari accepts ``cuda:N``) and
    what Preferences hold is checked when read (:func:`load_settings`)."""

    key: str
    type: str  # "string" | "integer"
    default: Any
    title: str
    description: str
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    check: Optional[Callable[[Any], Any]] = None

    def json_schema(self) -> dict[str, Any]:
        """The property as napari.yaml's ``configurations`` write it."""
        out: dict[str, Any] = {"type": self.type}
        for name in ("minimum", "maximum"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update(default=self.default, title=self.title, description=self.description)
        return out


def _folder(value: str) -> str:
    """'' (the cache folder) or an absolute folder (``~/...`` too): a relative one
    would follow the folder napari was started from."""
    value = value.strip()
    if value and not Path(value).expanduser().is_absolute():
        raise ValueError(f"setting 'results_dir': expected an absolute folder or empty "
                         f"(the user cache folder), got {value!r}")
    return value


SETTINGS_SCHEMA: tuple[Setting, ...] = (
    Setting("device", "string", "auto", "Default device",
            "Where Recognise, Adapt and the robustness report run: auto, cpu, mps, cuda "
            "or cuda:N (N = the GPU's index).", check=check_device_name),
    Setting("tile", "integer", 0, "Default tile (0 = auto)",
            "Tile side in pixels; 0 picks it from the memory budget.",
            minimum=0, maximum=65536),
    Setting("memory_budget_mb", "integer", 1024, "Memory budget (MB)",
            "How much memory a run may use; sets the automatic tile size.",
            minimum=64, maximum=1_000_000),
    Setting("results_dir", "string", "", "Large results folder",
            "Where large results (zarr) and review autosaves are written; empty = the "
            "user cache folder.", check=_folder),
    Setting("review_cell_px", "integer", 80, "Current cell size on screen (px)",
            "Review cells: Next (n) and a click on a row zoom so that a typical cell is "
            "this many screen pixels wide; 0 keeps the zoom.", minimum=0, maximum=1000),
)
_BY_KEY = {s.key: s for s in SETTINGS_SCHEMA}
SETTING_DEFAULTS: dict[str, Any] = {s.key: s.default for s in SETTINGS_SCHEMA}


def check_setting(key: str, value: Any) -> Any:
    """``value`` validated (and normalised, e.g. ``CUDA:1`` -> ``cuda:1``) for setting
    ``key``; ValueError with one line saying what is expected."""
    spec = _BY_KEY.get(key)
    if spec is None:
        raise ValueError(f"unknown setting {key!r}")
    if spec.type == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        low, high = spec.minimum, spec.maximum
        if isinstance(value, bool) or not isinstance(value, int) or \
                (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"setting {key!r}: expected an integer from {low} to {high}, "
                             f"got {value!r}")
    elif not isinstance(value, str):
        raise ValueError(f"setting {key!r}: expected a text, got {value!r}")
    return spec.check(value) if spec.check is not None else value


def _checked(key: str, value: Any) -> tuple[bool, Any]:
    try:
        return True, check_setting(key, value)
    except ValueError:
        return False, None


def config_dir() -> Path:
    """Folder holding settings.json and widgets.json."""
    override = os.environ.get("NAPARI_PATHROBUST_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("napari-pathrobust"))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def read_json(path: Path) -> dict:
    """The JSON object in ``path`` ({} when missing, unreadable or not an object)."""
    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def write_json(path: Path, data: dict, indent: int = 2) -> Path:
    """Write ``data`` as JSON atomically (a killed write leaves the old file)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(data, indent=indent, sort_keys=True) + "\n",
                       encoding="utf-8")
    return Path(path)


def load_settings(preferences: Any = None) -> dict[str, Any]:
    """Defaults, then settings.json, then ``preferences`` (an object with one attribute
    per setting, e.g. napari's); unknown keys and invalid values are ignored."""
    settings = dict(SETTING_DEFAULTS)
    for key, value in read_json(settings_path()).items():
        ok, value = _checked(key, value) if key in SETTING_DEFAULTS else (False, None)
        if ok:
            settings[key] = value
    for key in SETTING_DEFAULTS if preferences is not None else ():
        ok, value = _checked(key, getattr(preferences, key, None))
        if ok:
            settings[key] = value
    return settings


def preference_problems(preferences: Any) -> list[str]:
    """One line per value of ``preferences`` that :func:`load_settings` ignores."""
    problems = []
    for key in SETTING_DEFAULTS if preferences is not None else ():
        try:
            check_setting(key, getattr(preferences, key, None))
        except ValueError as exc:
            problems.append(f"Preferences {exc} (not used)")
    return problems


def save_settings(values: dict[str, Any], preferences: Any = None) -> Path:
    """Validate ``values``, write settings.json atomically and set the same keys (only
    those) on ``preferences``; returns the file path."""
    checked = {key: check_setting(key, value) for key, value in values.items()}
    settings = {**load_settings(preferences), **checked}
    path = write_json(settings_path(), settings)
    for key, value in checked.items() if preferences is not None else ():
        if getattr(preferences, key, None) != value:
            setattr(preferences, key, value)
    return path


def default_results_dir() -> Path:
    """The user cache folder's results folder (the empty ``results_dir``);
    ``<config dir>/results`` when ``NAPARI_PATHROBUST_CONFIG_DIR`` isolates the setup."""
    override = os.environ.get("NAPARI_PATHROBUST_CONFIG_DIR")
    if override:
        return Path(override) / "results"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-pathrobust")) / "results"


def results_dir(settings: Optional[dict[str, Any]] = None) -> Path:
    """Where large results (zarr pyramids) and review autosaves are written."""
    chosen = (settings if settings is not None else load_settings())["results_dir"]
    return Path(chosen).expanduser() if chosen else default_results_dir()


def manifest_properties() -> dict[str, dict[str, Any]]:
    """napari.yaml's ``configurations.general.properties``, from :data:`SETTINGS_SCHEMA`."""
    return {s.key: s.json_schema() for s in SETTINGS_SCHEMA}
