"""Locate files shipped in resources/ (inside the wheel, or the source checkout)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "resources", _PACKAGE.parents[1] / "resources")

DEMO_IMAGE = "demo_he_crop.png"
DEMO_MPP = 0.25  # MoNuSeg tiles are 40x, about 0.25 um/px


def resource_path(name: str) -> Path:
    """Path of a bundled resource file; FileNotFoundError names where it looked."""
    for folder in _CANDIDATES:
        candidate = folder / name
        if candidate.exists():
            return candidate
    looked = ", ".join(str(c) for c in _CANDIDATES)
    raise FileNotFoundError(f"resource {name!r} not found (looked in {looked})")
