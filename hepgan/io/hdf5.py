"""HDF5 shower files in the CaloChallenge and CaloGAN layouts (h5py), read chunk by chunk.

CaloChallenge: ``incident_energies`` (N, 1) MeV, ``showers`` (N, n_voxels) MeV.
CaloGAN: ``energy`` (N, 1) GeV, ``layer_i`` (N, *geometry.layers[i].shape) MeV and
``overflow`` (N, n_layers) MeV. An ``overflow`` dataset is optional in both layouts.

Sources return plain arrays ``(incident_mev (n,) float64, showers_mev (n, n_voxels) float32,
overflow_mev (n, n_layers) float32 or None)``; :mod:`hepgan.io.showers` wraps them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hepgan.errors import InputFileError
from hepgan.io import checks
from hepgan.io.geometry import CaloGeometry

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None]

CALOCHALLENGE_KEYS = ("incident_energies", "showers")
CALOGAN_KEYS = ("energy", "layer_0")
HDF5_ERRORS = (OSError, RuntimeError, ValueError, KeyError, TypeError)
"""What h5py raises on corrupt or truncated files."""


def open_hdf5(path: Path) -> h5py.File:
    """Open an HDF5 file read-only, turning h5py failures into one InputFileError line."""
    try:
        return h5py.File(path, "r")
    except HDF5_ERRORS as exc:
        reason = checks.one_line(exc)
        raise InputFileError(f"{path}: cannot open as HDF5, file is corrupt or truncated ({reason})") from None


def hdf5_layout(path: Path) -> str:
    """The HDF5 layout, "calochallenge" or "calogan", from the datasets at the top level."""
    with open_hdf5(path) as file:
        keys = set(file.keys())
    if keys & set(CALOCHALLENGE_KEYS):
        return "calochallenge"
    if keys & set(CALOGAN_KEYS):
        return "calogan"
    found = ", ".join(sorted(keys)) or "nothing"
    raise InputFileError(
        f"{path}: HDF5 file is neither CaloChallenge (datasets 'incident_energies', 'showers') nor CaloGAN "
        f"('energy', 'layer_0', ...); found: {found}"
    )


def calochallenge_voxel_count(path: Path) -> int | None:
    """Voxels per shower of a CaloChallenge-layout HDF5 file ('showers' (N, n_voxels)), or None."""
    with open_hdf5(path) as file:
        showers = file.get("showers")
        if isinstance(showers, h5py.Dataset) and showers.ndim == 2:
            return int(showers.shape[1])
    return None


def decode_attrs(attrs: h5py.AttributeManager) -> dict[str, Any]:
    """HDF5 attributes as plain Python values (bytes decoded, numpy scalars unwrapped)."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        out[key] = value
    return out


def encode_attr(value: Any) -> Any:
    """A value HDF5 can store: scalars and numeric sequences as they are, anything else as JSON."""
    if isinstance(value, str | bool | int | float | np.generic):
        return value
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return array
    return json.dumps(value, default=str)


def _link(file: h5py.File, key: str, path: Path) -> Any:
    """The link named ``key`` (None when absent), read without following it."""
    try:
        return file.get(key, getlink=True)
    except HDF5_ERRORS as exc:
        raise InputFileError(f"{path}: cannot read '{key}', file is corrupt ({checks.one_line(exc)})") from None


def _dataset(file: h5py.File, key: str, path: Path) -> h5py.Dataset:
    link = _link(file, key, path)
    if link is None:
        found = ", ".join(sorted(file.keys())) or "nothing"
        raise InputFileError(f"{path}: missing dataset '{key}' (found: {found})")
    if isinstance(link, h5py.ExternalLink):
        raise InputFileError(
            f"{path}: '{key}' is an external link to {link.path!r} in {link.filename!r}; "
            "expected a dataset stored in the file itself"
        )
    try:
        dataset = file[key]
    except HDF5_ERRORS as exc:
        if isinstance(link, h5py.SoftLink):
            raise InputFileError(
                f"{path}: '{key}' is a soft link to {link.path!r}, which does not lead to a dataset; expected a dataset"
            ) from None
        raise InputFileError(f"{path}: cannot open '{key}', file is corrupt ({checks.one_line(exc)})") from None
    if not isinstance(dataset, h5py.Dataset):
        found = ", ".join(sorted(file.keys())) or "nothing"
        raise InputFileError(f"{path}: missing dataset '{key}', found a group of that name (found: {found})")
    if dataset.dtype.kind not in "iuf":
        raise InputFileError(f"{path}: '{key}' holds {dataset.dtype} values, expected numbers")
    check_stored(dataset, key, path)
    return dataset


def _unstored(dataset: h5py.Dataset, path: Path) -> str | None:
    """What part of ``dataset`` the file does not hold (it would be read as fill values), or None."""
    if dataset.external:
        return "keeps its data in external raw files"
    if dataset.is_virtual:
        mapped = 0
        for source in dataset.virtual_sources():
            mapped += source.vspace.get_select_npoints()
            name = source.file_name
            if (
                name != "."
                and "%" not in name
                and not any((folder / name).is_file() for folder in (path.parent, Path.cwd()))
            ):
                return f"is virtual and maps rows from {name!r}, which does not exist"
        if mapped < dataset.size:
            return f"is virtual and its sources hold only {mapped} of its {dataset.size} values"
        return None
    if dataset.chunks is not None:
        total = 1
        for length, chunk in zip(dataset.shape, dataset.chunks, strict=True):
            total *= -(-length // chunk)
        stored = dataset.id.get_num_chunks()
        return None if stored >= total else f"stores {stored} of its {total} chunks"
    stored = dataset.id.get_storage_size()
    return None if stored >= dataset.nbytes else f"stores {stored} of its {dataset.nbytes} bytes"


def check_stored(dataset: h5py.Dataset, key: str, path: Path) -> None:
    """InputFileError naming the file and the dataset when the file does not hold all the rows it declares.

    A dataset may declare any shape (10⁹ showers in a file of a few kB): unwritten chunks,
    unwritten contiguous storage, external raw files and unmapped or missing virtual sources
    read as fill values, which would be taken for data (and take minutes to read).
    """
    if dataset.size == 0:
        return
    try:
        problem = _unstored(dataset, path)
    except HDF5_ERRORS as exc:
        raise InputFileError(f"{path}: cannot inspect '{key}', file is corrupt ({checks.one_line(exc)})") from None
    if problem is not None:
        raise InputFileError(
            f"{path}: '{key}' declares {dataset.shape[0]} rows but {problem}; "
            "the rest would be read as fill values, not data"
        )


def _read(dataset: h5py.Dataset, start: int, stop: int, path: Path) -> np.ndarray:
    try:
        return dataset[start:stop]
    except HDF5_ERRORS as exc:
        raise InputFileError(
            f"{path}: cannot read '{dataset.name.lstrip('/')}' events {start}-{stop}, file is corrupt or truncated "
            f"({checks.one_line(exc)})"
        ) from None


def _energy_dataset(file: h5py.File, key: str, path: Path) -> h5py.Dataset:
    dataset = _dataset(file, key, path)
    if dataset.ndim not in (1, 2) or (dataset.ndim == 2 and dataset.shape[1] != 1):
        found = ", ".join(["N", *map(str, dataset.shape[1:])])
        raise InputFileError(f"{path}: '{key}' has shape ({found}), expected (N, 1) incident energies")
    checks.check_not_empty(str(path), key, dataset.shape[0])
    return dataset


def _overflow_dataset(file: h5py.File, path: Path, n_events: int, energy_key: str, geometry: CaloGeometry):
    if _link(file, "overflow", path) is None:
        return None
    dataset = _dataset(file, "overflow", path)
    checks.check_row_shape(str(path), "overflow", dataset.shape, (geometry.n_layers,), f"geometry {geometry.name}")
    checks.check_same_length(str(path), "overflow", dataset.shape[0], energy_key, n_events)
    return dataset


class HDF5Source:
    """Chunked reader of one HDF5 shower file (CaloChallenge or CaloGAN layout)."""

    def __init__(self, path: Path, geometry: CaloGeometry, layout: str) -> None:
        self.path = path
        self.geometry = geometry
        self.layout = layout
        self._file = open_hdf5(path)
        try:
            self._open_datasets()
            self.attrs = decode_attrs(self._file.attrs)
        except BaseException:
            self._file.close()
            raise

    def _open_datasets(self) -> None:
        path, geometry = self.path, self.geometry
        self.energy_key = "incident_energies" if self.layout == "calochallenge" else "energy"
        self._energy = _energy_dataset(self._file, self.energy_key, path)
        self.n_events = self._energy.shape[0]
        if self.layout == "calochallenge":
            showers = _dataset(self._file, "showers", path)
            if showers.ndim != 2:
                raise InputFileError(f"{path}: 'showers' has {showers.ndim} dimensions, expected 2 (N, n_voxels)")
            checks.check_voxel_count(str(path), "showers", showers.shape[1], geometry)
            self._deposits = {"showers": showers}
        else:
            self._deposits = {}
            for i, layer in enumerate(geometry.layers):
                dataset = _dataset(self._file, f"layer_{i}", path)
                checks.check_row_shape(str(path), f"layer_{i}", dataset.shape, layer.shape, f"geometry {geometry.name}")
                self._deposits[f"layer_{i}"] = dataset
        for key, dataset in self._deposits.items():
            checks.check_same_length(str(path), key, dataset.shape[0], self.energy_key, self.n_events)
        self._overflow = _overflow_dataset(self._file, path, self.n_events, self.energy_key, geometry)

    def read(self, start: int, stop: int) -> Arrays:
        """Events ``start:stop``, checked: incident (n,) MeV, showers (n, n_voxels) MeV, overflow or None."""
        incident = _read(self._energy, start, stop, self.path).reshape(-1).astype(np.float64)
        parts = {key: _read(ds, start, stop, self.path) for key, ds in self._deposits.items()}
        if self._overflow is not None:
            parts["overflow"] = _read(self._overflow, start, stop, self.path)
        units = "MeV" if self.layout == "calochallenge" else "GeV"
        checks.check_chunk(str(self.path), start, self.energy_key, incident, units, parts)
        overflow = parts.pop("overflow", None)
        showers = np.concatenate([p.reshape(len(p), -1) for p in parts.values()], axis=1).astype(np.float32)
        if units == "GeV":
            incident = incident * 1000.0
        return incident, showers, None if overflow is None else overflow.astype(np.float32)

    def close(self) -> None:
        self._file.close()


class _GuardedFile:
    """An unbuffered binary file for h5py's ``fileobj`` driver that never reports a failed write to HDF5.

    On a full disk (ENOSPC, EFBIG) HDF5 cannot recover: its ``close`` raises RuntimeError and the
    half-closed file makes the library crash later (a second close, garbage collection or exit
    segfaults). So a failing write is recorded in :attr:`error` and this and every later write
    are dropped while HDF5 is told they succeeded; the sink then reports :attr:`error` and the
    writer deletes the file.
    """

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self._raw = open(path, "w+b", buffering=0)  # closed by close()
        self.error: OSError | None = None

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        return self._raw.readinto(buffer) or 0

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size) or b""

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += self._raw.write(view[done:]) or 0
            except OSError as exc:
                self.error = exc
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self._raw.truncate(size)
            except OSError as exc:
                self.error = exc
        return self._raw.tell() if size is None else size

    def flush(self) -> None:
        """Nothing to do: the file is unbuffered."""

    def close(self) -> None:
        try:
            self._raw.close()
        except OSError as exc:
            self.error = self.error or exc

    def raise_error(self) -> None:
        """Raise the first failed write as OSError (with its errno and strerror)."""
        if self.error is not None:
            raise OSError(self.error.errno, self.error.strerror or str(self.error))


class HDF5Sink:
    """Appends showers to resizable, chunked HDF5 datasets in the given layout.

    Errors (disk full, ...) are raised as OSError for the writer to report; after a failed
    close the h5py file is never touched again.
    """

    def __init__(
        self,
        path: Path,
        geometry: CaloGeometry,
        layout: str,
        attrs: dict[str, Any],
        compression: str | None,
        chunk_rows: int,
    ) -> None:
        self.geometry = geometry
        self.layout = layout
        self._compression = compression
        self._chunk_rows = chunk_rows
        self._datasets: dict[str, h5py.Dataset] | None = None
        self._stream = _GuardedFile(path)
        self._file: h5py.File | None = None
        # each dataset's chunk cache holds a batch's partly written chunks: with HDF5's default 1 MB, smaller
        # than one ds1 chunk, each batch boundary reads back and rewrites a chunk (3-4x slower writes)
        row_bytes = sum(
            int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype, _ in self._row_shapes(True).values()
        )
        cache_bytes = 2 * chunk_rows * row_bytes + (16 << 20)
        try:
            self._file = h5py.File(self._stream, "w", rdcc_nbytes=cache_bytes, rdcc_nslots=10007)
            for key, value in attrs.items():
                self._file.attrs[key] = encode_attr(value)
            if layout == "calogan":
                self._file.attrs["energy_units"] = "GeV"
            self._stream.raise_error()
        except (RuntimeError, OSError) as exc:
            self.discard()
            raise _as_os_error(exc) from None
        except BaseException:
            self.discard()
            raise

    def _row_shapes(self, with_overflow: bool) -> dict[str, tuple[tuple[int, ...], type, str]]:
        shapes: dict[str, tuple[tuple[int, ...], type, str]]
        if self.layout == "calochallenge":
            shapes = {
                "incident_energies": ((1,), np.float64, "MeV"),
                "showers": ((self.geometry.n_voxels,), np.float32, "MeV"),
            }
        else:
            shapes = {"energy": ((1,), np.float64, "GeV")}
            for i, layer in enumerate(self.geometry.layers):
                shapes[f"layer_{i}"] = (layer.shape, np.float32, "MeV")
        if with_overflow:
            shapes["overflow"] = ((self.geometry.n_layers,), np.float32, "MeV")
        return shapes

    def _open_file(self) -> h5py.File:
        if self._file is None:
            raise OSError(f"HDF5 file {self._stream.name} is already closed")
        return self._file

    def _create(self, with_overflow: bool) -> dict[str, h5py.Dataset]:
        file = self._open_file()
        datasets = {}
        for key, (row_shape, dtype, units) in self._row_shapes(with_overflow).items():
            datasets[key] = file.create_dataset(
                key,
                shape=(0, *row_shape),
                maxshape=(None, *row_shape),
                dtype=dtype,
                chunks=(self._chunk_rows, *row_shape),
                compression=self._compression,
            )
            datasets[key].attrs["units"] = units
        return datasets

    def _arrays(self, incident_mev: np.ndarray, showers_mev: np.ndarray, overflow_mev: np.ndarray | None):
        if self.layout == "calochallenge":
            out = {"incident_energies": incident_mev[:, None], "showers": showers_mev}
        else:
            out = {"energy": incident_mev[:, None] / 1000.0}
            for i, image in enumerate(self.geometry.layer_images(showers_mev)):
                out[f"layer_{i}"] = image
        if overflow_mev is not None:
            out["overflow"] = overflow_mev
        return out

    @property
    def has_overflow(self) -> bool | None:
        """Whether the file holds ``overflow`` (None before the first write)."""
        return None if self._datasets is None else "overflow" in self._datasets

    def write(self, incident_mev: np.ndarray, showers_mev: np.ndarray, overflow_mev: np.ndarray | None) -> None:
        """Append n events: incident (n,) MeV, showers (n, n_voxels) MeV, overflow (n, n_layers) MeV or None.

        Raises:
            OSError: the data could not be written (disk full, ...).
        """
        self._stream.raise_error()
        try:
            if self._datasets is None:
                self._datasets = self._create(overflow_mev is not None)
            for key, values in self._arrays(incident_mev, showers_mev, overflow_mev).items():
                dataset = self._datasets[key]
                n = dataset.shape[0]
                dataset.resize(n + len(values), axis=0)
                dataset[n:] = values
        except RuntimeError as exc:
            raise _as_os_error(exc) from None
        self._stream.raise_error()

    def finish(self) -> None:
        """Create empty datasets if nothing was written, then close the file.

        Raises:
            OSError: writing or closing failed; the file must then be deleted (:meth:`discard`).
        """
        try:
            if self._datasets is None:
                self._datasets = self._create(False)
            self._stream.raise_error()
        except RuntimeError as exc:
            raise _as_os_error(exc) from None
        self._close_file()
        self._stream.close()
        self._stream.raise_error()

    def _close_file(self) -> None:
        """Close the h5py file once; after a failed close drop it without closing it again."""
        file, self._datasets = self._file, None
        if file is None:
            return
        self._file = None  # never closed twice: a second close of a failed file crashes HDF5
        try:
            file.close()
        except (RuntimeError, OSError) as exc:
            _FAILED_FILES.append(file)  # keep it alive: freeing it would close it again
            raise _as_os_error(exc) from None

    def discard(self) -> None:
        """Close the file, ignoring errors (the caller deletes it)."""
        try:
            self._close_file()
        except OSError:  # closing a half-written file may fail; it is deleted next
            pass
        self._stream.close()


_FAILED_FILES: list[h5py.File] = []
"""h5py files whose close failed; kept referenced so that they are not closed again on garbage collection."""


def _as_os_error(exc: BaseException) -> OSError:
    """An h5py RuntimeError/OSError as an OSError whose text is one short line."""
    if isinstance(exc, OSError) and exc.strerror:
        return OSError(exc.errno, exc.strerror)
    return OSError(checks.one_line(exc))
