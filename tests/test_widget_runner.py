"""JobWidget, the base of the job-running dock widgets (runs under xvfb)."""

import napari
import pytest

pytestmark = pytest.mark.gui


def _echo_widget(viewer, job):
    """A minimal JobWidget running ``job`` and keeping what came back."""
    from napari_pathrobust.widgets._runner import JobWidget

    class Echo(JobWidget):
        title = "Echo"

        def __init__(self, napari_viewer):
            super().__init__(napari_viewer)
            self.extend(self.job_controls())
            self.results = []

        def run(self, _=None):
            return self.start_job(job, self.results.append, "echo")

    widget = Echo(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


@pytest.fixture
def errors(monkeypatch):
    """Messages the widgets sent to napari's error notifications."""
    from napari_pathrobust.widgets import _runner

    shown = []
    monkeypatch.setattr(_runner, "show_error", shown.append)
    return shown


def test_synchronous_run_reports_here_and_in_the_activity_dock(make_napari_viewer, errors):
    viewer = make_napari_viewer()
    seen = {}

    def job(reporter):
        reporter.report(1, 4, "a quarter")
        activity = widget._activity
        seen.update(bar=widget._progress.value, total=activity.total, n=activity.n,
                    running=widget.running, run_enabled=widget._run.enabled,
                    kind=isinstance(activity, napari.utils.progress))
        return 42

    widget = _echo_widget(viewer, job)
    widget.synchronous = True
    widget.run()
    assert seen == {"bar": 1, "total": 4, "n": 1, "running": True, "run_enabled": False,
                    "kind": True}
    assert widget.results == [42] and not widget.running and widget.worker is None
    assert widget._activity is None and widget._run.enabled and not widget._cancel.enabled
    assert errors == []


def test_worker_errors_become_notifications(make_napari_viewer, qtbot, errors):
    viewer = make_napari_viewer()

    def job(reporter):
        raise OSError("disk on fire")

    widget = _echo_widget(viewer, job)
    assert widget.run() is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert errors == ["Echo failed: disk on fire"]
    assert widget._status.value == "failed: disk on fire" and widget.results == []
    assert isinstance(widget.last_error, OSError) and widget._run.enabled


def test_cancel_stops_without_result_or_notification(make_napari_viewer, qtbot, errors):
    import time

    viewer = make_napari_viewer()

    def job(reporter):
        for step in range(10_000):
            reporter.report(step, 10_000, "busy")
            time.sleep(0.001)
        return "finished"

    widget = _echo_widget(viewer, job)
    widget.run()
    assert widget.run() is None  # one job at a time
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert widget.results == [] and errors == [] and widget._status.value == "cancelled"


def test_device_comes_from_the_settings(make_napari_viewer, tmp_path, monkeypatch):
    from napari_pathrobust.widgets._settings import save_settings

    monkeypatch.setenv("NAPARI_PATHROBUST_CONFIG_DIR", str(tmp_path))
    widget = _echo_widget(make_napari_viewer(), lambda reporter: None)
    assert widget.device() == "auto"
    save_settings({"device": "cpu"})
    assert widget.device() == "cpu"


def test_a_refused_device_goes_to_the_status_line(make_napari_viewer, monkeypatch):
    widget = _echo_widget(make_napari_viewer(), lambda reporter: None)
    assert widget.device_or_report() == "auto"

    from napari_pathrobust.widgets import _runner

    monkeypatch.setattr(_runner, "load_settings", lambda: {"device": "tpu"})
    assert widget.device_or_report() is None
    assert "tpu" in widget._status.value
