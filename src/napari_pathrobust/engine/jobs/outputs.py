"""One image's outputs, published together: all of them or none.

Every output of one image is written into ``<outdir>/.<stem>.checkpoint/staging/`` (the
hidden folder that also holds the per-tile checkpoint), then :meth:`OutputSet.publish`
moves them into ``outdir``. If a move fails, the outputs already moved are taken back and
the previous versions restored. No temporary file ever lies beside the outputs; a staging
area left by a killed run is cleared when the next run of the same image starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..writers._atomic import remove_path

STAGING = "staging"
_PREVIOUS = ".previous"


def checkpoint_path(stem: str, outdir: Path) -> Path:
    """The hidden folder holding an unfinished job's checkpoint and staged outputs."""
    return Path(outdir) / f".{stem}.checkpoint"


class OutputSet:
    """Staged outputs of one image, by role; see the module docstring."""

    def __init__(self, outdir: os.PathLike | str, stem: str):
        self.outdir = Path(outdir)
        self.root = checkpoint_path(stem, self.outdir)
        self.staging = self.root / STAGING
        remove_path(self.staging)  # left by a killed run
        self.staging.mkdir(parents=True)
        self.final: dict[str, Path] = {}

    def stage(self, role: str, name: str) -> Path:
        """Where to write the output ``role`` that will be published as ``outdir/name``."""
        if Path(name).name != name or name in (STAGING, _PREVIOUS):
            raise ValueError(f"output name must be a plain file name, got {name!r}")
        self.final[role] = self.outdir / name
        return self.staging / name

    def publish(self) -> dict[str, Path]:
        """Move every staged output into ``outdir`` (all or none); returns final paths."""
        for dest in self.final.values():
            staged = self.staging / dest.name
            if not (staged.exists() or staged.is_symlink()):
                raise FileNotFoundError(f"{dest}: nothing was written")
        previous = self.staging / _PREVIOUS
        previous.mkdir(exist_ok=True)
        moved: list[tuple[Path, Path, bool]] = []  # (staged, dest, had a previous version)
        try:
            for dest in self.final.values():
                staged = self.staging / dest.name
                had = dest.exists() or dest.is_symlink()
                if had:
                    os.replace(dest, previous / dest.name)
                moved.append((staged, dest, had))
                os.replace(staged, dest)
        except BaseException:
            self._roll_back(moved, previous)
            raise
        self.discard()
        return dict(self.final)

    @staticmethod
    def _roll_back(moved: list[tuple[Path, Path, bool]], previous: Path) -> None:
        for staged, dest, had in reversed(moved):
            try:
                if not (staged.exists() or staged.is_symlink()):  # the new one was moved
                    os.replace(dest, staged)
                if had:
                    os.replace(previous / dest.name, dest)
            except OSError:
                pass

    def discard(self) -> None:
        """Remove the staging area (and the checkpoint folder when nothing else is in it)."""
        remove_path(self.staging)
        try:
            self.root.rmdir()
        except OSError:
            pass

    def remove_all(self) -> None:
        """Remove the whole checkpoint folder (after a successful run)."""
        remove_path(self.root)
