"""Tile plans with a halo, and the ownership rule that makes tiled == untiled.

A tile has a *core* (the tiles' cores partition the image) and a *window* (the core
grown by ``halo`` pixels, clipped to the image). A method runs on the window; an
object found there is kept by the tile only when

* its centroid lies in the tile's core (so exactly one tile owns it), and
* it does not touch a window edge that is not an image edge (so it is complete).

An object smaller than the halo is therefore seen complete, and identical, by the
tile that owns it, and every object gets exactly one label in the stitched result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..methods.base import DEFAULT_BYTES_PER_PIXEL


class Box(NamedTuple):
    """An axis-aligned region of a slide in pixels: rows ``y0:y1``, columns ``x0:x1``.

    The one box convention of the project: tiles, corruption windows, widget regions
    and ``layer.metadata["region"]`` all use it (stored as the list ``[y0, x0, y1, x1]``).
    """

    y0: int
    x0: int
    y1: int
    x1: int

    @classmethod
    def of(cls, value) -> "Box":
        """A Box from any ``(y0, x0, y1, x1)`` sequence (e.g. layer metadata)."""
        y0, x0, y1, x1 = (int(v) for v in value)
        if y1 < y0 or x1 < x0:
            raise ValueError(f"box {list(value)} has its end before its start")
        return cls(y0, x0, y1, x1)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def offset(self) -> tuple[int, int]:
        return self.y0, self.x0

    def clip(self, shape: tuple[int, int]) -> "Box":
        """This box clipped to an image of ``shape``."""
        h, w = int(shape[0]), int(shape[1])
        return Box(min(max(self.y0, 0), h), min(max(self.x0, 0), w),
                   min(max(self.y1, 0), h), min(max(self.x1, 0), w))

    def as_list(self) -> list[int]:
        return [int(v) for v in self]


@dataclass(frozen=True)
class Tile:
    """One tile: its index, core and window as :class:`Box` es in image pixels."""

    index: int
    core: Box
    window: Box

    @property
    def window_slices(self) -> tuple[slice, slice]:
        return self.window.slices

    @property
    def offset(self) -> tuple[int, int]:
        """Global (row, col) of the window's top-left pixel."""
        return self.window.offset

    def core_in_window(self) -> tuple[slice, slice]:
        """Slices of the core inside a window-sized array."""
        oy, ox = self.offset
        return (slice(self.core.y0 - oy, self.core.y1 - oy),
                slice(self.core.x0 - ox, self.core.x1 - ox))


#: windows the memory budget is shared between when the default tile size is chosen.
#: A constant, not the worker count: the default tiling (and so every float in the
#: result) is the same on every machine. Working memory is about
#: ``budget * workers / BUDGET_WINDOWS``: with more workers, lower the budget or the tile.
BUDGET_WINDOWS = 2


def auto_tile_size(shape: tuple[int, int], halo: int, memory_budget_mb: float = 1024,
                   bytes_per_pixel: int = DEFAULT_BYTES_PER_PIXEL) -> int:
    """Largest tile (multiple of 256, 512..4096) of which BUDGET_WINDOWS windows fit the
    memory budget; it never depends on the number of workers."""
    per_window = memory_budget_mb * 2**20 / BUDGET_WINDOWS
    side = int(math.sqrt(per_window / bytes_per_pixel)) - 2 * halo
    side = max(512, min(4096, (side // 256) * 256))
    return min(side, max(shape))


def plan_tiles(shape: tuple[int, int], tile: int, halo: int) -> list[Tile]:
    """Cover an image of ``shape`` (Y, X) with square cores of side ``tile``."""
    height, width = int(shape[0]), int(shape[1])
    if tile <= 0:
        raise ValueError(f"tile size must be positive, got {tile}")
    if halo < 0:
        raise ValueError(f"halo must be >= 0, got {halo}")
    tiles = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            core = Box(y0, x0, min(y0 + tile, height), min(x0 + tile, width))
            window = Box(core.y0 - halo, core.x0 - halo, core.y1 + halo,
                         core.x1 + halo).clip((height, width))
            tiles.append(Tile(len(tiles), core, window))
    return tiles


def ownership_filter(tile: Tile, image_shape: tuple[int, int]):
    """Predicate on skimage RegionProperties (window coordinates): does ``tile`` own it?"""
    wy0, wx0, wy1, wx1 = tile.window
    cy0, cx0, cy1, cx1 = tile.core
    height, width = image_shape
    # window edges that are interior image edges: objects touching them are cut
    cut_top, cut_left = wy0 > 0, wx0 > 0
    cut_bottom, cut_right = wy1 < height, wx1 < width
    win_h, win_w = wy1 - wy0, wx1 - wx0

    def keep(region) -> bool:
        cy, cx = region.centroid
        gy, gx = math.floor(cy + wy0), math.floor(cx + wx0)
        if not (cy0 <= gy < cy1 and cx0 <= gx < cx1):
            return False
        r0, c0, r1, c1 = region.bbox
        if (cut_top and r0 == 0) or (cut_left and c0 == 0):
            return False
        if (cut_bottom and r1 == win_h) or (cut_right and c1 == win_w):
            return False
        return True

    return keep


def canonical_relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber instances 1..n in raster order of their first pixel (for comparisons)."""
    flat = labels.ravel()
    ids, first = np.unique(flat, return_index=True)
    keep = ids != 0
    ids, first = ids[keep], first[keep]
    order = np.argsort(first, kind="stable")
    lut_ids = ids[order]
    new = np.zeros(labels.shape, dtype=np.int64)
    mapping = np.zeros(int(ids.max()) + 1 if ids.size else 1, dtype=np.int64)
    mapping[lut_ids] = np.arange(1, lut_ids.size + 1)
    new = mapping[labels]
    return new
