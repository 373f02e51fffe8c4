"""Streamed per-nucleus outputs: centroid CSV and QuPath-compatible GeoJSON."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import uuid
from pathlib import Path
from typing import IO, Iterable, Optional

from ..errors import InputError
from ..features import BASE_COLUMNS, NucleusRecord, record_polygon
from ._atomic import AtomicDest, clean_json, dumps

__all__ = ["PointsCSVWriter", "GeoJSONWriter", "read_geojson_polygons", "feature_id",
           "class_color", "DEFAULT_CLASS_COLORS"]

#: QuPath-like default colours per classification name.
DEFAULT_CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "Nucleus": (0, 200, 0),
    "Tumor": (200, 0, 0),
    "Stroma": (150, 200, 150),
    "Immune cells": (160, 90, 160),
    "Necrosis": (50, 50, 50),
    "Other": (255, 200, 0),
}


def class_color(name: str, colors: Optional[dict] = None) -> list[int]:
    """[r, g, b] for a classification: from ``colors``, the defaults, or a stable hash."""
    if colors and name in colors:
        return [int(v) for v in colors[name]][:3]
    if name in DEFAULT_CLASS_COLORS:
        return list(DEFAULT_CLASS_COLORS[name])
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [64 + digest[0] % 192, 64 + digest[1] % 192, 64 + digest[2] % 192]


def feature_id(label: int, salt: str = "") -> str:
    """Deterministic version-4-format UUID for a label (and optional per-run salt)."""
    digest = hashlib.sha256(f"napari-pathrobust:{salt}:{int(label)}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _check_label(rec: NucleusRecord) -> int:
    label = int(rec.label)
    if label <= 0:
        raise ValueError("record has no global label yet (label must be > 0)")
    return label


class _StreamedText:
    """Common add/commit/abort/context-manager plumbing around an atomic text file."""

    def __init__(self, dest: os.PathLike | str):
        self._target = AtomicDest(dest)
        self.dest = self._target.dest
        self.count = 0
        self._fh: Optional[IO[str]] = open(self._target.tmp, "w", encoding="utf-8",
                                           newline="")

    def _require_open(self) -> IO[str]:
        if self._fh is None:
            raise RuntimeError(f"{self.dest}: writer already committed or aborted")
        return self._fh

    def _finish(self) -> None:  # write trailing content before commit
        pass

    def commit(self) -> Path:
        """Finish the file and move it onto the destination."""
        fh = self._require_open()
        try:
            self._finish()
            fh.close()
        except BaseException:
            self.abort()
            raise
        self._fh = None
        return self._target.commit()

    def abort(self) -> None:
        """Discard the temporary file; an existing destination stays untouched."""
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None
        if not self._target.done:
            self._target.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._fh is not None:
            self.commit()


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


class PointsCSVWriter(_StreamedText):
    """Streamed centroid table: ``label,x,y,area,classification,status,<measurements>``.

    Measurement columns come from the first record (in its order); later records' missing
    values are written empty and extra names are dropped. Exactly one header line; x/y
    are the global centroid column/row in pixels.
    """

    def __init__(self, dest: os.PathLike | str):
        super().__init__(dest)
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self.columns: Optional[list[str]] = None

    def _header(self, first: Optional[NucleusRecord]) -> None:
        names = [] if first is None else [k for k in first.measurements
                                          if k not in BASE_COLUMNS]
        self.columns = list(BASE_COLUMNS) + names
        self._writer.writerow(self.columns)

    def add(self, records: Iterable[NucleusRecord]) -> None:
        """Append records (labels must already be assigned)."""
        self._require_open()
        for rec in records:
            label = _check_label(rec)
            if self.columns is None:
                self._header(rec)
            row = [str(label), _csv_value(float(rec.centroid_x)),
                   _csv_value(float(rec.centroid_y)), str(int(rec.area)),
                   _one_line(rec.classification), _one_line(rec.status)]
            for name in self.columns[len(BASE_COLUMNS):]:
                value = rec.measurements.get(name)
                row.append(_csv_value(None if value is None else float(value)))
            self._writer.writerow(row)
            self.count += 1

    def _finish(self) -> None:
        if self.columns is None:
            self._header(None)


def _one_line(text: str) -> str:
    return str(text).replace("\r", " ").replace("\n", " ")


class GeoJSONWriter(_StreamedText):
    """Streamed QuPath-compatible FeatureCollection of detection polygons.

    Each record becomes one Feature written immediately (id: :func:`feature_id` of the
    label and ``id_salt``; coordinates rounded to 2 decimals). ``metadata`` is stored as the
    top-level foreign member ``"pathrobust"``; ``colors`` maps classification names to RGB.
    """

    def __init__(self, dest: os.PathLike | str, metadata: Optional[dict] = None,
                 colors: Optional[dict] = None, simplify: float = 0.3, id_salt: str = ""):
        super().__init__(dest)
        self.colors = dict(colors or {})
        self.simplify = simplify
        self.id_salt = id_salt
        try:
            self._fh.write('{"type": "FeatureCollection",\n"pathrobust": '
                           + dumps(metadata or {}) + ',\n"features": [')
        except BaseException:
            self.abort()
            raise

    def _feature(self, rec: NucleusRecord) -> dict:
        label = _check_label(rec)
        polygon = rec.polygon if rec.polygon is not None else record_polygon(rec, self.simplify)
        ring = [[round(float(x), 2), round(float(y), 2)] for x, y in polygon]
        measurements = clean_json({k: float(v) for k, v in rec.measurements.items()})
        return {
            "type": "Feature",
            "id": feature_id(label, self.id_salt),
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "objectType": "detection",
                "classification": {"name": str(rec.classification),
                                    "color": class_color(str(rec.classification),
                                                         self.colors)},
                "measurements": measurements,
                "label": label,
                "status": str(rec.status),
            },
        }

    def add(self, records: Iterable[NucleusRecord]) -> None:
        """Append records (labels must already be assigned); each is written at once."""
        fh = self._require_open()
        for rec in records:
            feature = self._feature(rec)  # already JSON-clean: skip the generic cleaner
            try:
                text = json.dumps(feature, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError):
                text = dumps(feature, separators=(",", ":"))
            fh.write(("\n" if self.count == 0 else ",\n") + text)
            self.count += 1

    def _finish(self) -> None:
        self._fh.write("\n]}\n")


def read_geojson_polygons(path: os.PathLike | str) -> list[dict]:
    """Read a GeoJSON FeatureCollection of polygons into simple dicts.

    Each dict: ``label`` (None when absent), ``polygon`` (exterior ring as (x, y) tuples),
    ``classification`` (name or None), ``measurements`` (dict), ``status``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, OSError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc
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
        })
    return out
