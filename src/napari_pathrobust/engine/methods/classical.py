"""Classical nucleus segmentation: hematoxylin OD, global threshold, distance watershed.

Pipeline (``segment_tile``):

1. hematoxylin optical density by colour deconvolution (fixed Ruifrok matrix),
2. Gaussian smoothing (``sigma``), then background flattening: subtract the
   local mean (``background_window``) and add back the global mean level,
3. foreground = flattened OD > ``threshold`` (a global value: Otsu of the
   smoothed OD of the representative sample given to :meth:`ClassicalMethod.fit`,
   which also records the global mean level; fit on a sample at the working
   resolution, e.g. a mosaic of tiles: a downsampled level shifts both values),
4. fill background holes smaller than ``max_hole_area`` that do not touch the
   array border; remove components smaller than ``min_area``,
5. Euclidean distance transform of the mask, Gaussian-smoothed (``dist_sigma``),
6. markers = h-maxima of the distance (``h`` px), watershed of -distance
   restricted to the mask, fragments smaller than ``min_area`` are dropped.

Locality (tiled == untiled): every step is local except the threshold and
mean level, which are fitted once globally.  Filters look at most
``4 * sigma`` (+ ``background_window // 2``) px away, hole filling
only fills holes enclosed inside the tile, and distance transform, h-maxima and
watershed act within one foreground connected component.  So an object's result
depends only on pixels within :attr:`ClassicalMethod.halo` px of it, provided
its foreground component is smaller than the halo (true for nuclei at 40x,
20-50 px across; a large merged clump touching a tile edge can differ).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from ..stain import hematoxylin_od


@dataclass
class ClassicalParams:
    """Parameters of :class:`ClassicalMethod` (a-priori defaults for 40x, ~0.25 um/px).

    sigma: Gaussian sigma (px) on the hematoxylin OD before thresholding.
    threshold: hematoxylin OD threshold; ``None`` = Otsu fitted in ``fit``.
    threshold_scale: multiplies the fitted Otsu threshold (1 = plain Otsu).
    min_area: smallest nucleus kept (px); nuclei are ~5-12 um = 20-50 px across,
        so 30 px (~ a 6 px disc) only removes debris and fragments.
    max_hole_area: largest enclosed hole filled (px), about half a small nucleus.
    dist_sigma: Gaussian sigma (px) on the distance transform before h-maxima.
    h: h-maxima height (px of distance); peaks closer than this to their
        saddle are merged, i.e. necks must narrow by > h px to split nuclei.
    compactness: compact watershed parameter (0 = classic watershed).
    background_window: side (px) of the local-mean window used to flatten the
        hematoxylin background (0 = off): OD - (local mean - global mean).
        101 px ~ 25 um ~ 2-3 nucleus diameters, so the mean tracks cytoplasm
        haze, section thickness and stain drift rather than single nuclei.
    halo_px: context pixels a tile needs on each side (>= largest nucleus + 4 sigma).
    """

    sigma: float = 1.0
    threshold: float | None = None
    threshold_scale: float = 1.0
    min_area: int = 30
    max_hole_area: int = 200
    dist_sigma: float = 1.0
    h: float = 2.0
    compactness: float = 0.0
    background_window: int = 101
    halo_px: int = 64


class ClassicalMethod:
    """Hematoxylin + Otsu + distance-transform watershed (see module docstring)."""

    name = "classical"

    def __init__(self, params: ClassicalParams | None = None, **overrides):
        p = asdict(params) if params is not None else {}
        known = {f.name for f in fields(ClassicalParams)}
        bad = set(overrides) - known
        if bad:
            raise TypeError(f"unknown ClassicalParams field(s): {sorted(bad)}")
        p.update(overrides)
        self.params = ClassicalParams(**p)
        self.fitted_threshold: float | None = None
        self.fitted_level: float | None = None

    @property
    def halo(self) -> int:
        """Context pixels a tile needs on each side for results equal to untiled ones."""
        p = self.params
        reach = np.ceil(4 * p.sigma) + p.background_window // 2 + np.ceil(4 * p.dist_sigma)
        return int(max(p.halo_px, reach + 64))

    @property
    def threshold(self) -> float | None:
        """The OD threshold in use (explicit parameter, else the fitted one, else None)."""
        if self.params.threshold is not None:
            return float(self.params.threshold)
        return self.fitted_threshold

    def _smoothed_h(self, rgb: np.ndarray) -> np.ndarray:
        hem = hematoxylin_od(rgb)
        if self.params.sigma > 0:
            hem = ndi.gaussian_filter(hem, self.params.sigma, mode="nearest", truncate=4.0)
        return hem

    def fit(self, sample_rgb: np.ndarray) -> "ClassicalMethod":
        """Fit the global OD threshold (Otsu) on a representative RGB sample; returns self."""
        hem = self._smoothed_h(sample_rgb)
        vals = hem.ravel()
        if vals.size > 4_000_000:  # a regular subsample is plenty for a histogram
            vals = vals[:: int(np.ceil(vals.size / 4_000_000))]
        lo, hi = float(vals.min()), float(vals.max())
        thr = threshold_otsu(vals) if hi > lo else hi
        self.fitted_threshold = float(thr) * float(self.params.threshold_scale)
        self.fitted_level = float(vals.mean())
        return self

    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        """Boolean nucleus mask (steps 1-4); fits on ``rgb`` if never fitted."""
        if self.threshold is None:
            self.fit(rgb)
        p = self.params
        hem = self._smoothed_h(rgb)
        if p.background_window > 1:
            if self.fitted_level is None:
                self.fit(rgb)
            local = ndi.uniform_filter(hem, p.background_window, mode="nearest")
            hem -= local - np.float32(self.fitted_level)
        mask = hem > self.threshold
        if p.max_hole_area > 0:
            holes, n = ndi.label(~mask)
            if n:
                sizes = np.bincount(holes.ravel(), minlength=n + 1)
                border = np.unique(
                    np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])
                )
                fill = sizes <= p.max_hole_area
                fill[0] = False
                fill[border] = False
                mask |= fill[holes]
        return _remove_small(mask, p.min_area)

    def segment_tile(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) RGB -> int32 labels (0 background, 1..n); fits here if unfitted."""
        p = self.params
        mask = self.foreground(rgb)
        if not mask.any():
            return np.zeros(mask.shape, np.int32)
        dist = ndi.distance_transform_edt(mask).astype(np.float32)
        if p.dist_sigma > 0:
            dist = ndi.gaussian_filter(dist, p.dist_sigma, mode="nearest", truncate=4.0)
            dist[~mask] = 0
        markers = _markers(dist, mask, p.h)
        lab = watershed(-dist, markers, mask=mask, compactness=p.compactness)
        # components without any marker (flat / tiny) keep one label each
        orphan = mask & (lab == 0)
        if orphan.any():
            extra, _ = ndi.label(orphan)
            lab = np.where(orphan, extra + lab.max(), lab)
        return _relabel(_remove_small_labels(lab, p.min_area))

    def describe(self) -> dict:
        """JSON-serialisable parameters and fitted values."""
        return {
            "name": self.name,
            "params": asdict(self.params),
            "fitted_threshold": self.fitted_threshold,
            "fitted_level": self.fitted_level,
            "threshold": self.threshold,
            "halo": self.halo,
        }


def _markers(dist: np.ndarray, mask: np.ndarray, h: float) -> np.ndarray:
    """Labelled h-maxima of ``dist``, computed per foreground component (local, and
    much faster than one whole-image grey reconstruction)."""
    comps, n = ndi.label(mask)
    peaks = np.zeros(mask.shape, bool)
    for k, slc in enumerate(ndi.find_objects(comps), start=1):
        if slc is None:
            continue
        own = comps[slc] == k
        sub = np.pad(np.where(own, dist[slc], 0), 1)
        if h > 0:
            pk = h_maxima(sub, h)[1:-1, 1:-1].astype(bool)
        else:
            pk = (ndi.maximum_filter(sub, size=3) == sub)[1:-1, 1:-1]
        peaks[slc] |= pk & own
    return ndi.label(peaks)[0]


def _remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    if min_area <= 1:
        return mask
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    keep = np.bincount(lab.ravel(), minlength=n + 1) >= min_area
    keep[0] = False
    return keep[lab]


def _remove_small_labels(lab: np.ndarray, min_area: int) -> np.ndarray:
    if min_area <= 1:
        return lab
    sizes = np.bincount(lab.ravel())
    small = sizes < min_area
    small[0] = False
    if small.any():
        lab = np.where(small[lab], 0, lab)
    return lab


def _relabel(lab: np.ndarray) -> np.ndarray:
    ids = np.unique(lab)
    ids = ids[ids > 0]
    lut = np.zeros(int(lab.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[lab]
