"""Run engine jobs in a napari thread worker with progress and cancel.

Shared by the dock widgets: the engine reports through a Reporter whose callback
emits a Qt signal (delivered on the main thread), and whose cancel check reads a
threading.Event set by the Cancel button. The viewer is never touched off the main
thread: results come back through the worker's ``returned`` signal.
"""

import threading
from typing import Any, Callable, Optional

from qtpy.QtCore import QObject, Signal

from ..engine.errors import Cancelled
from ..engine.progress import Reporter


class _Relay(QObject):
    progressed = Signal(int, int, str)


class JobRunner:
    """Start one cancellable engine job at a time and route its signals."""

    def __init__(self, on_progress: Callable[[int, int, str], None]):
        self._relay = _Relay()
        self._relay.progressed.connect(on_progress)
        self._cancel = threading.Event()
        self.worker: Any = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, job: Callable[[Reporter], Any], on_done: Callable[[Any], None],
              on_error: Callable[[BaseException], None],
              on_finish: Optional[Callable[[], None]] = None) -> Any:
        """Run ``job(reporter)`` in a thread worker; callbacks run on the main thread."""
        from napari.qt.threading import create_worker

        self._cancel.clear()
        reporter = Reporter(progress=self._relay.progressed.emit, cancel=self._cancel.is_set)
        worker = create_worker(job, reporter, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(on_done)

        def errored(exc: BaseException) -> None:
            on_error(exc)

        def finished() -> None:
            self.worker = None
            if on_finish is not None:
                on_finish()

        worker.errored.connect(errored)
        worker.finished.connect(finished)
        self.worker = worker
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        self._cancel.set()


def is_cancellation(exc: BaseException) -> bool:
    """True when a worker ended because the user cancelled it."""
    return isinstance(exc, Cancelled)
