"""What every format reader returns (:class:`RawImage`) and the helpers they share:
axis guessing, chunking, pixel-size parsing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TARGET_CHUNK = 1024
# Microns per pixel outside this range come from screen/print resolutions, not microscopes.
MPP_PLAUSIBLE = (0.05, 5.0)
_MPP_PLAUSIBLE = MPP_PLAUSIBLE
#: default dots per inch of image editors and screens: a resolution, not a pixel size
SCREEN_DPI = (72.0, 96.0)
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


def mpp_from_density(per_unit: float, um_per_unit: float, source: str
                     ) -> tuple[float | None, str]:
    """(microns per pixel or None, what was used or why not) from ``per_unit`` pixels
    per unit of ``um_per_unit`` microns; screen dpi and implausible sizes give None."""
    try:
        ppu = float(per_unit)
    except (TypeError, ValueError):
        return None, f"{source}: unreadable"
    if not np.isfinite(ppu) or ppu <= 0:
        return None, f"{source}: no value"
    dpi = ppu * 25400.0 / um_per_unit
    if any(abs(dpi - d) < 0.01 * d for d in SCREEN_DPI):
        return None, f"{source}: {dpi:g} dpi is a screen resolution, not a pixel size"
    mpp = um_per_unit / ppu
    if plausible_mpp(mpp) is None:
        return None, f"{source}: {mpp:.4g} um/px is implausible for a microscope"
    return mpp, source


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


def read_window(level, key) -> np.ndarray:
    """``level[key]`` for a lazy level with ``shape``, ``dtype`` and ``read(x, y, w, h)``
    (a box of pixels): the box the key spans is read once, then stepped and indexed (a
    strided key reads every step-th pixel, as numpy does)."""
    key = key if isinstance(key, tuple) else (key,)
    ys, xs = (key + (slice(None),) * 2)[:2]
    y0, y1, ystep = ys.indices(level.shape[0])
    x0, x1, xstep = xs.indices(level.shape[1])
    h, w = max(0, y1 - y0), max(0, x1 - x0)
    out = level.read(x0, y0, w, h) if h and w else \
        np.empty((h, w, level.shape[2]), level.dtype)
    out = out[::ystep, ::xstep]
    return out[(slice(None), slice(None)) + key[2:]] if len(key) > 2 else out
