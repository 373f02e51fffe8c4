"""Layer exports (a job): labels -> TIFF / OME-Zarr, cells -> CSV / QuPath GeoJSON.

Shared by the npe2 writer contributions (``_writer.py``) and the Export widget (with a
progress/cancel Reporter). Outputs are written atomically by the engine writers and are
deterministic: exporting a reopened result again gives byte-identical files. GeoJSON
feature ids come from the result's run id (``metadata["run_id"]``, created and stored in
the layer metadata when missing), so re-exporting the same result gives the same ids.

Coordinates: a layer computed on a region of a slide keeps ``metadata["region"]``
(``[y0, x0, y1, x1]`` in slide pixels); CSV and GeoJSON coordinates are slide pixels
(region origin added), as QuPath expects.

Reviews round-trip through every format: CSV and GeoJSON carry ``classification`` (the
compound, "Tumor: Positive"), its parts (base class, intensity, who set the base) and
``status`` per cell; a label TIFF gets the cells table as a sidecar ``<stem>_cells.csv``
(published with the TIFF, all or none) and an OME-Zarr holds it as ``cells.csv`` inside
its folder; :func:`..results.read_cells_table` reads such a table back as layer features.
``drop_rejected`` leaves cells whose status is ``rejected`` out of every format
(their pixels set to 0, their rows dropped).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from .. import cell_classes as cc
from ..nucleus_records import BASE_COLUMNS, NucleusRecord, measure_objects
from ..progress import Reporter
from ..results import ZARR_CELLS, file_digest, region_origin
from ..writers import (
    GeoJSONWriter,
    OmeZarrLabelsWriter,
    PointsCSVWriter,
    ensure_run_id,
    write_labels_tiff,
)

__all__ = [
    "export_labels_tiff", "export_labels_zarr", "export_csv", "export_geojson",
    "feature_records", "iter_label_objects", "with_geometry", "rejected_labels",
    "tiff_sidecar",
]

#: rows of labels read at once when walking a large label image
BAND_ROWS = 2048
#: extra rows read below a band so objects starting in it are whole (taller ones are cut)
BAND_MARGIN = 256


def _level0(data: Any) -> Any:
    """Level 0 of a pyramid (a list, or napari's MultiScaleData: any Sequence)."""
    from collections.abc import Sequence

    return data[0] if isinstance(data, Sequence) else data


def _table(features) -> dict[str, np.ndarray]:
    """Features (DataFrame, dict or None) as a dict of numpy columns."""
    if features is None:
        return {}
    if hasattr(features, "to_dict") and hasattr(features, "columns"):
        return {str(c): np.asarray(features[c]) for c in features.columns}
    return {str(k): np.asarray(v) for k, v in dict(features).items()}


def rejected_labels(features) -> np.ndarray:
    """Label ids whose status is ``rejected`` (int64, sorted; empty without statuses)."""
    table = _table(features)
    if "label" not in table or "status" not in table:
        return np.zeros(0, np.int64)
    rejected = np.asarray([str(s) == cc.REJECTED for s in table["status"]], bool)
    return np.unique(np.asarray(table["label"], np.int64)[rejected])


def _kept_features(features, drop_rejected: bool):
    """``features`` as a column dict, without rejected rows when ``drop_rejected``."""
    table = _table(features)
    if not drop_rejected or "status" not in table:
        return table
    keep = np.asarray([str(s) != cc.REJECTED for s in table["status"]], bool)
    return {k: v[keep] for k, v in table.items()}


def _without(block: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """``block`` with the ``rejected`` label ids set to 0 (a copy when any is present)."""
    if not len(rejected) or not block.size:
        return block
    hit = np.isin(block, rejected)
    if hit.any():
        block = np.where(hit, 0, block).astype(block.dtype, copy=False)
    return block


def _text(value) -> str:
    """A text cell of a table ('' for None / NaN)."""
    return "" if value is None or value != value else str(value)


def feature_records(features, metadata: Optional[dict] = None) -> list[NucleusRecord]:
    """Records (no masks) from a features table, centroids shifted to slide pixels."""
    table = _table(features)
    if not table or "label" not in table:
        return []
    oy, ox = region_origin(metadata)
    names = [c for c in table if c not in BASE_COLUMNS and c != "index"]
    n = len(table["label"])
    ys, xs = table.get("y", np.zeros(n)), table.get("x", np.zeros(n))
    classed = cc.with_classes(table)
    bases, intensities = classed[cc.BASE], classed[cc.INTENSITY]
    sources, probabilities = classed[cc.SOURCE], classed[cc.PROBABILITY]
    statuses = table.get(cc.STATUS, np.full(n, cc.UNREVIEWED, dtype=object))
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
            measurements=measurements, classification=str(classed[cc.CLASSIFICATION][i]),
            status=str(statuses[i]), base_class=_text(bases[i]),
            intensity=_text(intensities[i]), class_source=_text(sources[i]),
            class_probability=float(probabilities[i])))
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
                     reporter: Optional[Reporter], skip=()) -> Iterator[NucleusRecord]:
    """Records with masks: measurements from ``features``, measured where missing;
    labels in ``skip`` are left out."""
    by_label = {r.label: r for r in feature_records(features, metadata)}
    skip = {int(v) for v in skip}
    oy, ox = region_origin(metadata)
    for value, y0, x0, mask in iter_label_objects(labels, reporter):
        if value in skip:
            continue
        rec = by_label.get(value)
        if rec is None:
            (rec,) = measure_objects(mask.astype(np.uint8), None, offset=(y0 + oy, x0 + ox))
            rec.label = value
        rec.y0, rec.x0, rec.mask = y0 + oy, x0 + ox, mask
        yield rec


def _clean_metadata(metadata: Optional[dict]) -> dict:
    from ..writers._atomic import clean_json

    return clean_json(dict(metadata or {}))


def tiff_sidecar(path) -> Path:
    """The cells table written beside a label TIFF: ``<stem>_cells.csv``."""
    path = Path(path)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}_cells.csv")


def _done(reporter: Optional[Reporter], what: str) -> None:
    """Report completion (no cancel check: the output is already published)."""
    if reporter is not None and reporter.progress is not None:
        reporter.progress(1, 1, what)


def export_labels_tiff(path, labels: Any, metadata: Optional[dict] = None, features=None,
                       reporter: Optional[Reporter] = None,
                       drop_rejected: bool = False) -> Path:
    """Level 0 of a label layer as a compressed uint32 TIFF with the metadata.

    With a features table (``label`` column) the cells table goes to
    :func:`tiff_sidecar` too; both are published together (all or none)."""
    from .outputs import OutputSet

    metadata = _clean_metadata(metadata)
    if reporter is not None:
        reporter.report(0, 1, "writing labels")
    data = _without(np.asarray(_level0(labels)), rejected_labels(features)
                    if drop_rejected else np.zeros(0, np.int64))
    table = _kept_features(features, drop_rejected)
    path = Path(path)
    if "label" not in table:
        out = write_labels_tiff(path, data, metadata=metadata, mpp=metadata.get("mpp"))
        _done(reporter, "labels written")
        return out
    outputs = OutputSet(path.parent, f"{path.name}.export")
    try:
        cells = export_csv(outputs.stage("cells", tiff_sidecar(path).name), table, metadata)
        if reporter is not None:
            reporter.check()
        # the TIFF names its own cells table: a sidecar left by another export (or a
        # kill between the two renames) never passes for this one's (see file_digest)
        write_labels_tiff(outputs.stage("labels", path.name), data,
                          metadata={**metadata, "cells_sha256": file_digest(cells)},
                          mpp=metadata.get("mpp"))
        outputs.publish()
    finally:
        outputs.discard()
    _done(reporter, "labels and cells written")
    return path


def export_labels_zarr(path, labels: Any, metadata: Optional[dict] = None,
                       reporter: Optional[Reporter] = None, chunk: int = 1024,
                       features=None, drop_rejected: bool = False) -> Path:
    """Level 0 of a label layer as an OME-Zarr pyramid, copied chunk by chunk; with a
    features table, the cells table as ``cells.csv`` inside the folder."""
    metadata = _clean_metadata(metadata)
    level = _level0(labels)
    rejected = rejected_labels(features) if drop_rejected else np.zeros(0, np.int64)
    table = _kept_features(features, drop_rejected)
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
                block = _without(np.asarray(level[y0:y0 + chunk, x0:x0 + chunk]), rejected)
                writer.array[y0:y0 + block.shape[0], x0:x0 + block.shape[1]] = block
                done += 1
        if "label" in table:
            export_csv(writer.staged_file(ZARR_CELLS), table, metadata)
        out = writer.finalize(reporter)
    _done(reporter, "labels written")
    return out


def export_csv(path, features, metadata: Optional[dict] = None,
               reporter: Optional[Reporter] = None, drop_rejected: bool = False) -> Path:
    """One row per cell: label, x, y (slide pixels), area, class, status, measurements."""
    with PointsCSVWriter(path) as writer:
        writer.add(feature_records(_kept_features(features, drop_rejected), metadata))
    _done(reporter, "cells written")
    return Path(path)


def export_geojson(path, labels: Any, features=None, metadata: Optional[dict] = None,
                   reporter: Optional[Reporter] = None, drop_rejected: bool = False) -> Path:
    """Cell outlines with class, status and measurements as a QuPath FeatureCollection.

    Feature ids follow ``metadata["run_id"]`` (stored into ``metadata`` when missing)."""
    if metadata is not None:
        ensure_run_id(metadata)
    metadata = _clean_metadata(metadata)
    run_id = ensure_run_id(metadata)
    skip = rejected_labels(features) if drop_rejected else ()
    with GeoJSONWriter(path, metadata=metadata, run_id=run_id) as writer:
        batch: list[NucleusRecord] = []
        for rec in _geojson_records(_level0(labels), features, metadata, reporter, skip):
            batch.append(rec)
            if len(batch) >= 1024:
                writer.add(batch)
                batch = []
        writer.add(batch)
    _done(reporter, "cells written")
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
