"""Local mask and label operations shared by the methods.

All of them are *local*: the result for an object depends only on the object and its
neighbourhood, never on the tile it sits in (holes touching the array border are not
filled; watershed markers
and floods are computed per connected component), which is what lets the
pipeline give tiled == untiled results.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed


def fill_enclosed_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill background holes of at most ``max_area`` px that do not touch the border."""
    mask = np.asarray(mask, dtype=bool)
    if max_area <= 0:
        return mask
    holes, n = ndi.label(~mask)
    if not n:
        return mask
    sizes = np.bincount(holes.ravel(), minlength=n + 1)
    border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    fill = sizes <= max_area
    fill[0] = False
    fill[border] = False
    return mask | fill[holes]


def remove_small_objects(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop connected components smaller than ``min_area`` px (boolean in and out)."""
    mask = np.asarray(mask, dtype=bool)
    if min_area <= 1:
        return mask
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    keep = np.bincount(lab.ravel(), minlength=n + 1) >= min_area
    keep[0] = False
    return keep[lab]


def remove_small_labels(lab: np.ndarray, min_area: int) -> np.ndarray:
    """Set instances smaller than ``min_area`` px to background."""
    if min_area <= 1:
        return lab
    sizes = np.bincount(lab.ravel())
    small = sizes < min_area
    small[0] = False
    return np.where(small[lab], 0, lab) if small.any() else lab


def remove_large_labels(lab: np.ndarray, max_area: int) -> np.ndarray:
    """Set instances larger than ``max_area`` px to background and renumber 1..n
    (``max_area <= 0``: keep all)."""
    if max_area <= 0 or lab.size <= max_area:
        return lab
    large = np.bincount(lab.ravel()) > max_area
    large[0] = False
    return relabel_sequential(np.where(large[lab], 0, lab)) if large.any() else lab


def relabel_sequential(lab: np.ndarray) -> np.ndarray:
    """Renumber instances 1..n (int32), keeping their order."""
    ids = np.unique(lab)
    ids = ids[ids > 0]
    lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[lab]


def _component_peaks(surface: np.ndarray, own: np.ndarray, h: float) -> np.ndarray:
    """Boolean h-maxima of ``surface`` inside one component ``own`` (a bbox crop)."""
    sub = np.pad(np.where(own, surface, 0), 1)
    if h > 0:
        peaks = h_maxima(sub, h)[1:-1, 1:-1].astype(bool)
    else:
        peaks = (ndi.maximum_filter(sub, size=3) == sub)[1:-1, 1:-1]
    return peaks & own


def watershed_instances(surface: np.ndarray, mask: np.ndarray, markers: np.ndarray,
                        compactness: float = 0.0, min_area: int = 0) -> np.ndarray:
    """Marker watershed of ``-surface`` inside ``mask``; unmarked components keep one
    label each; instances under ``min_area`` dropped; ids 1..n."""
    return _per_component(surface, mask, lambda slc, own: np.where(own, markers[slc], 0),
                          compactness, min_area)


def split_components(surface: np.ndarray, mask: np.ndarray, h: float,
                     compactness: float = 0.0, min_area: int = 0) -> np.ndarray:
    """Markers from the h-maxima of ``surface`` in each component of ``mask``, then
    :func:`watershed_instances`."""
    return _per_component(surface, mask,
                          lambda slc, own: ndi.label(_component_peaks(surface[slc], own, h))[0],
                          compactness, min_area)


def _per_component(surface, mask, markers_of, compactness: float, min_area: int) -> np.ndarray:
    """Marker watershed solved separately on each connected component's bounding box.

    So a component's instances depend only on the component and ``surface`` inside
    it: never on other components of the array, not even through the order in which a
    whole-array watershed breaks ties between equal values (the reason tiles agree
    exactly with the whole image). A component with at most one marker is one instance.
    """
    comps, _ = ndi.label(mask)
    out = np.zeros(mask.shape, np.int32)
    n = 0
    for k, slc in enumerate(ndi.find_objects(comps), start=1):
        if slc is None:
            continue
        own = comps[slc] == k
        markers = markers_of(slc, own)
        inside = markers[own]
        if np.unique(inside[inside > 0]).size <= 1:
            out[slc][own] = n + 1
            n += 1
            continue
        lab = watershed(-surface[slc], markers, mask=own, compactness=compactness)
        orphan = own & (lab == 0)
        if orphan.any():
            extra, _ = ndi.label(orphan)
            lab = np.where(orphan, extra + lab.max(), lab)
        ids, inverse = np.unique(lab[own], return_inverse=True)
        out[slc][own] = inverse.astype(np.int32) + (n + 1)
        n += ids.size
    return relabel_sequential(remove_small_labels(out, min_area))


def split_touching(mask: np.ndarray, h: float = 2.0, dist_sigma: float = 1.0,
                   compactness: float = 0.0, min_area: int = 0,
                   weight: np.ndarray | None = None) -> np.ndarray:
    """Instances from a binary mask: distance transform, h-maxima markers, watershed.

    ``weight`` (same shape, optional) multiplies the distance transform before
    smoothing, e.g. a network's own centre-ness, so necks it sees count deeper.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    dist = ndi.distance_transform_edt(mask).astype(np.float32)
    if weight is not None:
        dist *= np.asarray(weight, np.float32)
    if dist_sigma > 0:
        dist = ndi.gaussian_filter(dist, dist_sigma, mode="nearest", truncate=4.0)
        dist[~mask] = 0
    return split_components(dist, mask, h, compactness, min_area)
