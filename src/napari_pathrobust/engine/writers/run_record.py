"""The run sidecar JSON (``<stem>_run.json``): every parameter, the seed, the versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ._atomic import atomic_path, dumps

__all__ = ["write_run_json", "package_versions"]


def package_versions() -> dict[str, str]:
    """Versions of Python and the main libraries (those importable)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("napari-pathrobust", "numpy", "scipy", "scikit-image", "zarr", "tifffile",
                 "shapely", "torch", "napari"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_run_json(path: os.PathLike | str, info: dict) -> Path:
    """Write the run sidecar JSON atomically (adds ``versions`` when ``info`` has none)."""
    data = dict(info)
    data.setdefault("versions", package_versions())
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(dumps(data, indent=2) + "\n")
    return Path(path)
