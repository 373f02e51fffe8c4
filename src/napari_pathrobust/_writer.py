"""npe2 writer contributions (napari's single-layer signature ``(path, data, meta)``).

Thin wrappers around the export job :mod:`.engine.jobs.export` (Qt-free). A Labels
layer with a features table keeps its review: the TIFF writer also writes the cells table
``<stem>_cells.csv`` beside the TIFF, the OME-Zarr writer puts it inside the folder.
"""

from __future__ import annotations

from typing import Any

from .engine.jobs.export import (
    export_csv,
    export_geojson,
    export_labels_tiff,
    export_labels_zarr,
    tiff_sidecar,
    with_geometry,
)

__all__ = ["write_labels_tif", "write_labels_zarr", "write_labels_geojson",
           "write_features_csv", "export_csv", "export_geojson", "export_labels_tiff",
           "export_labels_zarr", "with_geometry"]


def _meta(meta: dict) -> dict:
    return with_geometry(meta.get("metadata"), meta.get("scale"), meta.get("translate"))


def write_labels_tif(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: a Labels layer -> uint32 TIFF (+ ``<stem>_cells.csv`` with features)."""
    features = meta.get("features")
    written = [str(export_labels_tiff(path, data, _meta(meta), features))]
    sidecar = tiff_sidecar(path)
    if features is not None and len(features) and sidecar.exists():
        written.append(str(sidecar))
    return written


def write_labels_zarr(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: a Labels layer -> OME-Zarr label pyramid."""
    return [str(export_labels_zarr(path, data, _meta(meta), features=meta.get("features")))]


def write_labels_geojson(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: a Labels layer (+ features) -> QuPath GeoJSON."""
    return [str(export_geojson(path, data, meta.get("features"), _meta(meta)))]


def write_features_csv(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 writer: a Labels or Points layer's per-cell features -> CSV."""
    return [str(export_csv(path, meta.get("features"), _meta(meta)))]
