"""Does an image show DAB? The check behind "little DAB: is this an IHC slide?".

An IHC run (stain ``ihc``) on an H&E slide still finds nuclei, but classes them by a
DAB the slide does not have. :func:`dab_fraction` measures DAB's share of the stain on
a slide's fit sample: the DAB optical density summed over the stained pixels (OD norm
above ``MIN_OD``) over the hematoxylin plus DAB OD summed there, both unmixed with the
sample's own H-DAB vectors (:func:`.detection.estimate_hdab_vectors`,
:func:`.detection.hdab_channels`, which give an H&E slide's eosin no DAB).

:data:`LITTLE_DAB` (6 %) was chosen on these fit samples: the bundled H&E demo crop
1.4 % (warns); scikit-image's IHC sample 72 %; the 11 real Ki-67 fields of ki67-dev
10.7 % (deepliif test_799_2, 1 positive cell of 63) to 41 %, none warns. 16 of the 30
MoNuSeg H&E fields fall under it (0.1-5.2 %), the others reach 6.0-14.7 %: a missing
warning does not prove that a slide is IHC.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..stain import od
from .detection import estimate_hdab_vectors, hdab_channels

#: a pixel is stained when the norm of its RGB optical density exceeds this
MIN_OD = 0.15
#: DAB shares of the stain below this make an IHC run say :data:`NOTE`
LITTLE_DAB = 0.06
NOTE = "little DAB: is this an IHC slide?"
#: larger samples are measured on a regular grid of about this many pixels
MAX_PIXELS = 2**19


def dab_fraction(rgb: np.ndarray, min_od: float = MIN_OD,
                 max_pixels: int = MAX_PIXELS) -> Optional[float]:
    """DAB's share (0-1) of the hematoxylin + DAB optical density on the stained pixels
    of ``rgb`` (a regular grid of at most ``max_pixels`` of them); None when no pixel
    is stained (blank glass, a uniform image)."""
    rgb = np.asarray(rgb)[..., :3]
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels))))
    rgb = rgb[::step, ::step]
    stained = np.linalg.norm(od(rgb), axis=-1) > min_od
    if not stained.any():
        return None
    hema, dab = hdab_channels(rgb, estimate_hdab_vectors(rgb))
    h = float(np.maximum(hema[stained], 0.0).sum(dtype=np.float64))
    d = float(np.maximum(dab[stained], 0.0).sum(dtype=np.float64))
    return d / (h + d) if h + d > 0 else None


def dab_check(rgb: np.ndarray) -> Optional[dict]:
    """``{"dab_fraction", "little_dab_below", "little_dab", "note"}`` for an IHC run's
    sample (``note`` is :data:`NOTE` or ''); None when nothing is stained."""
    fraction = dab_fraction(rgb)
    if fraction is None:
        return None
    little = fraction < LITTLE_DAB
    return {"dab_fraction": round(fraction, 4), "little_dab_below": LITTLE_DAB,
            "little_dab": little, "note": NOTE if little else ""}


def not_brightfield(rgb: np.ndarray) -> Optional[str]:
    """Why an image cannot be a bright-field IHC slide, or None.

    Fluorescence shows stained structures bright on a dark ground (the median pixel is
    dark); a grayscale image has no colour to unmix (every pixel's channels agree
    within 2 levels). Either is refused: H-DAB deconvolution would read noise."""
    rgb = np.asarray(rgb)[..., :3]
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / MAX_PIXELS))))
    px = rgb[::step, ::step].reshape(-1, 3).astype(np.int16)
    if px.size == 0:
        return None
    if np.percentile(px.max(axis=1) - px.min(axis=1), 99) <= 2:
        return "a grayscale image: IHC needs a bright-field colour (RGB) image"
    if np.median(px.mean(axis=1)) < 100:
        return ("a dark background (fluorescence?): IHC needs a bright-field image "
                "(brown and blue stain on white)")
    return None
