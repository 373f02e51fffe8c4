"""Atomic destinations: write to a hidden temporary sibling, move into place on success."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def temp_sibling(dest: Path, kind: str = "tmp") -> Path:
    """A fresh hidden sibling path ``.<name>.<kind>-<random>`` next to ``dest``."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{kind}-{secrets.token_hex(6)}")


def remove_path(path: Path) -> None:
    """Remove a file or directory tree if it exists (errors ignored)."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError:
        pass


def move_into_place(tmp: Path, dest: Path) -> None:
    """Replace ``dest`` by ``tmp`` (file or directory); an old ``dest`` survives failures."""
    tmp, dest = Path(tmp), Path(dest)
    if not (tmp.is_dir() or dest.is_dir()):
        os.replace(tmp, dest)
        return
    # os.replace cannot overwrite a non-empty directory: swap via a hidden backup name.
    backup = None
    if dest.exists() or dest.is_symlink():
        backup = temp_sibling(dest, "old")
        os.replace(dest, backup)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if backup is not None:
            os.replace(backup, dest)
        raise
    if backup is not None:
        remove_path(backup)


class AtomicDest:
    """A destination written under a temporary name and published by :meth:`commit`."""

    def __init__(self, dest: os.PathLike | str):
        self.dest = Path(dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_sibling(self.dest)
        self.done = False

    def commit(self) -> Path:
        """Move the temporary path onto the destination."""
        if self.done:
            raise RuntimeError(f"{self.dest}: already committed or aborted")
        self.done = True
        try:
            move_into_place(self.tmp, self.dest)
        except BaseException:
            remove_path(self.tmp)
            raise
        return self.dest

    def abort(self) -> None:
        """Delete the temporary path; the destination is left as it was."""
        self.done = True
        remove_path(self.tmp)


@contextmanager
def atomic_path(dest: os.PathLike | str) -> Iterator[Path]:
    """Yield a temporary sibling path of ``dest``; publish it only if the block succeeds.

    Works for files and directories. On any exception (Cancelled included) the temporary
    path is removed and an existing ``dest`` is untouched. Missing parent folders are created.
    """
    target = AtomicDest(dest)
    try:
        yield target.tmp
    except BaseException:
        target.abort()
        raise
    if not (target.tmp.exists() or target.tmp.is_symlink()):
        target.abort()
        raise FileNotFoundError(f"{target.dest}: nothing was written")
    target.commit()


def json_default(obj: Any) -> Any:
    """JSON encoder fallback for numpy scalars/arrays, paths, sets and dataclass-like objects."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def clean_json(obj: Any) -> Any:
    """Copy of ``obj`` with numpy values converted and non-finite floats replaced by None."""
    import math

    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return clean_json(json_default(obj))


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`clean_json` output: valid JSON (NaN/inf become null)."""
    return json.dumps(clean_json(obj), allow_nan=False, **kwargs)
