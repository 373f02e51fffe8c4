"""Plugin settings kept as JSON in the user config folder (Qt-free).

napari 0.9 does not show npe2 ``configuration`` contributions, so the plugin keeps
its own small store: ``<user config dir>/napari-pathrobust/settings.json``
(``NAPARI_PATHROBUST_CONFIG_DIR`` overrides the folder, e.g. in tests).
Unknown keys are ignored; bad values fall back to the defaults.
"""

import json
import os
from pathlib import Path
from typing import Any

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


def load_settings() -> dict[str, Any]:
    """The saved settings merged over the defaults (a missing or broken file = defaults)."""
    settings = dict(DEFAULTS)
    try:
        stored = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return settings
    if isinstance(stored, dict):
        settings.update({k: v for k, v in stored.items() if k in DEFAULTS and _valid(k, v)})
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
    return path


def results_dir() -> Path:
    """Where large results (zarr label pyramids, maps) are written."""
    chosen = load_settings()["results_dir"]
    if chosen:
        return Path(chosen)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("napari-pathrobust")) / "results"
