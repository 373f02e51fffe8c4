"""napari reader: slides opened lazily as multiscale RGB images."""

from __future__ import annotations

from pathlib import Path


def get_reader(path):
    """Return a reader function for slide files this plugin opens, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    name = str(path).lower().rstrip("/")
    if not name.endswith((".svs", ".tif", ".tiff", ".zarr")):
        return None
    if name.endswith(".zarr") and not Path(path).is_dir():
        return None
    return read_slide


def read_slide(path):
    """Open one slide as layer data: a pyramid when it has several levels."""
    from .engine.io import open_image

    if isinstance(path, list):
        path = path[0]
    slide = open_image(path)
    levels = slide.levels
    kwargs = {"name": slide.name, "rgb": True, "metadata": {"mpp": slide.mpp, "path": str(path),
                                                            **slide.metadata}}
    if slide.mpp:
        kwargs.update(scale=(slide.mpp, slide.mpp), units=("um", "um"))
    if len(levels) > 1:
        return [(levels, dict(kwargs, multiscale=True), "image")]
    return [(levels[0], kwargs, "image")]
