"""Training images: small images whole, large slides as seeded crops."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io import open_image

MAX_WHOLE_PIXELS = 4096 * 4096


def load_training_images(paths: Sequence[Path], seed: int = 0, crop: int = 1024,
                         crops_per_slide: int = 16) -> list[np.ndarray]:
    """RGB arrays for training: small images whole, large slides as seeded crops."""
    rng = np.random.default_rng(seed)
    images = []
    for path in paths:
        slide = open_image(path)
        height, width = slide.shape
        if height * width <= MAX_WHOLE_PIXELS:
            images.append(np.asarray(slide.data.compute()))
            continue
        for _ in range(crops_per_slide):
            y = int(rng.integers(0, height - crop + 1))
            x = int(rng.integers(0, width - crop + 1))
            images.append(np.asarray(slide.data[y:y + crop, x:x + crop].compute()))
    if not images:
        raise InputError("inputs", "no training images")
    return images
