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


@dataclass
class Targets:
    """Per-pixel targets: ``fg`` in {0, 1, 255=ignore}, ``dist`` in [0, 1]."""

    fg: np.ndarray
    dist: np.ndarray
    points: np.ndarray  # (N, 2) row/col of all instance centroids
    n_reliable: int
    n_instances: int


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


def build_targets(pseudo_mask: np.ndarray, params: TargetParams | None = None) -> Targets:
    """Targets for one image from its boolean pseudo-mask."""
    p = params or TargetParams()
    mask = np.asarray(pseudo_mask, bool)
    instances = split_touching(mask, h=p.split_h, min_area=1)
    fg = np.zeros(mask.shape, np.uint8)
    reliable = np.zeros(mask.shape, np.int32)
    points = []
    n_reliable = 0
    for region in regionprops(instances):
        points.append(region.centroid)
        ok = p.min_area <= region.area <= p.max_area and region.solidity >= p.min_solidity
        r0, c0, r1, c1 = region.bbox
        if ok:
            n_reliable += 1
            reliable[r0:r1, c0:c1][region.image] = region.label
        else:
            fg[r0:r1, c0:c1][region.image] = IGNORE
    fg[reliable > 0] = 1
    points_arr = np.asarray(points, np.float64).reshape(-1, 2)
    if p.voronoi:
        edges = voronoi_edges(points_arr, mask.shape)
        # an edge through a nucleus marks where two touching nuclei meet
        fg[edges & (fg != 0)] = 0
    dist = normalised_distance(reliable)
    return Targets(fg, dist, points_arr, n_reliable, int(instances.max()))
