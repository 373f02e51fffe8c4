"""Colour deconvolution: optical density, the hematoxylin channel, H-DAB unmixing.

Uses the fixed Ruifrok & Johnston (2001) H&E-DAB stain matrix (rows normalised
to unit length), the same as ``skimage.color.rgb2hed``; for IHC (no eosin) the
hematoxylin-DAB matrix :data:`RGB_FROM_HDX` (hematoxylin, DAB and their orthogonal
residual). All functions are per-pixel (hence trivially tile-local) and work in
float32 via look-up tables.
"""

from __future__ import annotations

import numpy as np

#: Stain OD vectors (rows: hematoxylin, eosin, DAB), Ruifrok & Johnston 2001.
RGB_FROM_HED = np.array(
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=np.float64
)
RGB_FROM_HED = RGB_FROM_HED / np.linalg.norm(RGB_FROM_HED, axis=1, keepdims=True)
#: Deconvolution matrix: ``stains = od @ HED_FROM_RGB`` (od as row vectors).
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)

#: Hematoxylin and DAB OD vectors (Ruifrok & Johnston 2001) and their cross product
#: (the residual channel): rows of the fixed H-DAB matrix, unit length. IHC slides carry
#: no eosin, so DAB is unmixed against hematoxylin only.
_H_REF = np.array([0.650, 0.704, 0.286])
_DAB_REF = np.array([0.268, 0.570, 0.776])
RGB_FROM_HDX = np.stack([_H_REF, _DAB_REF, np.cross(_H_REF, _DAB_REF)])
RGB_FROM_HDX = RGB_FROM_HDX / np.linalg.norm(RGB_FROM_HDX, axis=1, keepdims=True)
#: Unmixing matrix of the fixed H-DAB vectors: ``stains = od @ HDX_FROM_RGB``.
HDX_FROM_RGB = np.linalg.inv(RGB_FROM_HDX)


def stain_matrix(h: np.ndarray, dab: np.ndarray) -> np.ndarray:
    """3x3 matrix of unit rows (hematoxylin, DAB, residual = their cross product)."""
    h = np.asarray(h, np.float64) / np.linalg.norm(h)
    dab = np.asarray(dab, np.float64) / np.linalg.norm(dab)
    res = np.cross(h, dab)
    return np.stack([h, dab, res / np.linalg.norm(res)])


#: Optical density of each uint8 intensity: -log10((I + 1) / 256) (0 for white).
OD_LUT = (-np.log10((np.arange(256, dtype=np.float64) + 1.0) / 256.0)).astype(np.float32)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        if np.issubdtype(rgb.dtype, np.floating) and rgb.max(initial=0) <= 1.0:
            rgb = rgb * 255.0
        rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return rgb[..., :3]


def od(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> float32 (H, W, 3) optical density (Beer-Lambert, base 10)."""
    return OD_LUT[_check_rgb(rgb)]


def stain_channel(rgb: np.ndarray, index: int, matrix: np.ndarray = HED_FROM_RGB) -> np.ndarray:
    """One deconvolved stain concentration (float32 (H, W), may be slightly negative).

    ``index`` selects the column of ``matrix`` (0 hematoxylin, 1 eosin, 2 DAB).
    Computed as a sum of three per-channel look-ups: no (H, W, 3) float temporary.
    """
    rgb = _check_rgb(rgb)
    w = np.asarray(matrix, dtype=np.float64)[:, index]
    luts = [(OD_LUT.astype(np.float64) * w[c]).astype(np.float32) for c in range(3)]
    out = luts[0][rgb[..., 0]]
    out += luts[1][rgb[..., 1]]
    out += luts[2][rgb[..., 2]]
    return out


def hematoxylin_od(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> float32 (H, W) hematoxylin optical density (Ruifrok matrix)."""
    return stain_channel(rgb, 0)


def od_to_rgb(od_rgb: np.ndarray) -> np.ndarray:
    """float (H, W, 3) optical density -> uint8 RGB (inverse of :func:`od`, rounded)."""
    inten = 256.0 * np.power(10.0, -np.asarray(od_rgb, dtype=np.float32)) - 1.0
    return np.clip(np.rint(inten), 0, 255).astype(np.uint8)


def compose_od(h: np.ndarray, e: np.ndarray, matrix: np.ndarray = RGB_FROM_HED) -> np.ndarray:
    """Hematoxylin and eosin concentrations (H, W) -> float32 (H, W, 3) optical density."""
    m = np.asarray(matrix, dtype=np.float32)
    return h[..., None].astype(np.float32) * m[0] + e[..., None].astype(np.float32) * m[1]
