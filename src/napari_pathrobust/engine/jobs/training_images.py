"""Training images at the working resolution: small images whole, large slides as
seeded crops; IHC images rendered as the networks see them (:func:`render_ihc`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputError
from ..io import open_image
from ..methods.base import WORKING_MPP
from ..tiled.resample import working_grid
from ..tiled.tiling import Box
from .pixel_estimate import with_estimated_pixel_size

MAX_WHOLE_PIXELS = 4096 * 4096


def load_training_images(paths: Sequence[Path], seed: int = 0, crop: int = 1024,
                         crops_per_slide: int = 16, mpp: Optional[float] = None,
                         working_mpp: float = WORKING_MPP, stain: str = "he"
                         ) -> list[np.ndarray]:
    """RGB arrays for training at ``working_mpp`` (each slide resampled there from its
    pixel size, ``mpp`` when given, else its file's; unknown: used as read, or for
    ``stain="ihc"`` estimated from the nuclei as a run does): small images whole, large
    slides as seeded crops."""
    rng = np.random.default_rng(seed)
    images = []
    for path in paths:
        slide = with_estimated_pixel_size(open_image(path, mpp=mpp), stain, seed)
        grid = working_grid(slide, slide.mpp, working_mpp)
        height, width = slide.shape if grid is None else grid.shape

        def read(y: int, x: int, h: int, w: int, slide=slide, grid=grid) -> np.ndarray:
            if grid is None:
                return np.asarray(slide.data[y:y + h, x:x + w].compute())
            return grid.read(Box(y, x, y + h, x + w))[0]

        if height * width <= MAX_WHOLE_PIXELS:
            images.append(read(0, 0, height, width))
            continue
        for _ in range(crops_per_slide):
            y = int(rng.integers(0, height - crop + 1))
            x = int(rng.integers(0, width - crop + 1))
            images.append(read(y, x, crop, crop))
    if not images:
        raise InputError("inputs", "no training images")
    return images


def render_ihc(image: np.ndarray, working_mpp: float = WORKING_MPP) -> np.ndarray:
    """An IHC image (at ``working_mpp``) as ``psm --stain ihc`` feeds its network: the
    pseudo-H&E of its H-DAB detection image, vectors and levels fitted on the image
    itself with the method's defaults (:meth:`..methods.psm.PSMParams.hdab_detector`)."""
    from ..methods.psm import PSMParams

    detector = PSMParams().hdab_detector(working_mpp).fit(image[..., :3])
    return detector.pseudo_he(image[..., :3])
