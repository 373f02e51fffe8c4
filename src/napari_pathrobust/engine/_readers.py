"""File readers behind :func:`napari_pathrobust.engine.io.open_image`.

Each reader returns a :class:`RawImage`: lazy dask levels in the file's own
dtype and axis order, plus what it learned (axes, microns per pixel, metadata).
Turning that into RGB uint8 is the job of :mod:`napari_pathrobust.engine.io`.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np

from .errors import InputError

TARGET_CHUNK = 1024
# Microns per pixel outside this range come from screen/print resolutions, not microscopes.
_MPP_PLAUSIBLE = (0.01, 50.0)
_UNIT_TO_UM = {
    "µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3,
    "cm": 1e4, "centimeter": 1e4, "m": 1e6, "meter": 1e6, "å": 1e-4, "angstrom": 1e-4,
}


@dataclass
class RawImage:
    """Lazy levels straight from a file, before conversion to RGB uint8."""

    levels: list
    axes: str | None
    mpp: float | None = None
    metadata: dict = field(default_factory=dict)
    conversions: list = field(default_factory=list)


def one_line(text: object, limit: int = 160) -> str:
    """Collapse an exception text to one short line."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def plausible_mpp(value: float | None) -> float | None:
    """Return ``value`` when it looks like a microscope pixel size, else None."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    lo, hi = _MPP_PLAUSIBLE
    return v if np.isfinite(v) and lo <= v <= hi else None


def unit_to_um(unit: str | None, default: float | None = 1.0) -> float | None:
    """Factor converting a length unit name to micrometres (None when unknown)."""
    if unit is None or unit == "":
        return default
    return _UNIT_TO_UM.get(str(unit).strip().lower())


def guess_axes(shape: tuple[int, ...]) -> str:
    """Guess axis letters (Y, X, C for channels, Q for anything else) from a shape."""
    letters = ["Q"] * len(shape)
    big = [i for i, n in enumerate(shape) if n > 1]
    if len(big) < 2:
        # Not a 2-D image; call the last two axes Y and X so the size check can complain.
        for letter, i in zip("YX", range(max(0, len(shape) - 2), len(shape))):
            letters[i] = letter
        return "".join(letters)
    dims = [shape[i] for i in big]
    small = 16
    if len(big) == 2:
        y, x = big
    elif dims[-1] <= 4 or (dims[-1] <= small < dims[-3]):
        y, x, c = big[-3:]
        letters[c] = "C"
    elif dims[-3] <= small:
        c, y, x = big[-3:]
        letters[c] = "C"
    else:
        y, x = big[-2:]
    letters[y], letters[x] = "Y", "X"
    return "".join(letters)


def chunks_for(native: tuple[int, ...], shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    """Dask chunks of about 1024x1024 pixels that are whole multiples of the file's chunks."""
    out = list(native)
    if "Y" not in axes or "X" not in axes:
        return tuple(out)
    iy, ix = axes.index("Y"), axes.index("X")
    ny, nx = native[iy], native[ix]
    if nx >= shape[ix] and ny < shape[iy]:  # strips: keep full rows, about 4 Mpx per chunk
        rows = (4 * TARGET_CHUNK * TARGET_CHUNK // max(shape[ix], 1)) // ny * ny
        out[iy] = min(shape[iy], max(ny, rows))
    else:
        for i, n in ((iy, ny), (ix, nx)):
            if n < TARGET_CHUNK:
                n = n * max(1, round(TARGET_CHUNK / n))
            out[i] = min(shape[i], n)
    for i, letter in enumerate(axes):
        if letter in "CS":
            out[i] = shape[i]
    return tuple(int(n) for n in out)


# ----------------------------------------------------------------------------- TIFF


def read_tiff(path: Path, source: str) -> RawImage:
    """Open series 0 of a TIFF/SVS/OME-TIFF lazily, one dask array per pyramid level."""
    import tifffile
    import zarr

    try:
        tif = tifffile.TiffFile(path)
        series = tif.series[0] if tif.series else None
    except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds on bad files
        raise InputError(source, f"not a readable TIFF file ({one_line(exc)})") from None
    if series is None or not series.shape:
        tif.close()
        raise InputError(source, "TIFF file contains no image")
    try:
        _check_truncated(tif, series, path, source)
        page = series.levels[0].keyframe
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
            "tiff_axes": series.axes,
            "tiff_chunks": list(page.chunks),
            "tiff_compression": str(getattr(page.compression, "name", page.compression)),
            "mpp_source": mpp_source,
        }
        return RawImage(levels, axes, mpp, meta, conversions)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(source, f"not a readable TIFF file ({one_line(exc)})") from None
    finally:
        tif.close()  # the zarr stores reopen the file on demand


def _check_truncated(tif, series, path: Path, source: str) -> None:
    size = os.path.getsize(path)
    needed = 0
    for level in series.levels:
        for page in level.pages:
            if page is None:
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
    if tif.is_ome and tif.ome_metadata:
        mpp = _ome_xml_mpp(tif.ome_metadata)
        if mpp is not None:
            return mpp, "OME-XML PhysicalSizeX"
    desc = page.description or ""
    if desc.startswith("Aperio"):
        m = re.search(r"\|\s*MPP\s*=\s*([0-9.eE+-]+)", desc)
        if m and plausible_mpp(m.group(1)):
            return float(m.group(1)), "Aperio MPP"
    tags = page.tags
    xres = tags.get("XResolution")
    if xres is None:
        return None, None
    try:
        num, den = xres.value
        ppu = num / den  # pixels per unit
    except Exception:  # noqa: BLE001
        return None, None
    if not ppu or ppu <= 0:
        return None, None
    if tif.is_imagej:
        unit = (tif.imagej_metadata or {}).get("unit")
        factor = unit_to_um(unit, default=None)
        if factor is not None and plausible_mpp(factor / ppu):
            return factor / ppu, "ImageJ resolution"
    unit_tag = tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2
    per_unit_um = {2: 25400.0, 3: 10000.0}.get(unit)
    if per_unit_um is None:
        return None, None
    mpp = plausible_mpp(per_unit_um / ppu)
    return (mpp, "TIFF XResolution") if mpp else (None, None)


def _ome_xml_mpp(xml: str) -> float | None:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels":
            size = el.get("PhysicalSizeX")
            factor = unit_to_um(el.get("PhysicalSizeXUnit"), default=1.0)
            if size is None or factor is None:
                return None
            return plausible_mpp(float(size) * factor)
    return None


# ----------------------------------------------------------------------------- Zarr

_ZARR_MARKERS = (".zgroup", ".zarray", "zarr.json")


def is_zarr_dir(path: Path) -> bool:
    """True when ``path`` is a directory holding zarr v2 or v3 metadata."""
    return any((path / m).is_file() for m in _ZARR_MARKERS)


def read_zarr(path: Path, source: str) -> RawImage:
    """Open an OME-Zarr (NGFF 0.4/0.5) or plain zarr array/group lazily."""
    import zarr

    if not is_zarr_dir(path):
        raise InputError(source, "is a directory, not a zarr store")
    try:
        node = zarr.open(store=str(path), mode="r")
        return _zarr_node(node, source, depth=0)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(source, f"not a readable zarr store ({one_line(exc)})") from None


def _zarr_node(node, source: str, depth: int) -> RawImage:
    import zarr

    if isinstance(node, zarr.Array):
        return _zarr_arrays([node], None, None, {"format": "zarr"})
    attrs = dict(node.attrs)
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else {}
    multiscales = ome.get("multiscales") or attrs.get("multiscales")
    if multiscales:
        version = ome.get("version") or multiscales[0].get("version")
        return _ome_zarr(node, multiscales[0], version, source)
    arrays = sorted(node.array_keys())
    groups = sorted(node.group_keys())
    if "0" in arrays:
        return _zarr_arrays([node["0"]], None, None, {"format": "zarr"})
    if len(arrays) == 1 and not groups:
        return _zarr_arrays([node[arrays[0]]], None, None, {"format": "zarr"})
    if "0" in groups and depth == 0:  # bioformats2raw layout: image 0 lives in group "0"
        return _zarr_node(node["0"], source, depth + 1)
    raise InputError(source, "zarr group has no OME 'multiscales' metadata and no image array '0'")


def _ome_zarr(group, ms: dict, version, source: str) -> RawImage:
    paths = [str(d["path"]) for d in ms["datasets"]]
    missing = [p for p in paths if p not in group]
    if missing:
        raise InputError(source, f"OME-Zarr dataset '{missing[0]}' is missing")
    arrays = [group[p] for p in paths]
    raw_axes = ms.get("axes")
    axes = None
    units: list = []
    if raw_axes:
        names = [a["name"] if isinstance(a, dict) else str(a) for a in raw_axes]
        units = [a.get("unit") if isinstance(a, dict) else None for a in raw_axes]
        letters = {"y": "Y", "x": "X", "c": "C", "channel": "C"}
        axes = "".join(letters.get(n.lower(), "Q") for n in names)
        if len(axes) != arrays[0].ndim or axes.count("Y") != 1 or axes.count("X") != 1:
            axes = None
    mpp = None
    if axes is not None:
        scale = np.ones(len(axes))
        for t in ms["datasets"][0].get("coordinateTransformations", []) + ms.get(
            "coordinateTransformations", []
        ):
            if t.get("type") == "scale" and len(t.get("scale", [])) == len(axes):
                scale = scale * np.asarray(t["scale"], dtype=float)
        iy = axes.index("Y")
        factor = unit_to_um(units[iy], default=None) if units else None
        if factor is not None:
            mpp = plausible_mpp(scale[iy] * factor)
    meta = {"format": "ome-zarr", "ngff_version": str(version) if version else None,
            "zarr_datasets": paths}
    return _zarr_arrays(arrays, axes, mpp, meta)


def _zarr_arrays(arrays, axes, mpp, meta) -> RawImage:
    shape0 = tuple(arrays[0].shape)
    if axes is None:
        axes = guess_axes(shape0)
    levels = []
    for arr in arrays:
        shape, native = tuple(arr.shape), tuple(arr.chunks)
        chunks = native if native == shape else chunks_for(native, shape, axes)
        levels.append(da.from_zarr(arr, chunks=chunks))
    meta = dict(meta, zarr_chunks=list(arrays[0].chunks))
    return RawImage(levels, axes, mpp, meta, [])


# ----------------------------------------------------------------------------- PNG / JPEG


def read_pillow(path: Path, source: str, kind: str) -> RawImage:
    """Read a PNG/JPEG fully with Pillow (these are small) and wrap it with dask."""
    from PIL import Image, ImageOps

    label = kind.upper()
    conversions: list[str] = []
    try:
        with Image.open(path) as img:
            img.load()
            fmt = img.format
            info = dict(img.info)
            if img.getexif().get(0x0112, 1) not in (0, 1):  # EXIF Orientation tag
                img = ImageOps.exif_transpose(img)
                conversions.append("applied EXIF orientation")
            mode = img.mode
            if mode in ("P", "PA"):
                img = img.convert("RGBA" if mode == "PA" or "transparency" in info else "RGB")
                conversions.append("applied palette colormap")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                img = img.convert("RGB")
                conversions.append(f"converted {mode} to RGB")
            array = np.array(img)
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ...
        raise InputError(source, f"not a readable {label} file ({one_line(exc)})") from None
    mpp = None
    dpi = info.get("dpi")
    if dpi:
        try:
            mpp = plausible_mpp(25400.0 / float(dpi[0])) if float(dpi[0]) > 0 else None
        except (TypeError, ValueError, IndexError):
            mpp = None
    axes = guess_axes(array.shape)
    chunks = chunks_for(array.shape, array.shape, axes)
    chunks = tuple(TARGET_CHUNK if a in "YX" else c for a, c in zip(axes, chunks))
    meta = {"format": (fmt or kind).lower(), "pil_mode": mode}
    return RawImage([da.from_array(array, chunks=chunks)], axes, mpp, meta, conversions)
