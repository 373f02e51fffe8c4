"""Per-record text outputs staged on disk and written in final-id order.

A writer gets records with provisional ids while tiles arrive. Each record's text is
appended to a scratch file next to the output's temporary name (inside the job's
staging folder for job outputs) and only ``(id, offset, length)`` stays in memory.
:meth:`StagedTextWriter.renumber` maps provisional ids to final ids; :meth:`commit` writes
the header (with the metadata known after the run), the records in ascending final id,
the trailer, and publishes the file atomically. :meth:`StagedTextWriter.set_intensity`
gives records an intensity class decided after the run (IHC thresholds on the slide's
cells): it replaces the staged intensity, and only it, when the records are written
(the base class and the compound name follow, see :mod:`..cell_classes`).
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path
from typing import IO, Iterable, Iterator, Optional

import numpy as np

from ..nucleus_records import NucleusRecord
from ._atomic import AtomicDest, remove_path


class RecordStore:
    """Append-only scratch file of encoded records with an in-memory index."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh: Optional[IO[bytes]] = open(self.path, "w+b")
        self.labels = array("q")
        self.offsets = array("q")
        self.lengths = array("q")
        self._end = 0

    def append(self, label: int, text: str) -> None:
        data = text.encode("utf-8")
        self._fh.seek(self._end)
        self._fh.write(data)
        self.labels.append(int(label))
        self.offsets.append(self._end)
        self.lengths.append(len(data))
        self._end += len(data)

    def __len__(self) -> int:
        return len(self.labels)

    def in_order(self, lut: Optional[np.ndarray]) -> Iterator[tuple[int, str]]:
        """``(final id, text)`` in ascending final id; ids mapped to 0 are dropped."""
        labels = np.frombuffer(self.labels, dtype=np.int64) if len(self) else \
            np.zeros(0, np.int64)
        final = labels if lut is None else np.asarray(lut)[labels].astype(np.int64)
        order = np.argsort(final, kind="stable")
        self._fh.flush()
        for i in order:
            if final[i] <= 0:
                continue
            self._fh.seek(self.offsets[i])
            yield int(final[i]), self._fh.read(self.lengths[i]).decode("utf-8")

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None
        remove_path(self.path)


class StagedTextWriter:
    """Base of the CSV and GeoJSON writers: add / renumber / commit / abort.

    Subclasses define :meth:`_encode` (a record's text without its id), :meth:`_line`
    (the final text of one record), :meth:`_header`, :meth:`_trailer` and
    :meth:`_with_class` (the encoded text with another classification).
    """

    def __init__(self, dest: os.PathLike | str, metadata: Optional[dict] = None):
        self._target = AtomicDest(dest)
        self.dest = self._target.dest
        self.metadata = dict(metadata or {})
        self._lut: Optional[np.ndarray] = None
        self._classes: Optional[np.ndarray] = None
        self._store: Optional[RecordStore] = RecordStore(
            self._target.tmp.with_name(self._target.tmp.name + ".records"))

    @property
    def count(self) -> int:
        """Records added so far."""
        return 0 if self._store is None else len(self._store)

    def _require_open(self) -> RecordStore:
        if self._store is None:
            raise RuntimeError(f"{self.dest}: writer already committed or aborted")
        return self._store

    def add(self, records: Iterable[NucleusRecord]) -> None:
        """Stage records (ids must be assigned: provisional ids are fine)."""
        store = self._require_open()
        for rec in records:
            label = int(rec.label)
            if label <= 0:
                raise ValueError("record has no global label yet (label must be > 0)")
            store.append(label, self._encode(rec))

    def renumber(self, lut) -> None:
        """Final ids: ``final = lut[provisional]`` (0 drops a record). Called at most once."""
        self._require_open()
        if self._lut is not None:
            raise RuntimeError(f"{self.dest}: renumber called twice")
        self._lut = np.asarray(lut)

    def set_intensity(self, classes) -> None:
        """Intensity class by final id: ``classes[label]`` (a name, or None to keep the
        record's own) replaces the staged intensity at :meth:`commit`; base classes stay."""
        self._require_open()
        self._classes = np.asarray(classes, dtype=object)

    set_classes = set_intensity  # the name used before base and intensity were apart

    def _class_of(self, label: int) -> Optional[str]:
        classes = self._classes
        if classes is None or not 0 <= label < len(classes):
            return None
        name = classes[label]
        return None if name is None else str(name)

    def _encode(self, rec: NucleusRecord) -> str:
        raise NotImplementedError

    def _with_class(self, text: str, name: str) -> str:
        """The encoded ``text`` with intensity class ``name``."""
        raise NotImplementedError

    def _line(self, label: int, text: str, first: bool) -> str:
        raise NotImplementedError

    def _header(self) -> str:
        return ""

    def _trailer(self) -> str:
        return ""

    def commit(self, metadata: Optional[dict] = None) -> Path:
        """Write the file in final-id order (``metadata`` replaces the stored one) and
        move it onto the destination."""
        store = self._require_open()
        if metadata is not None:
            self.metadata = dict(metadata)
        try:
            with open(self._target.tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(self._header())
                for k, (label, text) in enumerate(store.in_order(self._lut)):
                    name = self._class_of(label)
                    if name is not None:
                        text = self._with_class(text, name)
                    fh.write(self._line(label, text, k == 0))
                fh.write(self._trailer())
        except BaseException:
            self.abort()
            raise
        store.close()
        self._store = None
        return self._target.commit()

    def abort(self) -> None:
        """Discard the staged records and temporary file; the destination is untouched."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if not self._target.done:
            self._target.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._store is not None:
            self.commit()
