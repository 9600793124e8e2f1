"""Sources of events, read chunk by chunk: selected objects of ROOT trees, and hepgan event tables.

- :class:`RootSelectionSource`: the objects an :class:`~hepgan.io.event_selection.EventSelection`
  names in a ROOT tree (flat or jagged branches); pT, η, φ and m are derived with the
  ``vector`` library (m = sqrt(max(m², 0)), so rounding never gives NaN for light particles);
- :class:`RootTableSource` and :class:`HDF5TableSource`: hepgan event tables (see
  :mod:`hepgan.io.event_batch`), optionally re-selected with pT (GeV) and |η| cuts. ROOT
  tables come in two layouts, told apart by their branches: jagged ``n{Collection}``,
  ``{Collection}_pt``/``_eta``/``_phi``/``_mass``/``_slot`` (written now), and the fixed-size
  (N, n_objects) ``pt``, ``eta``, ``phi``, ``mass``, ``mask`` of files from earlier hepgan versions.

Each source has ``path``, ``attrs``, ``selection``, ``n_events``, ``read(start, stop)``
returning an :class:`~hepgan.io.event_batch.EventBatch` (GeV) and ``close()``. Every problem
with an input raises one :class:`~hepgan.errors.InputFileError` line naming the file and the
branch/dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import uproot
import vector

from hepgan.errors import ConfigError, InputFileError
from hepgan.io import checks
from hepgan.io.event_batch import DEFAULT_COLLECTION, DEFAULT_TREE, TABLE_KEYS, EventBatch, jagged_branches
from hepgan.io.event_selection import EventSelection
from hepgan.io.four_vectors import (
    VECTOR_NAMES,
    any_equal,
    batch_from_momenta,
    kinematic_keep,
    stack_columns,
    to_jagged,
)
from hepgan.io.hdf5 import check_stored, decode_attrs, open_hdf5
from hepgan.io.root import METADATA_KEY, open_root, read_metadata


def _is_number_dtype(dtype: np.dtype) -> bool:
    return np.dtype(dtype).kind in "iuf"


def _branch_listing(names: Sequence[str], wanted: str, limit: int = 12) -> str:
    """Up to ``limit`` branch names, those sharing the wanted name's prefix first."""
    prefix = wanted.split("_")[0].lower()[:3]
    ranked = sorted(names, key=lambda n: (not n.lower().startswith(prefix), n))
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(ranked[:limit]) + more if names else "none"


def _find_tree(file: Any, name: str, path: Path) -> Any:
    try:
        trees = [key.split(";")[0] for key in file.keys(filter_classname="TTree")]
        found = file[name] if name in file else None
    except Exception as exc:  # damaged directory or tree header
        reason = checks.one_line(exc)
        raise InputFileError(f"{path}: cannot read tree '{name}', file is corrupt or truncated ({reason})") from None
    if not isinstance(found, uproot.TTree):
        listing = ", ".join(trees) or "none"
        raise InputFileError(f"{path}: no TTree named '{name}' (TTrees found: {listing}); set selection.tree")
    return found


class _RootTreeSource:
    """Common part of the ROOT sources: the open file, the tree and chunked branch reading."""

    def __init__(self, path: Path, tree: str) -> None:
        self.path = path
        self._file = open_root(path)
        try:
            self.attrs = read_metadata(self._file, path)
            self._tree = _find_tree(self._file, tree, path)
            self._branch_names = list(self._tree.keys())
            self.n_events = int(self._tree.num_entries)
        except BaseException:
            self._file.close()
            raise

    def _interpretation(self, branch: str) -> Any:
        if branch not in self._branch_names:
            found = _branch_listing(self._branch_names, branch)
            raise InputFileError(f"{self.path}: tree '{self._tree.name}' has no branch '{branch}' (found: {found})")
        try:
            return self._tree[branch].interpretation
        except Exception as exc:  # unreadable streamer
            raise InputFileError(f"{self.path}: cannot interpret branch '{branch}' ({checks.one_line(exc)})") from None

    def _require_numbers(self, branch: str, layout: str) -> np.dtype:
        """Check that ``branch`` holds numbers: one per event ("flat") or a list per event ("jagged"); their dtype."""
        interp = self._interpretation(branch)
        if isinstance(interp, uproot.AsJagged) and isinstance(interp.content, uproot.AsDtype):
            dtype, shape = np.dtype(interp.content.to_dtype).base, None
        elif isinstance(interp, uproot.AsDtype):
            dtype, shape = np.dtype(interp.to_dtype).base, tuple(interp.inner_shape)
        else:
            typename = getattr(self._tree[branch], "typename", type(interp).__name__)
            raise InputFileError(f"{self.path}: branch '{branch}' holds {typename}, expected numbers")
        if not _is_number_dtype(dtype):
            raise InputFileError(
                f"{self.path}: branch '{branch}' holds {np.dtype(dtype).name} values, expected numbers"
            )
        if layout == "flat" and shape != ():
            found = "a variable number of values" if shape is None else f"shape {shape}"
            raise InputFileError(f"{self.path}: branch '{branch}' has {found} per event, expected one number")
        if layout == "jagged" and shape is not None and len(shape) != 1:
            raise InputFileError(f"{self.path}: branch '{branch}' has shape {shape} per event, expected a list")
        return np.dtype(dtype)

    def _read(self, branches: Sequence[str], start: int, stop: int, library: str = "ak") -> dict[str, Any]:
        try:
            return self._tree.arrays(list(branches), entry_start=start, entry_stop=stop, library=library, how=dict)
        except Exception as exc:  # decompression/deserialisation errors of a damaged file
            raise InputFileError(
                f"{self.path}: cannot read branches {', '.join(branches)} for events {start}-{stop}, file is corrupt "
                f"or truncated ({checks.one_line(exc)})"
            ) from None

    def close(self) -> None:
        self._file.close()


def _check_finite(path: Path, key: str, values: Any, offset: int) -> None:
    """Reject NaN/inf in an (n, k) or (n, var) array of one quantity; events counted from ``offset``."""
    bad = np.asarray(ak.to_numpy(ak.any(~np.isfinite(ak.Array(values)), axis=1)), dtype=bool)
    if bad.any():
        event = offset + int(np.flatnonzero(bad)[0])
        raise InputFileError(f"{path}: '{key}' holds NaN or infinite values (first at event {event})")


class RootSelectionSource(_RootTreeSource):
    """Objects of one collection (jagged) or one branch set (flat) of a ROOT tree, selected."""

    def __init__(self, path: Path, selection: EventSelection) -> None:
        super().__init__(path, selection.tree)
        self.selection = selection
        try:
            self._check_branches()
        except BaseException:
            self.close()
            raise

    def _check_branches(self) -> None:
        checks.check_not_empty(str(self.path), self.selection.branches(self._quantities()[0])[0], self.n_events)
        for quantity in self._quantities():
            for branch in self.selection.branches(quantity):
                self._require_numbers(branch, self.selection.kind)

    def _quantities(self) -> list[str]:
        return self.selection.momentum_quantities + self.selection.id_quantities

    def _columns(self, start: int, stop: int) -> dict[str, Any]:
        """Quantity -> awkward (n, var) array for events ``start:stop``."""
        sel = self.selection
        wanted = {q: sel.branches(q) for q in self._quantities()}
        arrays = self._read([b for names in wanted.values() for b in names], start, stop)
        if sel.kind == "flat":
            return {q: to_jagged(stack_columns([arrays[b] for b in names])) for q, names in wanted.items()}
        columns = {q: arrays[names[0]] for q, names in wanted.items()}
        self._check_counts(columns, start)
        return columns

    def _check_counts(self, columns: dict[str, Any], start: int) -> None:
        sel = self.selection
        reference = next(iter(columns))
        counts = np.asarray(ak.num(columns[reference], axis=1))
        for quantity, values in columns.items():
            bad = np.flatnonzero(np.asarray(ak.num(values, axis=1)) != counts)
            if len(bad):
                e = bad[0]
                raise InputFileError(
                    f"{self.path}: event {start + e} has {ak.num(values, axis=1)[e]} '{sel.branch(quantity)}' but "
                    f"{counts[e]} '{sel.branch(reference)}' entries; expected equal"
                )

    def _momenta(self, columns: dict[str, Any], start: int) -> Any:
        sel = self.selection
        coords = {}
        for quantity in sel.momentum_quantities:
            values = ak.values_astype(columns[quantity], np.float64)
            _check_finite(self.path, ", ".join(sel.branches(quantity)), values, start)
            coords[VECTOR_NAMES[quantity]] = values
        if sel.mass_gev is not None:
            coords["mass"] = ak.full_like(columns[sel.momentum_quantities[0]], sel.mass_gev, dtype=np.float64)
        return vector.zip(coords)

    def _keep(self, columns: dict[str, Any], momenta: Any) -> Any:
        sel = self.selection
        keep = kinematic_keep(momenta.pt, momenta.eta, sel.pt_min_gev, sel.abs_eta_max)
        if sel.pdg_id:
            keep = keep & any_equal(columns["pdg_id"], sel.pdg_id)
        if sel.status is not None:
            keep = keep & (columns["status"] == sel.status)
        return keep

    def read(self, start: int, stop: int) -> EventBatch:
        """Selected, pT-ordered, padded objects of events ``start:stop``."""
        columns = self._columns(start, stop)
        momenta = self._momenta(columns, start)
        return batch_from_momenta(momenta, self.selection.n_objects, self._keep(columns, momenta))

    def describe(self) -> str:
        """The selection in words, for error messages."""
        sel = self.selection
        cuts = [f"pt_min_gev={sel.pt_min_gev:g}"]
        cuts += [f"pdg_id={list(sel.pdg_id)}"] if sel.pdg_id else []
        cuts += [f"status={sel.status}"] if sel.status is not None else []
        cuts += [f"abs_eta_max={sel.abs_eta_max:g}"] if sel.abs_eta_max is not None else []
        branches = ", ".join(sel.branches(q)[0] for q in self._quantities())
        return f"branches {branches} with {', '.join(cuts)}"


def _reselect(batch: EventBatch, selection: EventSelection | None) -> EventBatch:
    """``batch`` re-selected with the pT (GeV) and |η| cuts and n_objects of ``selection`` (as is when None)."""
    if selection is None:
        return batch
    mask = to_jagged(batch.mask)  # var-length, so that masking keeps the event structure
    coords = {key: to_jagged(getattr(batch, key))[mask] for key in ("pt", "eta", "phi", "mass")}
    momenta = vector.zip(coords)
    keep = kinematic_keep(momenta.pt, momenta.eta, selection.pt_min_gev, selection.abs_eta_max)
    return batch_from_momenta(momenta, selection.n_objects, keep)


def _table_batch(
    arrays: Mapping[str, np.ndarray], path: Path, start: int, selection: EventSelection | None
) -> EventBatch:
    """An :class:`EventBatch` from stored fixed-size table arrays, re-selected when ``selection`` is given."""
    for key in ("pt", "eta", "phi", "mass"):
        _check_finite(path, key, arrays[key], start)
    return _reselect(EventBatch(**{key: arrays[key] for key in TABLE_KEYS}), selection)


def _check_table_selection(path: Path, selection: EventSelection | None) -> None:
    if selection is not None and selection.id_quantities:
        raise ConfigError(
            f"{path}: an event table stores no pdgId/status; selection.pdg_id and selection.status apply to ROOT "
            "collections only"
        )


class RootTableSource(_RootTreeSource):
    """A hepgan event table written to ROOT by :class:`~hepgan.io.event_writers.EventWriter`.

    Reads the jagged layout (``n{Collection}``, ``{Collection}_pt``/``_eta``/``_phi``/``_mass``
    in GeV, ``{Collection}_slot``; the collection and n_objects from ``hepgan_metadata``) and
    the fixed-size layout of earlier hepgan versions (``pt``, ``eta``, ``phi``, ``mass``,
    ``mask`` of shape (n_objects,) per event). ``layout`` says which ("jagged" or "fixed"),
    ``mask_branch`` names the branch that says which objects exist.
    """

    layout: str
    collection: str | None
    mask_branch: str
    n_objects: int
    _wanted: list[str]
    _kinematics: list[str]
    _slot: str

    def __init__(self, path: Path, selection: EventSelection | None = None) -> None:
        _check_table_selection(path, selection)
        super().__init__(path, DEFAULT_TREE)
        self.selection = selection
        try:
            collection = self._collection()
            if collection is None:
                self._init_fixed()
            else:
                self._init_jagged(collection)
        except BaseException:
            self.close()
            raise

    def _collection(self) -> str | None:
        """The collection of a jagged table; None for the fixed-size layout."""
        collection = self.attrs.get("collection", DEFAULT_COLLECTION)
        named = isinstance(collection, str) and collection.isidentifier()
        if "pt" in self._branch_names and (not named or f"n{collection}" not in self._branch_names):
            return None
        if not named:
            raise InputFileError(
                f"{self.path}: '{METADATA_KEY}' names collection {collection!r}; expected a branch-name prefix such "
                "as 'Object'"
            )
        return str(collection)

    def _missing(self, branch: str) -> InputFileError:
        found = _branch_listing(self._branch_names, branch)
        return InputFileError(
            f"{self.path}: tree '{self._tree.name}' has no branch '{branch}' (found: {found}); expected a hepgan "
            f"event table ({', '.join(self._wanted)})"
        )

    def _init_fixed(self) -> None:
        self.layout, self.collection, self.mask_branch = "fixed", None, "mask"
        self._wanted = list(TABLE_KEYS)
        checks.check_not_empty(str(self.path), "pt", self.n_events)
        for key in TABLE_KEYS:
            if key not in self._branch_names:
                raise self._missing(key)
            self._require_table_branch(key)
        self.n_objects = int(self._tree["pt"].interpretation.inner_shape[0])

    def _init_jagged(self, collection: str) -> None:
        self.layout, self.collection = "jagged", collection
        self.mask_branch, self._kinematics, self._slot = jagged_branches(collection)
        self._wanted = [self.mask_branch, *self._kinematics, self._slot]
        for branch in self._wanted:
            if branch not in self._branch_names:
                raise self._missing(branch)
        checks.check_not_empty(str(self.path), self.mask_branch, self.n_events)
        for branch in (self.mask_branch, self._slot):
            dtype = self._require_numbers(branch, "flat" if branch == self.mask_branch else "jagged")
            if dtype.kind not in "iu":
                raise InputFileError(f"{self.path}: branch '{branch}' holds {dtype.name} values, expected integers")
        for branch in self._kinematics:
            self._require_numbers(branch, "jagged")
        n_objects = self.attrs.get("n_objects")
        if isinstance(n_objects, bool) or not isinstance(n_objects, int) or n_objects < 1:
            raise InputFileError(
                f"{self.path}: '{METADATA_KEY}' has n_objects {n_objects!r}; expected the number of object slots "
                f"per event (an integer >= 1) for branch '{self._slot}'"
            )
        self.n_objects = n_objects

    def _require_table_branch(self, key: str) -> None:
        interp = self._interpretation(key)
        shape = tuple(getattr(interp, "inner_shape", ()) or ())
        ok = isinstance(interp, uproot.AsDtype) and len(shape) == 1
        if ok:
            dtype = np.dtype(interp.to_dtype).base
            ok = dtype.kind == "b" if key == "mask" else _is_number_dtype(dtype)
        if not ok:
            expected = "booleans" if key == "mask" else "numbers"
            raise InputFileError(f"{self.path}: branch '{key}' is not a fixed-size array of {expected} per event")

    def read(self, start: int, stop: int) -> EventBatch:
        """Events ``start:stop`` as an (n, n_objects) batch (GeV), checked, re-selected when a selection is set."""
        if self.layout == "fixed":
            arrays = self._read(TABLE_KEYS, start, stop, library="np")
            return _table_batch(arrays, self.path, start, self.selection)
        arrays = self._read(self._wanted, start, stop)
        rows, slots = self._slots(arrays, start)
        n = len(arrays[self.mask_branch])
        columns: dict[str, np.ndarray] = {}
        for key, branch in zip(("pt", "eta", "phi", "mass"), self._kinematics, strict=True):
            _check_finite(self.path, branch, arrays[branch], start)
            columns[key] = np.zeros((n, self.n_objects))
            columns[key][rows, slots] = np.asarray(ak.flatten(arrays[branch], axis=None), dtype=np.float64)
        mask = np.zeros((n, self.n_objects), dtype=bool)
        mask[rows, slots] = True
        return _reselect(EventBatch(**columns, mask=mask), self.selection)

    def _slots(self, arrays: Mapping[str, Any], start: int) -> tuple[np.ndarray, np.ndarray]:
        """(event row, slot) of every stored object, after checking counts and slot indices."""
        counts = np.asarray(ak.to_numpy(arrays[self.mask_branch]), dtype=np.int64).reshape(-1)
        for branch in (*self._kinematics, self._slot):
            found = np.asarray(ak.num(arrays[branch], axis=1), dtype=np.int64)
            bad = np.flatnonzero(found != counts)
            if len(bad):
                e = int(bad[0])
                raise InputFileError(
                    f"{self.path}: event {start + e} has {found[e]} '{branch}' entries but '{self.mask_branch}' says "
                    f"{counts[e]}; expected equal"
                )
        slots = np.asarray(ak.flatten(arrays[self._slot], axis=None), dtype=np.int64)
        rows = np.repeat(np.arange(len(counts)), counts)
        outside = np.flatnonzero((slots < 0) | (slots >= self.n_objects))
        if len(outside):
            i = int(outside[0])
            raise InputFileError(
                f"{self.path}: branch '{self._slot}' holds slot {slots[i]} at event {start + rows[i]}; expected "
                f"0..{self.n_objects - 1} (n_objects in '{METADATA_KEY}')"
            )
        cells = rows * self.n_objects + slots
        repeated = np.flatnonzero(np.bincount(cells, minlength=len(counts) * self.n_objects) > 1)
        if len(repeated):
            e, slot = divmod(int(repeated[0]), self.n_objects)
            raise InputFileError(
                f"{self.path}: branch '{self._slot}' holds slot {slot} more than once at event {start + e}; expected "
                "each slot at most once per event"
            )
        return rows, slots


class HDF5TableSource:
    """A hepgan event table in HDF5 (datasets ``pt``, ``eta``, ``phi``, ``mass``, ``mask``)."""

    def __init__(self, path: Path, selection: EventSelection | None = None) -> None:
        _check_table_selection(path, selection)
        self.path = path
        self.selection = selection
        self._file = open_hdf5(path)
        try:
            self.attrs = decode_attrs(self._file.attrs)
            self._check()
        except BaseException:
            self._file.close()
            raise

    def _check(self) -> None:
        path, file = self.path, self._file
        missing = [key for key in TABLE_KEYS if key not in file]
        if missing:
            found = ", ".join(sorted(file.keys())) or "nothing"
            raise InputFileError(
                f"{path}: HDF5 event table has no dataset '{missing[0]}' (found: {found}); expected "
                f"{', '.join(TABLE_KEYS)}"
            )
        shape = None
        for key in TABLE_KEYS:
            dataset = file[key]
            if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 2:
                raise InputFileError(f"{path}: '{key}' is not a 2-d dataset (N, n_objects)")
            kind_ok = dataset.dtype.kind == "b" if key == "mask" else _is_number_dtype(dataset.dtype)
            if not kind_ok:
                expected = "booleans" if key == "mask" else "numbers"
                raise InputFileError(f"{path}: dataset '{key}' holds {dataset.dtype}, expected {expected}")
            check_stored(dataset, key, path)
            if shape is not None and dataset.shape != shape:
                raise InputFileError(f"{path}: dataset '{key}' has shape {dataset.shape}, 'pt' has {shape}")
            shape = dataset.shape
        assert shape is not None, "TABLE_KEYS names at least one dataset"
        self.n_events, self.n_objects = int(shape[0]), int(shape[1])
        checks.check_not_empty(str(path), "pt", self.n_events)

    def read(self, start: int, stop: int) -> EventBatch:
        try:
            arrays = {key: self._file[key][start:stop] for key in TABLE_KEYS}
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputFileError(
                f"{self.path}: cannot read events {start}-{stop}, file is corrupt or truncated ({checks.one_line(exc)})"
            ) from None
        return _table_batch(arrays, self.path, start, self.selection)

    def close(self) -> None:
        self._file.close()
