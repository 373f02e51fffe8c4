"""Zeiss CZI slides through pylibCZIrw (ZEISS's libCZI for Python), opened lazily.

OpenSlide 4.0 recognises CZI but refuses most files, so CZI has its own reader: level 0
is the whole mosaic (every scene, gaps white), coarser levels are zoomed reads that use
the file's pyramid when it has one. Blocks read through one reader per thread; the
arrays pickle as (path, level) and reopen the file where they are read.
"""

from __future__ import annotations

import threading
from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import InputError
from .raw import TARGET_CHUNK, RawImage, one_line, plausible_mpp, read_window

_INSTALL = "pip install pylibCZIrw"
_local = threading.local()
_READERS_PER_THREAD = 4
_COLOUR = {"Bgr24": 3, "Bgr48": 3, "Gray8": 1, "Gray16": 1}


def _pyczi():
    try:
        from pylibCZIrw import czi
    except ImportError:
        return None
    return czi


def _reader(path: str):
    """This thread's open CziReader for ``path`` (a few per thread, oldest closed first)."""
    import os

    readers = getattr(_local, "readers", None)
    if readers is None:
        readers = _local.readers = {}
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    reader = readers.pop(key, None) or _pyczi().CziReader(path)
    readers[key] = reader  # most recently used last
    while len(readers) > _READERS_PER_THREAD:
        old = readers.pop(next(iter(readers)))
        try:
            old.close()  # only this thread ever used it
        except Exception:  # noqa: BLE001
            pass
    return reader


class _Level:
    """One level of a CZI mosaic, (Y, X, C) in the file's dtype, for ``da.from_array``."""

    ndim = 3

    def __init__(self, path: str, box: tuple, factor: int, shape: tuple, dtype: str,
                 source: str):
        self.path, self.box, self.factor, self.source = path, tuple(box), int(factor), source
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        return read_window(self, key)

    def read(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Pixels [y:y+h, x:x+w] of this level, RGB (or gray) order."""
        f = self.factor
        roi = (self.box[0] + x * f, self.box[1] + y * f, w * f, h * f)
        try:
            arr = _reader(self.path).read(roi=roi, plane={"C": 0, "Z": 0, "T": 0},
                                          zoom=1.0 / f if f > 1 else 1.0,
                                          background_pixel=(1.0, 1.0, 1.0))
        except Exception as exc:  # noqa: BLE001 - libCZI raises RuntimeError and others
            raise InputError(self.source, f"cannot read CZI pixels at ({x}, {y}): "
                                          f"{one_line(exc)}") from None
        arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
        if arr.shape[2] == 3:
            arr = arr[..., ::-1]  # libCZI gives BGR
        out = np.full((h, w, arr.shape[2]), np.iinfo(self.dtype).max, self.dtype)
        hh, ww = min(h, arr.shape[0]), min(w, arr.shape[1])
        out[:hh, :ww] = arr[:hh, :ww]
        return out

    def __reduce__(self):
        return (_Level, (self.path, self.box, self.factor, self.shape, self.dtype.str,
                         self.source))


def read_czi(path: Path, source: str) -> RawImage:
    """Open a Zeiss CZI lazily: level 0 plus 2x zoomed levels down to ~1024 px."""
    pyczi = _pyczi()
    if pyczi is None:
        raise InputError(source, f"reading .czi needs pylibCZIrw: {_INSTALL}")
    try:
        reader = pyczi.CziReader(str(path))
        box = reader.total_bounding_rectangle
        dims = reader.total_bounding_box
        pixel_type = reader.get_channel_pixel_type(0)
        metadata = reader.metadata
    except Exception as exc:  # noqa: BLE001
        raise InputError(source, f"not a readable CZI file ({one_line(exc)})") from None
    try:
        reader.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass
    for axis, what in (("C", "channels"), ("Z", "focal planes"), ("T", "time points")):
        lo, hi = dims.get(axis, (0, 1))
        if hi - lo > 1 and not (axis == "C" and pixel_type.startswith("Bgr")):
            raise InputError(source, f"has {hi - lo} {what}; expected one 2-D RGB image")
    if pixel_type not in _COLOUR:
        raise InputError(source, f"has CZI pixel type {pixel_type}; expected Bgr24, Bgr48, "
                                 f"Gray8 or Gray16")
    dtype = "uint16" if pixel_type.endswith("48") or pixel_type.endswith("16") else "uint8"
    channels = _COLOUR[pixel_type]
    x, y, w, h = int(box.x), int(box.y), int(box.w), int(box.h)
    if w < 1 or h < 1:
        raise InputError(source, "CZI file holds no image")
    levels, factor = [], 1
    while True:
        shape = (h // factor, w // factor, channels)
        arr = _Level(str(path), (x, y), factor, shape, dtype, source)
        levels.append(da.from_array(arr, chunks=(TARGET_CHUNK, TARGET_CHUNK, channels),
                                    meta=np.empty((0, 0, 0), dtype),
                                    name=_name(path, factor)))
        if max(h, w) <= 2048 or max(shape[:2]) < 1024:
            break
        factor *= 2
    mpp, note = _czi_mpp(metadata)
    meta = {"format": "czi", "backend": "pylibCZIrw", "czi_pixel_type": pixel_type,
            "czi_origin": [x, y], "level_downsamples": [float(2 ** i) for i in
                                                       range(len(levels))],
            ("mpp_source" if mpp is not None else "mpp_note"): note}
    return RawImage(levels, "YXS", mpp, meta, [])


def _name(path: Path, factor: int) -> str:
    from dask.base import tokenize

    stat = path.stat()
    return f"czi-{tokenize(str(path.resolve()), stat.st_mtime_ns, stat.st_size)}-{factor}"


def _czi_mpp(metadata: dict) -> tuple[float | None, str]:
    """(microns per pixel, source) from Metadata/Scaling/Items/Distance X and Y (metres)."""
    try:
        items = metadata["ImageDocument"]["Metadata"]["Scaling"]["Items"]["Distance"]
        items = items if isinstance(items, list) else [items]
        values = {d.get("@Id"): float(d.get("Value")) * 1e6 for d in items}
    except (KeyError, TypeError, ValueError):
        return None, "no CZI Scaling metadata"
    sizes = [plausible_mpp(values.get(a)) for a in "XY" if values.get(a)]
    if sizes and all(s is not None for s in sizes):
        return float(np.mean(sizes)), "CZI Scaling X/Y"
    return None, "no plausible CZI Scaling X/Y"
