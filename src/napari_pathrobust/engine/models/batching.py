"""Batch network calls that arrive from several pipeline worker threads.

The pipeline processes one tile per worker thread; on a GPU a network is much faster
on a batch of tiles than on the same tiles one by one. :class:`MicroBatcher` collects
concurrent same-shaped requests: the first caller of a group waits up to ``wait_s`` for
others (or until ``max_batch`` have arrived), runs the network once on the stacked
inputs and hands every caller its own slice. Inference is per-sample (eval-mode
BatchNorm), so batched and single calls give the same outputs up to floating-point
summation order.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import torch


class _Group:
    def __init__(self):
        self.inputs: list[torch.Tensor] = []
        self.outputs: Optional[list[torch.Tensor]] = None
        self.error: Optional[BaseException] = None
        self.closed = False


class MicroBatcher:
    """Thread-safe batching wrapper around ``fn: (B, ...) -> (B, ...)``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], max_batch: int = 4,
                 wait_s: float = 0.005):
        self.fn = fn
        self.max_batch = max(1, int(max_batch))
        self.wait_s = float(wait_s)
        self._cond = threading.Condition()
        self._open: dict[tuple, _Group] = {}
        self.batch_sizes: list[int] = []   # one entry per network call (for tests, logs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for a single-sample input ``x`` of shape ``(1, ...)``."""
        if self.max_batch == 1:
            self.batch_sizes.append(1)
            return self.fn(x)
        key = (tuple(x.shape), x.dtype, str(x.device))
        with self._cond:
            group = self._open.get(key)
            leader = group is None or group.closed or len(group.inputs) >= self.max_batch
            if leader:
                group = self._open[key] = _Group()
            index = len(group.inputs)
            group.inputs.append(x)
            self._cond.notify_all()
            if leader:
                self._cond.wait_for(lambda: len(group.inputs) >= self.max_batch,
                                    timeout=self.wait_s)
                group.closed = True
                if self._open.get(key) is group:
                    del self._open[key]
            else:
                self._cond.wait_for(lambda: group.outputs is not None or
                                    group.error is not None)
        if leader:
            self._run(group)
        if group.error is not None:
            raise group.error
        return group.outputs[index]

    def _run(self, group: _Group) -> None:
        try:
            out = self.fn(torch.cat(group.inputs))
            outputs, error = list(out.split(1)), None
        except BaseException as exc:  # handed to every caller of the group
            outputs, error = None, exc
        with self._cond:
            group.outputs, group.error = outputs, error
            self.batch_sizes.append(len(group.inputs))
            self._cond.notify_all()
