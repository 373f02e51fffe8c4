"""Plain, pyramidal and OME TIFF files (and vendor TIFFs OpenSlide cannot open): series 0
opened lazily, one dask array per level."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import InputError
from .raw import (
    TARGET_CHUNK,
    RawImage,
    chunks_for,
    mpp_from_density,
    one_line,
    plausible_mpp,
    unit_to_um,
)

_LOG_LOCK = threading.RLock()


def read_tiff(path: Path, source: str) -> RawImage:
    """Open series 0 of a TIFF/SVS/OME-TIFF lazily, one dask array per pyramid level."""
    import tifffile
    import zarr

    with tifffile_warnings() as warnings:
        try:
            tif = tifffile.TiffFile(path)
            series = tif.series[0] if tif.series else None
        except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds on bad files
            _raise_if_cut(path, source, warnings)
            raise InputError(source, f"not a readable TIFF file ({one_line(exc)})") from None
    if series is None or not series.shape:
        tif.close()
        _raise_if_cut(path, source, warnings)
        raise InputError(source, "TIFF file contains no image")
    try:
        _check_truncated(tif, series, path, source)
        page = series.levels[0].keyframe
        if page.compression not in tifffile.TIFF.DECOMPRESSORS:
            raise InputError(source, f"uses TIFF compression {int(page.compression)}, which "
                                     f"no installed decoder reads")
        photometric = int(page.photometric)
        if photometric == 5:  # SEPARATED (CMYK)
            raise InputError(source, "CMYK (separated) TIFF is not supported; save it as RGB")
        axes = series.axes
        levels = []
        for i, level in enumerate(series.levels):
            levels.append(_tiff_level(path, series, i, level, axes, zarr, tifffile))
        conversions: list[str] = []
        if photometric == 3 and page.colormap is not None:  # PALETTE
            levels = [_apply_palette(lv, page.colormap) for lv in levels]
            axes = axes + "S"
            conversions.append("applied TIFF palette colormap")
        elif photometric == 0 and np.dtype(series.dtype).kind in "bui":  # MINISWHITE
            levels = [_invert(lv) for lv in levels]
            conversions.append("inverted min-is-white grayscale")
        kind = "svs" if tif.is_svs else "ome-tiff" if tif.is_ome else "tiff"
        mpp, mpp_source = _tiff_mpp(tif, page)
        meta = {
            "format": kind,
            "backend": "tifffile",
            "tiff_axes": series.axes,
            "tiff_chunks": list(page.chunks),
            "tiff_compression": str(getattr(page.compression, "name", page.compression)),
            ("mpp_source" if mpp is not None else "mpp_note"): mpp_source,
        }
        return RawImage(levels, axes, mpp, meta, conversions)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(source, f"not a readable TIFF file ({one_line(exc)})") from None
    finally:
        tif.close()  # the zarr stores reopen the file on demand


@contextlib.contextmanager
def tifffile_warnings():
    """Collect tifffile's logged warnings (bad offsets, ...) instead of printing them."""
    log = logging.getLogger("tifffile")
    found: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            found.append(record.getMessage())

    with _LOG_LOCK:
        handler, propagate = _Keep(logging.WARNING), log.propagate
        log.addHandler(handler)
        log.propagate = False
        try:
            yield found
        finally:
            log.removeHandler(handler)
            log.propagate = propagate


def _raise_if_cut(path: Path, source: str, warnings: list) -> None:
    """A truncated-file error when tifffile met an image directory beyond the file's end."""
    if any("offset" in w for w in warnings):
        raise InputError(source, f"file is truncated or damaged: an image directory lies "
                                 f"beyond its end ({os.path.getsize(path)} bytes)")


def check_tiff_complete(path: Path, source: str) -> None:
    """Raise InputError when any image directory or tile of a TIFF-based file (vendor
    slides included) lies beyond the end of the file. Reads directories, not pixels."""
    import tifffile

    with tifffile_warnings() as warnings:
        try:
            with tifffile.TiffFile(path) as tif:
                pages = list(tif.pages)
                _raise_if_cut(path, source, warnings)
                _check_pages(pages, path, source)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001
            _raise_if_cut(path, source, warnings)
            raise InputError(source, f"not a readable TIFF file ({one_line(exc)})") from None


def _check_truncated(tif, series, path: Path, source: str) -> None:
    _check_pages([p for level in series.levels for p in level.pages], path, source)


def _check_pages(pages, path: Path, source: str) -> None:
    size = os.path.getsize(path)
    needed = 0
    for page in pages:
        if page is None or not hasattr(page, "dataoffsets"):
            continue
        offsets, counts = page.dataoffsets, page.databytecounts
        ends = [o + c for o, c in zip(offsets, counts) if c > 0]
        if ends:
            needed = max(needed, max(ends))
    if needed > size:
        raise InputError(
            source, f"file is truncated: expected at least {needed} bytes, found {size}"
        )


def _tiff_level(path, series, index, level, axes, zarr, tifffile):
    store = series.aszarr(level=index)
    arr = zarr.open(store, mode="r")
    shape = tuple(arr.shape)
    native = tuple(arr.chunks)
    if native == shape and max(shape) > TARGET_CHUNK:
        # One contiguous block (uncompressed, untiled): memory-map instead of reading it whole.
        try:
            mm = tifffile.memmap(path, series=0, level=index, mode="r")
            if tuple(mm.shape) == shape:
                return da.from_array(mm, chunks=chunks_for((1,) * len(shape), shape, axes))
        except Exception:  # noqa: BLE001 - not memory-mappable; fall back to zarr
            pass
    return da.from_zarr(arr, chunks=chunks_for(native, shape, axes))


def _apply_palette(level, colormap: np.ndarray):
    cmap = np.asarray(colormap)
    if cmap.max() > 255:
        cmap = np.rint(cmap / 257.0)
    lut = np.ascontiguousarray(cmap.T).astype(np.uint8)  # (n, 3)
    return level.map_blocks(
        lambda b: lut[np.clip(b, 0, len(lut) - 1)],
        dtype=np.uint8,
        chunks=level.chunks + ((3,),),
        new_axis=level.ndim,
    )


def _invert(level):
    if level.dtype == bool:
        return ~level
    return np.iinfo(level.dtype).max - level


def _tiff_mpp(tif, page) -> tuple[float | None, str | None]:
    """(microns per pixel, source) in order: OME-XML PhysicalSizeX/Y, Aperio MPP,
    ImageJ calibration, TIFF X/YResolution with ResolutionUnit. Unknown: (None, why)."""
    notes = []
    if tif.is_ome and tif.ome_metadata:
        mpp, note = _ome_xml_mpp(tif.ome_metadata)
        if mpp is not None:
            return mpp, note
        notes.append(note)
    desc = page.description or ""
    if desc.startswith("Aperio"):
        m = re.search(r"\|\s*MPP\s*=\s*([0-9.eE+-]+)", desc)
        if m:
            if plausible_mpp(m.group(1)):
                return float(m.group(1)), "Aperio MPP"
            notes.append(f"Aperio MPP {m.group(1)} is implausible")
    tags = page.tags
    xres, yres = tags.get("XResolution"), tags.get("YResolution")
    if xres is None:
        return None, "; ".join(notes + ["no resolution tags"])
    try:
        ppu = [num / den for num, den in (t.value for t in (xres, yres or xres))]
    except Exception:  # noqa: BLE001
        return None, "; ".join(notes + ["unreadable resolution tags"])
    if tif.is_imagej:
        unit = (tif.imagej_metadata or {}).get("unit")
        factor = unit_to_um(unit, default=None)
        if factor is not None:
            mpp, note = _pair(ppu, factor, "ImageJ calibration")
            if mpp is not None:
                return mpp, note
            notes.append(note)
    unit_tag = tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2
    per_unit_um = {2: 25400.0, 3: 10000.0}.get(unit)
    if per_unit_um is None:
        return None, "; ".join(notes + ["TIFF resolution without a unit"])
    name = "TIFF X/YResolution (" + ("inch" if unit == 2 else "cm") + ")"
    mpp, note = _pair(ppu, per_unit_um, name)
    return (mpp, note) if mpp is not None else (None, "; ".join(notes + [note]))


def _pair(ppu: list, um_per_unit: float, source: str) -> tuple[float | None, str]:
    """Mean of the X and Y pixel sizes from densities (both must be usable)."""
    (mx, note), (my, note_y) = (mpp_from_density(v, um_per_unit, source) for v in ppu)
    if mx is None or my is None:
        return None, note if mx is None else note_y
    return (mx + my) / 2, source


def _ome_xml_mpp(xml: str) -> tuple[float | None, str]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None, "unreadable OME-XML"
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels":
            sizes = []
            for axis in "XY":
                size = el.get(f"PhysicalSize{axis}")
                factor = unit_to_um(el.get(f"PhysicalSize{axis}Unit"), default=1.0)
                if size is None:
                    continue
                if factor is None:
                    return None, f"OME PhysicalSize{axis}Unit unknown"
                try:
                    value = float(size) * factor
                except ValueError:
                    return None, f"OME PhysicalSize{axis} unreadable"
                if plausible_mpp(value) is None:
                    return None, f"OME PhysicalSize{axis} {value:.4g} um is implausible"
                sizes.append(value)
            if not sizes:
                return None, "no OME PhysicalSizeX/Y"
            return float(np.mean(sizes)), "OME PhysicalSizeX/Y"
    return None, "no OME Pixels element"
