"""Label images: compressed uint32 TIFF (small images) and tiled OME-Zarr 0.5 (large ones)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ..progress import Reporter
from ._atomic import AtomicDest, atomic_path, clean_json, dumps

__all__ = ["write_labels_tiff", "read_labels_tiff", "OmeZarrLabelsWriter",
           "read_ome_zarr_labels", "PYRAMID_MIN_SIDE"]

_TIFF_KEY = "pathrobust"
#: Pyramid levels are added while the longest side of the last level is at least this.
PYRAMID_MIN_SIDE = 1024


def _stored_metadata(metadata: Optional[dict], mpp: Optional[float]) -> dict:
    if mpp is not None and not (mpp > 0):
        raise InputError("mpp", f"must be positive, got {mpp}")
    stored = dict(metadata or {})
    if mpp is not None:
        stored.setdefault("mpp", float(mpp))
    return stored


def _as_uint32(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError("labels", f"expected a 2-D label image, got shape {labels.shape}")
    if labels.dtype == np.uint32:
        return labels
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise InputError("labels", f"expected integer labels, got {labels.dtype}")
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi > np.iinfo(np.uint32).max:
            raise InputError("labels", f"label values {lo}..{hi} do not fit uint32")
    return labels.astype(np.uint32)


def write_labels_tiff(path: os.PathLike | str, labels: np.ndarray,
                      metadata: Optional[dict] = None, mpp: Optional[float] = None) -> Path:
    """Write a uint32 zlib-compressed label TIFF atomically (tiled above 2048 px a side).

    ``metadata`` (plus ``mpp``) is stored as JSON ``{"pathrobust": {...}}`` in the
    ImageDescription; ``mpp`` also sets the X/Y resolution tags (pixels per centimetre).
    """
    return _write_tiff(path, _as_uint32(labels), metadata, mpp)


def write_map_tiff(path: os.PathLike | str, data: np.ndarray, metadata: Optional[dict] = None,
                   mpp: Optional[float] = None) -> Path:
    """Write a 2-D map (float32 activation, uint8 mask, ...) like a label TIFF, keeping its
    dtype (bool becomes uint8, other floats float32)."""
    data = np.asarray(data)
    if data.ndim != 2:
        raise InputError(path, f"expected a 2-D map, got shape {data.shape}")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    elif np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    return _write_tiff(path, data, metadata, mpp)


def _write_tiff(path: os.PathLike | str, data: np.ndarray, metadata: Optional[dict],
                mpp: Optional[float]) -> Path:
    import tifffile

    stored = _stored_metadata(metadata, mpp)
    kwargs: dict[str, Any] = {}
    if max(data.shape) > 2048:
        kwargs["tile"] = (256, 256)
    if mpp is not None:
        kwargs["resolution"] = (1e4 / mpp, 1e4 / mpp)
        kwargs["resolutionunit"] = "CENTIMETER"
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, photometric="minisblack", compression="zlib",
                         description=dumps({_TIFF_KEY: stored}), metadata=None, **kwargs)
    return Path(path)


def read_labels_tiff(path: os.PathLike | str) -> tuple[np.ndarray, dict]:
    """Read a label TIFF; returns (labels, metadata). Foreign TIFFs give ``{}`` (or mpp)."""
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            data = page.asarray()
            description = page.description or ""
            tags = page.tags
            res = tags.get("XResolution")
            unit = tags.get("ResolutionUnit")
            unit_value = int(unit.value) if unit is not None else 2
            xres = res.value if res is not None else None
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable TIFF ({exc})") from exc
    if data.ndim != 2:
        raise InputError(path, f"expected a 2-D label image, got shape {data.shape}")
    metadata: dict = {}
    try:
        parsed = json.loads(description)
        if isinstance(parsed, dict) and isinstance(parsed.get(_TIFF_KEY), dict):
            metadata = parsed[_TIFF_KEY]
    except ValueError:
        pass
    if "mpp" not in metadata and xres is not None and unit_value in (2, 3):
        num, den = xres if isinstance(xres, tuple) else (xres, 1)
        if num and den:
            per_unit = num / den  # pixels per inch (2) or per centimetre (3)
            metadata["mpp"] = (2.54e4 if unit_value == 2 else 1e4) / per_unit
    return data, metadata


class OmeZarrLabelsWriter:
    """Tile-by-tile writer of a uint32 OME-Zarr 0.5 (zarr v3) label image with a pyramid.

    Write level 0 by region through :attr:`array`, then call :meth:`finalize`. Everything
    goes to a hidden temporary directory next to ``dest`` until finalize succeeds;
    :meth:`abort` (or an exception inside ``with``) removes it. Concurrent writes must not
    touch the same chunk. :attr:`array` is invalid after finalize/abort.
    """

    def __init__(self, dest: os.PathLike | str, shape: tuple[int, int], chunk: int = 1024,
                 metadata: Optional[dict] = None, mpp: Optional[float] = None,
                 name: str = "labels"):
        import zarr

        if len(shape) != 2 or min(int(s) for s in shape) < 1:
            raise InputError("shape", f"expected two positive sizes, got {shape}")
        if int(chunk) < 1:
            raise InputError("chunk", f"must be positive, got {chunk}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.chunk = int(chunk)
        self.metadata = _stored_metadata(metadata, mpp)
        self.mpp = None if mpp is None else float(mpp)
        self.name = name
        self._target = AtomicDest(dest)
        self.dest = self._target.dest
        try:
            self._group = zarr.open_group(store=str(self._target.tmp), mode="w",
                                          zarr_format=3)
            self.array = self._create_level(0, self.shape)
        except BaseException:
            self._target.abort()
            raise

    def staged_file(self, name: str) -> Path:
        """Where to write an extra file ``name`` (e.g. a cells table) that is published
        inside the OME-Zarr folder with the labels (before :meth:`finalize`)."""
        if self._target.done:
            raise RuntimeError(f"{self.dest}: already finalized or aborted")
        if Path(name).name != name or name.startswith((".", "zarr.json")) or name.isdigit():
            raise ValueError(f"extra file name must be a plain file name, got {name!r}")
        return Path(self._target.tmp) / name

    def _create_level(self, level: int, shape: tuple[int, int]):
        chunks = (min(self.chunk, shape[0]), min(self.chunk, shape[1]))
        return self._group.create_array(str(level), shape=shape, dtype="uint32",
                                        chunks=chunks, fill_value=0,
                                        dimension_names=("y", "x"))

    def _level_shapes(self) -> list[tuple[int, int]]:
        shapes = [self.shape]
        while max(shapes[-1]) >= PYRAMID_MIN_SIDE:
            h, w = shapes[-1]
            shapes.append(((h + 1) // 2, (w + 1) // 2))
        return shapes

    def _attributes(self, n_levels: int) -> dict:
        base = self.mpp if self.mpp is not None else 1.0
        axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
        if self.mpp is not None:
            for axis in axes:
                axis["unit"] = "micrometer"
        datasets = [{"path": str(k), "coordinateTransformations": [
            {"type": "scale", "scale": [base * 2 ** k, base * 2 ** k]}]}
            for k in range(n_levels)]
        multiscale = {"name": self.name, "axes": axes, "datasets": datasets,
                      "type": "nearest",
                      "metadata": {"description": "level k+1 = level k [::2, ::2]"}}
        return {"ome": {"version": "0.5", "multiscales": [multiscale], "image-label": {}},
                "pathrobust": clean_json(self.metadata)}

    def finalize(self, reporter: Optional[Reporter] = None,
                 metadata: Optional[dict] = None) -> Path:
        """Build the pyramid chunk by chunk, write the metadata (``metadata``, known after
        the run, replaces the one given at creation) and publish ``dest``."""
        if self._target.done:
            raise RuntimeError(f"{self.dest}: already finalized or aborted")
        try:
            if metadata is not None:
                self.metadata = _stored_metadata(metadata, self.mpp)
            shapes = self._level_shapes()
            jobs = [math.ceil(s[0] / self.chunk) * math.ceil(s[1] / self.chunk)
                    for s in shapes[1:]]
            total, done = sum(jobs), 0
            prev = self.array
            for level, shape in enumerate(shapes[1:], start=1):
                arr = self._create_level(level, shape)
                step = arr.chunks[0], arr.chunks[1]
                for y0 in range(0, shape[0], step[0]):
                    for x0 in range(0, shape[1], step[1]):
                        if reporter is not None:
                            reporter.report(done, total, f"label pyramid level {level}")
                        y1, x1 = min(y0 + step[0], shape[0]), min(x0 + step[1], shape[1])
                        block = np.asarray(prev[2 * y0:2 * y1, 2 * x0:2 * x1])
                        arr[y0:y1, x0:x1] = block[::2, ::2]
                        done += 1
                prev = arr
            self._group.attrs.update(self._attributes(len(shapes)))
            if reporter is not None:
                reporter.report(total, total, "label pyramid done")
        except BaseException:
            self.abort()
            raise
        return self._target.commit()

    def abort(self) -> None:
        """Discard everything written; an existing ``dest`` is left untouched."""
        if not self._target.done:
            self._target.abort()

    def __enter__(self) -> "OmeZarrLabelsWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._target.done:
            self.finalize()


def read_ome_zarr_labels(path: os.PathLike | str) -> tuple[list, dict]:
    """Open an OME-Zarr label image: (list of zarr arrays, level 0 first; group attributes)."""
    import zarr

    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "no such OME-Zarr directory")
    try:
        group = zarr.open_group(store=str(path), mode="r")
        attrs = json.loads(json.dumps(dict(group.attrs)))
        datasets = attrs["ome"]["multiscales"][0]["datasets"]
        levels = [group[d["path"]] for d in datasets]
    except Exception as exc:  # zarr raises several unrelated types for foreign folders
        raise InputError(path, f"not an OME-Zarr multiscale image ({exc})") from exc
    return levels, attrs
