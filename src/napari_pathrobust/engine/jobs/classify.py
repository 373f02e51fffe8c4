"""Cell-classifier jobs: train from result files, classify a cells table or result files.

:func:`train_from_results` reads the files Export (or ``pathrobust segment``) writes — a
label TIFF with its ``<stem>_cells.csv``, an OME-Zarr folder with ``cells.csv``, a cells
CSV beside its labels, or a GeoJSON of cell polygons — measures every cell on the source
image (``metadata["source"]``, or the ``image`` given) and fits a
:class:`..classify.CellClassifier` on the cells named in them. :func:`apply_classifier`
classifies a cells table in memory (the Cell classifier dock); :func:`classify_outputs`
adds classes to the outputs of a segment job (``pathrobust segment --classifier``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..classify import CellClassifier, measure_cells, training_mask
from ..classify.classifier import rows_of
from ..errors import InputError
from ..progress import Reporter
from ..results import ZARR_CELLS, read_cells_table, region_origin

__all__ = ["ResultFiles", "read_result", "train_from_results", "train_on_cells",
           "apply_classifier", "classify_outputs", "load_classifier"]


class ResultFiles:
    """One result read back: labels (layer pixels), cells table, metadata, origin file."""

    def __init__(self, path: Path, labels: Any, cells: dict, metadata: dict):
        self.path, self.labels, self.cells, self.metadata = path, labels, cells, metadata


def load_classifier(path) -> CellClassifier:
    """:meth:`CellClassifier.load` (InputError naming the file when it is not one)."""
    return CellClassifier.load(path)


def _labels_beside(csv: Path) -> Optional[Path]:
    name = csv.name
    stems = [name[: -len(suffix)] for suffix in ("_cells.csv", "_points.csv")
             if name.endswith(suffix)]
    for stem in stems:
        for candidate in (f"{stem}.tif", f"{stem}.tiff", f"{stem}_labels.tif",
                          f"{stem}_labels.zarr", f"{stem}.zarr"):
            if (csv.parent / candidate).exists():
                return csv.parent / candidate
    return None


def _cells_beside(labels: Path) -> Optional[Path]:
    stem = labels.name.rsplit(".", 1)[0]
    base = stem[: -len("_labels")] if stem.endswith("_labels") else stem
    for candidate in (f"{stem}_cells.csv", f"{base}_points.csv"):
        if (labels.parent / candidate).is_file():
            return labels.parent / candidate
    return None


def read_result(path) -> ResultFiles:
    """Labels, cells table and metadata of one result file (see the module docstring)."""
    from ..writers import read_labels_tiff, read_ome_zarr_labels

    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".geojson" or suffix == ".json":
        return _read_geojson(path)
    if suffix == ".csv":
        labels_path = _labels_beside(path)
        if labels_path is None:
            raise InputError(path, "no labels beside this cells table (expected "
                                   "<stem>.tif, <stem>_labels.tif or .zarr): give the "
                                   "label TIFF, OME-Zarr or GeoJSON instead")
        result = read_result(labels_path)
        result.cells = read_cells_table(path, result.metadata)
        result.path = path
        return result
    if suffix == ".zarr":
        levels, attrs = read_ome_zarr_labels(path)
        metadata = dict(attrs.get("pathrobust") or {})
        table = path / ZARR_CELLS if (path / ZARR_CELLS).is_file() else _cells_beside(path)
        labels = levels[0]
    else:
        labels, metadata = read_labels_tiff(path)
        table = _cells_beside(path)
    if table is None:
        raise InputError(path, "no cells table with these labels (Export writes "
                               "<stem>_cells.csv beside a label TIFF)")
    return ResultFiles(path, labels, read_cells_table(table, metadata), metadata)


def _read_geojson(path: Path) -> ResultFiles:
    from ..polygon_labels import cell_features as polygon_table
    from ..polygon_labels import lazy_label_levels
    from ..results import geojson_extent, read_geojson_cells

    cells, metadata = read_geojson_cells(path)
    origin, shape = geojson_extent(path, cells, metadata)
    return ResultFiles(path, lazy_label_levels(cells, shape, origin)[0],
                       polygon_table(cells, origin), metadata)


def _image_for(result: ResultFiles, image=None, mpp=None):
    """The RGB pixels under the result's labels (a lazy window) and the pixel size
    (``mpp``, else the result's, else the image's; None when none states it)."""
    from ..io import open_image

    source = image if image is not None else result.metadata.get("source")
    if not source or not Path(str(source)).exists():
        raise InputError(result.path, f"the source image {source or '(not recorded)'} "
                                      "is not here: give it with --image")
    slide = open_image(source)
    oy, ox = region_origin(result.metadata)
    h, w = int(result.labels.shape[0]), int(result.labels.shape[1])
    if slide.shape[0] < oy + h or slide.shape[1] < ox + w:
        raise InputError(source, f"image {tuple(slide.shape)} is smaller than the "
                                 f"labels of {result.path.name} ({h}x{w} at {oy},{ox})")
    mpp = mpp or result.metadata.get("mpp") or \
        (result.metadata.get("pixel_size") or {}).get("mpp") or slide.mpp
    return slide.data[oy:oy + h, ox:ox + w], mpp


def train_on_cells(labels, image, cells, mpp=None, seed: int = 0,
                   reporter: Optional[Reporter] = None, source: str = "named cells",
                   features: Optional[dict] = None) -> tuple[CellClassifier, dict]:
    """Fit a classifier on the named cells of ``cells`` (labels/image in layer pixels);
    returns it and the feature table (give ``features`` to reuse one)."""
    reporter = reporter or Reporter()
    if features is None:
        features = measure_cells(image, labels, mpp, reporter=reporter.sub(0, 90, 100))
    mask = training_mask(cells)
    rows = rows_of(features, np.asarray(cells["label"], np.int64)[mask])
    names = np.asarray(_base(cells), dtype=object)[mask][rows >= 0]
    table = {k: np.asarray(v)[rows[rows >= 0]] for k, v in features.items()}
    reporter.report(90, 100, f"fitting on {len(names)} named cells")
    return CellClassifier.fit(table, list(names), seed=seed, source=source), features


def apply_classifier(classifier: CellClassifier, labels, image, cells, mpp=None,
                   reporter: Optional[Reporter] = None, features: Optional[dict] = None,
                   source: str = "cells"):
    """``cells`` with every cell not named by the pathologist classified."""
    reporter = reporter or Reporter()
    if features is None:
        features = measure_cells(image, labels, mpp, reporter=reporter.sub(0, 90, 100))
    reporter.report(95, 100, "classifying")
    out = classifier.classify_table(cells, features, source)
    reporter.report(100, 100, "cells classified")
    return out


def _base(cells) -> list:
    from ..cell_classes import BASE, with_classes

    return list(with_classes(cells)[BASE])


def train_from_results(results: Sequence, images: Optional[Sequence] = None, seed: int = 0,
                       reporter: Optional[Reporter] = None,
                       mpp: Optional[float] = None) -> CellClassifier:
    """A classifier fitted on the named cells of every result file (see module doc).
    ``images``: the source image of each result (one for all, or None: from metadata);
    ``mpp``: the pixel size of them all (default: from the results or images)."""
    from ..classify import FEATURES, check_training

    reporter = reporter or Reporter()
    results = [Path(p) for p in results]
    if images is not None and len(images) not in (1, len(results)):
        raise InputError("--image", f"give one image, or one per result "
                                    f"({len(results)}), not {len(images)}")
    tables, names, sources = [], [], []
    for k, path in enumerate(results):
        sub = reporter.sub(k * 100, 100, 100 * len(results) + 10)
        result = read_result(path)
        image = None if images is None else images[0 if len(images) == 1 else k]
        pixels, used = _image_for(result, image, mpp)
        features = measure_cells(pixels, result.labels, used, reporter=sub)
        mask = training_mask(result.cells)
        rows = rows_of(features, np.asarray(result.cells["label"], np.int64)[mask])
        tables.append({f: np.asarray(features[f])[rows[rows >= 0]] for f in FEATURES})
        names += list(np.asarray(_base(result.cells), dtype=object)[mask][rows >= 0])
        sources.append({"file": str(path), "image": str(image or result.metadata.get(
            "source")), "named": int((rows >= 0).sum()),
            "mpp": float(used) if used else None})
    reporter.report(100 * len(results), 100 * len(results) + 10, "fitting")
    check_training(names, ", ".join(p.name for p in results))
    table = {f: np.concatenate([t[f] for t in tables]) for f in FEATURES}
    return CellClassifier.fit(table, names, seed=seed, source=", ".join(
        p.name for p in results), extra={"trained_on": sources})


def classify_outputs(outputs: dict, classifier: CellClassifier, image,
                     classifier_path=None, reporter: Optional[Reporter] = None) -> dict:
    """Classify the cells of a segment job's outputs (roles ``labels``, ``points``,
    ``geojson``, ``run``) on ``image``; the points CSV, GeoJSON and run record are
    rewritten together (all or none). Returns the base-class counts."""
    from ..ihc.scoring import summary_row
    from ..results import file_digest, read_geojson_cells
    from ..writers import write_run_json
    from ..writers.tables import write_summary_csv
    from .export import export_csv, export_geojson
    from .outputs import OutputSet

    reporter = reporter or Reporter()
    result = read_result(Path(outputs["labels"]))
    result.cells = read_cells_table(outputs["points"])
    pixels, mpp = _image_for(result, image)
    cells = apply_classifier(classifier, result.labels, pixels, result.cells, mpp,
                           reporter.sub(0, 80, 100), source=str(image))
    record = dict(classifier.card, file=str(classifier_path or ""),
                  sha256=file_digest(classifier_path) if classifier_path else "")
    run = json.loads(Path(outputs["run"]).read_text(encoding="utf-8"))
    run["classifier"] = record
    _, geo_meta = read_geojson_cells(outputs["geojson"])
    geo_meta["classifier"] = record
    stem = Path(outputs["points"]).name[: -len("_points.csv")]
    staged = OutputSet(Path(outputs["points"]).parent, stem)
    try:
        reporter.report(80, 100, "writing classes")
        export_csv(staged.stage("points", Path(outputs["points"]).name), cells)
        export_geojson(staged.stage("geojson", Path(outputs["geojson"]).name),
                       result.labels, cells, geo_meta)
        summary = _rescored(cells, run) if outputs.get("summary") else None
        if summary is not None:  # IHC: the index now counts the classifier's base class
            run["ihc_summary"] = summary
            write_summary_csv(staged.stage("summary", Path(outputs["summary"]).name),
                              [summary_row(summary, slide=stem)])
        write_run_json(staged.stage("run", Path(outputs["run"]).name), run)
        reporter.check()
        staged.publish()
    finally:
        staged.discard()
    base = np.asarray(_base(cells), dtype=object)
    names, counts = np.unique(base[base != ""], return_counts=True)
    return {str(k): int(v) for k, v in zip(names, counts)}


def _rescored(cells, run: dict) -> Optional[dict]:
    """The IHC summary of ``cells`` with the run's thresholds (None for an H&E run):
    after classification its tumour index counts the classifier's base class."""
    from ..ihc.scoring import IhcThresholds, ihc_summary

    before = run.get("ihc_summary")
    if not before:
        return None
    used = dict(before.get("thresholds") or {})
    used.pop("fitted_cut", None)
    return ihc_summary(cells, IhcThresholds(**used), before.get("base_class") or "Tumor")

