"""Tiles of a slide processed at a method's working resolution (see :mod:`.resample`).

A :class:`WorkingTileJob` reads a tile's window on the working grid (best pyramid level,
resampled, the halo included), runs the method there, drops objects larger than the
method's ``max_area`` (working pixels), brings labels and maps back to the slide's own
pixel grid by nearest neighbour and hands them to :func:`.executor.output_records`:
ownership, records, polygons, CSV and GeoJSON are all in slide pixels, and measurements
in microns use the slide's pixel size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from ..methods.base import TileOutput
from .executor import TileJob, TileResult, output_records
from .resample import WorkingGrid
from .tiling import Box, Tile


@dataclass
class WorkingTileJob(TileJob):
    """A :class:`.executor.TileJob` that runs the method on the working grid."""

    grid: Optional[WorkingGrid] = None
    align: int = 1

    def read(self, t: Tile) -> np.ndarray:
        """The tile window's RGB on the slide grid (nearest from the level read)."""
        box = self.grid.working_box(t.window, self.align)
        return self.grid.read(box, t.window)[1]

    def load(self, t: Tile) -> tuple[Box, np.ndarray, np.ndarray]:
        """The window's working box, its working RGB and its RGB on the slide grid."""
        self.check()
        with self._stage("read"):
            box = self.grid.working_box(t.window, self.align)
            return (box, *self.grid.read(box, t.window))

    def compute(self, t: Tile, pixels: tuple[Box, np.ndarray, np.ndarray]) -> TileResult:
        self.check()
        box, rgb, slide_rgb = pixels
        with self._stage("method"):
            output = TileOutput.of(self.method.segment_tile(rgb))
        with self._stage("to_slide"):
            labels = np.asarray(output.labels)
            if self.method.max_area > 0 and labels.size:  # ids kept: classes refer to them
                large = np.bincount(labels.ravel()) > self.method.max_area
                large[0] = False
                labels = np.where(large[labels], 0, labels) if large.any() else labels
            back = TileOutput(self.grid.to_slide(labels, box, t.window),
                              {k: self.grid.to_slide(m, box, t.window)
                               for k, m in output.maps.items()}, output.classes)
        # max_area was applied on the working grid; measurements run on slide pixels
        with self._stage("records"):
            return output_records(back, slide_rgb, t, self.slide.shape, self.slide.mpp,
                                  self.polygons, measure=self.method.measure_records)

    def detached(self) -> "WorkingTileJob":
        grid = copy.copy(self.grid)
        grid.slide = None  # to_slide needs the axes only
        return replace(super().detached(), grid=grid)

    def attached(self, method: Any, slide: Any = None) -> "WorkingTileJob":
        job = super().attached(method, slide)
        if slide is not None:
            grid = copy.copy(self.grid)
            grid.slide = job.slide
            job = replace(job, grid=grid)
        return job


def working_sample(grid: WorkingGrid, seed: int = 0, max_pixels: Optional[int] = None,
                   patch: int = 256) -> np.ndarray:
    """:func:`.sampling.fit_sample` on the working grid: the whole working image when
    small, else a seeded mosaic of working-grid patches drawn from tissue."""
    from .sampling import FIT_SAMPLE_PIXELS, sample_mosaic

    max_pixels = FIT_SAMPLE_PIXELS if max_pixels is None else max_pixels
    height, width = grid.shape

    def read(y: int, x: int, h: int, w: int) -> np.ndarray:
        return grid.read(Box(y, x, min(y + h, height), min(x + w, width)))[0]

    if height * width <= max_pixels:
        return read(0, 0, height, width)
    return sample_mosaic(read, (height, width), seed, max_pixels, patch)


def working_tile_size(grid: WorkingGrid, halo: int, memory_budget_mb: float,
                      bytes_per_pixel: int) -> int:
    """Tile side in slide pixels whose working window fits the memory budget (the
    slide-grid labels, RGB and measurements of the window included)."""
    from ..methods.base import DEFAULT_BYTES_PER_PIXEL
    from .tiling import auto_tile_size

    per_working = bytes_per_pixel + DEFAULT_BYTES_PER_PIXEL / grid.scale ** 2
    side = auto_tile_size(grid.shape, halo, memory_budget_mb, int(per_working))
    return max(16, min(int(side / grid.scale), max(grid.slide.shape)))


def pixel_size_info(slide: Any, method: Any, grid: Optional[WorkingGrid]) -> dict:
    """What a run records about pixel sizes (``_run.json``, the CLI line, widgets)."""
    working = method.working_mpp
    info = {"mpp": slide.mpp, "mpp_source": slide.mpp_source,
            "working_mpp": working, "mpp_assumed": slide.mpp is None and working is not None}
    if grid is not None:
        info.update(grid.describe())
    return info


__all__ = ["WorkingTileJob", "working_sample", "working_tile_size", "pixel_size_info"]
