"""Atomic writers for every engine output (labels, tables, GeoJSON, overlay, run sidecar).

Every writer writes a hidden temporary sibling (``.<name>.tmp-<random>``) and moves it into
place with ``os.replace`` only on success; failures and cancellation leave nothing behind
and an older destination untouched.
"""

from ._atomic import atomic_path
from .labels import (
                     OmeZarrLabelsWriter,
                     read_labels_tiff,
                     read_ome_zarr_labels,
                     write_labels_tiff,
                     write_map_tiff,
)
from .misc import write_overlay_png, write_run_json
from .tables import GeoJSONWriter, PointsCSVWriter, feature_id, read_geojson_polygons

__all__ = [
    "atomic_path",
    "write_labels_tiff",
    "write_map_tiff",
    "read_labels_tiff",
    "OmeZarrLabelsWriter",
    "read_ome_zarr_labels",
    "PointsCSVWriter",
    "GeoJSONWriter",
    "read_geojson_polygons",
    "feature_id",
    "write_overlay_png",
    "write_run_json",
]
