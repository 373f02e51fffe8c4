"""napari reader: slides (lazy, multiscale RGB) and this plugin's results.

* Slides open lazily as multiscale Image layers: the vendor formats OpenSlide reads (SVS,
  NDPI, VMS, MRXS, SCN, BIF, SVSLIDE, Philips TIFF, DICOM WSI: one .dcm or its folder),
  Zeiss CZI, TIFF / OME-TIFF and OME-Zarr. A file that cannot be opened raises one line
  naming it and the problem. Associated images (label, macro) are not layers; see
  ``engine.api.read_associated_image``.
* Label TIFFs and OME-Zarr label pyramids written by this plugin open as Labels; their
  cells table (``<stem>_cells.csv`` beside the TIFF, ``cells.csv`` inside the zarr)
  becomes the layer's features, so statuses and classes of a review come back.
* A cells CSV written by this plugin (header ``label,x,y,area,classification,status``,
  newer files then ``base_class,intensity,class_source,class_probability``) opens as a
  Points layer of centroids with those features.
* GeoJSON (this plugin's or QuPath's) is rasterised to Labels whose features carry
  label, centroid, area, classification, status, the class parts and every stored
  measurement; a slide-sized one lazily, block by block (:mod:`.engine.polygon_labels`).
* Files written before the class parts existed open too: base class and intensity are
  split out of ``classification`` ("Tumor: Positive", "Positive", "Tumor").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_SLIDE_SUFFIXES = (".svs", ".tif", ".tiff", ".zarr", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs",
                   ".bif", ".svslide", ".dcm", ".czi")


def get_reader(path):
    """Return a reader function for files this plugin opens, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    name = str(path).lower().rstrip("/")
    if name.endswith(".geojson"):
        return read_geojson
    if name.endswith(".csv"):
        return read_cells_csv if _is_cells_csv(Path(path)) else None
    if Path(path).is_dir() and not name.endswith(".zarr"):
        return read_slide if _has_dicom(Path(path)) else None  # a DICOM WSI folder
    if not name.endswith(_SLIDE_SUFFIXES):
        return None
    if name.endswith(".zarr") and not Path(path).is_dir():
        return None
    return read_slide


def _has_dicom(folder: Path) -> bool:
    try:
        return any(f.suffix.lower() == ".dcm" for f in folder.iterdir())
    except OSError:
        return False


def _label_tiff_metadata(path: Path):
    """The stored metadata when ``path`` is a label TIFF written by this plugin, else None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            description = tif.pages[0].description or ""
    except Exception:  # not a TIFF we can parse: let the slide reader explain
        return None
    if '"pathrobust"' not in description:
        return None
    try:
        parsed = json.loads(description)
    except ValueError:
        return None
    return parsed.get("pathrobust") if isinstance(parsed, dict) else None


def _labels_kwargs(name: str, metadata: dict) -> dict:
    kwargs = {"name": name, "metadata": metadata}
    mpp = metadata.get("mpp")
    if metadata.get("scale") is not None:
        kwargs["scale"] = tuple(metadata["scale"])
        units = metadata.get("units") or (("um", "um") if mpp else None)
        if units:
            kwargs["units"] = tuple(units)[-2:]
    elif mpp:
        kwargs["scale"], kwargs["units"] = (mpp, mpp), ("um", "um")
    if metadata.get("translate") is not None:
        kwargs["translate"] = tuple(metadata["translate"])
    return kwargs


def _ome_label_attrs(path: Path):
    import zarr

    try:
        attrs = dict(zarr.open_group(store=str(path), mode="r").attrs)
    except Exception:  # not a zarr group
        return None
    ome = attrs.get("ome") or {}
    if "image-label" in ome or "pathrobust" in attrs:
        return attrs
    return None


def _is_cells_csv(path: Path) -> bool:
    from .engine.api import CSV_HEADER

    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().startswith(CSV_HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def _with_cells(kwargs: dict, table: Path, metadata: dict, digest=None) -> dict:
    """``kwargs`` plus the features stored in ``table`` (when the file exists and, with
    ``digest``, is the very table written with the labels)."""
    from .engine.api import file_digest, read_cells_table

    if table.is_file() and (digest is None or file_digest(table) == digest):
        kwargs["features"] = read_cells_table(table, metadata)
    return kwargs


def read_cells_csv(path):
    """Open a cells CSV as a Points layer (centroids, slide pixels) with its features."""
    from .engine.api import read_cells_table

    if isinstance(path, list):
        path = path[0]
    p = Path(path)
    features = read_cells_table(p)
    points = np.stack([np.asarray(features["y"], float), np.asarray(features["x"], float)],
                      axis=1) if features["label"] else np.zeros((0, 2))
    kwargs = {"name": _stem(p), "features": features, "size": 6, "face_color": "yellow",
              "metadata": {"path": str(p)}}
    return [(points, kwargs, "points")]


def read_slide(path):
    """Open a slide lazily (a pyramid when it has several levels) or a label result."""
    from .engine.api import open_image, read_labels_tiff, read_ome_zarr_labels

    if isinstance(path, list):
        path = path[0]
    p = Path(path)
    if p.is_file() and p.suffix.lower() in (".tif", ".tiff"):
        metadata = _label_tiff_metadata(p)
        if metadata is not None:
            from .engine.jobs.export import tiff_sidecar

            labels, stored = read_labels_tiff(p)
            kwargs = _with_cells(_labels_kwargs(_stem(p), stored), tiff_sidecar(p), stored,
                                 digest=stored.get("cells_sha256") or "")
            return [(labels, kwargs, "labels")]
    if p.is_dir() and _ome_label_attrs(p) is not None:
        import dask.array as da

        levels, attrs = read_ome_zarr_labels(p)
        stored = attrs.get("pathrobust") or {}
        data = [da.from_zarr(level) for level in levels]
        from .engine.api import ZARR_CELLS

        kwargs = _with_cells(_labels_kwargs(_stem(p), stored), p / ZARR_CELLS, stored)
        if len(data) > 1:
            return [(data, dict(kwargs, multiscale=True), "labels")]
        return [(data[0], kwargs, "labels")]
    slide = open_image(path)
    levels = slide.levels
    kwargs = {"name": slide.name, "rgb": True, "metadata": {"mpp": slide.mpp, "path": str(path),
                                                            **slide.metadata}}
    if slide.mpp:
        kwargs.update(scale=(slide.mpp, slide.mpp), units=("um", "um"))
    if len(levels) > 1:
        return [(levels, dict(kwargs, multiscale=True), "image")]
    return [(levels[0], kwargs, "image")]


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".ome.zarr", ".zarr", ".ome.tiff", ".ome.tif", ".tiff", ".tif", ".geojson",
                   ".csv"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


def read_geojson(path):
    """Open a GeoJSON of cell polygons as a Labels layer with per-cell features.

    Extents up to :data:`.engine.polygon_labels.EAGER_MAX_PIXELS` are painted at once (an
    editable layer); larger ones (a whole slide) become a lazy pyramid painted block by
    block when napari reads it, so no slide-sized canvas is ever allocated.
    """
    from .engine.api import (
        EAGER_MAX_PIXELS,
        cell_features,
        geojson_extent,
        lazy_label_levels,
        paint_labels,
        read_geojson_cells,
    )

    if isinstance(path, list):
        path = path[0]
    p = Path(path)
    cells, metadata = read_geojson_cells(p)
    origin, shape = geojson_extent(p, cells, metadata)
    kwargs = _labels_kwargs(_stem(p), metadata)
    kwargs["features"] = cell_features(cells, origin)
    if shape[0] * shape[1] <= EAGER_MAX_PIXELS:
        return [(paint_labels(cells, shape, origin), kwargs, "labels")]
    levels = lazy_label_levels(cells, shape, origin)
    if len(levels) > 1:
        return [(levels, dict(kwargs, multiscale=True), "labels")]
    return [(levels[0], kwargs, "labels")]
