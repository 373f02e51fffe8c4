"""Where tiles are computed: one tile's work, and the executors that run it.

:func:`tile_records` is the whole per-tile computation (read nothing, decide nothing
global): run the method on the window, keep the objects the tile owns (see
:mod:`.tiling`), measure them, cut the maps to the core. A :class:`TileJob` binds it to a
fitted method and a slide; a :class:`TileExecutor` runs jobs' tiles somewhere: here on
a thread pool (:class:`LocalExecutor`, the default) or on a cluster
(:class:`.distributed.DistributedExecutor`). The caller of the pipeline picks one; the
pipeline never imports a particular remote executor.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

import numpy as np

from ..io import Slide
from ..methods.base import Method, TileOutput
from ..nucleus_records import NucleusRecord, measure_objects, record_polygon
from .tiling import Tile, ownership_filter

TileResult = tuple[list[NucleusRecord], dict[str, np.ndarray]]


def default_workers() -> int:
    """Worker threads: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def tile_records(method: Method, rgb: np.ndarray, t: Tile, shape: tuple[int, int],
                 mpp: Optional[float], polygons: bool) -> TileResult:
    """Run ``method`` on one window: the records the tile owns and its core maps.

    Objects larger than ``method.max_area`` are dropped (no nucleus is that big).
    """
    return output_records(TileOutput.of(method.segment_tile(rgb)), rgb, t, shape, mpp,
                          polygons, method.max_area, method.measure_records)


def output_records(output: TileOutput, rgb: np.ndarray, t: Tile, shape: tuple[int, int],
                   mpp: Optional[float], polygons: bool, max_area: int = 0,
                   measure: Optional[Callable] = None) -> TileResult:
    """The records tile ``t`` owns in a method's ``output`` for its window ``rgb``, and
    the core of its maps: objects over ``max_area`` (when > 0) dropped, ``measure``
    (a method's ``measure_records`` hook) applied, sorted by centroid."""
    labels = output.labels
    records = measure_objects(labels, rgb, offset=t.offset,
                              keep=ownership_filter(t, shape), mpp=mpp)
    if max_area > 0:
        records = [rec for rec in records if rec.area <= max_area]
    if measure is not None:
        measure(records, labels, rgb, t.offset, mpp)
    records.sort(key=lambda r: (r.centroid_y, r.centroid_x))
    if polygons:
        for rec in records:
            rec.polygon = record_polygon(rec)
    if output.classes:
        oy, ox = t.offset
        for rec in records:
            h, w = rec.mask.shape
            local = labels[rec.y0 - oy:rec.y0 - oy + h, rec.x0 - ox:rec.x0 - ox + w][rec.mask]
            rec.classification = output.classes.get(int(local[0]), rec.classification)
    core = t.core_in_window()
    return records, {name: m[core] for name, m in output.maps.items()}


def _no_check() -> None:
    return None


@dataclass
class TileJob:
    """A fitted method applied to the tiles of one slide."""

    method: Method
    slide: Slide
    polygons: bool = True
    check: Callable[[], None] = _no_check  # raises Cancelled when the run should stop

    def read(self, t: Tile) -> np.ndarray:
        """The RGB pixels of the tile's window."""
        return np.asarray(self.slide.data[t.window_slices].compute(scheduler="synchronous"))

    def __call__(self, t: Tile) -> TileResult:
        self.check()
        return tile_records(self.method, self.read(t), t, self.slide.shape, self.slide.mpp,
                            self.polygons)


class TileExecutor(Protocol):
    """Runs the tiles of a job; the pipeline calls start, then submit per tile, then close.

    ``submit`` returns a future (``result()``, ``cancel()``); ``workers`` is how many
    tiles run at once (the pipeline keeps twice as many in flight); ``describe()`` goes
    into the run's information (e.g. the scheduler's address).
    """

    workers: int

    def start(self, job: TileJob) -> None: ...

    def submit(self, t: Tile) -> Any: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class LocalExecutor:
    """Tiles on a thread pool in this process (``workers`` threads; default: the CPUs)."""

    def __init__(self, workers: Optional[int] = None):
        self.workers = int(workers or default_workers())
        self._pool: Optional[ThreadPoolExecutor] = None
        self._job: Optional[TileJob] = None

    def start(self, job: TileJob) -> None:
        self._job = job
        self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                        thread_name_prefix="pathrobust")

    def submit(self, t: Tile):
        return self._pool.submit(self._job, t)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> dict[str, Any]:
        return {"workers": self.workers}


class Done:
    """A finished 'future' for tiles that need no work (background, or resumed)."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value

    def cancel(self) -> bool:
        return False


__all__ = ["TileExecutor", "LocalExecutor", "TileJob", "tile_records", "output_records",
           "default_workers", "Done"]
