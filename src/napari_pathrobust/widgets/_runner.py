"""JobWidget: the base of the dock widgets that run engine jobs.

It owns the Run and Cancel buttons, the progress bar (mirrored in napari's activity
dock), the status line (wrapped or elided, never wider than the dock; final messages
logged, see ``_status``), error notifications, a scrolling dock tabbed with its
neighbours (``_docking``), the device from the plugin settings and
one cancellable job at a time. A job is ``job(reporter) -> result``: it runs in a
napari thread worker, reports through a :class:`Reporter` whose callback emits a Qt
signal (delivered on the main thread) and whose cancel check reads the event set by
Cancel. ``on_done(result)`` runs on the main thread, where the widget adds or updates
layers; the worker never touches the viewer. With ``synchronous = True`` (tests) the
job runs in the calling thread with the same callbacks.
"""

import threading
from typing import Any, Callable, Optional

import napari
from magicgui.widgets import Container, ProgressBar, PushButton
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, Signal

from ..engine.api import Cancelled, Reporter, check_device_name
from ._docking import fit_in_dock
from ._layers import connect_while_alive
from ._settings import load_settings
from ._status import StatusLine


class _Relay(QObject):
    progressed = Signal(int, int, str)


class _DockWatch(QObject):
    """Tells whether a dock widget was closed: napari's close button takes the widget
    out of its dock (parent None) without destroying it; docking it again reopens it."""

    def __init__(self, widget):
        super().__init__(widget)
        self.docked = self.closed = False
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ParentChange:
            if obj.parent() is None:
                self.closed = self.docked
            else:
                self.docked, self.closed = True, False
        return False


class JobWidget(Container):
    """Dock widget base: Run / Cancel, progress (here and in the activity dock), errors."""

    #: names the widget in notifications ("<title> failed: ...")
    title = "PathRobust"
    #: run jobs in the calling thread (tests); same callbacks as the worker
    synchronous = False

    def __init__(self, napari_viewer: napari.viewer.Viewer, run_text: Optional[str] = "Run"):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._run = PushButton(text=run_text) if run_text else None
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self._status = StatusLine("ready", log_as=self.title)
        self._inputs: list = []  # widgets disabled while a job runs (subclasses fill it)
        self._relay = _Relay()
        self._dock = _DockWatch(self.native)
        fit_in_dock(self.native)
        self._relay.progressed.connect(self._on_progress)
        self._cancel_requested = threading.Event()
        self._busy = False
        self._activity = None
        self.worker: Any = None  # the running thread worker (None when idle)
        self.last_error: Optional[BaseException] = None
        if self._run is not None:
            self._run.changed.connect(self.run)
        self._cancel.changed.connect(self.cancel)
        connect_while_alive(self, [(napari_viewer.layers.events.inserted, self.reset_choices),
                                   (napari_viewer.layers.events.removed, self.reset_choices)])

    def job_controls(self) -> list:
        """Run, Cancel, progress and status, for the subclass to place."""
        return [w for w in (self._run, self._cancel, self._progress, self._status)
                if w is not None]

    def run(self, _=None) -> None:
        """Start the widget's main job (subclasses)."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """True once the widget was taken out of its dock (closed) and not docked again:
        viewer events must not start work for it."""
        return self._dock.closed

    @property
    def running(self) -> bool:
        return self._busy

    def device(self) -> str:
        """The device the jobs run on: the plugin settings' default."""
        return check_device_name(load_settings()["device"])

    def device_or_report(self) -> Optional[str]:
        """:meth:`device`, or None with the reason in the status line (a bad name)."""
        try:
            return self.device()
        except ValueError as exc:
            self._status.value = str(exc)
            return None

    def start_job(self, job: Callable[[Reporter], Any], on_done: Callable[[Any], None],
                  what: str) -> Any:
        """Run ``job(reporter)``; ``on_done(result)`` on the main thread. Ignored (None)
        while another job runs; returns the worker (None when synchronous)."""
        if self._busy:
            return None
        self._cancel_requested.clear()
        self.last_error = None
        self._set_running(True, what)
        self._status.post(f"running {what}...", final=False)
        if self.synchronous:
            reporter = Reporter(progress=self._on_progress, cancel=self._cancel_requested.is_set)
            try:
                result = job(reporter)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a notification
                self._on_error(exc)
            else:
                self._deliver(on_done, result)
            finally:
                self._set_running(False)
            return None
        from napari.qt.threading import create_worker

        reporter = Reporter(progress=self._relay.progressed.emit,
                            cancel=self._cancel_requested.is_set)
        worker = create_worker(job, reporter, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda result: self._deliver(on_done, result))
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._set_running(False))
        self.worker = worker
        worker.start()
        return worker

    def cancel(self, _=None) -> None:
        """Ask the running job to stop at its next check; nothing is added."""
        if self._busy:
            self._cancel_requested.set()
            self._status.post("cancelling...", final=False)

    # ------------------------------------------------------------------ callbacks
    def _deliver(self, on_done, result) -> None:
        try:
            on_done(result)
        except Exception as exc:  # noqa: BLE001 - e.g. a layer that cannot be added
            self._on_error(exc)

    def _on_error(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self._status.value = "cancelled"
            return
        self.last_error = exc
        self._status.value = f"failed: {exc}"
        show_error(f"{self.title} failed: {exc}")

    def _set_running(self, running: bool, what: str = "") -> None:
        self._busy = running
        if self._run is not None:
            self._run.enabled = not running
        self._cancel.enabled = running
        for widget in self._inputs:
            widget.enabled = not running
        if running:
            self._progress.max, self._progress.value = 1, 0
            self._activity = napari.utils.progress(total=1, desc=what)
            return
        self.worker = None
        if self._activity is not None:
            self._activity.close()
            self._activity = None

    def _on_progress(self, done: int, total: int, message: str) -> None:
        total = max(1, int(total))
        done = min(max(0, int(done)), total)
        self._progress.max = total
        self._progress.value = done
        if message:
            self._status.post(message, final=False)
        activity = self._activity
        if activity is not None:
            if activity.total != total:
                activity.total = total
            if done != activity.n:
                activity.update(done - activity.n)
            if message:
                activity.set_description(message)
