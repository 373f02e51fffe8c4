"""Per-nucleus outputs: centroid CSV and QuPath-compatible GeoJSON (staged, written in
final-id order), and feature ids."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from pathlib import Path
from typing import Optional

from ..cells import class_color
from ..nucleus_records import BASE_COLUMNS, NucleusRecord, record_polygon
from ._atomic import clean_json, dumps
from .staged import StagedTextWriter

__all__ = ["PointsCSVWriter", "GeoJSONWriter", "feature_id", "write_summary_csv",
           "new_run_id", "ensure_run_id"]

#: namespace of feature ids whose run id is not a UUID (e.g. older metadata)
_ID_NAMESPACE = uuid.UUID("6b1d5f0e-3c1a-4f57-9a0e-2f4c2d7c9b11")


def feature_id(label: int, run_id: str = "") -> str:
    """The GeoJSON feature id of ``label`` in run ``run_id``: ``uuid5(run_id, label)``.

    Unique per run (each job run has its own uuid4 ``run_id``), and the same for every
    export of one result (the run id travels in the metadata).
    """
    try:
        namespace = uuid.UUID(hex=str(run_id))
    except ValueError:
        namespace = uuid.uuid5(_ID_NAMESPACE, str(run_id))
    return str(uuid.uuid5(namespace, str(int(label))))


def new_run_id() -> str:
    """A fresh run id (uuid4 hex)."""
    return uuid.uuid4().hex


def ensure_run_id(metadata: Optional[dict]) -> str:
    """The run id stored in ``metadata``; a new one is created and stored when missing."""
    if metadata is None:
        return new_run_id()
    if not metadata.get("run_id"):
        metadata["run_id"] = new_run_id()
    return str(metadata["run_id"])


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _one_line(text: str) -> str:
    return str(text).replace("\r", " ").replace("\n", " ")


class PointsCSVWriter(StagedTextWriter):
    """Centroid table: ``label,x,y,area,classification,status,<measurements>``.

    Rows are written in ascending final id at :meth:`commit`. Measurement columns come
    from the first record added (in its order); later records' missing values are written
    empty and extra names are dropped. x/y are the global centroid column/row in pixels.
    """

    def __init__(self, dest: os.PathLike | str):
        super().__init__(dest)
        self.columns: Optional[list[str]] = None
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")

    def _encode(self, rec: NucleusRecord) -> str:
        if self.columns is None:
            self.columns = list(BASE_COLUMNS) + [k for k in rec.measurements
                                                 if k not in BASE_COLUMNS]
        row = [_csv_value(float(rec.centroid_x)), _csv_value(float(rec.centroid_y)),
               str(int(rec.area)), _one_line(rec.classification), _one_line(rec.status)]
        for name in self.columns[len(BASE_COLUMNS):]:
            value = rec.measurements.get(name)
            row.append(_csv_value(None if value is None else float(value)))
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(row)
        return self._buffer.getvalue()

    def _header(self) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(self.columns or list(BASE_COLUMNS))
        return self._buffer.getvalue()

    def _with_class(self, text: str, name: str) -> str:
        # text: x,y,area,classification,status[,measurements...]
        row = next(csv.reader([text.rstrip("\n")])) if '"' in text \
            else text.rstrip("\n").split(",")
        row[3] = _one_line(name)
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(row)
        return self._buffer.getvalue()

    def _line(self, label: int, text: str, first: bool) -> str:
        return f"{label},{text}"


class GeoJSONWriter(StagedTextWriter):
    """QuPath-compatible FeatureCollection of detection polygons.

    Each record becomes one Feature (id: :func:`feature_id` of its final label and
    ``run_id``; coordinates rounded to 2 decimals), written in ascending final id at
    :meth:`commit`. ``metadata`` (settable until commit) is stored as the top-level foreign
    member ``"pathrobust"``; ``colors`` maps classification names to RGB.
    """

    def __init__(self, dest: os.PathLike | str, metadata: Optional[dict] = None,
                 colors: Optional[dict] = None, simplify: float = 0.3, run_id: str = ""):
        super().__init__(dest, metadata)
        self.colors = dict(colors or {})
        self.simplify = simplify
        self.run_id = run_id

    def _encode(self, rec: NucleusRecord) -> str:
        polygon = rec.polygon if rec.polygon is not None else record_polygon(rec, self.simplify)
        ring = [[round(float(x), 2), round(float(y), 2)] for x, y in polygon]
        measurements = clean_json({k: float(v) for k, v in rec.measurements.items()})
        geometry = {"type": "Polygon", "coordinates": [ring]}
        rest = {"measurements": measurements, "status": str(rec.status)}
        return "\t".join((_compact(geometry), self._class_text(str(rec.classification)),
                          _compact(rest)))

    def _class_text(self, name: str) -> str:
        return _compact({"name": name, "color": class_color(name, self.colors)})

    def _with_class(self, text: str, name: str) -> str:
        geometry, _, rest = text.split("\t", 2)
        return "\t".join((geometry, self._class_text(name), rest))

    def _header(self) -> str:
        return ('{"type": "FeatureCollection",\n"pathrobust": ' + dumps(self.metadata)
                + ',\n"features": [')

    def _line(self, label: int, text: str, first: bool) -> str:
        geometry, classification, rest = text.split("\t", 2)
        properties = ('{"objectType":"detection","classification":' + classification
                      + "," + rest[1:])
        return ("\n" if first else ",\n") + (
            f'{{"type":"Feature","id":"{feature_id(label, self.run_id)}",'
            f'"geometry":{geometry},"properties":{properties[:-1]},"label":{label}}}}}')

    def _trailer(self) -> str:
        return "\n]}\n"


def write_summary_csv(path: os.PathLike | str, rows: list[dict]) -> Path:
    """A small table written atomically: the one writer of IHC summaries (rows from
    ``ihc.scoring.summary_row``: slide, layer, region, marker, scores, thresholds), for
    the napari export and the jobs' ``<stem>_summary.csv``. Columns: every row's keys,
    in first-seen order (a missing value is empty)."""
    from ._atomic import atomic_path

    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_csv_value(row.get(c)) for c in columns])
    return Path(path)


def _compact(obj) -> str:
    try:  # already JSON-clean: skip the generic cleaner
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return dumps(obj, separators=(",", ":"))
