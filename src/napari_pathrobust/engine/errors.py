"""Exceptions the engine raises on purpose (everything else is a bug)."""

from __future__ import annotations


class InputError(ValueError):
    """A file or array the user gave cannot be used; the message names it and says why."""

    def __init__(self, source: object, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class Cancelled(Exception):
    """A long job stopped because its cancel check returned True."""
