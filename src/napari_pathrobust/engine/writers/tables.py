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

from .. import cell_classes as cc
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


_BREAKS = str.maketrans("\r\n\t", "   ")


def _one_line(text: str) -> str:
    return str(text).translate(_BREAKS)


def _probability(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


#: positions (after the label) of the class columns in a staged CSV row
_CLASS_AT, _BASE_AT, _INTENSITY_AT = 3, 5, 6


class PointsCSVWriter(StagedTextWriter):
    """Centroid table: ``label,x,y,area,classification,status,base_class,intensity,
    class_source,class_probability,<measurements>`` (classification: the compound
    ``"Tumor: Positive"``; its parts in their own columns, see :mod:`..cell_classes`).

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
        base, intensity = rec.class_parts()
        row = [_csv_value(float(rec.centroid_x)), _csv_value(float(rec.centroid_y)),
               str(int(rec.area)), _one_line(cc.compose(base, intensity)),
               _one_line(rec.status), _one_line(base), _one_line(intensity),
               _one_line(rec.class_source), _csv_value(_probability(rec.class_probability))]
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
        # text: x,y,area,classification,status,base,intensity,source,probability[,...]
        row = next(csv.reader([text.rstrip("\n")])) if '"' in text \
            else text.rstrip("\n").split(",")
        row[_INTENSITY_AT] = _one_line(name)
        row[_CLASS_AT] = _one_line(cc.compose(row[_BASE_AT], name))
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
    member ``"pathrobust"``; ``colors`` maps classification names to RGB. A feature's
    ``properties.classification.name`` is the compound class (``"Tumor: Positive"``, as
    QuPath names derived classes); its parts go in ``properties.pathrobust``
    (``base_class``, ``intensity``, ``class_source``, ``class_probability`` when known).
    """

    def __init__(self, dest: os.PathLike | str, metadata: Optional[dict] = None,
                 colors: Optional[dict] = None, simplify: float = 0.3, run_id: str = ""):
        super().__init__(dest, metadata)
        self.colors = dict(colors or {})
        self.simplify = simplify
        self.run_id = run_id
        self._texts: dict[str, str] = {}

    def _encode(self, rec: NucleusRecord) -> str:
        polygon = rec.polygon if rec.polygon is not None else record_polygon(rec, self.simplify)
        ring = [[round(float(x), 2), round(float(y), 2)] for x, y in polygon]
        measurements = clean_json({k: float(v) for k, v in rec.measurements.items()})
        geometry = {"type": "Polygon", "coordinates": [ring]}
        rest = {"measurements": measurements, "status": str(rec.status)}
        base, intensity = rec.class_parts()
        probability = _probability(rec.class_probability)
        return "\t".join((_compact(geometry), _one_line(base), _one_line(intensity),
                          _one_line(rec.class_source),
                          "" if math.isnan(probability) else repr(probability),
                          _compact(rest)))

    def _class_text(self, name: str) -> str:
        return _compact({"name": name, "color": class_color(name, self.colors)})

    def _classes_text(self, classes: str) -> str:
        """``"classification":{...},"pathrobust":{...}`` of the staged class fields
        (base, intensity, source, probability), cached: few cells differ."""
        text = self._texts.get(classes)
        if text is None:
            base, intensity, source, probability = classes.split("\t")
            parts = {cc.BASE: base, cc.INTENSITY: intensity, cc.SOURCE: source}
            if probability:
                parts[cc.PROBABILITY] = float(probability)
            text = ('"classification":' + self._class_text(cc.compose(base, intensity))
                    + ',"pathrobust":' + _compact(parts))
            if len(self._texts) < 4096:  # probabilities make many distinct ones
                self._texts[classes] = text
        return text

    def _with_class(self, text: str, name: str) -> str:
        fields = text.split("\t", 5)
        fields[2] = _one_line(name)
        return "\t".join(fields)

    def _header(self) -> str:
        return ('{"type": "FeatureCollection",\n"pathrobust": ' + dumps(self.metadata)
                + ',\n"features": [')

    def _line(self, label: int, text: str, first: bool) -> str:
        geometry, classes = text.split("\t", 1)
        classes, rest = classes.rsplit("\t", 1)
        properties = '{"objectType":"detection",' + self._classes_text(classes) + "," + rest[1:]
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
