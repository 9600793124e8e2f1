"""Read and write event kinematics: ROOT trees (flat or jagged branches) and hepgan event tables.

In memory an event is up to ``n_objects`` physics objects (muons, jets, generator
particles, ...) described by transverse momentum pT (GeV), pseudorapidity η, azimuth φ
(rad, in (−π, π]) and mass m (GeV), ordered by decreasing pT and padded with zeros; a
boolean ``mask`` marks the objects that exist (:class:`EventBatch`).

Sources:

- ROOT trees with branches chosen by an :class:`EventSelection`:

  - ``kind="jagged"``: one collection with variable-length branches
    ``{collection}_{field}`` (NanoAOD style, e.g. ``GenPart_pt``, ``Muon_Px``);
  - ``kind="flat"``: one value per event and object, ``{collection}{field}{i}`` for
    ``i = 1 .. n_objects`` (e.g. ``pt1``, ``eta2``).

  The four-momentum may be given as (pt, eta, phi) or (px, py, pz), each with ``mass``,
  ``energy`` or a fixed ``mass_gev``; pT, η, φ and m are derived with the ``vector``
  library (m = sqrt(max(m², 0)), so rounding never gives NaN for light particles).
  Objects are kept when they pass the selection (pdgId, status, pT and |η| cuts).

- hepgan event tables, written by :class:`EventWriter`:

  - HDF5: datasets ``pt``, ``eta``, ``phi``, ``mass`` (N, n_objects) float64 and ``mask``
    (N, n_objects) bool; file attributes ``units`` = "GeV", ``layout`` = "hepgan-events",
    ``n_objects``, ``hepgan_version`` and the caller's ``attrs``;
  - ROOT: tree ``events`` with fixed-size branches of the same names and shapes; the
    metadata as JSON in the ``hepgan_metadata`` TObjString (see :mod:`hepgan.io.root`).

Every problem with an input raises one :class:`~hepgan.errors.InputFileError` line naming
the file and the branch/dataset. Writers write to a temporary file next to the target and
move it into place only when closed successfully.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace, TracebackType
from typing import Any

import awkward as ak
import h5py
import numpy as np
import uproot
import vector

from hepgan import __version__
from hepgan.errors import ConfigError, InputFileError, OutputError
from hepgan.io import checks
from hepgan.io.hdf5 import decode_attrs, encode_attr, open_hdf5
from hepgan.io.root import METADATA_KEY, open_root, read_metadata

logger = logging.getLogger(__name__)

KINDS = ("flat", "jagged")
TABLE_KEYS = ("pt", "eta", "phi", "mass", "mask")
"""Datasets (HDF5) / branches (ROOT) of a hepgan event table."""
TABLE_LAYOUT = "hepgan-events"
DEFAULT_TREE = "events"
RESERVED_ATTRS = ("units", "layout", "n_objects", "hepgan_version", "tree")
"""File attributes set by :class:`EventWriter` itself; ``attrs`` may not use these names."""

MOMENTUM_QUANTITIES = ("pt", "eta", "phi", "px", "py", "pz", "mass", "energy")
ID_QUANTITIES = ("pdg_id", "status")
VECTOR_NAMES = {
    "pt": "pt",
    "eta": "eta",
    "phi": "phi",
    "px": "px",
    "py": "py",
    "pz": "pz",
    "mass": "mass",
    "energy": "E",
}
"""Quantity -> coordinate name understood by ``vector.zip``."""
DEFAULT_FIELDS = {"pt": "pt", "eta": "eta", "phi": "phi", "mass": "mass", "pdg_id": "pdgId", "status": "status"}
"""Field names when the config gives none (NanoAOD ``GenPart`` style)."""

ROOT_MAGIC = b"root"
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
ROOT_SUFFIXES = (".root",)


# --------------------------------------------------------------------------- batches
@dataclass
class EventBatch:
    """N events of up to ``n_objects`` objects each, ordered by decreasing pT, padded with zeros.

    Attributes:
        pt: (N, n_objects) float64 transverse momenta in GeV (0 where ``mask`` is False).
        eta: (N, n_objects) float64 pseudorapidities.
        phi: (N, n_objects) float64 azimuths in rad, in (−π, π].
        mass: (N, n_objects) float64 masses in GeV.
        mask: (N, n_objects) bool, True where the object exists.
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.mask.ndim != 2:
            raise ValueError(f"mask must have shape (N, n_objects), got {self.mask.shape}")
        for name in ("pt", "eta", "phi", "mass"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.shape != self.mask.shape:
                raise ValueError(f"{name} must have the shape of mask {self.mask.shape}, got {values.shape}")
            setattr(self, name, values)

    def __len__(self) -> int:
        return len(self.mask)

    @property
    def n_objects(self) -> int:
        """Object slots per event."""
        return self.mask.shape[1]

    def arrays(self) -> dict[str, np.ndarray]:
        """The five arrays by table key (``pt``, ``eta``, ``phi``, ``mass``, ``mask``)."""
        return {key: getattr(self, key) for key in TABLE_KEYS}

    def subset(self, index: np.ndarray | slice) -> EventBatch:
        """The events selected by ``index`` (boolean mask, indices or slice)."""
        return EventBatch(**{key: value[index] for key, value in self.arrays().items()})

    @classmethod
    def empty(cls, n_objects: int) -> EventBatch:
        """A batch with no events."""
        zeros = np.zeros((0, n_objects))
        return cls(zeros, zeros, zeros, zeros, np.zeros((0, n_objects), dtype=bool))

    @classmethod
    def concatenate(cls, batches: Sequence[EventBatch]) -> EventBatch:
        """One batch holding ``batches`` in order (all with the same ``n_objects``)."""
        if not batches:
            raise ValueError("cannot concatenate an empty list of batches")
        return cls(**{key: np.concatenate([getattr(b, key) for b in batches]) for key in TABLE_KEYS})


# --------------------------------------------------------------------------- selection
def _where(source: str, name: str) -> str:
    return f"{source}.{name}" if source else name


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    return int(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not np.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _optional_number(value: Any, where: str) -> float | None:
    return None if value is None else _number(value, where)


def _int_list(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return (int(value),)
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list of integers, got {value!r}")
    return tuple(_int(v, where) for v in value)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _fields(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """Field names by quantity: defaults, with the momentum set replaced when ``value`` gives one."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of quantity to field name, got {value!r}")
    allowed = MOMENTUM_QUANTITIES + ID_QUANTITIES
    for key, name in value.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown quantity {key!r} (allowed: {', '.join(allowed)})")
        _string(name, f"{where}.{key}")
    given = {str(k): str(v) for k, v in value.items()}
    momentum = {k: v for k, v in given.items() if k in MOMENTUM_QUANTITIES}
    if not momentum:
        momentum = {k: DEFAULT_FIELDS[k] for k in ("pt", "eta", "phi", "mass")}
    ids = {k: given.get(k, DEFAULT_FIELDS[k]) for k in ID_QUANTITIES}
    return tuple(sorted({**momentum, **ids}.items()))


def _check_coordinates(fields: Mapping[str, str], mass_gev: float | None, where: str) -> None:
    keys = set(fields) & set(MOMENTUM_QUANTITIES)
    transverse, cartesian = {"pt", "eta", "phi"}, {"px", "py", "pz"}
    if not (transverse <= keys and not keys & cartesian) and not (cartesian <= keys and not keys & transverse):
        raise ConfigError(
            f"{where}: give either pt, eta, phi or px, py, pz (each with mass or energy), got {', '.join(sorted(keys))}"
        )
    longitudinal = keys & {"mass", "energy"}
    if len(longitudinal) > 1:
        raise ConfigError(f"{where}: give mass or energy, not both")
    if longitudinal and mass_gev is not None:
        raise ConfigError(f"{where}: mass_gev is for collections without a mass or energy field")
    if not longitudinal and mass_gev is None:
        raise ConfigError(f"{where}: no mass or energy field; add one or set mass_gev (e.g. 0.10566 for muons)")


def _check_selection(values: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError (naming ``where.field``) for inconsistent selection values."""
    v = SimpleNamespace(**values)
    if v.kind not in KINDS:
        raise ConfigError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {v.kind!r}")
    if v.kind == "jagged" and not v.collection:
        raise ConfigError(f"{where}.collection: a jagged selection needs a collection name (e.g. Muon)")
    if v.n_objects < 1:
        raise ConfigError(f"{where}.n_objects: expected an integer >= 1, got {v.n_objects}")
    if v.pt_min_gev < 0:
        raise ConfigError(f"{where}.pt_min_gev: expected a number >= 0 (GeV), got {v.pt_min_gev}")
    if v.abs_eta_max is not None and v.abs_eta_max <= 0:
        raise ConfigError(f"{where}.abs_eta_max: expected a number > 0, got {v.abs_eta_max}")
    if v.mass_gev is not None and v.mass_gev < 0:
        raise ConfigError(f"{where}.mass_gev: expected a number >= 0 (GeV), got {v.mass_gev}")
    if not v.tree:
        raise ConfigError(f"{where}.tree: expected a tree name")
    _check_coordinates(dict(v.fields), v.mass_gev, f"{where}.fields")


@dataclass(frozen=True)
class EventSelection:
    """Which objects of a ROOT event tree to read, and which of them to keep.

    Attributes:
        collection: jagged collection name (``Muon`` → branches ``Muon_{field}``) or flat
            branch prefix (``""`` → ``pt1``, ``pt2``, ...).
        kind: "jagged" (variable-length branches) or "flat" (one branch per object).
        fields: (quantity, field name) pairs; quantities among pt, eta, phi, px, py, pz,
            mass, energy, pdg_id, status. Defaults: NanoAOD names (``pt``, ``eta``, ``phi``,
            ``mass``, ``pdgId``, ``status``); the pdg_id/status fields are read only when
            ``pdg_id``/``status`` select on them.
        mass_gev: fixed mass in GeV for collections with no mass or energy field.
        pdg_id: keep objects whose pdgId is one of these (signed: list 13 and -13 for both
            muon charges); empty keeps all.
        status: keep objects with exactly this status (e.g. 1 for NanoAOD final state); None keeps all.
        pt_min_gev: keep objects with pT >= this, in GeV.
        abs_eta_max: keep objects with |η| <= this; None keeps all.
        n_objects: objects kept per event: the highest-pT ones, padded with a mask.
        tree: name of the TTree.
    """

    collection: str = ""
    kind: str = "jagged"
    fields: tuple[tuple[str, str], ...] = _fields(None, "fields")
    mass_gev: float | None = None
    pdg_id: tuple[int, ...] = ()
    status: int | None = None
    pt_min_gev: float = 0.0
    abs_eta_max: float | None = None
    n_objects: int = 2
    tree: str = DEFAULT_TREE

    def __post_init__(self) -> None:
        self.check("selection")

    def check(self, where: str) -> None:
        """Raise ConfigError (naming ``where.field``) for an inconsistent selection."""
        _check_selection(vars(self), where)

    @property
    def field_map(self) -> dict[str, str]:
        """Field name by quantity."""
        return dict(self.fields)

    @property
    def momentum_quantities(self) -> list[str]:
        """The quantities read to build the four-momentum, e.g. ["eta", "mass", "phi", "pt"]."""
        return [q for q in self.field_map if q in MOMENTUM_QUANTITIES]

    @property
    def id_quantities(self) -> list[str]:
        """The identification quantities the selection cuts on (pdg_id, status)."""
        used = {"pdg_id": bool(self.pdg_id), "status": self.status is not None}
        return [q for q in ID_QUANTITIES if used[q]]

    def branch(self, quantity: str, index: int | None = None) -> str:
        """Branch name of ``quantity`` (for flat selections, of object ``index`` counted from 1)."""
        field = self.field_map[quantity]
        if self.kind == "jagged":
            return f"{self.collection}_{field}"
        return f"{self.collection}{field}{index}"

    def branches(self, quantity: str) -> list[str]:
        """All branches holding ``quantity`` (one for jagged, ``n_objects`` for flat)."""
        if self.kind == "jagged":
            return [self.branch(quantity)]
        return [self.branch(quantity, i) for i in range(1, self.n_objects + 1)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "selection") -> EventSelection:
        """A checked selection from a config mapping; errors name ``source.field``."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
        allowed = ("collection", "kind", "fields", "mass_gev", "pdg_id", "status", "pt_min_gev", "abs_eta_max")
        allowed += ("n_objects", "tree")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        status, mass = data.get("status"), data.get("mass_gev")
        values = {
            "collection": _string(data.get("collection", ""), _where(source, "collection")),
            "kind": _string(data.get("kind", "jagged"), _where(source, "kind")),
            "fields": _fields(data.get("fields"), _where(source, "fields")),
            "mass_gev": _optional_number(mass, _where(source, "mass_gev")),
            "pdg_id": _int_list(data.get("pdg_id"), _where(source, "pdg_id")),
            "status": None if status is None else _int(status, _where(source, "status")),
            "pt_min_gev": _number(data.get("pt_min_gev", 0.0), _where(source, "pt_min_gev")),
            "abs_eta_max": _optional_number(data.get("abs_eta_max"), _where(source, "abs_eta_max")),
            "n_objects": _int(data.get("n_objects", 2), _where(source, "n_objects")),
            "tree": _string(data.get("tree", DEFAULT_TREE), _where(source, "tree")),
        }
        _check_selection(values, source)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that :meth:`from_dict` reads back."""
        return {
            "collection": self.collection,
            "kind": self.kind,
            "fields": self.field_map,
            "mass_gev": self.mass_gev,
            "pdg_id": list(self.pdg_id),
            "status": self.status,
            "pt_min_gev": self.pt_min_gev,
            "abs_eta_max": self.abs_eta_max,
            "n_objects": self.n_objects,
            "tree": self.tree,
        }


# --------------------------------------------------------------------------- object selection
def kinematic_keep(pt: Any, eta: Any, pt_min_gev: float = 0.0, abs_eta_max: float | None = None) -> Any:
    """Boolean (jagged) array: pT >= ``pt_min_gev`` (GeV) and |η| <= ``abs_eta_max``."""
    keep = pt >= pt_min_gev
    if abs_eta_max is not None:
        keep = keep & (abs(eta) <= abs_eta_max)
    return keep


def batch_from_momenta(momenta: Any, n_objects: int, keep: Any = None) -> EventBatch:
    """The ``n_objects`` highest-pT kept objects per event, padded, as an :class:`EventBatch`.

    Args:
        momenta: awkward array (N, var) of ``vector`` four-momenta (GeV), any coordinates.
        n_objects: object slots per event.
        keep: awkward boolean array (N, var) of objects to keep; None keeps all.
    """
    pt, eta, phi = momenta.pt, momenta.eta, momenta.phi
    mass = np.sqrt(np.maximum(momenta.mass2, 0.0))
    columns = {"pt": pt, "eta": eta, "phi": phi, "mass": mass}
    if keep is not None:
        columns = {key: value[keep] for key, value in columns.items()}
    order = ak.argsort(columns["pt"], axis=1, ascending=False, stable=True)
    out: dict[str, np.ndarray] = {}
    for key, value in columns.items():
        padded = ak.pad_none(value[order], n_objects, axis=1, clip=True)
        if key == "pt":
            out["mask"] = ~np.asarray(ak.to_numpy(ak.is_none(padded, axis=1)), dtype=bool)
        out[key] = np.asarray(ak.to_numpy(ak.fill_none(padded, 0.0)), dtype=np.float64).reshape(-1, n_objects)
    out["mask"] = out["mask"].reshape(-1, n_objects)
    out["phi"] = wrap_phi(out["phi"])
    return EventBatch(**out)


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Angles in rad mapped into (−π, π]."""
    wrapped = np.mod(np.asarray(phi, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    return np.where(wrapped <= -np.pi, np.pi, wrapped)


# --------------------------------------------------------------------------- sources
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

    def _require_numbers(self, branch: str, layout: str) -> None:
        """Check that ``branch`` holds numbers: one per event ("flat") or a list per event ("jagged")."""
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
            return {q: _jagged(_stack([arrays[b] for b in names])) for q, names in wanted.items()}
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


def any_equal(values: Any, targets: Sequence[int]) -> Any:
    """Boolean (jagged) array: ``values`` equals one of ``targets`` (e.g. pdgIds)."""
    keep = values == targets[0]
    for target in targets[1:]:
        keep = keep | (values == target)
    return keep


def _jagged(values: np.ndarray) -> Any:
    """An (n, k) numpy array as an awkward (n, var) array."""
    return ak.from_regular(ak.Array(values), axis=1)


def _stack(columns: Sequence[Any]) -> np.ndarray:
    """(n, k) array from k awkward/numpy arrays of one value per event."""
    return np.stack([np.asarray(ak.to_numpy(c)) for c in columns], axis=1)


def _table_batch(
    arrays: Mapping[str, np.ndarray], path: Path, start: int, selection: EventSelection | None
) -> EventBatch:
    """An :class:`EventBatch` from stored table arrays, re-selected when ``selection`` is given."""
    for key in ("pt", "eta", "phi", "mass"):
        _check_finite(path, key, arrays[key], start)
    batch = EventBatch(**{key: arrays[key] for key in TABLE_KEYS})
    if selection is None:
        return batch
    mask = _jagged(batch.mask)  # var-length, so that masking keeps the event structure
    coords = {key: _jagged(getattr(batch, key))[mask] for key in ("pt", "eta", "phi", "mass")}
    momenta = vector.zip(coords)
    keep = kinematic_keep(momenta.pt, momenta.eta, selection.pt_min_gev, selection.abs_eta_max)
    return batch_from_momenta(momenta, selection.n_objects, keep)


def _check_table_selection(path: Path, selection: EventSelection | None) -> None:
    if selection is not None and selection.id_quantities:
        raise ConfigError(
            f"{path}: an event table stores no pdgId/status; selection.pdg_id and selection.status apply to ROOT "
            "collections only"
        )


class RootTableSource(_RootTreeSource):
    """A hepgan event table written to ROOT by :class:`EventWriter`."""

    def __init__(self, path: Path, selection: EventSelection | None = None) -> None:
        _check_table_selection(path, selection)
        super().__init__(path, DEFAULT_TREE)
        self.selection = selection
        try:
            checks.check_not_empty(str(path), "pt", self.n_events)
            for key in TABLE_KEYS:
                self._require_table_branch(key)
            self.n_objects = int(self._tree["pt"].interpretation.inner_shape[0])
        except BaseException:
            self.close()
            raise

    def _require_table_branch(self, key: str) -> None:
        interp = self._interpretation(key)
        shape = tuple(getattr(interp, "inner_shape", ()) or ())
        ok = isinstance(interp, uproot.AsDtype) and len(shape) == 1
        dtype = np.dtype(interp.to_dtype).base if ok else None
        ok = ok and (dtype.kind == "b" if key == "mask" else _is_number_dtype(dtype))
        if not ok:
            expected = "booleans" if key == "mask" else "numbers"
            raise InputFileError(f"{self.path}: branch '{key}' is not a fixed-size array of {expected} per event")

    def read(self, start: int, stop: int) -> EventBatch:
        arrays = self._read(TABLE_KEYS, start, stop, library="np")
        return _table_batch(arrays, self.path, start, self.selection)


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
            if shape is not None and dataset.shape != shape:
                raise InputFileError(f"{path}: dataset '{key}' has shape {dataset.shape}, 'pt' has {shape}")
            shape = dataset.shape
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
    if head.startswith(b"\x89HDF"):
        return "hdf5"
    raise InputFileError(f"{path}: neither a ROOT nor an HDF5 file (starts with {head[:4]!r})")


def _is_table(source: RootTableSource | Any) -> bool:
    return source.attrs.get("layout") == TABLE_LAYOUT


class EventReader:
    """Streams events from a ROOT tree or a hepgan event table in chunks of ``chunk_size``.

    Usage::

        selection = EventSelection.from_dict({"collection": "Muon", "fields": {...}})
        with EventReader("events.root", selection) as reader:
            for batch in reader.iter_chunks():
                ...

    Args:
        path: ROOT file, or HDF5/ROOT event table written by :class:`EventWriter`.
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
        selection = self._source.selection
        return selection.n_objects if selection is not None else self._source.n_objects

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
        return "the event table (dataset/branch 'mask')"

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


# --------------------------------------------------------------------------- writing
def _metadata(n_objects: int, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    clash = sorted(set(attrs or {}) & set(RESERVED_ATTRS))
    if clash:
        raise ConfigError(f"attrs may not set {', '.join(clash)}: the writer records these itself")
    base = {"units": "GeV", "layout": TABLE_LAYOUT, "n_objects": n_objects, "hepgan_version": __version__}
    return {**base, **(attrs or {})}


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
    """Writes events to a TTree with fixed-size (n_objects,) branches, buffering ``rows`` events per basket."""

    def __init__(self, path: Path, n_objects: int, attrs: Mapping[str, Any], compression: str | None, rows: int):
        self._attrs = dict(attrs)
        self._rows = rows
        self._buffer: list[EventBatch] = []
        self._buffered = 0
        self._file = uproot.recreate(path, compression=uproot.ZLIB(4) if compression else None)
        branches: dict[str, Any] = {key: (np.float64, (n_objects,)) for key in TABLE_KEYS[:-1]}
        branches["mask"] = (np.bool_, (n_objects,))
        self._tree = self._file.mktree(DEFAULT_TREE, branches, title="hepgan events (GeV)")

    def _flush(self) -> None:
        if self._buffer:
            self._tree.extend(EventBatch.concatenate(self._buffer).arrays())
        self._buffer, self._buffered = [], 0

    def write(self, batch: EventBatch) -> None:
        self._buffer.append(batch)
        self._buffered += len(batch)
        if self._buffered >= self._rows:
            self._flush()

    def finish(self) -> None:
        self._flush()
        self._file[METADATA_KEY] = json.dumps({**self._attrs, "tree": DEFAULT_TREE}, default=str)
        self._file.close()

    def discard(self) -> None:
        try:
            self._file.close()
        except Exception:  # closing a half-written file may fail; it is deleted next
            pass


def _reason(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "strerror", None) or exc).split())


class EventWriter:
    """Appends :class:`EventBatch` es to a new event table (HDF5 or ROOT by extension), moved into place on close.

    The data go to ``.{name}.tmp-{pid}`` next to ``path``; :meth:`close` (or leaving the
    ``with`` block normally) renames it onto ``path``. :meth:`abort` (or an exception in the
    ``with`` block) deletes it and leaves any existing ``path`` untouched.

    Args:
        path: target file; ``.h5``/``.hdf5``/``.hdf`` → HDF5, ``.root`` → ROOT.
        n_objects: object slots per event.
        attrs: extra metadata (seed, generator, ...); names in ``RESERVED_ATTRS`` are refused.
        compression: "gzip" or None.
        chunk_rows: events per HDF5 chunk / ROOT basket.

    Raises:
        ConfigError: unknown extension, bad n_objects, compression, chunk_rows or attrs.
        OutputError: the file cannot be created or written (path named).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_objects: int,
        attrs: Mapping[str, Any] | None = None,
        compression: str | None = "gzip",
        chunk_rows: int = 4096,
    ) -> None:
        self.path = Path(path)
        self.format = _output_format(self.path)
        if int(n_objects) < 1:
            raise ConfigError(f"{self.path}: n_objects must be >= 1, got {n_objects}")
        if compression not in ("gzip", None):
            raise ConfigError(f"{self.path}: compression must be 'gzip' or None, got {compression!r}")
        if int(chunk_rows) < 1:
            raise ConfigError(f"{self.path}: chunk_rows must be >= 1, got {chunk_rows}")
        self.n_objects = int(n_objects)
        metadata = _metadata(self.n_objects, attrs)
        self.tmp_path = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.n_written = 0
        self._closed = False
        if not self.path.parent.is_dir():
            raise OutputError(f"{self.path}: cannot create output file (directory {self.path.parent} does not exist)")
        sink = _HDF5TableSink if self.format == "hdf5" else _RootTableSink
        try:
            self._sink: _HDF5TableSink | _RootTableSink = sink(
                self.tmp_path, self.n_objects, metadata, compression, int(chunk_rows)
            )
        except OSError as exc:
            self._remove_tmp()
            raise OutputError(f"{self.path}: cannot create output file ({_reason(exc)})") from None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, batch: EventBatch) -> None:
        """Append a batch (GeV).

        Raises:
            OutputError: the batch has another n_objects, or writing failed (disk full, ...).
        """
        if self._closed:
            raise OutputError(f"{self.path}: writer is already closed")
        if batch.n_objects != self.n_objects:
            raise OutputError(
                f"{self.path}: cannot write events with {batch.n_objects} objects, the file holds {self.n_objects}"
            )
        if len(batch) == 0:
            return
        try:
            self._sink.write(batch)
        except OSError as exc:
            raise OutputError(f"{self.path}: writing failed ({_reason(exc)})") from None
        self.n_written += len(batch)

    def close(self) -> None:
        """Finish the file and move it onto ``path``; on failure delete it and raise OutputError."""
        if self._closed:
            return
        try:
            self._sink.finish()
            os.replace(self.tmp_path, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot finish output file ({_reason(exc)})") from None
        except BaseException:
            self.abort()
            raise
        self._closed = True
        logger.info("wrote %d events to %s", self.n_written, self.path)

    def abort(self) -> None:
        """Drop everything written; an existing file at ``path`` is left untouched."""
        if self._closed:
            return
        self._closed = True
        self._sink.discard()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        try:
            self.tmp_path.unlink()
        except OSError:  # never created, or already gone
            pass


def write_events(path: str | os.PathLike[str], batch: EventBatch, attrs: Mapping[str, Any] | None = None) -> None:
    """Write one batch (GeV) to ``path`` atomically; see :class:`EventWriter`."""
    with EventWriter(path, batch.n_objects, attrs) as writer:
        writer.write(batch)
