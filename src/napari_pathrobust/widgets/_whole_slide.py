"""Recognise's whole-slide run: what to read, where to write, what to tell (main thread).

A "whole image" run on an image above ``LARGE_PIXELS`` goes through
``engine.jobs.whole_slide``: the slide is read from its file when the layer was opened
from one (its own pyramid and pixel size), else from the layer's pyramid levels; the
results (labels as an OME-Zarr pyramid, points CSV, GeoJSON, overlay, run JSON) go to
``<results folder>/<image>_slide/``, and the result comes back as a lazy multiscale
Labels layer.
"""

from pathlib import Path
from typing import Any, Optional

from ..engine.api import safe_name
from ._settings import results_dir


def whole_slide_folder(layer) -> Path:
    """Where a whole-slide run of image layer ``layer`` writes its results."""
    return results_dir() / f"{safe_name(layer.name)}_slide"


def source_file(layer) -> Optional[Path]:
    """The slide file ``layer`` was opened from (``metadata["path"]``, as this plugin's
    reader sets it), or None when it has none or it is gone."""
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    path = meta.get("path")
    if not path or not Path(path).exists():
        return None
    return Path(path)


def whole_slide_source(layer, mpp_field: float) -> tuple[Any, Optional[float]]:
    """``(source, mpp)`` for ``engine.jobs.whole_slide``: the layer's file, with the
    field's pixel size only when the user changed it from the file's; else the layer's
    pyramid levels (a list, never one level read whole) with the field's pixel size."""
    path = source_file(layer)
    mpp = float(mpp_field) or None
    if path is not None:
        meta = layer.metadata if isinstance(layer.metadata, dict) else {}
        stored = float(meta.get("mpp") or 0.0)
        if mpp is not None and stored and abs(mpp - stored) < 5e-5:
            mpp = None  # the file's own (unrounded) pixel size
        return str(path), mpp
    return (list(layer.data) if layer.multiscale else layer.data), mpp


def pixel_size_refusal(layer, mpp_field: float) -> str:
    """Why a whole-slide run of ``layer`` is not started (no pixel size in its file or
    metadata and none typed in), or ''."""
    meta = layer.metadata if isinstance(layer.metadata, dict) else {}
    if float(mpp_field) or meta.get("mpp"):
        return ""
    where = Path(meta["path"]).name if meta.get("path") else layer.name
    return (f"not run: {where}: no pixel size in the file; type it into 'um per pixel' "
            f"to recognise the whole slide")


def done_message(result) -> str:
    """The status line's end of a whole-slide run: where its files are."""
    folder = (result.metadata or {}).get("results_folder")
    return f"; files in {folder}" if folder else ""
