"""Vendor whole-slide files through OpenSlide (openslide-python with the openslide-bin
wheels): Aperio, Hamamatsu, 3DHistech MIRAX, Leica, Ventana, Philips, Sakura, Trestle
and DICOM WSI.

Each pyramid level is a lazy dask array whose blocks call ``read_region``; nothing is
read at open time. OpenSlide handles are thread-safe (every call but ``close``), so one
handle per file and process serves all tile threads; the arrays pickle as (path, level)
and reopen the file in the process that reads them (dask.distributed workers).
OpenSlide returns RGBA; transparent pixels (outside the scanned area) become white.
Associated images (label, macro, thumbnail) stay out of the levels: see
:func:`read_associated_image`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import InputError
from .raw import TARGET_CHUNK, RawImage, one_line, plausible_mpp, read_window

#: OpenSlide vendor -> the ``format`` recorded in a slide's metadata
VENDOR_FORMATS = {
    "aperio": "svs", "hamamatsu": "hamamatsu", "leica": "scn", "mirax": "mrxs",
    "philips": "philips-tiff", "sakura": "svslide", "trestle": "trestle-tiff",
    "ventana": "bif", "dicom": "dicom",
}
#: extensions only OpenSlide reads here (TIFF-based ones too: they need its vendor logic)
OPENSLIDE_SUFFIXES = (".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".bif", ".svslide", ".dcm")
#: containers that are not TIFF (no directory check): the last pixel of each level is
#: read at open, which fails on a truncated file
_NOT_TIFF = (".dcm", ".mrxs", ".vms", ".vmu")
_INSTALL = "pip install openslide-python openslide-bin"
_MAX_HANDLES = 16
_handles: OrderedDict = OrderedDict()
_handles_lock = threading.Lock()


def _openslide():
    try:
        import openslide
    except ImportError:  # openslide-bin missing: openslide-python raises ImportError
        return None
    return openslide


def detect_vendor(path: Path) -> str | None:
    """OpenSlide's vendor name for ``path`` ("aperio", "dicom", "generic-tiff", ...) or None."""
    openslide = _openslide()
    if openslide is None:
        return None
    try:
        return openslide.OpenSlide.detect_format(str(path))
    except Exception:  # noqa: BLE001 - unreadable: let the caller explain
        return None


def _handle(path: str):
    """The process-wide OpenSlide handle for ``path`` (reopened when the file changed)."""
    import os

    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    with _handles_lock:
        osr = _handles.get(key)
        if osr is not None:
            _handles.move_to_end(key)
            return osr
    osr = _openslide().OpenSlide(path)
    with _handles_lock:
        osr = _handles.setdefault(key, osr)
        while len(_handles) > _MAX_HANDLES:  # dropped, not closed: readers may hold it
            _handles.popitem(last=False)
    return osr


def forget(path: str) -> None:
    """Drop the cached handles of ``path`` (after an error, which OpenSlide latches)."""
    with _handles_lock:
        for key in [k for k in _handles if k[0] == path]:
            del _handles[key]


def _reason(exc: Exception) -> str:
    text = one_line(exc)
    if "end of file" in text.lower():
        return f"file is truncated ({text})"
    return text


def rgba_to_rgb(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA (as openslide-python returns it) composited onto white."""
    alpha = rgba[..., 3:4]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    a = alpha.astype(np.uint32)
    out = (rgba[..., :3].astype(np.uint32) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


class _Level:
    """One pyramid level as a read-only array (Y, X, 3) uint8 for ``da.from_array``."""

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, path: str, level: int, shape: tuple, downsample: float, source: str):
        self.path, self.level, self.source = path, level, source
        self.shape = (int(shape[0]), int(shape[1]), 3)
        self.downsample = float(downsample)

    def __getitem__(self, key) -> np.ndarray:
        return read_window(self, key)

    def read(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Pixels [y:y+h, x:x+w] of this level as RGB uint8.

        OpenSlide takes the origin in level-0 pixels; with a fractional downsample that
        origin falls between level pixels and OpenSlide interpolates, so such levels are
        read in whole aligned blocks: a pixel's value never depends on the window."""
        if self.downsample == int(self.downsample):
            return self._region(x, y, w, h)
        out = np.empty((h, w, 3), np.uint8)
        b = TARGET_CHUNK
        for by in range(y // b * b, y + h, b):
            for bx in range(x // b * b, x + w, b):
                bh, bw = min(b, self.shape[0] - by), min(b, self.shape[1] - bx)
                block = self._region(bx, by, bw, bh)
                ys, xs = max(y, by), max(x, bx)
                ye, xe = min(y + h, by + bh), min(x + w, bx + bw)
                out[ys - y:ye - y, xs - x:xe - x] = block[ys - by:ye - by, xs - bx:xe - bx]
        return out

    def _region(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        openslide = _openslide()
        origin = (int(round(x * self.downsample)), int(round(y * self.downsample)))
        try:
            region = _handle(self.path).read_region(origin, self.level, (w, h))
        except openslide.OpenSlideError as exc:
            forget(self.path)  # OpenSlide errors latch: a later open tries afresh
            raise InputError(self.source, f"cannot read level {self.level} at ({x}, {y}): "
                                          f"{_reason(exc)}") from None
        return rgba_to_rgb(np.asarray(region))

    def __reduce__(self):
        return (_Level, (self.path, self.level, self.shape[:2], self.downsample, self.source))


def read_openslide(path: Path, source: str, vendor: str | None = None) -> RawImage:
    """Open a vendor slide lazily with OpenSlide: one dask array per pyramid level."""
    openslide = _openslide()
    if openslide is None:
        raise InputError(source, f"reading this slide needs OpenSlide: {_INSTALL}")
    if path.suffix.lower() == ".mrxs":
        _check_mirax(path, source)
    try:
        osr = _handle(str(path))
        props = dict(osr.properties)
        shapes = [(h, w) for w, h in osr.level_dimensions]
        downsamples = [float(d) for d in osr.level_downsamples]
    except openslide.OpenSlideUnsupportedFormatError:
        raise InputError(source, "not a slide OpenSlide can read (unsupported or damaged "
                                 "file)") from None
    except openslide.OpenSlideError as exc:
        forget(str(path))
        raise InputError(source, f"OpenSlide cannot open it ({_reason(exc)})") from None
    vendor = vendor or props.get("openslide.vendor") or "unknown"
    arrays = [_Level(str(path), i, shape, ds, source)
              for i, (shape, ds) in enumerate(zip(shapes, downsamples)) if min(shape) >= 1]
    if not arrays:
        raise InputError(source, "OpenSlide found no pyramid level in it")
    if vendor == "dicom" or path.suffix.lower() in _NOT_TIFF:
        for arr in arrays:  # their pixel data ends each file: a cut file fails here
            arr.read(arr.shape[1] - 1, arr.shape[0] - 1, 1, 1)
    levels = [da.from_array(arr, chunks=(TARGET_CHUNK, TARGET_CHUNK, 3),
                            meta=np.empty((0, 0, 0), np.uint8), name=_name(path, arr.level))
              for arr in arrays]
    mpp, note = slide_mpp(props)
    meta = {
        "format": VENDOR_FORMATS.get(vendor, vendor), "backend": "openslide",
        "vendor": vendor, "openslide_version": getattr(openslide, "__library_version__", ""),
        "level_downsamples": downsamples[:len(levels)],
        "associated_images": _associated_sizes(props),
        "objective_power": props.get("openslide.objective-power"),
        "bounds": _bounds(props),
        ("mpp_source" if mpp is not None else "mpp_note"): note,
    }
    return RawImage(levels, "YXS", mpp, meta, [])


def _name(path: Path, level: int) -> str:
    from dask.base import tokenize

    stat = path.stat()
    return f"openslide-{tokenize(str(path.resolve()), stat.st_mtime_ns, stat.st_size)}-{level}"


def _bounds(props: dict) -> list | None:
    """[x, y, width, height] of the scanned area in level-0 pixels, when OpenSlide says."""
    try:
        return [int(props[f"openslide.bounds-{k}"]) for k in ("x", "y", "width", "height")]
    except (KeyError, ValueError):
        return None


def _associated_sizes(props: dict) -> dict:
    """Associated image name -> [width, height], from properties (nothing decoded)."""
    out = {}
    for key, value in props.items():
        parts = key.split(".")
        if len(parts) == 4 and parts[:2] == ["openslide", "associated"] and \
                parts[3] == "width":
            height = props.get(f"openslide.associated.{parts[2]}.height")
            if height:
                out[parts[2]] = [int(value), int(height)]
    return out


def slide_mpp(props: dict) -> tuple[float | None, str]:
    """(microns per pixel, source) from OpenSlide properties: mpp-x/y, else the objective
    power (10 / power um/px, the usual scanner optics, said in the source); else (None, why)."""
    xs, ys = props.get("openslide.mpp-x"), props.get("openslide.mpp-y")
    mx, my = plausible_mpp(xs), plausible_mpp(ys if ys is not None else xs)
    if mx is not None and my is not None:
        return (mx + my) / 2, "OpenSlide mpp-x/y"
    why = (f"OpenSlide mpp-x {xs} is implausible" if xs is not None
           else "no OpenSlide mpp-x/y")
    power = props.get("openslide.objective-power")
    try:
        p = float(power) if power is not None else float("nan")
    except ValueError:
        p = float("nan")
    guess = plausible_mpp(10.0 / p) if np.isfinite(p) and p > 0 else None
    if guess is not None:
        return guess, f"objective power {p:g}x (assumed {guess:g} um/px; {why})"
    return None, f"{why} and no objective power"


def read_associated_image(path, name: str) -> np.ndarray:
    """An associated image ("label", "macro", "thumbnail") of a vendor slide as RGB uint8.

    Never part of a slide's levels, so analysis never sees it."""
    p = Path(path)
    source = p.name
    openslide = _openslide()
    if openslide is None:
        raise InputError(source, f"reading associated images needs OpenSlide: {_INSTALL}")
    if p.is_dir():
        p = dicom_member(p, source)
    try:
        osr = _handle(str(p))
        names = list(osr.associated_images)
        if name not in names:
            have = ", ".join(names) or "none"
            raise InputError(source, f"has no associated image '{name}' (it has: {have})")
        return rgba_to_rgb(np.asarray(osr.associated_images[name]))
    except openslide.OpenSlideError as exc:
        raise InputError(source, f"cannot read associated image '{name}' "
                                 f"({one_line(exc)})") from None


def dicom_files(folder: Path) -> list[Path]:
    """The DICOM files of a folder: ``*.dcm`` or files with the DICM preamble."""
    found = []
    for f in sorted(folder.iterdir()):
        if not f.is_file():
            continue
        if f.suffix.lower() == ".dcm":
            found.append(f)
            continue
        try:
            with open(f, "rb") as fh:
                head = fh.read(132)
        except OSError:
            continue
        if head[128:132] == b"DICM":
            found.append(f)
    return found


def dicom_member(folder: Path, source: str) -> Path:
    """The first file of ``folder`` OpenSlide opens as a DICOM WSI (it finds the rest of
    the series itself)."""
    files = dicom_files(folder)
    if not files:
        raise InputError(source, "is a directory with no DICOM files and no zarr store")
    first_error = None
    for f in files:
        try:
            _handle(str(f))
            return f
        except Exception as exc:  # noqa: BLE001 - try the next file of the series
            first_error = first_error or exc
    raise InputError(source, f"no DICOM WSI in this folder OpenSlide can open "
                             f"({one_line(first_error)})")


def read_dicom_folder(folder: Path, source: str) -> RawImage:
    """A folder holding one DICOM WSI series (any member file opens the whole pyramid)."""
    raw = read_openslide(dicom_member(folder, source), source, "dicom")
    raw.metadata["dicom_folder"] = True
    return raw


def _check_mirax(path: Path, source: str) -> None:
    """A MIRAX slide is ``X.mrxs`` plus a folder ``X/`` with Slidedat.ini and data files."""
    folder = path.with_suffix("")
    if not folder.is_dir():
        raise InputError(source, f"MIRAX data folder '{folder.name}/' is missing (it must "
                                 f"sit beside the .mrxs file, with Slidedat.ini inside)")
    if not (folder / "Slidedat.ini").is_file():
        raise InputError(source, f"MIRAX data folder '{folder.name}/' has no Slidedat.ini")
