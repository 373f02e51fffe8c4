"""H-DAB colour deconvolution and the nucleus detection image of IHC slides.

* :func:`estimate_hdab_vectors`: per-slide hematoxylin and DAB optical-density vectors,
  Macenko-style (the plane of the two main directions of the stained pixels' OD, the
  robust extreme angles in it; hematoxylin then refined on its nearly pure pixels),
  each checked against the fixed Ruifrok vectors and
  replaced by them when the slide does not show that stain (too few stained pixels,
  an estimate far from the reference, e.g. eosin on an H&E slide, or two estimates
  too close to unmix). A blank image gives the fixed vectors, never an error.
* :func:`hdab_channels`: hematoxylin and DAB OD by unmixing with those vectors; DAB is
  kept only on pixels whose colour the two stains explain (not eosin: an H&E slide run
  as IHC shows no DAB).
* :func:`detection_image`: hematoxylin + DAB, each after a grey-level *opening* with a
  disk. Positive nuclei are brown, not blue, so hematoxylin alone misses strong ones;
  the DAB opening (2.5 um wide) keeps DAB only in compact blobs at least that wide, so
  thin brown cytoplasm rims and pigment specks add nothing and stay background; the
  small hematoxylin opening (1.5 um) removes dark specks (pigment) as well. Optionally
  (``sheet_um``) the local mean DAB is subtracted, so that sheets of brown cytoplasm
  add nothing either.

Everything is per pixel except the openings, which read ``HdabDetector.reach`` pixels
around: methods add it to their halo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk

from ..stain import RGB_FROM_HDX, compose_od, od, od_to_rgb, stain_channel, stain_matrix

#: the fixed H-DAB matrix (rows hematoxylin, DAB, residual): the fallback vectors
REFERENCE_VECTORS = RGB_FROM_HDX


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in degrees between two vectors."""
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def estimate_hdab_vectors(rgb: np.ndarray, min_od: float = 0.15, percentile: float = 1.0,
                          max_angle: float = 10.0, min_separation: float = 20.0,
                          min_pixels: int = 500, max_samples: int = 200_000,
                          seed: int = 0) -> np.ndarray:
    """Per-slide H-DAB stain matrix (3x3, unit rows: hematoxylin, DAB, residual).

    Macenko et al. 2009: pixels whose OD norm exceeds ``min_od``, the plane of their two
    main OD directions, the ``percentile`` and ``100 - percentile`` angles in it. The
    vector nearer the reference hematoxylin is hematoxylin. A stain is estimated only
    when at least ``min_pixels`` pixels show it (fixed-vector OD > 0.2) and the estimate
    lies within ``max_angle`` degrees of its reference; the two must be at least
    ``min_separation`` degrees apart. Otherwise the reference vector is used.
    """
    ref_h, ref_d = REFERENCE_VECTORS[0], REFERENCE_VECTORS[1]
    o = od(rgb).reshape(-1, 3).astype(np.float64)
    o = o[np.linalg.norm(o, axis=1) > min_od]
    if o.shape[0] < min_pixels:
        return REFERENCE_VECTORS.copy()
    if o.shape[0] > max_samples:
        rng = np.random.default_rng(seed)
        o = o[np.sort(rng.choice(o.shape[0], max_samples, replace=False))]
    fixed = o @ np.linalg.inv(REFERENCE_VECTORS)
    shows = (fixed[:, 0] > 0.2).sum() >= min_pixels, (fixed[:, 1] > 0.2).sum() >= min_pixels
    evals, vecs = np.linalg.eigh(np.cov(o.T))
    if not np.isfinite(evals).all() or evals[1] < 1e-8:  # one colour (a uniform image)
        return REFERENCE_VECTORS.copy()
    plane = vecs[:, [2, 1]]
    plane *= np.where(plane.sum(axis=0) < 0, -1.0, 1.0)
    proj = o @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [percentile, 100.0 - percentile])
    cands = [plane @ np.array([np.cos(a), np.sin(a)]) for a in (lo, hi)]
    cands = [v * (-1.0 if v.sum() < 0 else 1.0) for v in cands]
    if _angle(cands[0], ref_h) + _angle(cands[1], ref_d) > \
            _angle(cands[1], ref_h) + _angle(cands[0], ref_d):
        cands = cands[::-1]
    h, d = _refine_h(o, *cands), cands[1]
    h = h if shows[0] and _angle(h, ref_h) <= max_angle else ref_h
    d = d if shows[1] and _angle(d, ref_d) <= max_angle else ref_d
    if not (np.isfinite(h).all() and np.isfinite(d).all()) or _angle(h, d) < min_separation:
        h, d = ref_h, ref_d
    return stain_matrix(h, d)


def _refine_h(o: np.ndarray, h: np.ndarray, d: np.ndarray, purity: float = 0.1,
              min_norm: float = 0.3, rounds: int = 2) -> np.ndarray:
    """Hematoxylin re-estimated as the mean OD direction of nearly pure hematoxylin pixels
    (DAB under ``purity`` of the two): the extreme angle sits outside the true vector by
    the pixel noise, the mean of the many pure pixels (negative nuclei) does not. DAB
    keeps its extreme: positive nuclei carry counterstain, so pure DAB pixels are few."""
    o = o[np.linalg.norm(o, axis=1) > min_norm]
    for _ in range(rounds):
        c = o @ np.linalg.inv(stain_matrix(h, d))
        pure = (c[:, 0] > 0) & (np.abs(c[:, 1]) < purity * (np.abs(c[:, 0]) + np.abs(c[:, 1])))
        if pure.sum() < 50:
            break
        h = o[pure].mean(axis=0)
        h = h / np.linalg.norm(h)
    return h


#: residual fraction |r| / (|h| + |d| + |r|) of a pixel's unmixed OD below which its DAB
#: counts fully and above which it counts not at all (linear in between)
OFF_PLANE = (0.06, 0.11)


def hdab_channels(rgb: np.ndarray, vectors: Optional[np.ndarray] = None,
                  off_plane: tuple[float, float] = OFF_PLANE
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(hematoxylin OD, DAB OD), float32 (H, W), unmixed with ``vectors`` (a 3x3 matrix
    from :func:`estimate_hdab_vectors`; None: the fixed Ruifrok vectors).

    DAB counts only where hematoxylin and DAB explain the pixel's colour: its weight falls
    from 1 to 0 as the residual share of the OD rises through ``off_plane``. IHC pixels
    sit on the H-DAB plane (residual share under 0.04); eosin, and so a whole H&E
    slide, lies off it (0.12-0.24) and gives no DAB instead of a false brown."""
    m = np.linalg.inv(REFERENCE_VECTORS if vectors is None else np.asarray(vectors))
    hema, dab, res = (stain_channel(rgb, i, m) for i in range(3))
    if off_plane is not None:
        lo, hi = off_plane
        res = np.abs(res)
        share = res / (np.abs(hema) + np.abs(dab) + res + np.float32(1e-6))
        dab *= np.clip((hi - share) / np.float32(hi - lo), 0.0, 1.0)
    return hema, dab


def disk_radius(diameter_um: float, mpp: float) -> int:
    """Radius in pixels of a disk about ``diameter_um`` wide (0: no opening)."""
    return max(0, int(round(diameter_um / mpp / 2.0)))


def _open(image: np.ndarray, radius: int) -> np.ndarray:
    if radius < 1:
        return image
    return ndi.grey_opening(image, footprint=disk(radius), mode="nearest")


def detection_image(hema: np.ndarray, dab: np.ndarray, dab_radius: int,
                    hema_radius: int = 0, sheet_px: int = 0,
                    close_radius: int = 0) -> np.ndarray:
    """Opened hematoxylin + band-passed DAB (negative DAB counts as 0), float32 (H, W).

    Each channel is opened with a disk of the given radius (px): brown structures
    narrower than the DAB disk (cytoplasm rims, pigment) and dark specks narrower than
    the hematoxylin one add nothing. With ``sheet_px``, the mean DAB of squares of that
    side is subtracted: only DAB above its surroundings counts, so sheets of brown
    cytoplasm (membranous or cytoplasmic markers) add nothing. ``close_radius``: DAB is
    first closed with that disk, so that the granules of one speckled nucleus merge
    into a blob the opening keeps (gaps narrower than the disk are filled)."""
    d = np.maximum(dab, 0.0).astype(np.float32)
    if close_radius > 0:  # Ki-67 is granular: join a nucleus' granules before the opening
        d = ndi.grey_closing(d, footprint=disk(close_radius), mode="nearest")
    opened = _open(d, dab_radius)
    if sheet_px > 1:
        opened = np.maximum(opened - ndi.uniform_filter(d, sheet_px, mode="nearest"), 0.0)
    return (np.maximum(_open(hema, hema_radius), 0.0) + opened).astype(np.float32)


#: hematoxylin OD a nucleus is drawn with in :meth:`HdabDetector.pseudo_he` (H&E-like)
NUCLEUS_OD = 0.6
#: the normalised detection image saturates at this multiple of the nucleus level:
#: darker nuclei stay graded, so the paler seam between touching nuclei survives
SATURATION = 4.0
#: ... and psm's pseudo-H&E at this one: rendered much darker than a typical H&E
#: nucleus, dark brown nuclei make the H&E-trained network miss the blue ones beside
#: them (docs/ihc.md)
RENDER_SATURATION = 1.5


def fit_levels(det: np.ndarray, hema: np.ndarray, dab: np.ndarray) -> tuple[float, float]:
    """(background, nucleus) levels of a slide's raw detection image ``det``.

    Background: the median of ``det`` (most of a field is not nucleus). Nucleus: the
    background plus how far blue nuclei rise above their ground, measured on the opened
    hematoxylin ``hema`` of the pixels with little DAB (opened ``dab`` under 0.1 OD):
    the Otsu cut of their hematoxylin, the darkest 5 % clipped (pigment, mitoses and
    dark spindles otherwise pull it above the pale nuclei), less their median; at least
    0.03 OD. Pale counterstain gives a low level, so pale negative nuclei reach 1 like
    dark brown ones, instead of falling under a cut set by the brown ones."""
    from skimage.filters import threshold_otsu

    bg = float(np.median(det[::2, ::2]))
    h = hema[::2, ::2].ravel().astype(np.float64)
    h = h[dab[::2, ::2].ravel() < 0.1]
    if h.size < 100:
        return bg, bg + 0.1
    h = np.minimum(h, np.percentile(h, 95))
    rise = float(threshold_otsu(h)) - float(np.median(h)) if np.ptp(h) > 0 else 0.0
    return bg, bg + max(0.03, rise)


@dataclass
class HdabDetector:
    """Per-slide H-DAB vectors (fitted once) and the detection image of a window.

    ``opening_um``: diameter of the DAB opening disk (thinner brown structures are not
    nuclei); ``hema_opening_um``: that of the hematoxylin one (specks); ``sheet_um``:
    DAB above its mean over squares this wide counts (brown cytoplasm sheets vanish;
    0: off; in dense positive fields it also dims weak nuclei); ``estimate``:
    fit the vectors per slide (else the fixed ones).
    """

    mpp: float = 0.25
    opening_um: float = 2.5
    hema_opening_um: float = 1.5
    sheet_um: float = 0.0
    estimate: bool = True
    vectors: Optional[np.ndarray] = None
    normalise: bool = True
    #: (background, nucleus) levels of the raw detection image, fitted on the sample
    levels: Optional[tuple[float, float]] = None

    @property
    def radii(self) -> tuple[int, int]:
        """(DAB, hematoxylin) opening disk radii in pixels."""
        return disk_radius(self.opening_um, self.mpp), disk_radius(self.hema_opening_um,
                                                                   self.mpp)

    @property
    def sheet_px(self) -> int:
        """Side in pixels (odd) of the cytoplasm-sheet square (0: off)."""
        return int(round(self.sheet_um / self.mpp)) | 1 if self.sheet_um > 0 else 0

    @property
    def reach(self) -> int:
        """Pixels the detection image of a pixel reads around it."""
        return max(2 * max(self.radii) + 2 * self.radii[1], self.sheet_px)

    def fit(self, sample_rgb: np.ndarray) -> "HdabDetector":
        """Estimate the slide's vectors on a sample (fixed ones when ``estimate`` is off),
        then (``normalise``) the background and nucleus levels of its detection image."""
        self.vectors = estimate_hdab_vectors(sample_rgb) if self.estimate \
            else REFERENCE_VECTORS.copy()
        self.levels = None
        if self.normalise:
            hema, dab = self.channels(sample_rgb)
            det = detection_image(hema, dab, *self.radii, self.sheet_px, self.radii[1])
            opened = np.maximum(_open(hema, self.radii[1]), 0.0)
            self.levels = fit_levels(det, opened, det - opened)
        return self

    def channels(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return hdab_channels(rgb, self.vectors)

    def _raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hema, dab = self.channels(rgb)
        return hema, dab, detection_image(hema, dab, *self.radii, self.sheet_px, self.radii[1])

    def _scaled(self, det: np.ndarray, saturation: float = SATURATION) -> np.ndarray:
        """The raw detection image mapped to 0 (background) .. 1 (where nuclei start; up
        to ``saturation`` for darker brown or blue), with the fitted levels; unchanged
        without them."""
        if self.levels is None:
            return det
        bg, level = self.levels
        return np.clip((det - np.float32(bg)) / np.float32(level - bg), 0.0,
                       np.float32(saturation))

    def image(self, rgb: np.ndarray) -> np.ndarray:
        """The detection image of an RGB window (OD units; 0-1 once levels are fitted)."""
        return self._scaled(self._raw(rgb)[2]).astype(np.float32)

    def pseudo_he(self, rgb: np.ndarray) -> np.ndarray:
        """The window rendered as a hematoxylin-only RGB image of the detection image
        (blue nuclei, brown ones included, on a faint eosin ground): the input of
        networks trained on H&E. With fitted levels every nucleus, pale blue or dark
        brown, is drawn at least at :data:`NUCLEUS_OD` (a typical H&E nucleus), darker
        ones up to :data:`RENDER_SATURATION` times that."""
        hema, dab, det = self._raw(rgb)
        if self.levels is not None:
            ground = np.full_like(det, 0.15)
            det = self._scaled(det, RENDER_SATURATION) * np.float32(NUCLEUS_OD)
        else:
            ground = np.clip(hema + np.maximum(dab, 0.0) - det, 0.0, None) + 0.15
        return od_to_rgb(compose_od(np.maximum(det, 0.0), ground))

    def describe(self) -> dict:
        v = self.vectors
        return {"opening_um": self.opening_um, "hema_opening_um": self.hema_opening_um,
                "levels": None if self.levels is None else [round(x, 4) for x in self.levels],
                "sheet_um": self.sheet_um,
                "estimate": self.estimate,
                "vectors": None if v is None else np.round(v[:2], 4).tolist()}
