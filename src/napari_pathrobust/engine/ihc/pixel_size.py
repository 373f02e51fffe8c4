"""Estimate an image's pixel size from its nuclei, for images that do not state one.

Microscope-camera images (and screenshots) carry no pixel size. Nuclei are the ruler:
a tumour or stromal nucleus is about the same size in microns on every slide, so the
median width of the image's single nuclei in pixels gives its microns per pixel.

:func:`estimate_mpp` finds compact stained blobs on a nucleus image (hematoxylin + DAB
optical density for IHC, hematoxylin for H&E), thresholded at the Otsu level of the
sample (no size parameter, so it needs no scale), keeps the convex ones (solidity >=
0.9: single nuclei, not clumps) away from the border, and divides
:data:`NUCLEUS_DIAMETER_UM` by their median equivalent diameter in pixels. That constant
is the median such diameter measured this way on MoNuSeg train tiles at 0.25 um/px
(the tuning tiles of benchmarks/eval_mpp_estimate.py); the error on the other tiles and
scales, and on ki67-dev, is in docs/ihc.md. Fewer than :data:`MIN_NUCLEI` such nuclei:
no estimate (None).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from ..stain import hematoxylin_od
from .detection import estimate_hdab_vectors, hdab_channels

#: area-weighted median blob width (um) found by :func:`nucleus_widths`
#: (calibrated on MoNuSeg train tuning tiles at 0.25 um/px)
NUCLEUS_DIAMETER_UM = 5.5
#: fewest single nuclei for an estimate
MIN_NUCLEI = 10
#: estimates are kept within this range (um/px); outside it the image is not read as tissue
MPP_RANGE = (0.05, 2.0)
#: larger samples are measured on a central crop of at most this many pixels per side
MAX_SIDE = 2048


def nucleus_image(rgb: np.ndarray, stain: str = "he") -> np.ndarray:
    """Nucleus optical density: hematoxylin (H&E) or hematoxylin + DAB (IHC)."""
    if stain == "ihc":
        hema, dab = hdab_channels(rgb, estimate_hdab_vectors(rgb))
        return hema + np.maximum(dab, 0.0)
    return hematoxylin_od(rgb)


def nucleus_widths(rgb: np.ndarray, stain: str = "he") -> tuple[np.ndarray, np.ndarray]:
    """(widths in px, areas) of the stained blobs of an RGB sample: each blob's width is
    the diameter of its largest inscribed disc (twice its largest distance to the
    background), the same for a single nucleus and a clump of touching ones."""
    rgb = np.asarray(rgb)[..., :3]
    h, w = rgb.shape[:2]
    y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    rgb = rgb[y0:y0 + MAX_SIDE, x0:x0 + MAX_SIDE]
    img = ndi.gaussian_filter(nucleus_image(rgb, stain), 1.0)
    if not np.ptp(img) > 0.05:
        return np.zeros(0), np.zeros(0)
    mask = ndi.binary_fill_holes(ndi.binary_opening(img > threshold_otsu(img)))
    labels, n = ndi.label(mask)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    ids = np.arange(1, n + 1)
    radius = ndi.maximum(ndi.distance_transform_edt(mask), labels, ids)
    area = ndi.sum(mask, labels, ids)
    keep = area >= 12
    return 2.0 * np.asarray(radius)[keep], np.asarray(area)[keep]


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half the total weight lies."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def estimate_mpp(rgb: np.ndarray, stain: str = "he") -> Optional[float]:
    """Microns per pixel from the sample's nuclei, or None when too few are found."""
    widths, areas = nucleus_widths(rgb, stain)
    if widths.size < MIN_NUCLEI:
        return None
    mpp = NUCLEUS_DIAMETER_UM / weighted_median(widths, areas)
    return round(mpp, 4) if MPP_RANGE[0] <= mpp <= MPP_RANGE[1] else None
