"""Plugin settings: napari's Preferences where napari has plugin configuration, else a
JSON file in the user config folder (Qt-free).

The manifest contributes them as ``configurations.general`` (device, tile, memory
budget, results folder), which napari 0.9+ shows under File > Preferences > PathRobust
and saves itself (``<napari config dir>/napari-pathrobust.yaml``). The plugin also keeps
its own store, ``<user config dir>/napari-pathrobust/settings.json``: the fallback for a
napari without plugin configuration, and the only store when
``NAPARI_PATHROBUST_CONFIG_DIR`` overrides the folder (tests, isolated setups).
Read order: defaults, then settings.json, then napari's Preferences (which win).
:func:`save_settings` writes both. Unknown keys are ignored; bad values fall back to the
defaults.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from ..engine.writers import atomic_path

DEFAULTS: dict[str, Any] = {
    "device": "auto",  # auto | cpu | cuda | mps
    "tile": 0,  # 0 = pick from the memory budget
    "memory_budget_mb": 1024,
    "results_dir": "",  # large results (zarr); "" = the user cache folder
}


def config_dir() -> Path:
    """Folder holding settings.json."""
    override = os.environ.get("NAPARI_PATHROBUST_CONFIG_DIR")
    if override:
        return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("napari-pathrobust"))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def _valid(key: str, value: Any) -> bool:
    if key == "device":
        return value in ("auto", "cpu", "cuda", "mps")
    if key == "tile":
        return isinstance(value, int) and 0 <= value <= 65536
    if key == "memory_budget_mb":
        return isinstance(value, (int, float)) and 64 <= value <= 1_000_000
    if key == "results_dir":
        return isinstance(value, str)
    return False


def napari_preferences() -> Optional[Any]:
    """The ``general`` section of this plugin's napari Preferences, or None (napari not
    running, no plugin configuration in this napari, or ``NAPARI_PATHROBUST_CONFIG_DIR``
    set)."""
    if os.environ.get("NAPARI_PATHROBUST_CONFIG_DIR") or "napari" not in sys.modules:
        return None
    try:
        from napari.settings import get_plugin_settings

        return get_plugin_settings("napari-pathrobust").general
    except Exception:  # noqa: BLE001 - older napari, plugin not discovered, ...
        return None


def load_settings() -> dict[str, Any]:
    """The saved settings merged over the defaults (a missing or broken file = defaults);
    napari's Preferences win where available."""
    settings = dict(DEFAULTS)
    try:
        stored = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    if isinstance(stored, dict):
        settings.update({k: v for k, v in stored.items() if k in DEFAULTS and _valid(k, v)})
    prefs = napari_preferences()
    if prefs is not None:
        for key in DEFAULTS:
            value = getattr(prefs, key, None)
            if _valid(key, value):
                settings[key] = value
    return settings


def save_settings(values: dict[str, Any]) -> Path:
    """Validate and write the settings atomically; returns the file path."""
    settings = load_settings()
    for key, value in values.items():
        if key not in DEFAULTS:
            raise ValueError(f"unknown setting {key!r}")
        if not _valid(key, value):
            raise ValueError(f"setting {key!r}: invalid value {value!r}")
        settings[key] = value
    path = settings_path()
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    prefs = napari_preferences()
    if prefs is not None:  # napari saves its Preferences itself
        for key in values:
            setattr(prefs, key, settings[key])
    return path


def results_dir() -> Path:
    """Where large results (zarr label pyramids, maps) are written."""
    chosen = load_settings()["results_dir"]
    if chosen:
        return Path(chosen)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-pathrobust")) / "results"
