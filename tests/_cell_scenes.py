"""A synthetic field with two kinds of nuclei, for the cell classifier's tests."""

import numpy as np


def two_kind_scene(size=320, seed=0, offset=0, noise=0.0):
    """Small dark round nuclei (A) and large pale elongated ones (B) on a pink ground:
    ``(rgb, labels, {label: kind})``; labels start at ``offset + 1``."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((size, size), np.int32)
    rgb = np.empty((size, size, 3), np.uint8)
    rgb[:] = (235, 200, 220)
    yy, xx = np.ogrid[:size, :size]
    kinds = {}
    for k, (y, x) in enumerate(((y, x) for y in range(24, size - 20, 40)
                                for x in range(24, size - 20, 40)), start=1):
        kind = "A" if rng.random() < 0.5 else "B"
        if kind == "A":
            inside, colour = (yy - y) ** 2 + (xx - x) ** 2 <= 36, (70, 40, 130)
        else:
            inside = ((yy - y) / 13.0) ** 2 + ((xx - x) / 8.0) ** 2 <= 1
            colour = (150, 90, 170)
        lab[inside], rgb[inside] = k + offset, colour
        kinds[k + offset] = kind
    if noise:
        rgb = np.clip(rgb + rng.normal(0, noise, rgb.shape), 0, 255).astype(np.uint8)
    return rgb, lab, kinds
