"""The plugin settings as the widgets see them: :mod:`..engine.settings` plus napari's
Preferences (Qt-free; napari is only looked up when it is already imported).

napari 0.9+ renders the manifest's ``configurations.general`` (which mirrors
``engine.settings.SETTINGS_SCHEMA``) under File > Preferences > PathRobust and saves it itself
(``<napari config dir>/napari-pathrobust.yaml``). Reads merge those Preferences over
settings.json (they win); writes go to both, the changed keys only. With
``NAPARI_PATHROBUST_CONFIG_DIR`` set (tests, isolated setups) settings.json is the only
store.
"""

import os
import sys
from pathlib import Path
from typing import Any, Optional

from ..engine import api as _engine
from ..engine.api import (  # noqa: F401 - re-exported for the widgets
    SETTING_DEFAULTS,
    SETTINGS_SCHEMA,
    check_setting,
    config_dir,
    settings_path,
)


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
    """The settings (defaults < settings.json < napari's Preferences), all valid."""
    return _engine.load_settings(napari_preferences())


def save_settings(values: dict[str, Any]) -> Path:
    """Validate ``values`` and write them to settings.json and napari's Preferences;
    the other settings are left as they are. Returns the file path."""
    return _engine.save_settings(values, napari_preferences())


def preference_problems() -> list[str]:
    """Values typed in napari's Preferences that are not used (invalid), one line each."""
    return _engine.preference_problems(napari_preferences())


def results_dir() -> Path:
    """Where large results (zarr) and review autosaves are written."""
    return _engine.results_dir(load_settings())
