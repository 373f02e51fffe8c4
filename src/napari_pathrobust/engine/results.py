"""Reading results back: the cells tables and GeoJSON files the jobs and Export write.

:func:`read_cells_table` reads a cells CSV (``<stem>_cells.csv``, ``cells.csv`` inside an
OME-Zarr, Export's CSV) as layer features; :func:`read_geojson_cells` reads QuPath-style
GeoJSON (ours or QuPath's) with our stored metadata. Coordinates in files are slide
pixels; :func:`region_origin` is the offset of a layer computed on a region.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Optional

import numpy as np

from . import cell_classes as cc
from .errors import InputError
from .nucleus_records import LEGACY_COLUMNS

#: the header a cells table starts with (the class parts follow it in newer files)
CSV_HEADER = ",".join(LEGACY_COLUMNS)
_TEXT_COLUMNS = (cc.CLASSIFICATION, cc.STATUS, cc.BASE, cc.INTENSITY, cc.SOURCE)
#: the cells table inside an OME-Zarr result folder
ZARR_CELLS = "cells.csv"


def region_origin(metadata: Optional[dict]) -> tuple[int, int]:
    """(row, col) of the layer's pixel (0, 0) in slide pixels (0, 0 without a region)."""
    region = (metadata or {}).get("region")
    if region is None:
        return 0, 0
    return int(region[0]), int(region[1])


def file_digest(path) -> str:
    """SHA-256 of a file (hex), read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _number(text: str) -> float:
    try:
        return float(text) if text != "" else math.nan
    except ValueError:
        return math.nan


def read_cells_table(path, metadata: Optional[dict] = None) -> dict[str, list]:
    """A cells CSV written by :func:`export_csv` as layer features: ``label``, x/y in layer
    pixels (the region origin of ``metadata`` taken off), area, classification, status,
    the class parts (base_class, intensity, class_source, class_probability: split out
    of classification for files written before them), measurements, and napari's
    ``index`` (= label)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the cells table ({exc})") from exc
    if not rows or tuple(rows[0][:len(LEGACY_COLUMNS)]) != LEGACY_COLUMNS:
        raise InputError(path, f"not a cells table (header must start {CSV_HEADER})")
    header, body = rows[0], rows[1:]
    oy, ox = region_origin(metadata)
    columns: dict[str, list] = {name: [] for name in header}
    for row in body:
        row = row + [""] * (len(header) - len(row))
        for name, text in zip(header, row):
            if name == "label":
                columns[name].append(int(text))
            elif name == "area":
                columns[name].append(int(float(text)) if text else 0)
            elif name in _TEXT_COLUMNS:
                columns[name].append(text)
            else:
                columns[name].append(_number(text))
    columns["x"] = [v - ox for v in columns["x"]]
    columns["y"] = [v - oy for v in columns["y"]]
    columns["index"] = list(columns["label"])
    classed = cc.with_classes(columns)
    if cc.SOURCE not in header:  # written before the parts: only people named cells then
        classed = _named_by_pathologist(classed)
    for name in (cc.CLASSIFICATION, *cc.CLASS_COLUMNS):
        columns[name] = np.asarray(classed[name]).tolist()
    return columns


def _named_by_pathologist(table):
    """``table`` with every base class the pathologist's: files written before the class
    parts (and QuPath's) hold classes people gave, which no computation may overwrite."""
    base = np.asarray(table[cc.BASE], dtype=object)
    return cc.set_base(table, base, cc.PATHOLOGIST, mask=base != "")


def read_geojson_polygons(path: os.PathLike | str) -> list[dict]:
    """Read a GeoJSON FeatureCollection of polygons into simple dicts.

    Each dict: ``label`` (None when absent), ``polygon`` (exterior ring as (x, y) tuples),
    ``classification`` (name or None), ``measurements`` (dict), ``status``, and the class
    parts ``base_class``, ``intensity``, ``class_source``, ``class_probability`` (ours
    from ``properties.pathrobust``; others split out of the classification name).
    """
    return read_geojson_cells(path)[0]


def read_geojson_cells(path: os.PathLike | str) -> tuple[list[dict], dict]:
    """:func:`read_geojson_polygons` plus the stored ``"pathrobust"`` metadata ({} if none),
    from one parse of the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, OSError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc
    metadata = data.get("pathrobust") if isinstance(data, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    if isinstance(data, list):
        features = data
    elif isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features", [])
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        raise InputError(path, "not a GeoJSON FeatureCollection")
    out = []
    for feat in features:
        geom = feat.get("geometry") or {}
        if geom.get("type") == "Polygon":
            ring = geom["coordinates"][0]
        elif geom.get("type") == "MultiPolygon" and geom["coordinates"]:
            ring = geom["coordinates"][0][0]
        else:
            continue
        props = feat.get("properties") or {}
        cls = props.get("classification")
        name = cls.get("name") if isinstance(cls, dict) else cls
        measurements = props.get("measurements") or {}
        if isinstance(measurements, list):  # older QuPath: [{"name":..., "value":...}]
            measurements = {m.get("name"): m.get("value") for m in measurements}
        out.append({
            "label": props.get("label"),
            "polygon": [(float(x), float(y)) for x, y, *_ in ring],
            "classification": name,
            "measurements": measurements,
            "status": props.get("status"),
            **_class_parts(name, props.get("pathrobust")),
        })
    return out, metadata


def geojson_extent(path, cells: list[dict], metadata: dict) -> tuple[tuple[int, int],
                                                                     tuple[int, int]]:
    """``(origin, shape)`` of the labels a GeoJSON result covers: its region, else the
    stored image size, else the polygons' extent (an empty file without a size: one
    :class:`InputError` line)."""
    region = metadata.get("region")
    if region is not None:
        origin = (int(region[0]), int(region[1]))
        return origin, (int(region[2]) - origin[0], int(region[3]) - origin[1])
    if metadata.get("image_shape"):
        return (0, 0), tuple(int(s) for s in metadata["image_shape"][:2])
    if not cells:
        raise InputError(path, "no polygons and no image size: nothing to open")
    pts = np.concatenate([np.asarray(c["polygon"]) for c in cells])
    return (0, 0), (int(np.ceil(pts[:, 1].max())) + 1, int(np.ceil(pts[:, 0].max())) + 1)


def _class_parts(name, stored) -> dict:
    """A GeoJSON feature's class parts: stored ones, else split out of its name."""
    stored = stored if isinstance(stored, dict) else {}
    base, intensity = cc.parts_of(stored.get(cc.BASE), stored.get(cc.INTENSITY), name)
    try:
        probability = float(stored.get(cc.PROBABILITY, math.nan))
    except (TypeError, ValueError):
        probability = math.nan
    source = stored.get(cc.SOURCE) or ""
    if cc.BASE not in stored and base:  # an older file's or QuPath's class: a person's
        source = cc.PATHOLOGIST
    return {cc.BASE: base, cc.INTENSITY: intensity,
            cc.SOURCE: source if source in (cc.PATHOLOGIST, cc.CLASSIFIER) else "",
            cc.PROBABILITY: probability}


__all__ = ["CSV_HEADER", "ZARR_CELLS", "region_origin", "geojson_extent", "file_digest",
           "read_cells_table", "read_geojson_cells", "read_geojson_polygons"]
