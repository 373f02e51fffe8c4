"""Training targets for the downstream network, built from a nucleus pseudo-mask.

Pseudo-masks are noisy: touching nuclei merge, stroma makes fragments. So the
targets keep only what is reliable and ignore the rest:

* instances: the pseudo-mask split by a distance-transform watershed;
* reliable instances: plausible size and convex shape (solidity); their pixels are
  nucleus (1), pixels of implausible ones are ignored (255);
* background: pseudo-mask background (0), plus 1-px Voronoi edges between the points
  (instance centroids), as PSM's Voronoi supervision, which teaches the network to
  leave a gap between neighbours;
* distance target: per reliable instance, the distance to its border divided by the
  instance's maximum (1 at the centre, 0 at the edge), used to split touching nuclei.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.segmentation import find_boundaries

from ..morphology import split_touching

IGNORE = 255


@dataclass
class TargetParams:
    """How pseudo-labels are filtered into targets (documented, a-priori values)."""

    min_area: int = 40
    max_area: int = 1500
    min_solidity: float = 0.85
    split_h: float = 2.0
    voronoi: bool = True
    min_agreement: float = 0.5


@dataclass
class Targets:
    """Per-pixel targets: ``fg`` in {0, 1, 255=ignore}, ``dist`` in [0, 1]."""

    fg: np.ndarray
    dist: np.ndarray
    points: np.ndarray  # (N, 2) row/col of all instance centroids
    n_reliable: int
    n_instances: int


def _best_iou(instances: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each instance id, its best IoU with any instance of ``other``."""
    a = instances.ravel().astype(np.int64)
    b = np.asarray(other).ravel().astype(np.int64)
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    both = (a > 0) & (b > 0)
    pairs = np.unique(a[both] * nb + b[both], return_counts=True)
    ia, ib = np.divmod(pairs[0], nb)
    size_a = np.bincount(a, minlength=na)
    size_b = np.bincount(b, minlength=nb)
    iou = pairs[1] / (size_a[ia] + size_b[ib] - pairs[1])
    best = np.zeros(na)
    np.maximum.at(best, ia, iou)
    return best


def voronoi_edges(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """1-px boundaries of the Voronoi cells of ``points`` (row, col) in an image."""
    if len(points) < 2:
        return np.zeros(shape, bool)
    seeds = np.zeros(shape, np.int32)
    rows = np.clip(np.rint(points[:, 0]).astype(int), 0, shape[0] - 1)
    cols = np.clip(np.rint(points[:, 1]).astype(int), 0, shape[1] - 1)
    seeds[rows, cols] = np.arange(1, len(points) + 1)
    _, (ir, ic) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[ir, ic]
    return find_boundaries(cells, mode="inner")


def normalised_distance(labels: np.ndarray) -> np.ndarray:
    """Per-instance distance to the border divided by the instance maximum."""
    out = np.zeros(labels.shape, np.float32)
    for region in regionprops(labels):
        r0, c0, r1, c1 = region.bbox
        own = np.pad(region.image, 1)
        d = ndi.distance_transform_edt(own)[1:-1, 1:-1]
        peak = d.max()
        if peak > 0:
            view = out[r0:r1, c0:c1]
            view[region.image] = (d / peak)[region.image]
    return out


def build_targets(pseudo_mask: np.ndarray, params: TargetParams | None = None,
                  agree_with: np.ndarray | None = None) -> Targets:
    """Targets for one image from its boolean pseudo-mask.

    ``agree_with``: instance labels from an independent unsupervised cue (e.g. the
    classical hematoxylin pipeline). When given, an instance is reliable only if one
    of those instances overlaps it with IoU >= ``min_agreement``, and background is
    only where both cues say background (elsewhere: ignored).
    """
    p = params or TargetParams()
    mask = np.asarray(pseudo_mask, bool)
    instances = split_touching(mask, h=p.split_h, min_area=1)
    best_iou = _best_iou(instances, agree_with) if agree_with is not None else None
    fg = np.zeros(mask.shape, np.uint8)
    reliable = np.zeros(mask.shape, np.int32)
    points = []
    n_reliable = 0
    for region in regionprops(instances):
        points.append(region.centroid)
        ok = p.min_area <= region.area <= p.max_area and region.solidity >= p.min_solidity
        if best_iou is not None:
            ok = ok and best_iou[region.label] >= p.min_agreement
        r0, c0, r1, c1 = region.bbox
        if ok:
            n_reliable += 1
            reliable[r0:r1, c0:c1][region.image] = region.label
        else:
            fg[r0:r1, c0:c1][region.image] = IGNORE
    fg[reliable > 0] = 1
    if agree_with is not None:
        fg[(agree_with > 0) & (fg == 0)] = IGNORE
    points_arr = np.asarray(points, np.float64).reshape(-1, 2)
    if p.voronoi:
        edges = voronoi_edges(points_arr, mask.shape)
        # an edge through a nucleus marks where two touching nuclei meet
        fg[edges & (fg != 0)] = 0
    dist = normalised_distance(reliable)
    return Targets(fg, dist, points_arr, n_reliable, int(instances.max()))
