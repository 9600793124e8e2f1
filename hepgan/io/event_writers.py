"""Write events: :class:`EventWriter` appends :class:`~hepgan.io.event_batch.EventBatch` es to a new event table.

The table (HDF5 or ROOT, told from the file name's extension) holds pt, eta, phi, mass
(GeV, rad) of the objects of each event, with metadata ``units`` = "GeV", ``layout``,
``n_objects``, ``hepgan_version`` and the caller's ``attrs``. HDF5 stores (N, n_objects)
datasets and a ``mask``; ROOT stores NanoAOD-style jagged branches ``n{Collection}``,
``{Collection}_pt``, ``_eta``, ``_phi``, ``_mass`` and ``_slot`` (see
:mod:`hepgan.io.event_batch`). The file is written under a temporary name and moved onto
the target only when complete (see :mod:`hepgan.io.atomic`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import uproot

from hepgan import __version__
from hepgan.errors import ConfigError, OutputError
from hepgan.io.atomic import AtomicWriter
from hepgan.io.event_batch import (
    DEFAULT_COLLECTION,
    DEFAULT_TREE,
    OBJECT_FIELDS,
    SLOT_FIELD,
    TABLE_KEYS,
    TABLE_LAYOUT,
    EventBatch,
)
from hepgan.io.hdf5 import encode_attr
from hepgan.io.root import METADATA_KEY

logger = logging.getLogger(__name__)

RESERVED_ATTRS = ("units", "layout", "n_objects", "hepgan_version", "tree", "collection")
"""File attributes set by :class:`EventWriter` itself; ``attrs`` may not use these names."""
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
ROOT_SUFFIXES = (".root",)
COMPRESSIONS = ("gzip", None)


def _metadata(n_objects: int, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    clash = sorted(set(attrs or {}) & set(RESERVED_ATTRS))
    if clash:
        raise ConfigError(f"attrs may not set {', '.join(clash)}: the writer records these itself")
    base = {"units": "GeV", "layout": TABLE_LAYOUT, "n_objects": n_objects, "hepgan_version": __version__}
    return {**base, **(attrs or {})}


def jagged_objects(batch: EventBatch) -> Any:
    """The present objects of each event in slot order, as an awkward (N, var) record array.

    Records hold ``pt``, ``eta``, ``phi``, ``mass`` (float64, GeV, rad) and ``slot`` (int32);
    values of absent objects (``mask`` False) are dropped.
    """
    mask = batch.mask
    fields: dict[str, np.ndarray] = {field: getattr(batch, field)[mask] for field in OBJECT_FIELDS}
    fields[SLOT_FIELD] = np.nonzero(mask)[1].astype(np.int32)  # row-major, as mask indexing orders values
    return ak.unflatten(ak.zip(fields), mask.sum(axis=1))


def _output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    if suffix in ROOT_SUFFIXES:
        return "root"
    raise ConfigError(
        f"{path}: cannot tell the output format from the name; use {', '.join(HDF5_SUFFIXES + ROOT_SUFFIXES)}"
    )


class _HDF5TableSink:
    """Appends event arrays to resizable (N, n_objects) HDF5 datasets."""

    def __init__(self, path: Path, n_objects: int, attrs: Mapping[str, Any], compression: str | None, rows: int):
        self._file = h5py.File(path, "w")
        for key, value in attrs.items():
            self._file.attrs[key] = encode_attr(value)
        for key in TABLE_KEYS:
            dtype = bool if key == "mask" else np.float64
            self._file.create_dataset(
                key,
                shape=(0, n_objects),
                maxshape=(None, n_objects),
                dtype=dtype,
                chunks=(rows, n_objects),
                compression=compression,
            )

    def write(self, batch: EventBatch) -> None:
        n = len(self._file["pt"])
        for key, values in batch.arrays().items():
            dataset = self._file[key]
            dataset.resize(n + len(batch), axis=0)
            dataset[n:] = values

    def finish(self) -> None:
        self._file.close()

    def discard(self) -> None:
        try:
            self._file.close()
        except Exception:  # closing a half-written file may fail; it is deleted next
            pass


class _RootTableSink:
    """Writes events to a TTree of jagged ``{collection}_*`` branches, buffering ``rows`` events per basket."""

    def __init__(
        self,
        path: Path,
        n_objects: int,
        attrs: Mapping[str, Any],
        compression: str | None,
        rows: int,
        collection: str = DEFAULT_COLLECTION,
    ):
        self._attrs = {**attrs, "tree": DEFAULT_TREE, "collection": collection}
        self._collection = collection
        self._rows = rows
        self._buffer: list[EventBatch] = []
        self._buffered = 0
        self._file = uproot.recreate(path, compression=uproot.ZLIB(4) if compression else None)
        record_type = jagged_objects(EventBatch.empty(n_objects)).type.content
        self._tree = self._file.mktree(DEFAULT_TREE, {collection: record_type}, title="hepgan events (GeV)")

    def _flush(self) -> None:
        if self._buffer:
            self._tree.extend({self._collection: jagged_objects(EventBatch.concatenate(self._buffer))})
        self._buffer, self._buffered = [], 0

    def write(self, batch: EventBatch) -> None:
        self._buffer.append(batch)
        self._buffered += len(batch)
        if self._buffered >= self._rows:
            self._flush()

    def finish(self) -> None:
        self._flush()
        self._file[METADATA_KEY] = json.dumps(self._attrs, default=str)
        self._file.close()

    def discard(self) -> None:
        try:
            self._file.close()
        except Exception:  # closing a half-written file may fail; it is deleted next
            pass


class EventWriter(AtomicWriter[EventBatch]):
    """Appends :class:`EventBatch` es (GeV) to a new event table (HDF5 or ROOT by extension), moved into place on close.

    In ROOT the present objects of each event are stored in slot order in jagged branches
    ``n{collection}``, ``{collection}_pt``/``_eta``/``_phi``/``_mass`` (GeV, rad) and
    ``{collection}_slot`` (the slot of each object, so masks that are not a prefix survive);
    values of absent objects are not stored and read back as 0.

    The data go to ``.{name}.tmp-{pid}`` next to ``path``; :meth:`close` (or leaving the
    ``with`` block normally) renames it onto ``path``. :meth:`abort` (or an exception in the
    ``with`` block) deletes it and leaves any existing ``path`` untouched (see
    :mod:`hepgan.io.atomic`).

    Args:
        path: target file; ``.h5``/``.hdf5``/``.hdf`` → HDF5, ``.root`` → ROOT.
        n_objects: object slots per event.
        attrs: extra metadata (seed, generator, ...); names in ``RESERVED_ATTRS`` are refused.
        compression: "gzip" or None.
        chunk_rows: events per HDF5 chunk / ROOT basket.
        collection: name of the ROOT branch collection (``Jet`` → ``nJet``, ``Jet_pt``, ...), a
            Python identifier; stored in the ROOT metadata, unused for HDF5.

    Raises:
        ConfigError: unknown extension, bad n_objects, compression, chunk_rows, collection or attrs.
        OutputError: the path names no file or a folder, or the file cannot be created or
            written (path named); a batch with another n_objects.
    """

    example_name = "events.h5"

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_objects: int,
        attrs: Mapping[str, Any] | None = None,
        compression: str | None = "gzip",
        chunk_rows: int = 4096,
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        super().__init__(path)
        self.format = _output_format(self.path)
        if int(n_objects) < 1:
            raise ConfigError(f"{self.path}: n_objects must be >= 1, got {n_objects}")
        if compression not in COMPRESSIONS:
            raise ConfigError(f"{self.path}: compression must be 'gzip' or None, got {compression!r}")
        if int(chunk_rows) < 1:
            raise ConfigError(f"{self.path}: chunk_rows must be >= 1, got {chunk_rows}")
        if not isinstance(collection, str) or not collection.isidentifier():
            raise ConfigError(
                f"{self.path}: collection must be a branch-name prefix such as 'Jet' (letters, digits, _), "
                f"got {collection!r}"
            )
        self.collection = collection
        self.n_objects = int(n_objects)
        self._metadata = _metadata(self.n_objects, attrs)
        self._compression = compression
        self._chunk_rows = int(chunk_rows)
        self._open()

    def _open_sink(self, tmp_path: Path) -> _HDF5TableSink | _RootTableSink:
        args = (tmp_path, self.n_objects, self._metadata, self._compression, self._chunk_rows)
        if self.format == "hdf5":
            return _HDF5TableSink(*args)
        return _RootTableSink(*args, collection=self.collection)

    def _check_batch(self, batch: EventBatch) -> None:
        if batch.n_objects != self.n_objects:
            raise OutputError(
                f"{self.path}: cannot write events with {batch.n_objects} objects, the file holds {self.n_objects}"
            )

    def _write_batch(self, batch: EventBatch) -> None:
        self._sink.write(batch)

    def _finished(self) -> None:
        logger.info("wrote %d events to %s", self.n_written, self.path)


def write_events(
    path: str | os.PathLike[str],
    batch: EventBatch,
    attrs: Mapping[str, Any] | None = None,
    collection: str = DEFAULT_COLLECTION,
) -> None:
    """Write one batch (GeV) to ``path`` atomically; see :class:`EventWriter`."""
    with EventWriter(path, batch.n_objects, attrs, collection=collection) as writer:
        writer.write(batch)
