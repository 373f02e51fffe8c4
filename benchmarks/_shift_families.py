"""Shift families for the adaptation protocol (benchmarks/eval_adapt_protocol.py).

Written for that protocol and deliberately different from the corruption suite
(engine/corrupt): each family models one physical cause of a slide looking unlike
the training slides, at two graded strengths (``mild``, ``strong``). All are
deterministic (JPEG and blur have no randomness; nothing here draws noise).

- ``scanner``: another scanner's colour response (per-channel gamma and gain).
- ``dim``: a low-contrast, dim scan (contrast compressed towards a darker grey).
- ``defocus``: an out-of-focus scan (Gaussian point-spread function, sigma in px).
- ``jpeg``: lossy compression at a low quality factor (Pillow's encoder).
- ``stain``: stain strength (hematoxylin scaled down, eosin up, in optical density).
- ``thickness``: a thicker section (all optical densities scaled up).
"""

from __future__ import annotations

import io

import numpy as np

# Ruifrok & Johnston H&E(-DAB) optical-density vectors (rows: H, E, residual)
_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
_HED = _HED / np.linalg.norm(_HED, axis=1, keepdims=True)
_HED_INV = np.linalg.inv(_HED)

FAMILIES = {
    "scanner": {"mild": {"gamma": (1.15, 0.95, 0.9), "gain": (1.0, 0.96, 1.04)},
                "strong": {"gamma": (1.45, 0.85, 0.75), "gain": (1.0, 0.9, 1.08)}},
    "dim": {"mild": {"contrast": 0.7, "level": 0.85},
            "strong": {"contrast": 0.45, "level": 0.7}},
    "defocus": {"mild": {"sigma": 1.5}, "strong": {"sigma": 3.0}},
    "jpeg": {"mild": {"quality": 30}, "strong": {"quality": 8}},
    "stain": {"mild": {"h": 0.7, "e": 1.3}, "strong": {"h": 0.45, "e": 1.7}},
    "thickness": {"mild": {"od": 1.4}, "strong": {"od": 2.0}},
}
STRENGTHS = ("mild", "strong")


def _od(rgb: np.ndarray) -> np.ndarray:
    return -np.log((rgb.astype(np.float64) + 1.0) / 256.0)


def _rgb(od: np.ndarray) -> np.ndarray:
    return np.clip(256.0 * np.exp(-od) - 1.0, 0, 255).round().astype(np.uint8)


def shift(rgb: np.ndarray, family: str, strength: str) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) under ``family`` at ``strength``; 'clean' returns it."""
    if family == "clean":
        return rgb
    p = FAMILIES[family][strength]
    x = rgb[..., :3]
    if family == "scanner":
        f = x.astype(np.float64) / 255.0
        out = np.asarray(p["gain"]) * f ** np.asarray(p["gamma"])
        return np.clip(out * 255.0, 0, 255).round().astype(np.uint8)
    if family == "dim":
        f = x.astype(np.float64) / 255.0
        out = p["level"] * (0.5 + p["contrast"] * (f - 0.5))
        return np.clip(out * 255.0, 0, 255).round().astype(np.uint8)
    if family == "defocus":
        from scipy.ndimage import gaussian_filter

        return np.clip(gaussian_filter(x.astype(np.float32), (p["sigma"], p["sigma"], 0)),
                       0, 255).round().astype(np.uint8)
    if family == "jpeg":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(x)).save(buf, format="JPEG", quality=p["quality"])
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if family == "stain":
        conc = _od(x) @ _HED_INV
        conc[..., 0] *= p["h"]
        conc[..., 1] *= p["e"]
        return _rgb(conc @ _HED)
    if family == "thickness":
        return _rgb(_od(x) * p["od"])
    raise ValueError(f"unknown shift family {family!r}")


def conditions(strengths=STRENGTHS, families=None) -> list[tuple[str, str]]:
    """(family, strength) pairs, clean first."""
    fams = list(families or FAMILIES)
    return [("clean", "-")] + [(f, s) for f in fams for s in strengths]
