"""Classical nucleus segmentation: hematoxylin OD, global threshold, distance watershed.

Pipeline (``segment_tile``; each size parameter is given in microns, ``<name>_um``, and
used in pixels at ``working_mpp``, the resolution the pipeline resamples slides to):

1. hematoxylin optical density by colour deconvolution (fixed Ruifrok matrix); with
   ``stain="ihc"`` the H-DAB detection image instead (hematoxylin + opened DAB, the
   slide's vectors estimated in ``fit``, :mod:`..ihc.detection`), and every record
   gets the per-cell DAB measurements of :mod:`..ihc.measurements`,
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
   restricted to the mask (both per connected component), fragments smaller than
   ``min_area`` and objects larger than ``max_area`` (no nucleus is that big) dropped.

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

from ..ihc.detection import HdabDetector
from ..ihc.measurements import IhcMeasurer
from ..morphology import (
    fill_enclosed_holes,
    remove_large_labels,
    remove_small_objects,
    split_touching,
)
from ..stain import hematoxylin_od
from .base import MAX_NUCLEUS_AREA, WORKING_MPP, MethodBase


@dataclass
class ClassicalParams:
    """Parameters of :class:`ClassicalMethod`; sizes in microns (a-priori defaults, the
    former pixel defaults at 0.25 um/px). The method works at ``working_mpp``: the
    pipeline resamples other slides to it and the sizes are converted at it.

    sigma_um: Gaussian sigma on the hematoxylin OD before thresholding (1 px at 40x).
    threshold: hematoxylin OD threshold; ``None`` = Otsu fitted in ``fit``.
    threshold_scale: multiplies the fitted Otsu threshold (1 = plain Otsu).
    min_area_um2: smallest nucleus kept; nuclei are ~5-12 um across, so 1.875 um2
        (30 px at 40x) only removes debris and fragments.
    max_hole_area_um2: largest enclosed hole filled, about half a small nucleus.
    dist_sigma_um: Gaussian sigma on the distance transform before h-maxima.
    h_um: h-maxima height (distance); peaks closer than this to their saddle are
        merged, i.e. necks must narrow by more than this to split nuclei.
    compactness: compact watershed parameter (0 = classic watershed).
    background_window_um: side of the local-mean window used to flatten the
        hematoxylin background (0 = off): OD - (local mean - global mean). 25 um ~
        2-3 nucleus diameters, so the mean tracks cytoplasm haze, section thickness
        and stain drift rather than single nuclei.
    halo_um: context a tile needs on each side (>= largest nucleus + 4 sigma).
    max_area_um2: largest object kept, a 30 um disc; larger "nuclei" are stain blobs,
        folds or a dark image read as one object (0 = no limit).
    working_mpp: microns per pixel the method works at.
    stain: "he" (hematoxylin detection) or "ihc" (H-DAB detection image, DAB measures).
    dab_opening_um: IHC: diameter of the DAB opening disk; thinner brown is not a nucleus.
    dab_sheet_um: IHC: only DAB above its mean over squares this wide counts in
        detection (16 for cytoplasmic / membranous markers; 0 = off, nuclear markers).
    cell_expansion_um: IHC: the cell region measured around each nucleus (QuPath's 5 um).
    estimate_vectors: IHC: estimate the H-DAB vectors per slide (else the fixed ones).
    """

    sigma_um: float = 1.0 * WORKING_MPP
    threshold: float | None = None
    threshold_scale: float = 1.0
    min_area_um2: float = 30 * WORKING_MPP ** 2
    max_hole_area_um2: float = 200 * WORKING_MPP ** 2
    dist_sigma_um: float = 1.0 * WORKING_MPP
    h_um: float = 2.0 * WORKING_MPP
    compactness: float = 0.0
    background_window_um: float = 101 * WORKING_MPP
    halo_um: float = 64 * WORKING_MPP
    max_area_um2: float = MAX_NUCLEUS_AREA * WORKING_MPP ** 2
    working_mpp: float = WORKING_MPP
    stain: str = "he"
    dab_opening_um: float = 2.5
    dab_sheet_um: float = 0.0
    cell_expansion_um: float = 5.0
    estimate_vectors: bool = True

    def __post_init__(self) -> None:
        if self.stain not in ("he", "ihc"):
            raise ValueError(f"stain {self.stain!r}: expected 'he' or 'ihc'")
        if not (self.working_mpp > 0):
            raise ValueError(f"working_mpp={self.working_mpp}: expected microns > 0")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_um", "_um2")) and not value >= 0:
                raise ValueError(f"{f.name}={value}: expected a size >= 0")


@dataclass(frozen=True)
class PixelSizes:
    """:class:`ClassicalParams` sizes in pixels at the working resolution."""

    sigma: float
    min_area: int
    max_hole_area: int
    dist_sigma: float
    h: float
    background_window: int
    halo: int
    max_area: int

    @classmethod
    def of(cls, p: ClassicalParams) -> "PixelSizes":
        px, px2 = 1.0 / p.working_mpp, 1.0 / p.working_mpp ** 2
        return cls(sigma=p.sigma_um * px, min_area=int(round(p.min_area_um2 * px2)),
                   max_hole_area=int(round(p.max_hole_area_um2 * px2)),
                   dist_sigma=p.dist_sigma_um * px, h=p.h_um * px,
                   background_window=int(round(p.background_window_um * px)),
                   halo=int(np.ceil(p.halo_um * px)),
                   max_area=int(round(p.max_area_um2 * px2)))


#: the former pixel parameters (Python API only): name -> (micron name, power of mpp)
PIXEL_NAMES = {"sigma": ("sigma_um", 1), "min_area": ("min_area_um2", 2),
               "max_hole_area": ("max_hole_area_um2", 2), "dist_sigma": ("dist_sigma_um", 1),
               "h": ("h_um", 1), "background_window": ("background_window_um", 1),
               "halo_px": ("halo_um", 1), "max_area": ("max_area_um2", 2)}


def _from_pixels(overrides: dict, working_mpp: float) -> dict:
    """Overrides with pixel names (at ``working_mpp``) turned into micron ones."""
    out = {}
    for key, value in overrides.items():
        name, power = PIXEL_NAMES.get(key, (key, 0))
        out[name] = value * working_mpp ** power if power else value
    return out


class ClassicalMethod(MethodBase):
    """Hematoxylin + Otsu + distance-transform watershed (see module docstring)."""

    name = "classical"

    def __init__(self, params: ClassicalParams | None = None, **overrides):
        p = asdict(params) if params is not None else {}
        known = {f.name for f in fields(ClassicalParams)}
        overrides = _from_pixels(overrides, overrides.get("working_mpp", p.get(
            "working_mpp", WORKING_MPP)))
        bad = set(overrides) - known
        if bad:
            raise TypeError(f"unknown ClassicalParams field(s): {sorted(bad)}")
        p.update(overrides)
        self.params = ClassicalParams(**p)
        self.px = PixelSizes.of(self.params)
        self.fitted_threshold: float | None = None
        self.fitted_level: float | None = None
        p = self.params
        self.detector = self.measure_records = None
        if p.stain == "ihc":  # the pipeline calls measure_records on each tile's records
            self.detector = HdabDetector(mpp=p.working_mpp, opening_um=p.dab_opening_um,
                                         sheet_um=p.dab_sheet_um,
                                         estimate=p.estimate_vectors)
            self.measure_records = IhcMeasurer(None, p.cell_expansion_um, p.working_mpp)

    @property
    def working_mpp(self) -> float:
        return self.params.working_mpp

    @property
    def max_area(self) -> int:
        return self.px.max_area

    @property
    def halo(self) -> int:
        """Context pixels a tile needs on each side for results equal to untiled ones."""
        p = self.px
        reach = np.ceil(4 * p.sigma) + p.background_window // 2 + np.ceil(4 * p.dist_sigma)
        if self.detector is not None:  # the DAB opening and the cell measurements
            reach = max(reach + self.detector.reach, self.measure_records.halo())
        return int(max(p.halo, reach + 64 * WORKING_MPP / self.params.working_mpp))

    @property
    def threshold(self) -> float | None:
        """The OD threshold in use (explicit parameter, else the fitted one, else None)."""
        if self.params.threshold is not None:
            return float(self.params.threshold)
        return self.fitted_threshold

    def _smoothed_h(self, rgb: np.ndarray) -> np.ndarray:
        hem = hematoxylin_od(rgb) if self.detector is None else self.detector.image(rgb)
        if self.px.sigma > 0:
            hem = ndi.gaussian_filter(hem, self.px.sigma, mode="nearest", truncate=4.0)
        return hem

    def fit(self, sample_rgb: np.ndarray) -> "ClassicalMethod":
        """Fit the global OD threshold (Otsu) on a representative RGB sample (IHC: first
        the slide's H-DAB vectors); returns self."""
        if self.detector is not None:
            self.detector.fit(sample_rgb)
            self.measure_records.vectors = self.detector.vectors
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
        p = self.px
        hem = self._smoothed_h(rgb)
        if p.background_window > 1:
            if self.fitted_level is None:
                self.fit(rgb)
            local = ndi.uniform_filter(hem, p.background_window, mode="nearest")
            hem -= local - np.float32(self.fitted_level)
        mask = fill_enclosed_holes(hem > self.threshold, p.max_hole_area)
        return remove_small_objects(mask, p.min_area)

    def segment_tile(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) RGB -> int32 labels (0 background, 1..n); fits here if unfitted."""
        p = self.px
        labels = split_touching(self.foreground(rgb), p.h, p.dist_sigma,
                                self.params.compactness, p.min_area)
        return remove_large_labels(labels, p.max_area)

    def describe(self) -> dict:
        """JSON-serialisable parameters and fitted values."""
        return {
            "name": self.name,
            "params": asdict(self.params),
            "pixels": asdict(self.px),
            "fitted_threshold": self.fitted_threshold,
            "fitted_level": self.fitted_level,
            "threshold": self.threshold,
            "halo": self.halo,
            **({"ihc": self.detector.describe()} if self.detector is not None else {}),
        }


