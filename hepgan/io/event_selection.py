"""Which objects of a ROOT event tree to read and keep: :class:`EventSelection`, checked from config.

Branches are named from the selection:

- ``kind="jagged"``: one collection with variable-length branches ``{collection}_{field}``
  (NanoAOD style, e.g. ``GenPart_pt``, ``Muon_Px``);
- ``kind="flat"``: one value per event and object, ``{collection}{field}{i}`` for
  ``i = 1 .. n_objects`` (e.g. ``pt1``, ``eta2``).

The four-momentum is given as (pt, eta, phi) or (px, py, pz), each with ``mass``, ``energy``
or a fixed ``mass_gev`` (GeV). Objects are kept when they pass the pdgId, status, pT (GeV)
and |η| cuts. Every inconsistent value raises one :class:`~hepgan.errors.ConfigError` line
naming the config field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from hepgan.errors import ConfigError
from hepgan.io.event_batch import DEFAULT_TREE

KINDS = ("flat", "jagged")
"""Branch layouts: one branch per object ("flat") or variable-length branches ("jagged")."""
MOMENTUM_QUANTITIES = ("pt", "eta", "phi", "px", "py", "pz", "mass", "energy")
"""Quantities that build the four-momentum (GeV; η and φ in rad)."""
ID_QUANTITIES = ("pdg_id", "status")
"""Identification quantities a selection may cut on."""
DEFAULT_FIELDS = {"pt": "pt", "eta": "eta", "phi": "phi", "mass": "mass", "pdg_id": "pdgId", "status": "status"}
"""Field names when the config gives none (NanoAOD ``GenPart`` style)."""


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
        allowed: tuple[str, ...] = ("collection", "kind", "fields", "mass_gev", "pdg_id", "status", "pt_min_gev")
        allowed += ("abs_eta_max", "n_objects", "tree")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        status, mass = data.get("status"), data.get("mass_gev")
        values: dict[str, Any] = {
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
