"""Recognition methods. Each one is a small object with

* ``name`` and ``halo`` (context pixels a tile needs for exact results),
* ``fit(sample_rgb)`` fitting global parameters once per image,
* ``segment_tile(rgb) -> int32 labels`` (local: depends on pixels within ``halo``),
* ``describe() -> dict`` (JSON-serialisable parameters, fitted values, model hash).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Method(Protocol):
    """What the tiled engine needs from a recognition method."""

    name: str

    @property
    def halo(self) -> int: ...

    def fit(self, sample_rgb: np.ndarray) -> "Method": ...

    def segment_tile(self, rgb: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


DEFAULT_METHOD = "psm"  # beats classical on MoNuSeg train-13 (docs/benchmarks.md, PSM)


def available_methods() -> list[str]:
    """Names accepted by :func:`get_method`."""
    return ["classical", "psm"]


def get_method(name: str, device: str | None = None, seed: int | None = None,
               **params: Any) -> Method:
    """Build a method by name with parameter overrides; ``device`` and ``seed`` reach
    the methods that use them (learned ones) and are ignored by the others."""
    if name == "classical":
        from .classical import ClassicalMethod

        return ClassicalMethod(**params)
    if name == "psm":
        from .psm import PSMMethod

        extra = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
        return PSMMethod(**extra, **params)
    raise ValueError(f"unknown method {name!r}; available: {', '.join(available_methods())}")
