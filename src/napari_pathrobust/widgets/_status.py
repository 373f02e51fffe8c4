"""Status lines that never widen their dock.

Every widget's status line is shown in at most ``MAX_LINES`` lines at the width its
dock gives it: wrapped at word boundaries (anywhere inside a long path), the last line
elided with "…". The label never asks for more width than it has (its horizontal size
policy is ``Ignored``), so a long message cannot squeeze the canvas. The full text is
kept: ``text()`` / ``value`` return it, it is the tooltip, and each final message is
logged (logger ``napari_pathrobust.status``, INFO), which napari shows in Help > Show
logs. Progress messages are posted with ``final=False`` and not logged.

:class:`StatusText` is the Qt label (for Qt widgets), :class:`StatusLine` the magicgui
one (for containers); both share :class:`_Fit`.
"""

import logging
from typing import Optional

from magicgui.widgets import Label
from qtpy.QtCore import QEvent, QObject, QPoint, QSize, Qt
from qtpy.QtGui import QFontMetrics, QTextLayout, QTextOption
from qtpy.QtWidgets import QAbstractScrollArea, QLabel, QSizePolicy

#: the most lines a status line takes; the rest is elided (full text in the tooltip)
MAX_LINES = 4
#: the width a status line asks for when laid out (it takes whatever it is given)
HINT_WIDTH = 160

log = logging.getLogger("napari_pathrobust.status")
log.setLevel(logging.INFO)


def fit_text(text: str, font, width: int, max_lines: int = MAX_LINES) -> str:
    """``text`` broken into lines no wider than ``width`` pixels (at word boundaries,
    else anywhere), at most ``max_lines`` of them, the last elided when more follow."""
    width = max(int(width), 8)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    paragraphs = str(text).split("\n")
    lines: list = []  # (paragraph, start, end)
    for index, paragraph in enumerate(paragraphs):
        layout = QTextLayout(paragraph, font)
        layout.setTextOption(option)
        layout.beginLayout()
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            lines.append((index, line.textStart(), line.textStart() + line.textLength()))
        layout.endLayout()
    shown = [paragraphs[i][a:b].rstrip() for i, a, b in lines[:max_lines]]
    if len(lines) <= max_lines:
        return "\n".join(shown)
    index, start, _end = lines[max_lines - 1]
    rest = " ".join([paragraphs[index][start:], *paragraphs[index + 1:]])
    last = QFontMetrics(font).elidedText(" ".join(rest.split()),
                                         Qt.TextElideMode.ElideRight, width)
    return "\n".join([*shown[:-1], last])


class _Fit(QObject):
    """Keeps a QLabel's full text and shows it fitted to the label's width."""

    def __init__(self, label: QLabel, max_lines: int, log_as: Optional[str]):
        super().__init__(label)
        self.label, self.max_lines, self.log_as = label, max_lines, log_as
        self.full = ""
        self._watched = None  # the scroll viewport whose resizes refit the text
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(False)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.installEventFilter(self)

    def set(self, text, final: bool = True) -> None:
        text = "" if text is None else str(text)
        if final and text and text != self.full and self.log_as:
            log.info("%s: %s", self.log_as, text)
        self.full = text
        self.label.setToolTip(text)
        self.refit()

    def refit(self) -> None:
        label = self.label
        width = label.contentsRect().width() - 2 * label.margin() - label.indent() - 2
        viewport = self._viewport()
        if viewport is not None:  # in a scroll area: fit what is visible
            left = label.mapTo(viewport, QPoint(0, 0)).x() + label.contentsRect().x()
            width = min(width, viewport.width() - max(0, left) - label.margin() - 2)
        QLabel.setText(label, fit_text(self.full, label.font(), width, self.max_lines))

    def _viewport(self):
        """The viewport of the scroll area the label is in (watched), or None."""
        widget = self.label.parentWidget()
        while widget is not None:
            area = widget.parentWidget()
            if isinstance(area, QAbstractScrollArea) and area.viewport() is widget:
                if widget is not self._watched:
                    widget.installEventFilter(self)
                    self._watched = widget
                return widget
            widget = area
        return None

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        if event.type() in (QEvent.Type.Resize, QEvent.Type.FontChange,
                            QEvent.Type.ParentChange):
            self.refit()
        return False


def _bounded(hint: QSize) -> QSize:
    return QSize(min(hint.width(), HINT_WIDTH), hint.height())


class StatusText(QLabel):
    """A QLabel status line: ``setText`` keeps the full text, the label shows it in at
    most ``max_lines`` lines of its width; ``text()`` returns the full text."""

    def __init__(self, text: str = "", parent=None, *, max_lines: int = MAX_LINES,
                 log_as: Optional[str] = None):
        super().__init__(parent)
        self._fit = _Fit(self, max_lines, log_as)
        self._fit.set(text, final=False)

    def setText(self, text, final: bool = True) -> None:  # noqa: N802 - Qt API
        self._fit.set(text, final)

    def text(self) -> str:
        return self._fit.full

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return _bounded(super().sizeHint())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return _bounded(super().minimumSizeHint())


class StatusLine(Label):
    """A magicgui status line (``value`` is the full text; see :class:`StatusText`).
    ``post(text, final=False)`` shows a progress message without logging it."""

    _fit: Optional[_Fit] = None

    def __init__(self, value: str = "ready", *, label: str = "Status",
                 max_lines: int = MAX_LINES, log_as: Optional[str] = None, **kwargs):
        super().__init__(label=label, **kwargs)
        self._fit = _Fit(self.native, max_lines, log_as)
        self._fit.set(value, final=False)

    @property
    def value(self) -> str:
        return self._fit.full if self._fit is not None else self.native.text()

    @value.setter
    def value(self, text) -> None:
        if self._fit is None:  # during magicgui's own __init__
            self.native.setText("" if text is None else str(text))
        else:
            self._fit.set(text)

    def post(self, text, final: bool = True) -> None:
        """Show ``text``; a final message is also logged."""
        self._fit.set(text, final)

    @property
    def shown(self) -> str:
        """The text as displayed (wrapped, elided)."""
        return self.native.text()
