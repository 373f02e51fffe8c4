"""Layer exports (a job): labels -> TIFF / OME-Zarr, cells -> CSV / QuPath GeoJSON.

Shared by the npe2 writer contributions (``_writer.py``) and the Export widget (with a
progress/cancel Reporter). Outputs are written atomically by the engine writers and are
deterministic: exporting a reopened result again gives byte-identical files. GeoJSON
feature ids come from the result's run id (``metadata["run_id"]``, created and stored in
the layer metadata when missing), so re-exporting the same result gives the same ids.

Coordinates: a layer computed on a region of a slide keeps ``metadata["region"]``
(``[y0, x0, y1, x1]`` in slide pixels); CSV and GeoJSON coordinates are slide pixels
(region origin added), as QuPath expects.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from ..nucleus_records import BASE_COLUMNS, NucleusRecord, measure_objects
from ..progress import Reporter
from ..writers import (
    GeoJSONWriter,
    OmeZarrLabelsWriter,
    PointsCSVWriter,
    ensure_run_id,
    write_labels_tiff,
)

__all__ = [
    "export_labels_tiff", "export_labels_zarr", "export_csv", "export_geojson",
    "feature_records", "iter_label_objects", "region_origin", "with_geometry",
]

#: rows of labels read at once when walking a large label image
BAND_ROWS = 2048
#: extra rows read below a band so objects starting in it are whole (taller ones are cut)
BAND_MARGIN = 256


def region_origin(metadata: Optional[dict]) -> tuple[int, int]:
    """(row, col) of the layer's pixel (0, 0) in slide pixels (0, 0 without a region)."""
    region = (metadata or {}).get("region")
    if region is None:
        return 0, 0
    return int(region[0]), int(region[1])


def _level0(data: Any) -> Any:
    return data[0] if isinstance(data, (list, tuple)) else data


def _table(features) -> dict[str, np.ndarray]:
    """Features (DataFrame, dict or None) as a dict of numpy columns."""
    if features is None:
        return {}
    if hasattr(features, "to_dict") and hasattr(features, "columns"):
        return {str(c): np.asarray(features[c]) for c in features.columns}
    return {str(k): np.asarray(v) for k, v in dict(features).items()}


def feature_records(features, metadata: Optional[dict] = None) -> list[NucleusRecord]:
    """Records (no masks) from a features table, centroids shifted to slide pixels."""
    table = _table(features)
    if not table or "label" not in table:
        return []
    oy, ox = region_origin(metadata)
    names = [c for c in table if c not in BASE_COLUMNS and c != "index"]
    n = len(table["label"])
    ys, xs = table.get("y", np.zeros(n)), table.get("x", np.zeros(n))
    classes = table.get("classification", np.full(n, "Nucleus", dtype=object))
    statuses = table.get("status", np.full(n, "unreviewed", dtype=object))
    records = []
    for i in range(n):
        area = int(table["area"][i]) if "area" in table else 0
        measurements = {"area": float(area)}
        for name in names:
            value = table[name][i]
            try:
                measurements[name] = float(value)
            except (TypeError, ValueError):
                continue
        records.append(NucleusRecord(
            label=int(table["label"][i]), y0=oy, x0=ox, mask=np.zeros((0, 0), bool),
            centroid_y=oy + float(ys[i]), centroid_x=ox + float(xs[i]), area=area,
            measurements=measurements, classification=str(classes[i]),
            status=str(statuses[i])))
    records.sort(key=lambda r: r.label)
    return records


def iter_label_objects(labels: Any, reporter: Optional[Reporter] = None,
                       band: int = BAND_ROWS, margin: int = BAND_MARGIN
                       ) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Yield ``(label, y0, x0, mask)`` for every object, band by band (numpy or zarr).

    An object belongs to the band holding its top row, so an object crossing a band
    boundary is yielded once; at most ``band + margin + 1`` rows are in memory at once.
    Within a band objects come in label order.
    """
    from scipy import ndimage

    height = int(labels.shape[0])
    n_bands = max(1, math.ceil(height / band))
    for k in range(n_bands):
        if reporter is not None:
            reporter.report(k, n_bands, f"outlines: rows {k * band}/{height}")
        b0, b1 = k * band, min((k + 1) * band, height)
        top = max(0, b0 - 1)  # one row above: objects present there began in a band above
        window = np.asarray(labels[top:min(b1 + margin, height)])
        for index, slc in enumerate(ndimage.find_objects(window)):
            if slc is None or slc[0].start >= b1 - top or slc[0].start < b0 - top:
                continue
            value = index + 1
            mask = window[slc] == value
            yield value, top + slc[0].start, slc[1].start, mask


def _geojson_records(labels: Any, features, metadata: Optional[dict],
                     reporter: Optional[Reporter]) -> Iterator[NucleusRecord]:
    """Records with masks: measurements from ``features``, measured where missing."""
    by_label = {r.label: r for r in feature_records(features, metadata)}
    oy, ox = region_origin(metadata)
    for value, y0, x0, mask in iter_label_objects(labels, reporter):
        rec = by_label.get(value)
        if rec is None:
            (rec,) = measure_objects(mask.astype(np.uint8), None, offset=(y0 + oy, x0 + ox))
            rec.label = value
        rec.y0, rec.x0, rec.mask = y0 + oy, x0 + ox, mask
        yield rec


def _clean_metadata(metadata: Optional[dict]) -> dict:
    from ..writers._atomic import clean_json

    return clean_json(dict(metadata or {}))


def export_labels_tiff(path, labels: Any, metadata: Optional[dict] = None) -> Path:
    """Level 0 of a label layer as a compressed uint32 TIFF with the metadata."""
    metadata = _clean_metadata(metadata)
    return write_labels_tiff(path, np.asarray(_level0(labels)), metadata=metadata,
                             mpp=metadata.get("mpp"))


def export_labels_zarr(path, labels: Any, metadata: Optional[dict] = None,
                       reporter: Optional[Reporter] = None, chunk: int = 1024) -> Path:
    """Level 0 of a label layer as an OME-Zarr pyramid, copied chunk by chunk."""
    metadata = _clean_metadata(metadata)
    level = _level0(labels)
    height, width = int(level.shape[0]), int(level.shape[1])
    name = str(metadata.get("name", Path(path).stem))
    with OmeZarrLabelsWriter(path, (height, width), chunk=chunk, metadata=metadata,
                             mpp=metadata.get("mpp"), name=name) as writer:
        total = math.ceil(height / chunk) * math.ceil(width / chunk)
        done = 0
        for y0 in range(0, height, chunk):
            for x0 in range(0, width, chunk):
                if reporter is not None:
                    reporter.report(done, total, "copying labels")
                block = np.asarray(level[y0:y0 + chunk, x0:x0 + chunk])
                writer.array[y0:y0 + block.shape[0], x0:x0 + block.shape[1]] = block
                done += 1
        return writer.finalize(reporter)


def export_csv(path, features, metadata: Optional[dict] = None) -> Path:
    """One row per cell: label, x, y (slide pixels), area, class, status, measurements."""
    with PointsCSVWriter(path) as writer:
        writer.add(feature_records(features, metadata))
    return Path(path)


def export_geojson(path, labels: Any, features=None, metadata: Optional[dict] = None,
                   reporter: Optional[Reporter] = None) -> Path:
    """Cell outlines with class, status and measurements as a QuPath FeatureCollection.

    Feature ids follow ``metadata["run_id"]`` (stored into ``metadata`` when missing)."""
    if metadata is not None:
        ensure_run_id(metadata)
    metadata = _clean_metadata(metadata)
    run_id = ensure_run_id(metadata)
    with GeoJSONWriter(path, metadata=metadata, run_id=run_id) as writer:
        batch: list[NucleusRecord] = []
        for rec in _geojson_records(_level0(labels), features, metadata, reporter):
            batch.append(rec)
            if len(batch) >= 1024:
                writer.add(batch)
                batch = []
        writer.add(batch)
    return Path(path)


def with_geometry(metadata: Optional[dict], scale=None, translate=None) -> dict:
    """Layer metadata plus its (y, x) scale and translate, so a reopened file lines up.

    A ``metadata`` dict without a run id gets one (stored in it: the layer keeps it), so
    every export of the same layer carries the same run id and GeoJSON feature ids."""
    if metadata is not None:
        ensure_run_id(metadata)
    out = dict(metadata or {})
    if scale is not None:
        out["scale"] = [float(v) for v in list(scale)[-2:]]
    if translate is not None:
        out["translate"] = [float(v) for v in list(translate)[-2:]]
    return out
