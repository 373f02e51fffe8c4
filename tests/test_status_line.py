"""Status lines that wrap or elide, and docks that scroll and tab (runs under xvfb)."""

import logging

import pytest
from qtpy.QtGui import QFont, QFontMetrics
from qtpy.QtWidgets import QApplication, QLabel, QWidget

pytestmark = pytest.mark.gui

LONG = ("149 nuclei in 1.6 s (classical, H&E stain), pixel size unknown: assumed 0.25 "
        "um/px; 35 cells added, 36 unreviewed replaced, 1 reviewed kept; written to "
        "/home/pathologist/slides/cohort-b/TCGA-A1-A0SK-01Z-00-DX1_nuclei.zarr; " * 2)


def _lines(label) -> list:
    return QLabel.text(label).split("\n")  # what is drawn, not the full text kept


def test_fit_text_wraps_words_and_paths_and_elides_the_rest(qapp):
    from napari_pathrobust.widgets._status import fit_text

    font = QFont()
    metrics = QFontMetrics(font)
    assert fit_text("ready", font, 200) == "ready"
    shown = fit_text(LONG, font, 200, max_lines=4).split("\n")
    assert len(shown) == 4 and shown[-1].endswith("…")
    assert all(metrics.horizontalAdvance(line) <= 200 for line in shown)
    path = "/a/" + "x" * 120  # no space: broken anywhere
    assert all(metrics.horizontalAdvance(line) <= 120
               for line in fit_text(path, font, 120, max_lines=9).split("\n"))
    assert fit_text("one\ntwo", font, 200) == "one\ntwo"


def test_status_text_keeps_the_full_text_and_logs_final_messages(qtbot, caplog):
    from napari_pathrobust.widgets._status import HINT_WIDTH, MAX_LINES, StatusText

    label = StatusText("ready", log_as="Review cells")
    qtbot.addWidget(label)
    label.resize(220, 40)
    label.show()
    caplog.set_level(logging.INFO, logger="napari_pathrobust.status")
    label.setText(LONG)
    QApplication.processEvents()
    assert label.text() == LONG and label.toolTip() == LONG
    lines = _lines(label)
    assert 1 < len(lines) <= MAX_LINES and lines[-1].endswith("…")
    assert label.sizeHint().width() <= HINT_WIDTH
    assert label.minimumSizeHint().width() <= HINT_WIDTH
    label.setText("review of 2 cell(s) accepted")
    label.setText("working...", final=False)
    assert [r.getMessage() for r in caplog.records] == [
        f"Review cells: {LONG}", "Review cells: review of 2 cell(s) accepted"]
    label.resize(900, 40)  # wider: fewer lines
    QApplication.processEvents()
    assert len(_lines(label)) < len(lines)


def test_job_widget_logs_its_result_not_its_progress(make_napari_viewer, caplog):
    from napari_pathrobust.widgets._runner import JobWidget
    from napari_pathrobust.widgets._status import StatusLine

    class Echo(JobWidget):
        title = "Echo"

        def __init__(self, viewer):
            super().__init__(viewer)
            self.extend(self.job_controls())

        def run(self, _=None):
            def done(result):
                self._status.value = f"done: {result} " + LONG
            return self.start_job(lambda r: r.report(1, 2, "half way") or 7, done, "echo")

    viewer = make_napari_viewer()
    widget = Echo(viewer)
    widget.synchronous = True
    assert isinstance(widget._status, StatusLine) and widget._status.value == "ready"
    caplog.set_level(logging.INFO, logger="napari_pathrobust.status")
    widget.run()
    assert widget._status.value == "done: 7 " + LONG
    assert widget._status.native.toolTip() == widget._status.value
    assert [r.getMessage() for r in caplog.records] == [f"Echo: done: 7 {LONG}"]


def test_docks_tab_scroll_and_keep_the_window_on_screen(make_napari_viewer, qtbot):
    from napari_pathrobust.widgets._docking import scrolling

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.move(0, 0)
    window.resize(1000, 700)
    room = window.screen().availableGeometry()
    docks, inner = [], []
    for i in range(3):
        big = QWidget()
        big.setMinimumSize(1600, 1600)  # larger than any screen of the test
        inner.append(big)
        docks.append(viewer.window.add_dock_widget(scrolling(big), name=f"big {i}"))
    qtbot.wait(100)
    tabbed = set(window.tabifiedDockWidgets(docks[0]))
    assert {docks[1], docks[2]} <= tabbed  # one tab group, not three stacked docks
    assert room.contains(window.frameGeometry())
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() >= window.width() / 2 and canvas.height() >= window.height() / 2
    assert all(d.widget().isAncestorOf(b) for d, b in zip(docks, inner))
    viewer.window.remove_dock_widget(docks[1])  # napari's own removal still works
    assert "big 1" not in viewer.window.dock_widgets
