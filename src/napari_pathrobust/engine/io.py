"""Lazy image input: vendor slides (OpenSlide), CZI, TIFF/OME-TIFF, OME-Zarr/zarr,
DICOM WSI folders, PNG/JPEG and in-memory arrays.

Everything becomes a :class:`Slide`: a pyramid of lazy dask arrays, each
(Y, X, 3) RGB uint8, level 0 at full resolution. Large files are never read
whole at open time; pixels are read when a dask array is computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np

from .errors import InputError
from .image_formats import (
    MULTI_SUFFIXES,
    TARGET_CHUNK,
    RawImage,
    guess_axes,
    one_line,
    read_file,
    read_folder,
)

__all__ = ["Slide", "open_image", "slide_from_array", "to_rgb_uint8", "check_mpp",
           "with_pixel_size"]

MIN_SIDE = 16
_STATS_MAX_PIXELS = 4096 * 4096


@dataclass
class Slide:
    """A lazily opened RGB image pyramid (level 0 = full resolution)."""

    levels: list  # list[dask.array.Array], each (Y, X, 3) uint8
    name: str
    path: Path | None = None
    mpp: float | None = None  # microns per pixel of level 0 (None: unknown)
    metadata: dict = field(default_factory=dict)
    mpp_source: str | None = None  # where ``mpp`` came from (file tag, "user", ...)

    @property
    def shape(self) -> tuple[int, int]:
        """(Y, X) of level 0."""
        return (int(self.levels[0].shape[0]), int(self.levels[0].shape[1]))

    @property
    def data(self) -> da.Array:
        """Level 0 (full resolution)."""
        return self.levels[0]


# ----------------------------------------------------------------------------- public API


def open_image(path: str | os.PathLike, mpp: float | None = None) -> Slide:
    """Open a slide or image file lazily as an RGB uint8 :class:`Slide`.

    Supports the vendor slides OpenSlide reads (SVS, NDPI, VMS, MRXS, SCN, BIF, SVSLIDE,
    Philips TIFF, DICOM WSI: one .dcm or its folder), Zeiss CZI, plain/pyramidal/OME
    TIFF, OME-Zarr / plain zarr directories, PNG and JPEG. Raises :class:`InputError`
    (one line naming the file) for anything that cannot be used. The pixel size comes
    from the file (OpenSlide mpp, else objective power; OME PhysicalSizeX/Y, TIFF
    resolution tags with their unit, CZI scaling; screen dpi and implausible values are
    unknown); ``mpp`` (microns per pixel, from the user) wins over it.
    """
    p = Path(path)
    source = p.name or str(p)
    if not p.exists():
        raise InputError(str(path), "file not found")
    if p.is_dir():
        raw = read_folder(p, source)
    else:
        raw = read_file(p, source)
    return with_pixel_size(_build_slide(raw, _stem(p), p, source), mpp)


def slide_from_array(array, name: str = "image", mpp: float | None = None) -> Slide:
    """Wrap a numpy/dask/zarr array (or a list of them, a multiscale pyramid) as a Slide.

    Applies the same conversions as :func:`to_rgb_uint8`; ``mpp`` is the pixel size
    given by the caller (e.g. a layer's scale), None when unknown.
    """
    arrays = list(array) if isinstance(array, (list, tuple)) else [array]
    if not arrays:
        raise InputError(name, "is empty (no arrays given)")
    levels = [_as_dask(a) for a in arrays]
    meta = {"format": "array"}
    if mpp is not None:
        meta["mpp_source"] = "given"
    raw = RawImage(levels, None, check_mpp(mpp, name), meta, [])
    return _build_slide(raw, name, None, name)


def check_mpp(value, source: str = "mpp") -> float | None:
    """A pixel size given by a user: a positive number of microns (None passes)."""
    if value is None:
        return None
    try:
        mpp = float(value)
    except (TypeError, ValueError):
        mpp = float("nan")
    if not (np.isfinite(mpp) and mpp > 0):
        raise InputError(source, f"pixel size must be a positive number of microns, "
                                 f"got {value!r}")
    return mpp


def with_pixel_size(slide: Slide, mpp: float | None) -> Slide:
    """``slide`` with the user's pixel size (it wins over the file's); None: unchanged."""
    mpp = check_mpp(mpp, slide.name)
    if mpp is None:
        return slide
    meta = dict(slide.metadata, mpp=mpp, mpp_source="user", mpp_in_file=slide.mpp)
    return Slide(slide.levels, slide.name, slide.path, mpp, meta, "user")


def to_rgb_uint8(array, source: str):
    """Convert one image array to (Y, X, 3) uint8 RGB.

    Returns numpy for numpy input and dask for dask input. ``source`` names the
    image in :class:`InputError` messages.
    """
    was_numpy = not isinstance(array, da.Array)
    levels, _conv, _meta = _convert_levels([_as_dask(array)], source, None)
    out = levels[0]
    return out.compute() if was_numpy else out


# ----------------------------------------------------------------------------- files


def _stem(p: Path) -> str:
    name = p.name
    low = name.lower()
    for suffix in MULTI_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return p.stem if p.suffix else name


def _as_dask(array) -> da.Array:
    if isinstance(array, da.Array):
        return array
    if not hasattr(array, "shape") or not hasattr(array, "dtype"):
        array = np.asarray(array)
    shape = tuple(array.shape)
    axes = guess_axes(shape) if shape else ""
    chunks = tuple(TARGET_CHUNK if a in "YX" else n for a, n in zip(axes, shape))
    return da.from_array(array, chunks=chunks or ())


def _build_slide(raw: RawImage, name: str, path: Path | None, source: str) -> Slide:
    try:
        levels, conversions, info = _convert_levels(raw.levels, source, raw.axes)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a corrupt tile read for the value range
        raise InputError(source, f"cannot read pixel data ({one_line(exc)})") from None
    n_file = len(levels)
    levels = _extend_pyramid(levels)
    meta = dict(raw.metadata)
    meta.update(info)
    meta["conversions"] = list(raw.conversions) + conversions
    meta["levels_in_file"] = n_file
    meta["levels_added"] = len(levels) - n_file
    meta["level_shapes"] = [[int(n) for n in lv.shape] for lv in levels]
    meta["chunks"] = [int(n) for n in levels[0].chunksize]
    meta["mpp"] = raw.mpp
    return Slide(levels=levels, name=name, path=path, mpp=raw.mpp, metadata=meta,
                 mpp_source=meta.get("mpp_source") if raw.mpp is not None else None)


def _extend_pyramid(levels: list) -> list:
    """Add lazy 2x mean-downsampled levels while the smallest level is large."""
    if max(levels[-1].shape[:2]) <= 2048:
        return levels
    levels = list(levels)
    while max(levels[-1].shape[:2]) >= 1024:
        smaller = da.coarsen(np.mean, levels[-1], {0: 2, 1: 2}, trim_excess=True)
        smaller = da.clip(da.rint(smaller), 0, 255).astype(np.uint8)
        levels.append(smaller.rechunk((TARGET_CHUNK, TARGET_CHUNK, 3)))
    return levels


# ----------------------------------------------------------------------------- conversions


def _axes_plan(shape: tuple[int, ...], axes: str, source: str) -> tuple[list, list, str | None]:
    """Return (index, transpose order, note) that bring an array to (Y, X) or (Y, X, C)."""
    spatial = [axes.index("Y"), axes.index("X")] if "Y" in axes and "X" in axes else None
    chan = [i for i, a in enumerate(axes) if a in "CS" and shape[i] > 1]
    other = [i for i, a in enumerate(axes) if a not in "YXCS" and shape[i] > 1]
    if spatial is None:
        raise InputError(source, f"has shape {shape}: not a 2-D image")
    if other:
        count = int(np.prod([shape[i] for i in other]))
        raise InputError(
            source,
            f"has shape {shape}: a stack of {count} images; expected one 2-D RGB image",
        )
    n_chan = int(np.prod([shape[i] for i in chan])) if chan else 1
    if len(chan) > 1 or n_chan > 4:
        raise InputError(
            source, f"has {n_chan} channels; expected RGB (3), RGBA (4) or grayscale"
        )
    index = [slice(None) if (i in spatial or i in chan) else 0 for i in range(len(shape))]
    kept = [i for i in range(len(shape)) if index[i] != 0]
    order = [kept.index(i) for i in spatial + chan]
    notes = []
    if len(kept) < len(shape):
        notes.append(f"dropped singleton axes (shape {shape})")
    if chan and chan[0] < max(spatial):
        notes.append("moved channel axis last")
    if spatial[0] > spatial[1]:
        notes.append("swapped axes to (Y, X)")
    return index, order, "; ".join(notes) or None


def _value_range(arr: da.Array) -> tuple[float, float, bool]:
    """(min, max, sampled) of the finite values, from whole array or up to 16 blocks."""
    if arr.dtype.kind == "f":
        arr = da.where(da.isfinite(arr), arr, np.nan)
    pixels = int(arr.shape[0]) * int(arr.shape[1])
    if pixels <= _STATS_MAX_PIXELS:
        parts, sampled = [arr], False
    else:
        pick = [np.unique(np.linspace(0, n - 1, min(n, 4)).round().astype(int))
                for n in arr.numblocks[:2]]
        parts, sampled = [arr.blocks[i, j] for i in pick[0] for j in pick[1]], True
    lows = [da.nanmin(p) for p in parts]
    highs = [da.nanmax(p) for p in parts]
    values = da.compute(*lows, *highs)
    lo = np.nanmin(np.asarray(values[: len(parts)], dtype=float))
    hi = np.nanmax(np.asarray(values[len(parts):], dtype=float))
    lo = 0.0 if not np.isfinite(lo) else float(lo)
    hi = 0.0 if not np.isfinite(hi) else float(hi)
    return lo, hi, sampled


def _colour_plan(dtype: np.dtype, lo: float, hi: float):
    """Return (function mapping values to float 0..255 or None for uint8 no-op, note)."""
    if dtype == np.uint8:
        return None, None
    if dtype.kind == "b":
        return (lambda x: x.astype(np.float32) * 255.0), "bool -> 0/255"
    if dtype.kind == "f":
        def clean(x):
            return _finite(x.astype(np.float32), lo, hi)
        if lo >= 0 and hi <= 1:
            return (lambda x: clean(x) * 255.0), f"{dtype} in [0, 1] scaled by 255"
        if lo >= 0 and hi <= 255:
            return clean, f"{dtype} in [0, 255] cast to uint8"
    elif lo >= 0 and hi <= 255:
        return (lambda x: x.astype(np.float32)), f"{dtype} cast to uint8 (values within 0..255)"
    elif lo >= 0:
        scale = 255.0 / hi
        return (lambda x: x.astype(np.float32) * scale), f"{dtype} rescaled by max {hi:g} to 0..255"
    span = (hi - lo) or 1.0

    def minmax(x):
        x = x.astype(np.float32)
        if dtype.kind == "f":
            x = _finite(x, lo, hi)
        return (x - lo) * (255.0 / span)

    return minmax, f"{dtype} rescaled from [{lo:g}, {hi:g}] to 0..255"


def _alpha_plan(dtype: np.dtype, alpha_max: float):
    if dtype.kind == "b":
        return lambda a: a.astype(np.float32)
    if dtype.kind in "ui":
        top = float(np.iinfo(dtype).max)
        return lambda a: da.clip(a.astype(np.float32) / top, 0, 1)
    div = 1.0 if alpha_max <= 1 else 255.0
    return lambda a: da.clip(_finite(a.astype(np.float32), 1.0, 1.0) * (1.0 / div), 0, 1)


def _finite(x: da.Array, low: float, high: float) -> da.Array:
    """Replace NaN and -inf by ``low`` and +inf by ``high`` (lazily)."""
    return x.map_blocks(np.nan_to_num, nan=low, posinf=high, neginf=low, dtype=x.dtype)


def _convert_levels(levels: list, source: str, axes: str | None):
    """Bring every pyramid level to (Y, X, 3) uint8 with one shared plan."""
    first = levels[0]
    shape = tuple(int(n) for n in first.shape)
    dtype = np.dtype(first.dtype)
    info = {"original_dtype": str(dtype), "original_shape": list(shape)}
    if dtype.kind == "c":
        raise InputError(source, f"has complex pixel type ({dtype}); expected real RGB values")
    if dtype.kind not in "buif":
        raise InputError(source, f"has unsupported pixel type ({dtype})")
    if len(shape) == 0 or 0 in shape:
        raise InputError(source, f"is empty (shape {shape})")
    if axes is None or len(axes) != len(shape):
        axes = guess_axes(shape)
    info["original_axes"] = axes
    index, order, note = _axes_plan(shape, axes, source)
    conversions = [note] if note else []
    if any(i == 0 for i in index):
        levels = [lv[tuple(index)] for lv in levels]
    if order != sorted(order):
        levels = [lv.transpose(order) for lv in levels]
    ny, nx = levels[0].shape[:2]
    if ny < MIN_SIDE or nx < MIN_SIDE:
        raise InputError(
            source, f"is too small ({nx}x{ny} pixels); need at least {MIN_SIDE}x{MIN_SIDE}"
        )
    n_chan = levels[0].shape[2] if levels[0].ndim == 3 else 1
    has_alpha = n_chan in (2, 4)
    smallest = levels[-1]
    colour_idx = {1: [0], 2: [0], 3: [0, 1, 2], 4: [0, 1, 2]}[n_chan]
    lo = hi = 0.0
    if dtype != np.uint8 and dtype.kind != "b":
        part = smallest if smallest.ndim == 2 else smallest[..., colour_idx]
        lo, hi, sampled = _value_range(part)
        info["value_range"] = [lo, hi]
        info["value_range_sampled"] = sampled
    colour_fn, colour_note = _colour_plan(dtype, lo, hi)
    if colour_note:
        conversions.append(colour_note)
    alpha_fn = None
    if has_alpha:
        a_lo, a_hi, a_sampled = _value_range(smallest[..., -1].astype(np.float32))
        top = 1.0 if dtype.kind == "b" or (dtype.kind == "f" and a_hi <= 1) else (
            float(np.iinfo(dtype).max) if dtype.kind in "ui" else 255.0)
        # Dropping is exact only when the whole image was inspected.
        if a_lo >= top and len(levels) == 1 and not a_sampled:
            conversions.append("alpha fully opaque: dropped")
        else:
            alpha_fn = _alpha_plan(dtype, a_hi)
            conversions.append("composited alpha onto white")
    if n_chan in (1, 2) or levels[0].ndim == 2:
        conversions.append("grayscale replicated to RGB")

    def convert(lv: da.Array) -> da.Array:
        col = lv if lv.ndim == 2 or n_chan == 3 else lv[..., colour_idx]
        if colour_fn is not None:
            col = colour_fn(col)
        if alpha_fn is not None:
            a = alpha_fn(lv[..., -1])
            a = a if col.ndim == 2 else a[..., None]
            col = col.astype(np.float32) * a + 255.0 * (1.0 - a)
        if col.dtype != np.uint8:
            col = da.clip(da.rint(col), 0, 255).astype(np.uint8)
        if col.ndim == 3 and col.shape[2] == 1:
            col = col[..., 0]
        if col.ndim == 2:
            col = da.stack([col, col, col], axis=-1)
        return col

    return [convert(lv) for lv in levels], conversions, info
