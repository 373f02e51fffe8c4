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
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Protocol

import numpy as np

from ..io import Slide
from ..methods.base import Method, TileOutput
from ..nucleus_records import NucleusRecord, measure_objects, record_polygon
from .profile import StageClock
from .tiling import Tile, ownership_filter

TileResult = tuple[list[NucleusRecord], dict[str, np.ndarray]]


def _no_check() -> None:
    return None


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


@dataclass(frozen=True)
class SlideInfo:
    """What a detached job keeps of its slide (shape, pixel size, where to reopen it)."""

    shape: tuple[int, int]
    mpp: Optional[float]
    path: Any = None
    name: str = ""


@dataclass
class TileJob:
    """A fitted method applied to the tiles of one slide.

    A tile's work is :meth:`load` (its pixels: I/O and resampling) then :meth:`compute`
    (the method and the records), so an executor may read ahead of the method, or read
    in one process and compute in another (:meth:`detached`, :meth:`attached`).
    """

    method: Method
    slide: Slide
    polygons: bool = True
    check: Callable[[], None] = _no_check  # raises Cancelled when the run should stop
    clock: Optional[StageClock] = None  # per-stage seconds (info["profile"])

    def _stage(self, name: str):
        return self.clock.stage(name) if self.clock is not None else nullcontext()

    def read(self, t: Tile) -> np.ndarray:
        """The RGB pixels of the tile's window."""
        return np.asarray(self.slide.data[t.window_slices].compute(scheduler="synchronous"))

    def load(self, t: Tile) -> Any:
        """What :meth:`compute` needs of the slide for tile ``t``."""
        self.check()
        with self._stage("read"):
            return self.read(t)

    def compute(self, t: Tile, pixels: Any) -> TileResult:
        """The tile's owned records and core maps from :meth:`load`'s ``pixels``."""
        self.check()
        with self._stage("method"):
            output = TileOutput.of(self.method.segment_tile(pixels))
        with self._stage("records"):
            return output_records(output, pixels, t, self.slide.shape, self.slide.mpp,
                                  self.polygons, self.method.max_area,
                                  self.method.measure_records)

    def __call__(self, t: Tile) -> TileResult:
        return self.compute(t, self.load(t))

    def detached(self) -> "TileJob":
        """A picklable copy without the method, the slide's pixels, the cancel check or
        the clock (:meth:`attached` gives them back in another process)."""
        slide = self.slide
        info = SlideInfo(tuple(slide.shape), slide.mpp, slide.path, slide.name)
        return replace(self, method=None, slide=info, check=_no_check, clock=None)

    def attached(self, method: Method, slide: Any = None) -> "TileJob":
        """This (detached) job with ``method`` and, when given, an opened ``slide`` (its
        pixel size set to the one the job was made with)."""
        if slide is None:
            return replace(self, method=method)
        if self.slide.mpp is not None and slide.mpp != self.slide.mpp:
            from ..io import with_pixel_size

            slide = with_pixel_size(slide, self.slide.mpp)
        return replace(self, method=method, slide=slide)


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
    """Tiles on a thread pool in this process (``workers`` threads; default: the CPUs).

    With ``read_ahead`` (default) one more thread reads (and resamples) the windows of
    submitted tiles while the workers run the method on earlier ones; the pipeline's
    in-flight window bounds how far it reads ahead.
    """

    def __init__(self, workers: Optional[int] = None, read_ahead: bool = True):
        self.workers = int(workers or default_workers())
        self.read_ahead = bool(read_ahead)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._reader: Optional[ThreadPoolExecutor] = None
        self._job: Optional[TileJob] = None

    def start(self, job: TileJob) -> None:
        self._job = job
        self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                        thread_name_prefix="pathrobust")
        if self.read_ahead:
            self._reader = ThreadPoolExecutor(max_workers=1,
                                              thread_name_prefix="pathrobust-read")

    def submit(self, t: Tile):
        job = self._job
        if self._reader is None:
            return self._pool.submit(job, t)
        pixels = self._reader.submit(job.load, t)
        return self._pool.submit(lambda: job.compute(t, pixels.result()))

    def close(self) -> None:
        for pool in (self._reader, self._pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._reader = None

    def describe(self) -> dict[str, Any]:
        return {"workers": self.workers, "read_ahead": self.read_ahead}


class Done:
    """A finished 'future' for tiles that need no work (background, or resumed)."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value

    def cancel(self) -> bool:
        return False


__all__ = ["TileExecutor", "LocalExecutor", "TileJob", "SlideInfo", "tile_records",
           "output_records", "default_workers", "Done"]
