"""Values people type: ``--param KEY=VALUE`` flags, and names that become file names."""

from __future__ import annotations

import re
from typing import Any

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def parse_bool(value: Any) -> bool:
    """``True`` / ``False`` from a bool or one of :data:`TRUE` / :data:`FALSE` (any case);
    anything else raises ``ValueError`` (the caller names the key)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in TRUE + FALSE:
        raise ValueError(f"expected true or false, got {value!r}")
    return text in TRUE


def file_stem(name: Any, fallback: str, sep: str = "_") -> str:
    """``name`` as a file-name stem: every run of characters other than letters, digits,
    ``._-`` replaced by ``sep``; with ``sep="-"`` leading and trailing ``-``/``.`` are
    also dropped. ``fallback`` when nothing is left."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", sep, str(name))
    if sep == "-":
        stem = stem.strip("-.")
    return stem or fallback


__all__ = ["parse_bool", "file_stem", "TRUE", "FALSE"]
