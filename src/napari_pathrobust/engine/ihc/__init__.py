"""IHC (H-DAB) support: stain vectors and detection image, per-cell DAB measurements.

The classification thresholds, bins and scores live in :mod:`.scoring`.
"""

from .detection import (
    REFERENCE_VECTORS,
    HdabDetector,
    detection_image,
    estimate_hdab_vectors,
    hdab_channels,
)
from .measurements import IHC_COLUMNS, IhcMeasurer, cell_region, measure_labels

__all__ = ["REFERENCE_VECTORS", "HdabDetector", "detection_image", "estimate_hdab_vectors",
           "hdab_channels", "IHC_COLUMNS", "IhcMeasurer", "cell_region", "measure_labels"]
