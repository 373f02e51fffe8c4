"""Docks that never push the slide off the screen.

:func:`fit_in_dock` gives a dock widget:

* a scroll area around its content, so no content (a long table, many fields, a wide
  row of buttons) makes the dock, and so the window, larger than the screen: the dock
  scrolls instead;
* tabs: when it is docked on a side that already holds plugin docks, it joins them as
  a tab (and is shown on top) instead of stacking below them, so seven open docks take
  the height of one; napari's own docks (layer list, controls, console) are left alone;
* a width: the tab group gets the width its widest content needs (at most
  ``DOCK_WIDTH``), but never so much that the canvas keeps less than half the window
  (past that the content scrolls sideways);
* a window kept on the screen: if docking made the window overflow its screen, the
  window is shrunk back onto it.

The widget object itself stays the docked widget (napari's ``dock_widgets`` and
``remove_dock_widget`` keep working); only its layout moves into the scroll area.
"""

from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QDockWidget,
    QFrame,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

#: the widest a dock asks to be when it is docked (pixels)
DOCK_WIDTH = 420
#: the narrowest width docking gives a dock
DOCK_MIN = 200
#: dock frame and separator allowance (pixels)
_SLACK = 6
#: the central widget's frame around napari's canvas (pixels)
_CANVAS_FRAME = 8

_GROWING = (QSizePolicy.Policy.Expanding, QSizePolicy.Policy.MinimumExpanding,
            QSizePolicy.Policy.Ignored)


class _Scroll(QScrollArea):
    """A frameless scroll area asking for its content's minimum width (at most
    ``DOCK_WIDTH``), never for more."""

    def needed_width(self) -> int:
        """The width at which the content needs no horizontal scroll bar."""
        body = self.widget()
        if body is None:
            return 0
        width = max(body.minimumSizeHint().width(), body.minimumWidth())
        if body.minimumSizeHint().height() > self.viewport().height():
            width += self.verticalScrollBar().sizeHint().width()
        return width + 2 * self.frameWidth()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(min(self.needed_width(), DOCK_WIDTH), super().sizeHint().height())


class _Docking(QObject):
    """Watches a widget being docked: adds a bottom stretch once, tabs its dock."""

    def __init__(self, widget: QWidget, body: QWidget):
        super().__init__(widget)
        self._body = body
        self._stretched = False
        self._dock = None
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.ParentChange:
            dock = obj.parent()
            if isinstance(dock, QDockWidget) and dock is not self._dock:
                self._stretch()
                self._dock = dock
                dock.dockLocationChanged.connect(self._located)
        return False

    def _stretch(self) -> None:
        """Push the fields up (as napari does for a dock without a growing part)."""
        layout = self._body.layout()
        if self._stretched or layout is None or not hasattr(layout, "addStretch"):
            return
        self._stretched = True
        for i in range(layout.count()):
            item = layout.itemAt(i).widget()
            if item is not None and item.sizePolicy().verticalPolicy() in _GROWING:
                return
        layout.addStretch(1)

    def _located(self, _area=None) -> None:
        """First placement of the dock in a window: tab it with its neighbours."""
        dock = self._dock
        try:
            dock.dockLocationChanged.disconnect(self._located)
        except (TypeError, RuntimeError):
            pass
        tab_with_neighbours(dock)


def _napari_own(dock: QDockWidget) -> bool:
    """True for napari's own docks (layer list, layer controls, console, logs)."""
    inner = dock.widget()
    module = type(inner).__module__ if inner is not None else ""
    return module.startswith(("napari.", "napari_console"))


def _side_docks(window: QMainWindow, area) -> list:
    """The open, docked plugin docks in ``area`` of ``window``."""
    return [d for d in window.findChildren(QDockWidget)
            if not d.isFloating() and not _napari_own(d) and d.toggleViewAction().isChecked()
            and window.dockWidgetArea(d) == area]


def tab_with_neighbours(dock: QDockWidget) -> None:
    """Tab ``dock`` with the open plugin docks on its side of the window, on top, and
    widen the tabs to what their contents need while the canvas keeps half the
    window."""
    window = dock.parentWidget()
    if not isinstance(window, QMainWindow) or dock.isFloating():
        return
    area = window.dockWidgetArea(dock)
    others = [d for d in _side_docks(window, area) if d is not dock]
    if others and dock not in window.tabifiedDockWidgets(others[0]):
        window.tabifyDockWidget(others[0], dock)
    dock.show()
    dock.raise_()
    _fit_width(window, dock, laid_out=False)

    def settled():  # once the window is laid out again: exact sizes, window on screen
        try:
            _fit_width(window, dock, laid_out=True)
            keep_on_screen(window)
        except RuntimeError:  # closed meanwhile
            pass
    QTimer.singleShot(0, settled)


def _fit_width(window: QMainWindow, dock: QDockWidget, laid_out: bool) -> None:
    """Give ``dock``'s tab group the width its widest content needs, at most what
    leaves half the window to the canvas (``laid_out``: the geometry is current)."""
    area = window.dockWidgetArea(dock)
    central = window.centralWidget()
    if dock.isFloating() or central is None or area not in (
            Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea):
        return
    group = [dock, *window.tabifiedDockWidgets(dock)]
    wanted = 0
    for member in group:
        scroll = member.widget().findChild(_Scroll) if member.widget() else None
        if scroll is not None:
            wanted = max(wanted, scroll.needed_width() + _SLACK)
    if not wanted:
        return
    # the central widget (canvas + a small frame) keeps at least half the window: what
    # the group is wide now goes back to it when the group is resized (a new group,
    # not laid out yet, takes its width from the central widget)
    members = group if laid_out else group[1:]
    current = max((d.width() for d in members), default=-_SLACK)
    room = central.width() + current - window.width() // 2 - _SLACK - _CANVAS_FRAME
    width = max(DOCK_MIN, min(wanted, room))
    if not laid_out or abs(dock.width() - width) > 1:
        window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)


def keep_on_screen(window: QWidget) -> None:
    """Shrink and move ``window`` back onto its screen when it overflows it."""
    try:
        screen = window.screen()
    except RuntimeError:  # the window is gone
        return
    if screen is None or window.isFullScreen():
        return
    room, frame = screen.availableGeometry(), window.frameGeometry()
    if room.contains(frame):
        return
    extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
    window.resize(min(window.width(), room.width() - extra_w),
                  min(window.height(), room.height() - extra_h))
    frame = window.frameGeometry()
    window.move(min(max(frame.x(), room.x()), room.right() + 1 - frame.width()),
                min(max(frame.y(), room.y()), room.bottom() + 1 - frame.height()))


def fit_in_dock(widget: QWidget) -> QScrollArea:
    """Move ``widget``'s layout into a scroll area inside it and tab its dock with its
    neighbours when docked; returns the scroll area. Call once the layout is set."""
    layout = widget.layout()
    body = QWidget()
    body.setObjectName("pathrobust_dock_body")
    if layout is not None:
        body.setLayout(layout)  # takes the layout and its widgets from ``widget``
    scroll = _Scroll()
    scroll.setObjectName("pathrobust_dock_scroll")
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    scroll.setWidget(body)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    _Docking(widget, body)
    return scroll


def scrolling(widget: QWidget) -> QWidget:
    """``widget`` (a picture, a plain Qt widget) in a holder that docks like the plugin's
    own widgets: scrolling and tabbed with its neighbours. Dock the holder."""
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widget)
    fit_in_dock(holder)
    return holder
