"""Checkpoints that let an interrupted tiled run continue where it stopped.

The pipeline finishes tiles strictly in plan order, so the finished tiles are always a
prefix of the plan. A checkpoint folder holds one compressed file per finished tile
(its records with their global ids, and its core maps) and ``manifest.json``: the
run's key (image, tiling, method parameters, seed), the number of finished tiles and
the next free id. Each file is written to a temporary name and renamed, the manifest
last, so a crash never leaves a manifest pointing at a missing tile. A job keeps its
staging area (``staging/``) in the same folder; the checkpoint never touches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import zlib
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
VERSION = 1


def run_key(description: dict[str, Any]) -> str:
    """A stable hash of everything that determines a run's output."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Checkpoint:
    """Per-tile records and a manifest of finished tiles in folder ``path``."""

    def __init__(self, path: os.PathLike | str, key: str):
        self.path = Path(path)
        self.key = key

    def _atomic_write(self, name: str, data: bytes) -> None:
        tmp = self.path / f".{name}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path / name)

    def load(self) -> tuple[int, int]:
        """(finished tiles, next id) of a matching checkpoint, (0, 1) when there is none.

        A checkpoint of a different run (other image, tiling or parameters) is ignored
        and will be overwritten.
        """
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
        except (OSError, ValueError):
            return 0, 1
        if manifest.get("version") != VERSION or manifest.get("key") != self.key:
            return 0, 1
        return int(manifest["done"]), int(manifest["next_id"])

    def start(self, resume: bool) -> tuple[int, int]:
        """Open for writing; with ``resume`` keep a matching checkpoint's progress."""
        done, next_id = self.load() if resume else (0, 1)
        if done == 0:
            self.clear()
        self.path.mkdir(parents=True, exist_ok=True)
        if done == 0:
            self._manifest(0, 1)
        return done, next_id

    def _manifest(self, done: int, next_id: int) -> None:
        data = {"version": VERSION, "key": self.key, "done": done, "next_id": next_id}
        self._atomic_write(MANIFEST, json.dumps(data).encode())

    def save_tile(self, index: int, records: list, maps: dict, next_id: int) -> None:
        """Store tile ``index`` (records with ids, core maps) and mark it finished."""
        blob = zlib.compress(pickle.dumps((records, maps), protocol=pickle.HIGHEST_PROTOCOL), 1)
        self._atomic_write(f"tile_{index:06d}.bin", blob)
        self._manifest(index + 1, next_id)

    def read_tile(self, index: int) -> tuple[list, dict]:
        """Records and core maps of a finished tile (this program's own files)."""
        blob = (self.path / f"tile_{index:06d}.bin").read_bytes()
        return pickle.loads(zlib.decompress(blob))  # noqa: S301 - written by save_tile

    def clear(self) -> None:
        """Delete this checkpoint's own files (tiles, manifest); other entries of the
        folder (a job's staging area) are left alone."""
        if not self.path.is_dir():
            return
        for entry in self.path.iterdir():
            if entry.is_file() and (entry.name == MANIFEST or entry.name.startswith(
                    ("tile_", f".{MANIFEST}", ".tile_"))):
                entry.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the folder (after the run's outputs are complete)."""
        shutil.rmtree(self.path, ignore_errors=True)


__all__ = ["Checkpoint", "run_key"]
