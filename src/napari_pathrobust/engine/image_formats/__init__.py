"""File-format readers behind :func:`napari_pathrobust.engine.io.open_image`.

Which reader opens a file: vendor slides that OpenSlide recognises (Aperio, Hamamatsu,
MIRAX, Leica, Ventana, Philips, Sakura, Trestle, DICOM WSI) go to
:mod:`.openslide_files`; plain, pyramidal and OME TIFF to :mod:`.tiff` (tifffile); Zeiss
CZI to :mod:`.czi` (pylibCZIrw); zarr folders to :mod:`.zarr_dirs`; PNG/JPEG to Pillow.
Each reader returns a :class:`RawImage`: lazy dask levels in the file's own dtype and
axis order, plus what it learned (axes, microns per pixel, metadata). Turning that into
RGB uint8 is the job of :mod:`napari_pathrobust.engine.io`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .czi import read_czi
from .openslide_files import (
    OPENSLIDE_SUFFIXES,
    VENDOR_FORMATS,
    detect_vendor,
    dicom_files,
    read_associated_image,
    read_dicom_folder,
    read_openslide,
)
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
from .tiff import check_tiff_complete, read_tiff
from .zarr_dirs import is_zarr_dir, read_zarr

__all__ = ["RawImage", "TARGET_CHUNK", "MULTI_SUFFIXES", "SLIDE_SUFFIXES", "read_file",
           "read_folder", "read_tiff", "read_zarr", "read_pillow", "read_openslide",
           "read_czi", "read_associated_image", "is_zarr_dir", "guess_axes", "chunks_for",
           "one_line", "plausible_mpp", "unit_to_um"]

_TIFF_EXTS = (".tif", ".tiff", ".svs", ".btf", ".tf8", ".ndpi", ".scn", ".qptiff", ".bif",
              ".svslide")
MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.btf", ".ome.zarr")
#: every slide file extension open_image takes (besides .png/.jpg and zarr folders)
SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".bif",
                  ".svslide", ".dcm", ".czi")
_MAGIC = {
    b"II*\x00": "tiff", b"MM\x00*": "tiff", b"II+\x00": "tiff", b"MM\x00+": "tiff",
    b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"ZISRAWFILE": "czi",
}
_EXPECTED = ("expected a slide (SVS, NDPI, VMS, MRXS, SCN, BIF, SVSLIDE, Philips TIFF, "
             "DICOM, CZI), TIFF/OME-TIFF, OME-Zarr, PNG or JPEG")


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
            head = fh.read(132)
    except OSError as exc:
        raise InputError(source, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(source, "file is empty (0 bytes)")
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if head[128:132] == b"DICM":
        kind = "dicom"
    ext = _extension(p)
    if kind == "tiff":
        return _read_tiff_based(p, source, ext)
    if kind in ("png", "jpeg"):
        return read_pillow(p, source, kind)
    if kind == "dicom" or ext == ".dcm":
        return read_openslide(p, source, "dicom")
    if kind == "czi" or ext == ".czi":
        return read_czi(p, source)
    if ext in (".mrxs", ".vms", ".vmu"):
        return read_openslide(p, source)
    if ext in _TIFF_EXTS or ext.startswith(".ome.t"):
        raise InputError(source, "not a readable TIFF file")
    if ext == ".png":
        raise InputError(source, "not a readable PNG file")
    if ext in (".jpg", ".jpeg"):
        raise InputError(source, "not a readable JPEG file")
    if ext.endswith(".zarr"):
        raise InputError(source, "is a file, not a zarr directory")
    vendor = detect_vendor(p)
    if vendor in VENDOR_FORMATS:
        return read_openslide(p, source, vendor)
    what = f"'{ext}'" if ext else "without extension"
    raise InputError(source, f"unsupported file type {what}; {_EXPECTED}")


def _read_tiff_based(p: Path, source: str, ext: str) -> RawImage:
    """Vendor TIFFs through OpenSlide (tifffile when OpenSlide cannot open them),
    everything else (plain, pyramidal, OME) through tifffile."""
    vendor = detect_vendor(p)
    if vendor in VENDOR_FORMATS or ext in OPENSLIDE_SUFFIXES:
        check_tiff_complete(p, source)  # a cut vendor file: say so, before OpenSlide does not
    if vendor not in VENDOR_FORMATS:
        return read_tiff(p, source)
    try:
        return read_openslide(p, source, vendor)
    except InputError as exc:
        refused = exc
    try:
        raw = read_tiff(p, source)
    except InputError:
        raise refused from None
    raw.metadata["openslide_refused"] = refused.problem
    return raw


def read_folder(p: Path, source: str) -> RawImage:
    """Open a folder: a zarr / OME-Zarr store or a DICOM WSI series."""
    if is_zarr_dir(p):
        return read_zarr(p, source)
    if dicom_files(p):
        return read_dicom_folder(p, source)
    raise InputError(source, "is a directory, not a zarr store or a DICOM WSI folder")
