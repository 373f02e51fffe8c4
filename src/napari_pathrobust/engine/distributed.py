"""Run the tile work of :func:`.pipeline.segment_slide` on a dask.distributed cluster.

The main process fits the method once and scatters the fitted object to every worker
(each worker process unpickles it, and so loads its networks, once); tasks then only
carry a tile (and its pixels when the slide has no file the workers can open). The
main process still assigns ids and writes outputs in tile order, so a distributed run
gives the same labels as a local one.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Optional

import numpy as np

from .tiling import Tile


def connect(scheduler: Any):
    """(client, owned): a ``distributed.Client`` for an address, or the client given."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    return Client(str(scheduler), set_as_default=False), True


def total_threads(client) -> int:
    """Worker threads across the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


@functools.lru_cache(maxsize=4)
def _worker_slide(path: str):
    from .io import open_image

    return open_image(path)


def _configure_worker(method: Any) -> None:
    """Match torch's intra-op threads to this worker's task threads (once per object)."""
    if getattr(method, "_pathrobust_configured", False):
        return
    if "torch" in sys.modules:
        from distributed import get_worker

        sys.modules["torch"].set_num_threads(max(1, get_worker().state.nthreads))
    try:
        method._pathrobust_configured = True
    except AttributeError:  # pragma: no cover - slotted objects
        pass


def remote_tile(method: Any, source: Any, t: Tile, shape: tuple[int, int],
                mpp: Optional[float], polygons: bool):
    """Worker task: one tile's owned records and core maps (see ``pipeline.tile_records``).

    ``source`` is the window's RGB pixels, or the path of the slide to read them from.
    """
    from .pipeline import tile_records

    _configure_worker(method)
    if isinstance(source, np.ndarray):
        rgb = source
    else:
        slide = _worker_slide(str(source))
        rgb = np.asarray(slide.data[t.window_slices].compute(scheduler="synchronous"))
    return tile_records(method, rgb, t, shape, mpp, polygons)


class DistributedExecutor:
    """Submit tiles to a cluster with the interface the pipeline's loop uses."""

    def __init__(self, scheduler: Any, method: Any, slide: Any, shape, polygons: bool):
        self.client, self._owned = connect(scheduler)
        self.slide, self.shape, self.polygons = slide, shape, polygons
        self.workers = total_threads(self.client)
        self._method = self.client.scatter(method, broadcast=True, hash=False)
        path = getattr(slide, "path", None)
        self._path = str(path) if path is not None else None
        self.address = self.client.scheduler.address

    def submit(self, t: Tile):
        source = self._path
        if source is None:
            source = np.asarray(self.slide.data[t.window_slices].compute(scheduler="synchronous"))
        return self.client.submit(remote_tile, self._method, source, t, self.shape,
                                  self.slide.mpp, self.polygons, pure=False)

    def close(self) -> None:
        try:
            self.client.cancel([self._method])
        except Exception:  # pragma: no cover - best effort on shutdown
            pass
        if self._owned:
            self.client.close()


__all__ = ["DistributedExecutor", "remote_tile", "connect"]
