"""Read and write calorimeter shower files: CaloChallenge HDF5, CaloGAN HDF5 and ROOT.

All energies in memory are in MeV; showers are flat vectors of ``geometry.n_voxels``
voxel energies (see :mod:`hepgan.io.geometry`). Readers stream the file chunk by chunk and
check every chunk (NaN/inf, negative energies, GeV/MeV mix-ups), raising one
:class:`~hepgan.errors.InputFileError` line that names the file and the dataset/branch.
Writers write to a temporary file next to the target and move it into place only when
closed successfully, so an interrupted run never leaves a partial file behind
(:mod:`hepgan.io.atomic`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepgan import __version__
from hepgan.errors import ConfigError, InputFileError, OutputError
from hepgan.io import hdf5, root
from hepgan.io.atomic import AtomicWriter
from hepgan.io.geometry import CaloGeometry, load_geometry

LAYOUTS = ("calochallenge", "calogan", "root")
RESERVED_ATTRS = ("units", "geometry", "layout", "hepgan_version", "energy_units", "tree")
"""File attributes set by :class:`ShowerWriter` itself; ``attrs`` may not use these names."""

ROOT_MAGIC = b"root"
COMPRESSIONS = ("gzip", None)


@dataclass
class ShowerBatch:
    """A batch of N showers, in MeV.

    Attributes:
        incident_energies_mev: (N,) float64 incident particle energies in MeV.
        showers_mev: (N, n_voxels) float32 voxel energies in MeV.
        overflow_mev: (N, n_layers) float32 energy outside each layer's voxels in MeV, or None.
    """

    incident_energies_mev: np.ndarray
    showers_mev: np.ndarray
    overflow_mev: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.incident_energies_mev = np.asarray(self.incident_energies_mev, dtype=np.float64).reshape(-1)
        self.showers_mev = np.asarray(self.showers_mev, dtype=np.float32)
        n = len(self.incident_energies_mev)
        if self.showers_mev.ndim != 2 or len(self.showers_mev) != n:
            raise ValueError(f"showers_mev must have shape ({n}, n_voxels), got {self.showers_mev.shape}")
        if self.overflow_mev is not None:
            self.overflow_mev = np.asarray(self.overflow_mev, dtype=np.float32)
            if self.overflow_mev.ndim != 2 or len(self.overflow_mev) != n:
                raise ValueError(f"overflow_mev must have shape ({n}, n_layers), got {self.overflow_mev.shape}")

    def __len__(self) -> int:
        return len(self.incident_energies_mev)

    @classmethod
    def concatenate(cls, batches: Sequence[ShowerBatch]) -> ShowerBatch:
        """One batch holding ``batches`` in order (all with or all without overflow)."""
        if not batches:
            raise ValueError("cannot concatenate an empty list of batches")
        overflows = [b.overflow_mev for b in batches if b.overflow_mev is not None]
        return cls(
            np.concatenate([b.incident_energies_mev for b in batches]),
            np.concatenate([b.showers_mev for b in batches]),
            np.concatenate(overflows) if len(overflows) == len(batches) else None,
        )


def _geometry(geometry: CaloGeometry | str) -> CaloGeometry:
    return geometry if isinstance(geometry, CaloGeometry) else load_geometry(geometry)


def _existing_file(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file")
    return path


def _head(path: Path, size: int = 8) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(size)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def detect_layout(path: str | os.PathLike[str]) -> str:
    """The file's layout from its content: "calochallenge", "calogan" (HDF5 keys) or "root" (magic bytes).

    Raises:
        InputFileError: missing, empty, unreadable, corrupt, or neither layout.
    """
    path = _existing_file(path)
    head = _head(path)
    if not head:
        raise InputFileError(f"{path}: empty file (0 bytes); expected an HDF5 or ROOT shower file")
    if head.startswith(ROOT_MAGIC):
        return "root"
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc})") from None
    if is_hdf5:
        return hdf5.hdf5_layout(path)
    raise InputFileError(f"{path}: neither an HDF5 nor a ROOT file (starts with {head[:4]!r})")


class ShowerReader:
    """Streams a shower file in chunks of ``chunk_size`` events, checking each chunk.

    Usage::

        with ShowerReader("showers.h5", load_geometry("calogan")) as reader:
            for batch in reader.iter_chunks():
                ...

    Args:
        path: HDF5 (CaloChallenge or CaloGAN layout) or ROOT file.
        geometry: the calorimeter geometry (or a built-in geometry name).
        chunk_size: events per chunk.
        tree: ROOT tree name (default ``"showers"``); ROOT only.
        branches: ROOT branch names by role (``incident_energy``, ``showers``, ``cell_index``,
            ``cell_energy``, ``overflow``); ROOT only.

    Raises:
        InputFileError: the file is missing, corrupt, or its keys/shapes do not fit the geometry.
        ConfigError: bad ``chunk_size``, or ``tree``/``branches`` given for an HDF5 file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        geometry: CaloGeometry | str,
        chunk_size: int = 10_000,
        tree: str | None = None,
        branches: Mapping[str, str] | None = None,
    ) -> None:
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        self.path = Path(path)
        self.geometry = _geometry(geometry)
        self.chunk_size = int(chunk_size)
        self.layout = detect_layout(self.path)
        if self.layout == "root":
            self._source: hdf5.HDF5Source | root.RootSource = root.RootSource(self.path, self.geometry, tree, branches)
        else:
            if tree is not None or branches:
                raise ConfigError(f"{self.path}: tree= and branches= apply to ROOT files only")
            self._source = hdf5.HDF5Source(self.path, self.geometry, self.layout)

    @property
    def attrs(self) -> dict[str, Any]:
        """File-level metadata (HDF5 attributes, or the ROOT ``hepgan_metadata`` object)."""
        return dict(self._source.attrs)

    def __len__(self) -> int:
        return self._source.n_events

    def __enter__(self) -> ShowerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying file."""
        self._source.close()

    def _bounds(self, start: int, stop: int | None) -> tuple[int, int]:
        if start < 0 or (stop is not None and stop < 0):
            raise ValueError(f"start and stop must be >= 0, got {start}, {stop}")
        stop = len(self) if stop is None else min(stop, len(self))
        return start, max(start, stop)

    def iter_chunks(self, start: int = 0, stop: int | None = None) -> Iterator[ShowerBatch]:
        """Yield checked batches of at most ``chunk_size`` events covering ``start:stop``.

        Raises:
            InputFileError: a chunk is unreadable or fails a check (NaN/inf, negative
                energies, energies in the wrong units).
        """
        start, stop = self._bounds(start, stop)
        for first in range(start, stop, self.chunk_size):
            yield ShowerBatch(*self._source.read(first, min(first + self.chunk_size, stop)))

    def read(self, start: int = 0, stop: int | None = None) -> ShowerBatch:
        """Events ``start:stop`` (stop clamped to the file length) as one checked batch."""
        chunks = list(self.iter_chunks(start, stop))
        if chunks:
            return ShowerBatch.concatenate(chunks)
        return ShowerBatch(np.zeros(0), np.zeros((0, self.geometry.n_voxels), dtype=np.float32))


def read_showers(
    path: str | os.PathLike[str], geometry: CaloGeometry | str, max_events: int | None = None
) -> ShowerBatch:
    """Read the first ``max_events`` events (all when None) of a shower file, in MeV.

    Raises:
        InputFileError: as :class:`ShowerReader`.
    """
    with ShowerReader(path, geometry) as reader:
        return reader.read(0, max_events)


def _resolve_layout(path: Path, geometry: CaloGeometry, layout: str | None) -> str:
    if layout is None:
        return "root" if path.suffix.lower() == ".root" else geometry.layout
    if layout not in LAYOUTS:
        raise ConfigError(f"{path}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return layout


def _metadata(geometry: CaloGeometry, layout: str, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    clash = sorted(set(attrs or {}) & set(RESERVED_ATTRS))
    if clash:
        raise ConfigError(f"attrs may not set {', '.join(clash)}: the writer records these itself")
    base = {"units": "MeV", "geometry": geometry.name, "layout": layout, "hepgan_version": __version__}
    return {**base, **(attrs or {})}


class ShowerWriter(AtomicWriter[ShowerBatch]):
    """Appends :class:`ShowerBatch` es (energies in MeV) to a new shower file, moved into place on close.

    The data go to ``.{name}.tmp-{pid}`` next to ``path``; :meth:`close` (or leaving the
    ``with`` block normally) renames it onto ``path``. :meth:`abort` (or an exception in the
    ``with`` block) deletes it and leaves any existing ``path`` untouched (see
    :mod:`hepgan.io.atomic`).

    File metadata: ``units`` ("MeV"), ``geometry`` (name), ``layout``, ``hepgan_version`` and
    every entry of ``attrs``: HDF5 file attributes (values that HDF5 cannot hold are stored as
    JSON text), or for ROOT one JSON ``TObjString`` named ``hepgan_metadata`` (see
    :mod:`hepgan.io.root`). CaloGAN files also carry ``energy_units`` = "GeV" for ``energy``.

    Args:
        path: target file.
        geometry: the calorimeter geometry (or a built-in geometry name).
        layout: "calochallenge", "calogan" or "root"; default "root" for a ``.root`` name,
            else ``geometry.layout``.
        attrs: extra metadata (seed, checkpoint, ...); names in ``RESERVED_ATTRS`` are refused.
        compression: "gzip" or None.
        chunk_rows: events per HDF5 chunk / ROOT basket.

    Raises:
        ConfigError: bad layout, compression, chunk_rows or attrs.
        OutputError: the path names no file or a folder, or the file cannot be created or
            written (path named); a batch that does not fit the geometry.
    """

    example_name = "showers.h5"

    def __init__(
        self,
        path: str | os.PathLike[str],
        geometry: CaloGeometry | str,
        layout: str | None = None,
        attrs: Mapping[str, Any] | None = None,
        compression: str | None = "gzip",
        chunk_rows: int = 1024,
    ) -> None:
        super().__init__(path)
        self.geometry = _geometry(geometry)
        self.layout = _resolve_layout(self.path, self.geometry, layout)
        if compression not in COMPRESSIONS:
            raise ConfigError(f"{self.path}: compression must be 'gzip' or None, got {compression!r}")
        if int(chunk_rows) < 1:
            raise ConfigError(f"{self.path}: chunk_rows must be >= 1, got {chunk_rows}")
        self._metadata = _metadata(self.geometry, self.layout, attrs)
        self._compression = compression
        self._chunk_rows = int(chunk_rows)
        self._open()

    def _open_sink(self, tmp_path: Path) -> hdf5.HDF5Sink | root.RootSink:
        if self.layout == "root":
            return root.RootSink(tmp_path, self.geometry, self._metadata, self._compression, self._chunk_rows)
        return hdf5.HDF5Sink(tmp_path, self.geometry, self.layout, self._metadata, self._compression, self._chunk_rows)

    def _check_batch(self, batch: ShowerBatch) -> None:
        n_voxels = batch.showers_mev.shape[1]
        if n_voxels != self.geometry.n_voxels:
            raise OutputError(
                f"{self.path}: cannot write showers with {n_voxels} voxels per event, "
                f"geometry {self.geometry.name} expects {self.geometry.n_voxels}"
            )
        overflow = batch.overflow_mev
        if overflow is not None and overflow.shape[1] != self.geometry.n_layers:
            raise OutputError(
                f"{self.path}: cannot write overflow with {overflow.shape[1]} values per event, "
                f"geometry {self.geometry.name} has {self.geometry.n_layers} layers"
            )
        has_overflow = self._sink.has_overflow
        if has_overflow is not None and has_overflow != (overflow is not None):
            raise OutputError(f"{self.path}: every batch must have overflow_mev or none may (the first decides)")

    def _write_batch(self, batch: ShowerBatch) -> None:
        self._sink.write(batch.incident_energies_mev, batch.showers_mev, batch.overflow_mev)


def write_showers(
    path: str | os.PathLike[str],
    batch: ShowerBatch,
    geometry: CaloGeometry | str,
    attrs: Mapping[str, Any] | None = None,
    layout: str | None = None,
) -> None:
    """Write one batch (MeV) to ``path`` atomically; see :class:`ShowerWriter`.

    Raises:
        OutputError, ConfigError: as :class:`ShowerWriter`.
    """
    with ShowerWriter(path, geometry, layout=layout, attrs=attrs) as writer:
        writer.write(batch)
