"""Atomic writers for every engine output (labels, tables, GeoJSON, overlay, run sidecar).

Every writer writes a hidden temporary sibling (``.<name>.tmp-<random>``) and moves it into
place with ``os.replace`` only on success; failures and cancellation leave nothing behind
and an older destination untouched. Jobs write into a staging folder inside the image's
checkpoint folder and publish all outputs of one image together (``jobs/outputs.py``).
"""

from ._atomic import atomic_path
from .labels import (
                     OmeZarrLabelsWriter,
                     read_labels_tiff,
                     read_ome_zarr_labels,
                     write_labels_tiff,
                     write_map_tiff,
)
from .overlay import write_overlay_png
from .run_record import write_run_json
from .tables import (
    GeoJSONWriter,
    PointsCSVWriter,
    ensure_run_id,
    feature_id,
    new_run_id,
)

__all__ = [
    "atomic_path",
    "write_labels_tiff",
    "write_map_tiff",
    "read_labels_tiff",
    "OmeZarrLabelsWriter",
    "read_ome_zarr_labels",
    "PointsCSVWriter",
    "GeoJSONWriter",
    "feature_id",
    "new_run_id",
    "ensure_run_id",
    "write_overlay_png",
    "write_run_json",
]
