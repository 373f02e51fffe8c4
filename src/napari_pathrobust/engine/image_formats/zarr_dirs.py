"""Zarr and OME-Zarr (NGFF 0.4 / 0.5) folders, opened lazily."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np

from ..errors import InputError
from .raw import RawImage, chunks_for, guess_axes, one_line, plausible_mpp, unit_to_um

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
        ix = axes.index("X")
        if factor is not None:
            mpp = plausible_mpp((scale[iy] + scale[ix]) / 2 * factor)
    meta = {"format": "ome-zarr", "ngff_version": str(version) if version else None,
            "zarr_datasets": paths,
            ("mpp_source" if mpp is not None else "mpp_note"):
                "OME-Zarr scale" if mpp is not None else "no plausible OME-Zarr scale in um"}
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
