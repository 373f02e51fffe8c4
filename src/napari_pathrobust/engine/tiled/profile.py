"""Where a tiled run's time goes: seconds per stage, summed over worker threads.

The pipeline keeps one :class:`StageClock` per run and records ``describe()`` as
``info["profile"]``: worker stages (``read``: window read and resampled; ``method``:
``segment_tile``, of which ``network`` is the network's own share on this process;
``to_slide``: labels back to slide pixels; ``records``: ownership, measurements,
polygons) are CPU-side sums over threads, so they may add up to more than the wall
time; main-thread stages (``fit``, ``tissue``, ``wait``: waiting for the next tile in
plan order, ``stitch``: canvas, sinks and ids, ``relabel``: canonical ids) are wall
time. Timing costs a clock read per stage and changes no result.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator


class StageClock:
    """Thread-safe seconds and counts per named stage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.seconds[name] += float(seconds)
            self.counts[name] += int(count)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` body as stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def describe(self) -> dict[str, float]:
        """``{stage: seconds}`` rounded to milliseconds, in first-use order."""
        with self._lock:
            return {k: round(v, 3) for k, v in self.seconds.items()}

    def __getstate__(self) -> dict:  # a job shipped to another process times nothing
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


__all__ = ["StageClock"]
