"""Run the tile work of :func:`.pipeline.segment_slide` on a dask.distributed cluster.

The main process fits the method once and scatters the fitted object to every worker
(each worker process unpickles it, and so loads its networks, once); tasks then only
carry a tile and the detached job (its working grid: slides at another pixel size are
resampled on the workers exactly as here), plus the pixels when the slide has no file
the workers can open. The
main process still assigns ids and writes outputs, so a distributed run gives the same
labels as a local one. Jobs pick this executor (:func:`executor_for`); the pipeline
never imports this module.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Optional

from .executor import TileJob
from .tiling import Tile


def connect(scheduler: Any):
    """(client, owned): a ``distributed.Client`` for an address, or the client given."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("running on a scheduler needs dask.distributed: "
                          "pip install 'napari-pathrobust[distributed]'") from None

    if isinstance(scheduler, Client):
        return scheduler, False
    return Client(str(scheduler), set_as_default=False), True


def total_threads(client) -> int:
    """Worker threads across the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


@functools.lru_cache(maxsize=4)
def _worker_slide(path: str):
    from ..io import open_image

    return open_image(path)


_CONFIGURED = []  # non-empty once this worker process set torch's threads


def _configure_worker() -> None:
    """Match torch's intra-op threads to this worker's task threads (once per process)."""
    if _CONFIGURED:
        return
    if "torch" in sys.modules:  # imported with the (unpickled) method that needs it
        from distributed import get_worker

        try:
            threads = get_worker().state.nthreads
        except ValueError:  # not in a worker (called directly): leave torch alone
            return
        sys.modules["torch"].set_num_threads(max(1, threads))
        _CONFIGURED.append(True)


def remote_tile(method: Any, job: TileJob, t: Tile, pixels: Any = None):
    """Worker task: one tile's owned records and core maps.

    ``job`` is a :meth:`.executor.TileJob.detached` job (a working-grid job included):
    with ``pixels`` (what its ``load`` returned in the main process) it computes on
    them, else it reopens the slide from the job's path and reads the window here.
    """
    _configure_worker()
    if pixels is not None:
        return job.attached(method).compute(t, pixels)
    return job.attached(method, _worker_slide(str(job.slide.path)))(t)


class DistributedExecutor:
    """A :class:`.executor.TileExecutor` on a dask.distributed cluster.

    ``scheduler`` is an address or a ``distributed.Client``; a client this object
    connected itself is closed by :meth:`close`. Tiles of a slide with a file are read
    by the workers; others are read here and their pixels shipped with the task.
    """

    def __init__(self, scheduler: Any):
        self.client, self._owned = connect(scheduler)
        self.workers = total_threads(self.client)
        self.address = self.client.scheduler.address
        self._job: Optional[TileJob] = None
        self._remote: Optional[TileJob] = None
        self._method = None
        self._path: Optional[str] = None

    def start(self, job: TileJob) -> None:
        """Scatter the fitted method to every worker (each unpickles it once)."""
        self._job = job
        self._method = self.client.scatter(job.method, broadcast=True, hash=False)
        path = job.slide.path
        self._path = str(path) if path is not None else None
        self._remote = job.detached()

    def submit(self, t: Tile):
        pixels = None if self._path is not None else self._job.load(t)
        return self.client.submit(remote_tile, self._method, self._remote, t, pixels,
                                  pure=False)

    def describe(self) -> dict[str, Any]:
        return {"scheduler": self.address, "workers": self.workers}

    def close(self) -> None:
        try:
            if self._method is not None:
                self.client.cancel([self._method])
        except Exception:  # pragma: no cover - best effort on shutdown
            pass
        if self._owned:
            self.client.close()


def executor_for(scheduler: Any) -> Optional[DistributedExecutor]:
    """The executor a job uses for ``scheduler`` (None: the pipeline's local pool)."""
    return None if scheduler is None else DistributedExecutor(scheduler)


__all__ = ["DistributedExecutor", "executor_for", "remote_tile", "connect"]
