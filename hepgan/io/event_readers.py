"""Read events: :class:`EventReader` streams a ROOT tree or a hepgan event table in chunks.

The format is told from the file's first bytes (:func:`detect_format`); a ROOT file is
read as a hepgan event table (jagged ``n{Collection}``/``{Collection}_*`` branches, or the
fixed-size branches of earlier versions) when its ``hepgan_metadata`` says so, else through an
:class:`~hepgan.io.event_selection.EventSelection`. Batches are
:class:`~hepgan.io.event_batch.EventBatch` es in GeV (see :mod:`hepgan.io.event_sources`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hepgan.errors import ConfigError, InputFileError
from hepgan.io.event_batch import TABLE_LAYOUT, EventBatch
from hepgan.io.event_selection import EventSelection
from hepgan.io.event_sources import HDF5TableSource, RootSelectionSource, RootTableSource
from hepgan.io.root import open_root, read_metadata

ROOT_MAGIC = b"root"
"""First bytes of a ROOT file."""
HDF5_MAGIC = b"\x89HDF"
"""First bytes of an HDF5 file (with no user block)."""


def _existing_file(path: Path) -> Path:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file")
    return path


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format, "root" or "hdf5", from the file's first bytes.

    Raises:
        InputFileError: missing, empty, unreadable, or neither format.
    """
    path = _existing_file(Path(path))
    try:
        with path.open("rb") as stream:
            head = stream.read(8)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise InputFileError(f"{path}: empty file (0 bytes); expected a ROOT or HDF5 event file")
    if head.startswith(ROOT_MAGIC):
        return "root"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    raise InputFileError(f"{path}: neither a ROOT nor an HDF5 file (starts with {head[:4]!r})")


class EventReader:
    """Streams events from a ROOT tree or a hepgan event table in chunks of ``chunk_size``.

    Usage::

        selection = EventSelection.from_dict({"collection": "Muon", "fields": {...}})
        with EventReader("events.root", selection) as reader:
            for batch in reader.iter_chunks():
                ...

    Args:
        path: ROOT file, or HDF5/ROOT event table written by
            :class:`~hepgan.io.event_writers.EventWriter`.
        selection: which objects to read. Required for ROOT trees other than hepgan tables;
            for event tables only its cuts (pt_min_gev, abs_eta_max) and n_objects apply;
            None reads a table as stored.
        chunk_size: events per chunk.

    ``len(reader)`` is the number of events (tree entries). Events keep their place even
    when no object passes the selection (their mask is all False); if no object at all
    passes in the events read, :meth:`iter_chunks` raises InputFileError at the end.

    Raises:
        InputFileError: missing/corrupt/truncated file, missing or non-numeric branch.
        ConfigError: bad ``chunk_size``, no selection for a plain ROOT tree, or pdg_id/status
            cuts on an event table.
    """

    def __init__(
        self, path: str | os.PathLike[str], selection: EventSelection | None = None, chunk_size: int = 10_000
    ) -> None:
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        self.path = Path(path)
        self.chunk_size = int(chunk_size)
        self.format = detect_format(self.path)
        self._source: RootSelectionSource | RootTableSource | HDF5TableSource
        if self.format == "hdf5":
            self._source = HDF5TableSource(self.path, selection)
        elif selection is None or self._root_is_table():
            self._source = RootTableSource(self.path, selection)
        else:
            self._source = RootSelectionSource(self.path, selection)

    def _root_is_table(self) -> bool:
        file = open_root(self.path)
        try:
            return read_metadata(file, self.path).get("layout") == TABLE_LAYOUT
        finally:
            file.close()

    @property
    def n_objects(self) -> int:
        """Object slots per event in the batches this reader yields."""
        source = self._source
        if isinstance(source, RootSelectionSource):
            return source.selection.n_objects
        return source.selection.n_objects if source.selection is not None else source.n_objects

    @property
    def attrs(self) -> dict[str, Any]:
        """File-level metadata (HDF5 attributes, or the ROOT ``hepgan_metadata`` object)."""
        return dict(self._source.attrs)

    def __len__(self) -> int:
        return self._source.n_events

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying file."""
        self._source.close()

    def iter_chunks(self, start: int = 0, stop: int | None = None) -> Iterator[EventBatch]:
        """Yield batches of at most ``chunk_size`` events covering ``start:stop`` (stop clamped).

        Raises:
            InputFileError: a chunk is unreadable, holds NaN/inf, or the selection keeps no
                object at all in the events read (raised after the last chunk).
        """
        if start < 0 or (stop is not None and stop < 0):
            raise ValueError(f"start and stop must be >= 0, got {start}, {stop}")
        stop = len(self) if stop is None else min(stop, len(self))
        n_kept = 0
        for first in range(start, stop, self.chunk_size):
            batch = self._source.read(first, min(first + self.chunk_size, stop))
            n_kept += int(batch.mask.sum())
            yield batch
        if stop > start and n_kept == 0:
            raise InputFileError(
                f"{self.path}: {self._describe_selection()} selects no objects in events {start}-{stop}"
            )

    def _describe_selection(self) -> str:
        if isinstance(self._source, RootSelectionSource):
            return f"the selection ({self._source.describe()})"
        if isinstance(self._source, RootTableSource):
            return f"the event table (branch '{self._source.mask_branch}')"
        return "the event table (dataset 'mask')"

    def read(self, start: int = 0, stop: int | None = None) -> EventBatch:
        """Events ``start:stop`` as one batch."""
        chunks = list(self.iter_chunks(start, stop))
        return EventBatch.concatenate(chunks) if chunks else EventBatch.empty(self.n_objects)


def read_events(
    path: str | os.PathLike[str], selection: EventSelection | None = None, max_events: int | None = None
) -> EventBatch:
    """The first ``max_events`` events (all when None) of an event file; see :class:`EventReader`."""
    with EventReader(path, selection) as reader:
        return reader.read(0, max_events)
