"""Per-cell DAB and hematoxylin optical density: in the nucleus and in the cell.

The *cell* of a nucleus is the nucleus grown by ``expansion_um`` microns (QuPath's
cell expansion, default 5 um), each pixel going to the nearest nucleus (a pixel
equally near two nuclei belongs to both), never into another nucleus. Columns
(:data:`IHC_COLUMNS`, OD units): mean and max DAB in the nucleus and in the cell,
mean hematoxylin in the nucleus and in the cell.

Tiled == untiled: an object's numbers use only pixels within ``2 * expansion + 1`` px
of its bounding box (its cell, and the neighbours that may claim part of it), read in
the same object-relative raster order in every window, so a tile whose halo covers
that reach gives bit-identical values.

DAB is measured as in detection (:func:`.detection.hdab_channels`), with a wider
tolerance for colour off the H-DAB plane (:data:`MEASURE_OFF_PLANE`): on real scans
and camera images the centres of weakly positive nuclei sit at a residual share of
0.05-0.09 (the detection window, 0.06-0.11, took a quarter or more of their DAB away
and called them negative), while H&E eosin lies at 0.12-0.24.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
from scipy import ndimage as ndi

from .detection import hdab_channels

#: feature columns added to every record of an IHC run
IHC_COLUMNS = ("dab_nucleus_mean", "dab_nucleus_max", "dab_cell_mean", "dab_cell_max",
               "hema_nucleus_mean", "hema_cell_mean")
#: residual share of the OD over which measured DAB fades out (detection: 0.06-0.11)
MEASURE_OFF_PLANE = (0.09, 0.14)
#: QuPath's default cell expansion (um)
DEFAULT_EXPANSION_UM = 5.0


def cell_region(own: np.ndarray, others: np.ndarray, expansion_px: float) -> np.ndarray:
    """Boolean cell of the nucleus ``own`` within a crop: pixels at most ``expansion_px``
    from it and no nearer to any pixel of ``others`` (the other nuclei of the crop)."""
    d_own = ndi.distance_transform_edt(~own)
    cell = d_own <= expansion_px
    if others.any():
        cell &= d_own <= ndi.distance_transform_edt(~others)
    return cell


def reach(expansion_px: float) -> int:
    """Pixels around an object's box that its cell measurements read."""
    return 2 * int(np.ceil(expansion_px)) + 1


def measure_object(labels: np.ndarray, hema: np.ndarray, dab: np.ndarray, y0: int, x0: int,
                   mask: np.ndarray, expansion_px: float) -> dict[str, float]:
    """The :data:`IHC_COLUMNS` of the object ``mask`` whose top-left pixel is window
    pixel (``y0``, ``x0``); ``labels`` (any non-zero = a nucleus), ``hema`` and ``dab``
    are the window's arrays."""
    h, w = mask.shape
    r = reach(expansion_px)
    cy0, cx0 = max(y0 - r, 0), max(x0 - r, 0)
    cy1, cx1 = min(y0 + h + r, labels.shape[0]), min(x0 + w + r, labels.shape[1])
    crop = (slice(cy0, cy1), slice(cx0, cx1))
    own = np.zeros((cy1 - cy0, cx1 - cx0), bool)
    own[y0 - cy0:y0 - cy0 + h, x0 - cx0:x0 - cx0 + w] = mask
    cell = cell_region(own, (labels[crop] != 0) & ~own, expansion_px)
    d, hm = dab[crop], hema[crop]
    dn, dc = d[own].astype(np.float64), d[cell].astype(np.float64)
    return {"dab_nucleus_mean": float(dn.mean()), "dab_nucleus_max": float(dn.max()),
            "dab_cell_mean": float(dc.mean()), "dab_cell_max": float(dc.max()),
            "hema_nucleus_mean": float(hm[own].astype(np.float64).mean()),
            "hema_cell_mean": float(hm[cell].astype(np.float64).mean())}


@dataclass
class IhcMeasurer:
    """Adds :data:`IHC_COLUMNS` to a window's records (the pipeline's record hook).

    ``vectors``: the slide's H-DAB matrix (None: fixed); ``expansion_um``: cell
    expansion; ``default_mpp``: pixel size used when the slide's is unknown.
    """

    vectors: Optional[np.ndarray] = None
    expansion_um: float = DEFAULT_EXPANSION_UM
    default_mpp: float = 0.25

    def expansion_px(self, mpp: Optional[float]) -> float:
        return self.expansion_um / (mpp if mpp else self.default_mpp)

    def halo(self, mpp: Optional[float] = None) -> int:
        """Context pixels the measurements read beyond an object's box."""
        return reach(self.expansion_px(mpp))

    def __call__(self, records: Iterable, labels: np.ndarray, rgb: np.ndarray,
                 offset: Sequence[int] = (0, 0), mpp: Optional[float] = None) -> None:
        """Measure ``records`` (global coordinates; window origin at ``offset``) in the
        window ``labels`` / ``rgb``, updating each record's ``measurements``."""
        records = list(records)
        if not records:
            return
        labels = np.asarray(labels)
        hema, dab = hdab_channels(rgb, self.vectors, MEASURE_OFF_PLANE)
        e = self.expansion_px(mpp)
        oy, ox = int(offset[0]), int(offset[1])
        for rec in records:
            rec.measurements.update(measure_object(labels, hema, dab, rec.y0 - oy,
                                                   rec.x0 - ox, rec.mask, e))


def measure_labels(labels: np.ndarray, rgb: np.ndarray, vectors: Optional[np.ndarray] = None,
                   expansion_px: float = DEFAULT_EXPANSION_UM / 0.25) -> dict[int, dict]:
    """:data:`IHC_COLUMNS` of every object of a whole label image: ``{label: {...}}``."""
    labels = np.asarray(labels)
    hema, dab = hdab_channels(rgb, vectors, MEASURE_OFF_PLANE)
    out: dict[int, dict] = {}
    for value, slc in enumerate(ndi.find_objects(labels), start=1):
        if slc is None:
            continue
        mask = labels[slc] == value
        out[value] = measure_object(labels, hema, dab, slc[0].start, slc[1].start, mask,
                                    expansion_px)
    return out
