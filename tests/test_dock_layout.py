"""The slide never leaves the screen (issue 23 item 8, issue 28 item 7).

A shown napari window of 1400 x 850 on a 1440 x 900 screen (xvfb) with all seven
PathRobust docks open: after each widget shows its longest message (a 300-character
status, the real merge message of a Recognise re-run) and through a short review with
every dock open, the canvas keeps at least half the window in both directions, the
window stays on the screen, every status line stays inside its dock (wrapped or
elided, full text in the tooltip) and the Review table shows at least 10 rows.
"""

import numpy as np
import pytest
from qtpy.QtCore import QPoint
from qtpy.QtWidgets import QApplication, QLabel, QPushButton

pytestmark = [pytest.mark.gui, pytest.mark.slow]

PLUGIN = "napari-pathrobust"
IMAGE = "demo_he_crop"
NUCLEI = f"{IMAGE}_nuclei"
SCREEN = (1440, 900)
DOCKS = ("Recognise nuclei", "Adapt to image", "Review cells", "IHC scoring",
         "Export / open results", "Corruption preview", "Settings")
REGION = (128, 128, 384, 384)  # the re-run region (y0, x0, y1, x1), image pixels
#: 300 characters: words, then an unbreakable path (wraps anywhere or elides)
LONG = ("not run: this slide holds 1234 reviewed cells and this region cannot be merged "
        "into it in memory; export the reviews first, then rename or remove the result; "
        "results written to /home/pathologist/slides/2024/cohort-b/very_long_folder_name/"
        "TCGA-A1-A0SK-01Z-00-DX1_nuclei.zarr")[:300].ljust(300, "x")


def _status_label(widget):
    """The status line's QLabel of a dock widget (magicgui or Qt)."""
    status = getattr(widget, "_status", None) or widget.status
    return getattr(status, "native", status)


def _set_status(widget, text):
    status = getattr(widget, "_status", None)
    if status is not None:
        status.value = text
    else:
        widget.status.setText(text)


def _settle(qtbot, ms=150):
    QApplication.processEvents()
    qtbot.wait(ms)
    QApplication.processEvents()


def _geometry(viewer) -> dict:
    window = viewer.window._qt_window
    frame = window.frameGeometry()
    canvas = viewer.window._qt_viewer.canvas.native
    return {"window": (frame.x(), frame.y(), frame.width(), frame.height()),
            "inner": (window.width(), window.height()),
            "canvas": (canvas.width(), canvas.height())}


def _check(viewer, qtbot, what, docks=(), widgets=()):
    """The slide keeps half the window, the window stays on the screen, and every
    shown status line stays inside its dock."""
    _settle(qtbot)
    g = _geometry(viewer)
    x, y, w, h = g["window"]
    assert x >= 0 and y >= 0 and x + w <= SCREEN[0] and y + h <= SCREEN[1], (what, g)
    (iw, ih), (cw, ch) = g["inner"], g["canvas"]
    assert cw >= iw / 2 and ch >= ih / 2, (what, g)
    for dock, widget in zip(docks, widgets):
        label = _status_label(widget)
        if not label.isVisible() or label.visibleRegion().isEmpty():
            continue  # a dock behind another tab
        # what is drawn: the fitted lines (QLabel.text, not the full text kept)
        lines = QLabel.text(label).split("\n")
        widest = max(label.fontMetrics().horizontalAdvance(line) for line in lines)
        left = label.mapTo(dock, QPoint(0, 0)).x() + label.contentsRect().x()
        assert label.width() <= dock.width(), (what, dock.name, label.width(), dock.width())
        assert 0 <= left and left + widest <= dock.width(), (what, dock.name, left, widest)
        assert len(lines) <= 4, (what, dock.name, lines)
    return g


def _activate(dock, qtbot):
    dock.show()
    dock.raise_()
    _settle(qtbot, 50)


def _click(widget, text):
    buttons = [b for b in widget.findChildren(QPushButton) if b.text() == text]
    assert len(buttons) == 1, text
    buttons[0].click()


def _run(recognise, qtbot):
    recognise.run()
    qtbot.waitUntil(lambda: recognise.worker is None, timeout=120_000)


def test_every_dock_open_keeps_the_slide_on_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.move(0, 0)
    window.resize(1400, 850)
    viewer.open_sample(PLUGIN, IMAGE)
    docks, widgets = [], []
    for name in DOCKS:
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
        docks.append(dock)
        widgets.append(widget)
        _check(viewer, qtbot, f"docked {name}", docks, widgets)
    by_name = dict(zip(DOCKS, widgets))
    dock_of = dict(zip(DOCKS, docks))

    # -- the longest message of each widget -------------------------------------------
    for name, dock, widget in zip(DOCKS, docks, widgets):
        _activate(dock, qtbot)
        _set_status(widget, LONG)
        _check(viewer, qtbot, f"long status in {name}", docks, widgets)
        label = _status_label(widget)
        assert label.toolTip() == LONG, name
        shown = label.text() if not hasattr(widget, "_status") else widget._status.value
        assert shown == LONG, name  # the full text is kept, only its display is fitted

    # -- Recognise, then a re-run over reviewed cells: the real merge message ----------
    recognise, review = by_name["Recognise nuclei"], by_name["Review cells"]
    _activate(dock_of["Recognise nuclei"], qtbot)
    recognise._method.value = "classical"
    recognise._mpp.value = 0.0  # unknown pixel size: the longest line (a note is added)
    _run(recognise, qtbot)
    assert NUCLEI in viewer.layers, recognise._status.value
    _check(viewer, qtbot, "after Recognise", docks, widgets)
    nuclei = viewer.layers[NUCLEI]
    f = nuclei.features
    y0, x0, y1, x1 = REGION
    inside = f[(f["y"] > y0 + 24) & (f["y"] < y1 - 24) & (f["x"] > x0 + 24)
               & (f["x"] < x1 - 24)]["label"].to_numpy()
    _activate(dock_of["Review cells"], qtbot)
    review.select_label(int(inside[0]))
    _click(review, "Accept (a)")
    image = viewer.layers[IMAGE]
    corners = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)
    world = np.array([image.data_to_world(c) for c in corners])
    shapes = viewer.add_shapes([world], shape_type="rectangle", name="region")
    viewer.layers.selection.active = nuclei
    recognise._region.value = "shapes rectangle"
    recognise._shapes.value = shapes
    _activate(dock_of["Recognise nuclei"], qtbot)
    _run(recognise, qtbot)
    message = recognise._status.value
    assert "reviewed kept" in message and "pixel size unknown" in message, message
    assert len(message) > 150, message
    g = _check(viewer, qtbot, "after the re-run", docks, widgets)
    assert _status_label(recognise).toolTip() == message

    # -- a short review with every dock open --------------------------------------------
    _activate(dock_of["Review cells"], qtbot)
    table = review.table
    rows = table.viewport().height() / max(1, table.verticalHeader().defaultSectionSize())
    assert rows >= 10, (rows, _geometry(viewer))
    f = nuclei.features  # the re-run replaced the unreviewed cells of the region
    labels = [int(v) for v in f[f["status"] == "unreviewed"]["label"][:4]]
    for label, button in zip(labels, ("Accept (a)", "Reject (r)", "Accept (a)",
                                      "Reject (r)")):
        review.select_label(label)
        _check(viewer, qtbot, f"selected {label}", docks, widgets)
        _click(review, button)
        g = _check(viewer, qtbot, f"{button} {label}", docks, widgets)
    state = dict(zip(nuclei.features["label"], nuclei.features["status"]))
    assert [state[k] for k in labels] == ["accepted", "rejected", "accepted", "rejected"]
    print("geometry with every dock open:", g, f"review table rows: {rows:.1f}")
