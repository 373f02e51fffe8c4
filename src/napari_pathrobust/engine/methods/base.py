"""The method contract: what the tiled pipeline needs from a recognition method.

A method is a :class:`MethodBase` subclass with

* ``name`` and ``halo`` (context pixels a tile needs on each side for exact results),
* ``fit(sample_rgb)``: global parameters, fitted once per image on a sample of it,
* ``segment_tile(rgb)``: int labels, or a :class:`TileOutput` (labels plus dense maps and
  classes); local: an object's result depends only on pixels within ``halo`` of it,
* ``describe()``: JSON-serialisable parameters, fitted values, model hashes,

and optional capabilities whose defaults live here, so the pipeline reads them as plain
attributes: ``alignment`` (tiles start on multiples of it: strided networks),
``bytes_per_pixel`` (working memory per window pixel, for the default tile size),
``working_mpp`` (the pixel size, um, it works at: the pipeline resamples other slides
to it; None: pixels as they are; a network's card records the size it was trained at),
``map_names`` (maps it returns, for zarr canvases), ``max_area`` (largest object kept)
and ``configure_threads(workers)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Protocol, Union

import numpy as np

#: the pixel size (um) the shipped networks were trained at and the methods work at (40x)
WORKING_MPP = 0.25
#: bytes of working memory a method needs per window pixel (RGB, float maps,
#: labels, distance transform, watershed queues): measured for `classical`.
DEFAULT_BYTES_PER_PIXEL = 96

#: the largest nucleus diameter a method accepts (um): large tumour nuclei reach ~20 um,
#: so an object wider than this is a stain blob, a fold or a whole dark image
MAX_NUCLEUS_DIAMETER_UM = 30.0
#: area (px at WORKING_MPP) of a disc of MAX_NUCLEUS_DIAMETER_UM: 11,309 px
MAX_NUCLEUS_AREA = int(math.pi * (MAX_NUCLEUS_DIAMETER_UM / WORKING_MPP / 2) ** 2)


@dataclass
class TileOutput:
    """What a method may return instead of bare labels: labels plus dense maps.

    ``maps`` holds per-pixel intermediate results of the same (H, W) as the window,
    e.g. ``{"activation": float32, "pseudomask": uint8}``; the pipeline stitches their
    tile cores into whole-image maps (see ``SegmentResult.maps``).
    """

    labels: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    classes: dict[int, str] = field(default_factory=dict)  # window label id -> class name

    @classmethod
    def of(cls, output: Union["TileOutput", np.ndarray]) -> "TileOutput":
        """A method's return value (labels or a TileOutput) as a TileOutput."""
        return output if isinstance(output, TileOutput) else cls(np.asarray(output))


class Method(Protocol):
    """What the tiled engine needs from a recognition method (see the module docstring)."""

    name: str
    halo: int
    alignment: int
    bytes_per_pixel: int
    map_names: tuple[str, ...]
    max_area: int
    working_mpp: Optional[float]
    measure_records: Optional[Callable[..., None]]

    def fit(self, sample_rgb: np.ndarray) -> "Method": ...

    def segment_tile(self, rgb: np.ndarray) -> Union[np.ndarray, TileOutput]: ...

    def describe(self) -> dict[str, Any]: ...

    def configure_threads(self, workers: int) -> None: ...


class MethodBase:
    """Explicit defaults for a method's optional capabilities; every method subclasses it."""

    name = "method"
    halo = 0
    alignment = 1  # windows start on multiples of this (1: anywhere)
    bytes_per_pixel = DEFAULT_BYTES_PER_PIXEL  # working memory per window pixel
    map_names: tuple[str, ...] = ()  # dense maps segment_tile returns (TileOutput.maps)
    max_area = MAX_NUCLEUS_AREA  # objects larger than this (px) are dropped
    working_mpp: Optional[float] = WORKING_MPP  # um per pixel the method works at
    #: extra per-record measurements, ``f(records, labels, rgb, offset, mpp)`` run on each
    #: tile's owned records (e.g. IHC DAB in nucleus and cell, engine/ihc); None: none
    measure_records: Optional[Callable[..., None]] = None

    def use_card_mpp(self, cards: Iterable[dict]) -> None:
        """Work at the pixel size the networks' model cards record (``mpp``), if any."""
        sizes = {float(c["mpp"]) for c in cards if c.get("mpp")}
        if len(sizes) > 1:
            raise ValueError(f"the networks were trained at different pixel sizes: "
                             f"{', '.join(f'{v:g}' for v in sorted(sizes))} um/px")
        if sizes:
            self.working_mpp = sizes.pop()

    def fit(self, sample_rgb: np.ndarray) -> "MethodBase":
        """Fit global parameters on a sample of the image (default: nothing to fit)."""
        return self

    def segment_tile(self, rgb: np.ndarray) -> Union[np.ndarray, TileOutput]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def configure_threads(self, workers: int) -> None:
        """Called with the number of concurrent tile workers before a run (default: no-op)."""


__all__ = ["TileOutput", "Method", "MethodBase", "MAX_NUCLEUS_AREA", "WORKING_MPP",
           "DEFAULT_BYTES_PER_PIXEL", "MAX_NUCLEUS_DIAMETER_UM"]
