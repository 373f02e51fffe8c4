"""The one progress / cancel protocol shared by the CLI, widgets, tests and workers.

Long jobs take ``progress(done, total, message)`` and ``cancel() -> bool`` callables.
Both are optional; :class:`Reporter` bundles them so callees need a single argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .errors import Cancelled

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


@dataclass
class Reporter:
    """Progress callback plus cancel check; both may be None."""

    progress: Optional[ProgressFn] = None
    cancel: Optional[CancelFn] = None

    def report(self, done: int, total: int, message: str = "") -> None:
        """Report progress (and check for cancellation first)."""
        self.check()
        if self.progress is not None:
            self.progress(done, total, message)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancel is not None and self.cancel():
            raise Cancelled("cancelled by user")

    def sub(self, start: int, span: int, total: int) -> "Reporter":
        """A reporter mapping a sub-job's 0..n onto ``start..start+span`` of ``total``."""
        parent = self

        def progress(done: int, n: int, message: str = "") -> None:
            if parent.progress is not None:
                frac = done / n if n else 1.0
                parent.progress(start + int(round(frac * span)), total, message)

        return Reporter(progress, parent.cancel)

