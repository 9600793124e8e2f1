"""ROOT shower files (uproot), read chunk by chunk and written with fixed-size branches.

A shower TTree (default name ``showers``) holds per event:

- ``incident_energy``: the incident energy in MeV;
- either ``showers``: ``n_voxels`` floats in MeV (a fixed-size array branch, or a
  variable-length one whose every entry has ``n_voxels`` values),
- or the sparse form ``cell_index`` (int voxel indices) and ``cell_energy`` (MeV) of
  variable length, summed into dense (N, n_voxels) showers;
- optionally ``overflow``: ``n_layers`` floats in MeV.

Written files use the fixed-size form. Their metadata (units, geometry, layout, hepgan
version, user attributes) is stored as JSON in a ``TObjString`` named ``hepgan_metadata``
next to the tree; :func:`read_metadata` returns it as a dict.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from hepgan.errors import ConfigError, InputFileError
from hepgan.io import checks
from hepgan.io.geometry import CaloGeometry

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None]

DEFAULT_TREE = "showers"
METADATA_KEY = "hepgan_metadata"
DEFAULT_BRANCHES = {
    "incident_energy": "incident_energy",
    "showers": "showers",
    "cell_index": "cell_index",
    "cell_energy": "cell_energy",
    "overflow": "overflow",
}
"""Role -> branch name; pass a mapping with some of these roles to rename branches."""


def resolve_branches(branches: Mapping[str, str] | None) -> dict[str, str]:
    """Default branch names updated with ``branches``; unknown roles raise ConfigError."""
    out = dict(DEFAULT_BRANCHES)
    for role, name in (branches or {}).items():
        if role not in DEFAULT_BRANCHES:
            raise ConfigError(f"unknown ROOT branch role {role!r}; expected one of {', '.join(DEFAULT_BRANCHES)}")
        out[role] = str(name)
    return out


def open_root(path: Path) -> Any:
    """Open a ROOT file with uproot, turning any failure into one InputFileError line.

    A file shorter than its header's end-of-file offset (``fEND``) is refused as truncated.
    """
    try:
        file = uproot.open(path)
    except Exception as exc:  # uproot raises many types (OSError, ValueError, struct.error, ...)
        reason = checks.one_line(exc)
        raise InputFileError(f"{path}: cannot open as ROOT, file is corrupt or truncated ({reason})") from None
    try:
        size, end = os.path.getsize(path), int(file.file.fEND)
    except (OSError, AttributeError, TypeError, ValueError) as exc:
        file.close()
        raise InputFileError(f"{path}: cannot open as ROOT ({checks.one_line(exc)})") from None
    if size < end:
        file.close()
        raise InputFileError(f"{path}: truncated ROOT file: {size} bytes, the header says {end}")
    return file


def read_metadata(file: Any, path: Path) -> dict[str, Any]:
    """The ``hepgan_metadata`` JSON object of an open file, or {} when absent."""
    try:
        if METADATA_KEY not in file:
            return {}
        text = str(file[METADATA_KEY])
    except Exception as exc:  # corrupt key list or object
        raise InputFileError(f"{path}: cannot read '{METADATA_KEY}' ({checks.one_line(exc)})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise InputFileError(f"{path}: '{METADATA_KEY}' is not a JSON object as hepgan writes it") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: '{METADATA_KEY}' is not a JSON object as hepgan writes it")
    return data


def _tree(file: Any, name: str, path: Path) -> Any:
    try:
        classes = {key.split(";")[0]: cls for key, cls in file.classnames().items()}
        trees = [key for key, cls in classes.items() if cls == "TTree"]
        kind = classes.get(name.split(";")[0], "")
        found = file[name] if kind == "TTree" else None
    except Exception as exc:  # damaged directory or tree header
        reason = checks.one_line(exc)
        raise InputFileError(f"{path}: cannot read tree '{name}', file is corrupt or truncated ({reason})") from None
    listing = ", ".join(trees) or "none"
    if "RNTuple" in kind:
        raise InputFileError(
            f"{path}: '{name}' is an RNTuple, which hepgan does not read yet; expected a TTree "
            f"(TTrees found: {listing})"
        )
    if not isinstance(found, uproot.TTree):
        raise InputFileError(f"{path}: no TTree named '{name}' (TTrees found: {listing}); pass tree= to choose one")
    return found


def _inner_shape(tree: Any, branch: str) -> tuple[int, ...] | None:
    """Per-event shape of a fixed-size numeric branch; None for variable-length ones."""
    interpretation = tree[branch].interpretation
    if isinstance(interpretation, uproot.AsDtype):
        return tuple(interpretation.inner_shape)
    return None


def _check_numeric(tree: Any, branch: str, path: Path) -> None:
    """Refuse a branch of booleans (or other non-numbers) where energies belong, as HDF5 datasets are refused.

    Integer and floating-point branches pass; booleans would otherwise be read as 0/1 MeV.
    A branch whose element type uproot does not state is left to the reading itself.
    """
    try:
        interpretation = tree[branch].interpretation
        dtype = getattr(interpretation, "to_dtype", None)
        if dtype is None:
            dtype = getattr(getattr(interpretation, "content", None), "to_dtype", None)
        dtype = None if dtype is None else np.dtype(dtype)
    except Exception:  # an odd branch type: reading it reports the problem
        return
    if dtype is not None and dtype.base.kind not in "iuf":
        raise InputFileError(f"{path}: '{branch}' holds {dtype.base} values, expected numbers")


def _regular(values: Any, width: int, key: str, offset: int, path: Path) -> np.ndarray:
    """(n, width) numpy array from a fixed-size or variable-length awkward array."""
    if values.ndim == 1:
        raise InputFileError(f"{path}: '{key}' holds one number per event, expected {width}")
    counts = np.asarray(ak.num(values, axis=1))
    bad = np.flatnonzero(counts != width)
    if len(bad):
        raise InputFileError(
            f"{path}: '{key}' has {counts[bad[0]]} values at event {offset + bad[0]}, expected {width} per event"
        )
    return np.asarray(ak.flatten(values, axis=1)).reshape(len(values), width)


def _densify(index: Any, energy: Any, n_voxels: int, names: dict[str, str], offset: int, path: Path) -> np.ndarray:
    """Dense (n, n_voxels) float32 showers from jagged voxel indices and energies (MeV)."""
    n_index, n_energy = np.asarray(ak.num(index, axis=1)), np.asarray(ak.num(energy, axis=1))
    bad = np.flatnonzero(n_index != n_energy)
    if len(bad):
        e = bad[0]
        raise InputFileError(
            f"{path}: event {offset + e} has {n_index[e]} '{names['cell_index']}' but {n_energy[e]} "
            f"'{names['cell_energy']}' entries; expected equal"
        )
    flat_index = np.asarray(ak.flatten(index, axis=1))
    if flat_index.dtype.kind not in "iu":
        raise InputFileError(
            f"{path}: '{names['cell_index']}' holds {flat_index.dtype} values, expected integer voxel indices"
        )
    flat_index = flat_index.astype(np.int64)
    flat_energy = np.asarray(ak.flatten(energy, axis=1)).astype(np.float64)
    rows = np.repeat(np.arange(len(n_index)), n_index)
    outside = (flat_index < 0) | (flat_index >= n_voxels)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise InputFileError(
            f"{path}: '{names['cell_index']}' holds {int(outside.sum())} indices outside 0..{n_voxels - 1}, first "
            f"{flat_index[first]} at event {offset + rows[first]}; expected voxel indices of the geometry"
        )
    dense = np.bincount(rows * n_voxels + flat_index, weights=flat_energy, minlength=len(n_index) * n_voxels)
    return dense.reshape(len(n_index), n_voxels).astype(np.float32)


class RootSource:
    """Chunked reader of a shower TTree (fixed-size or sparse jagged form)."""

    energy_key: str

    def __init__(
        self, path: Path, geometry: CaloGeometry, tree: str | None = None, branches: Mapping[str, str] | None = None
    ) -> None:
        self.path = path
        self.geometry = geometry
        self.names = resolve_branches(branches)
        self._file = open_root(path)
        try:
            self.attrs = read_metadata(self._file, path)
            self._tree = _tree(self._file, tree or DEFAULT_TREE, path)
            self._check_branches()
        except BaseException:
            self._file.close()
            raise

    def _require(self, role: str) -> str:
        name = self.names[role]
        if name not in self._branch_names:
            found = ", ".join(self._branch_names) or "none"
            raise InputFileError(f"{self.path}: tree '{self._tree.name}' has no branch '{name}' (found: {found})")
        return name

    def _check_branches(self) -> None:
        path, names = self.path, self.names
        self._branch_names = list(self._tree.keys())
        self.energy_key = self._require("incident_energy")
        shape = _inner_shape(self._tree, self.energy_key)
        if shape not in ((), (1,)):
            found = "a variable number of values" if shape is None else f"shape {shape}"
            raise InputFileError(f"{path}: '{self.energy_key}' has {found} per event, expected one number")
        self.n_events = int(self._tree.num_entries)
        checks.check_not_empty(str(path), self.energy_key, self.n_events)
        self.sparse = names["showers"] not in self._branch_names and names["cell_index"] in self._branch_names
        if self.sparse:
            self._require("cell_energy")
        else:
            if names["showers"] not in self._branch_names:
                found = ", ".join(self._branch_names) or "none"
                raise InputFileError(
                    f"{path}: tree '{self._tree.name}' has neither '{names['showers']}' nor "
                    f"'{names['cell_index']}'+'{names['cell_energy']}' branches (found: {found})"
                )
            shape = _inner_shape(self._tree, names["showers"])
            if shape is not None:
                checks.check_voxel_count(str(path), names["showers"], int(np.prod(shape)), self.geometry)
        self.has_overflow = names["overflow"] in self._branch_names
        numeric = [self.energy_key, names["cell_energy"] if self.sparse else names["showers"]]
        for branch in numeric + ([names["overflow"]] if self.has_overflow else []):
            _check_numeric(self._tree, branch, path)

    def _arrays(self, start: int, stop: int) -> Any:
        names = self.names
        wanted = [self.energy_key]
        wanted += [names["cell_index"], names["cell_energy"]] if self.sparse else [names["showers"]]
        wanted += [names["overflow"]] if self.has_overflow else []
        try:
            return self._tree.arrays(wanted, entry_start=start, entry_stop=stop, library="ak", how=dict)
        except Exception as exc:  # decompression/deserialisation errors of a damaged file
            raise InputFileError(
                f"{self.path}: cannot read branches {', '.join(wanted)} for events {start}-{stop}, file is corrupt "
                f"or truncated ({checks.one_line(exc)})"
            ) from None

    def read(self, start: int, stop: int) -> Arrays:
        """Events ``start:stop``, checked: incident (n,) MeV, showers (n, n_voxels) MeV, overflow or None."""
        names, path, n_voxels = self.names, self.path, self.geometry.n_voxels
        arrays = self._arrays(start, stop)
        incident = np.asarray(ak.flatten(arrays[self.energy_key], axis=None), dtype=np.float64)
        if self.sparse:
            key = names["cell_energy"]
            showers = _densify(arrays[names["cell_index"]], arrays[key], n_voxels, names, start, path)
        else:
            key = names["showers"]
            showers = _regular(arrays[key], n_voxels, key, start, path)
        parts = {key: showers}
        overflow = None
        if self.has_overflow:
            overflow = _regular(arrays[names["overflow"]], self.geometry.n_layers, names["overflow"], start, path)
            parts[names["overflow"]] = overflow
        checks.check_chunk(str(path), start, self.energy_key, incident, "MeV", parts)
        return incident, showers.astype(np.float32), None if overflow is None else overflow.astype(np.float32)

    def close(self) -> None:
        self._file.close()


def _compression(name: str | None) -> Any:
    if name is None:
        return None
    if name in ("gzip", "zlib"):
        return uproot.ZLIB(4)
    raise ConfigError(f"ROOT compression {name!r} is not supported; expected 'gzip' or None")


class RootSink:
    """Writes showers to a TTree with fixed-size branches, buffering ``chunk_rows`` events per basket."""

    def __init__(
        self,
        path: Path,
        geometry: CaloGeometry,
        attrs: dict[str, Any],
        compression: str | None,
        chunk_rows: int,
        tree: str = DEFAULT_TREE,
    ) -> None:
        self.geometry = geometry
        self._tree_name = tree
        self._attrs = attrs
        self._chunk_rows = chunk_rows
        self._buffer: list[Arrays] = []
        self._buffered = 0
        self._tree: Any = None
        self.has_overflow: bool | None = None
        self._file = uproot.recreate(path, compression=_compression(compression))

    def _create(self, with_overflow: bool) -> None:
        branches: dict[str, Any] = {
            "incident_energy": np.float64,
            "showers": (np.float32, (self.geometry.n_voxels,)),
        }
        if with_overflow:
            branches["overflow"] = (np.float32, (self.geometry.n_layers,))
        self._tree = self._file.mktree(self._tree_name, branches, title="hepgan showers (MeV)")
        self.has_overflow = with_overflow

    def _flush(self) -> None:
        if not self._buffer:
            return
        data = {
            "incident_energy": np.concatenate([b[0] for b in self._buffer]).astype(np.float64),
            "showers": np.concatenate([b[1] for b in self._buffer]).astype(np.float32),
        }
        if self.has_overflow:
            data["overflow"] = np.concatenate([b[2] for b in self._buffer]).astype(np.float32)
        self._tree.extend(data)
        self._buffer, self._buffered = [], 0

    def write(self, incident_mev: np.ndarray, showers_mev: np.ndarray, overflow_mev: np.ndarray | None) -> None:
        """Append n events: incident (n,) MeV, showers (n, n_voxels) MeV, overflow (n, n_layers) MeV or None."""
        if self._tree is None:
            self._create(overflow_mev is not None)
        self._buffer.append((incident_mev, showers_mev, overflow_mev))
        self._buffered += len(incident_mev)
        if self._buffered >= self._chunk_rows:
            self._flush()

    def finish(self) -> None:
        """Write buffered events and the metadata, then close the file."""
        if self._tree is None:
            self._create(False)
        self._flush()
        self._file[METADATA_KEY] = json.dumps({**self._attrs, "tree": self._tree_name}, default=str)
        self._file.close()

    def discard(self) -> None:
        """Close the file, ignoring errors (the caller deletes it)."""
        try:
            self._file.close()
        except Exception:  # closing a half-written file may fail; it is deleted next
            pass
