"""File-format readers behind :func:`napari_pathrobust.engine.io.open_image`.

Each reader returns a :class:`RawImage`: lazy dask levels in the file's own dtype and
axis order, plus what it learned (axes, microns per pixel, metadata). Turning that into
RGB uint8 is the job of :mod:`napari_pathrobust.engine.io`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .png_jpeg import read_pillow
from .raw import (
    TARGET_CHUNK,
    RawImage,
    chunks_for,
    guess_axes,
    one_line,
    plausible_mpp,
    unit_to_um,
)
from .tiff import read_tiff
from .zarr_dirs import is_zarr_dir, read_zarr

__all__ = ["RawImage", "TARGET_CHUNK", "MULTI_SUFFIXES", "read_file", "read_tiff",
           "read_zarr", "read_pillow", "is_zarr_dir", "guess_axes", "chunks_for", "one_line",
           "plausible_mpp", "unit_to_um"]

_TIFF_EXTS = (".tif", ".tiff", ".svs", ".btf", ".tf8", ".ndpi", ".scn", ".qptiff")
MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.btf", ".ome.zarr")
_MAGIC = {
    b"II*\x00": "tiff", b"MM\x00*": "tiff", b"II+\x00": "tiff", b"MM\x00+": "tiff",
    b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg",
}


def _extension(p: Path) -> str:
    low = p.name.lower()
    for suffix in MULTI_SUFFIXES:
        if low.endswith(suffix):
            return suffix
    return p.suffix.lower()


def read_file(p: Path, source: str) -> RawImage:
    """Open an image file (not a folder) by its magic bytes; one clear error otherwise."""
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(source, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(source, "file is empty (0 bytes)")
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    ext = _extension(p)
    if kind == "tiff":
        return read_tiff(p, source)
    if kind in ("png", "jpeg"):
        return read_pillow(p, source, kind)
    if ext in _TIFF_EXTS or ext.startswith(".ome.t"):
        raise InputError(source, "not a readable TIFF file")
    if ext == ".png":
        raise InputError(source, "not a readable PNG file")
    if ext in (".jpg", ".jpeg"):
        raise InputError(source, "not a readable JPEG file")
    if ext.endswith(".zarr"):
        raise InputError(source, "is a file, not a zarr directory")
    what = f"'{ext}'" if ext else "without extension"
    raise InputError(
        source,
        f"unsupported file type {what}; expected TIFF/SVS/OME-TIFF, OME-Zarr, PNG or JPEG",
    )
