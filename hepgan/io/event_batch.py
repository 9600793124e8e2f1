"""Events in memory: :class:`EventBatch`, and the layout of a hepgan event table on disk.

An event is up to ``n_objects`` physics objects (muons, jets, generator particles, ...)
described by transverse momentum pT (GeV), pseudorapidity η, azimuth φ (rad, in (−π, π])
and mass m (GeV), ordered by decreasing pT and padded with zeros; a boolean ``mask`` marks
the objects that exist.

A hepgan event table stores a batch on disk as follows:

- HDF5: datasets ``pt``, ``eta``, ``phi``, ``mass`` (N, n_objects) float64 and ``mask``
  (N, n_objects) bool; file attributes ``units`` = "GeV", ``layout`` = :data:`TABLE_LAYOUT`,
  ``n_objects``, ``hepgan_version`` and the writer's ``attrs``;
- ROOT: tree :data:`DEFAULT_TREE` with NanoAOD-style jagged branches, as read by plain uproot
  (``tree.arrays()``) or ``TTree::Draw("Object_pt")``: the counter ``n{Collection}`` (int32,
  objects present in the event) and ``{Collection}_pt``, ``{Collection}_eta``,
  ``{Collection}_phi``, ``{Collection}_mass`` (float64, GeV, rad) holding the present objects
  in slot order, plus ``{Collection}_slot`` (int32, each object's slot 0..n_objects−1), so that
  masks that are not a prefix (fixed truth slots) round-trip exactly. The collection is
  "Object" unless the writer is given another (``nJet``, ``Jet_pt``, ...). The metadata,
  including ``collection`` and ``n_objects``, is JSON in the ``hepgan_metadata`` TObjString
  (see :mod:`hepgan.io.root`). Files from earlier hepgan versions hold fixed-size (N, n_objects)
  branches ``pt``, ``eta``, ``phi``, ``mass``, ``mask`` instead; they are still read.

:meth:`EventBatch.to_awkward` gives the same jagged objects in memory (absent ones dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TABLE_KEYS = ("pt", "eta", "phi", "mass", "mask")
"""Datasets (HDF5) / fixed-size branches (ROOT, earlier hepgan versions) of a hepgan event table."""
TABLE_LAYOUT = "hepgan-events"
"""The ``layout`` attribute that marks a hepgan event table."""
DEFAULT_TREE = "events"
"""The tree of a ROOT event table, and the tree an event selection reads by default."""

DEFAULT_COLLECTION = "Object"
"""Collection name of the jagged ROOT branches (``nObject``, ``Object_pt``, ...) unless the writer is told another."""
OBJECT_FIELDS = ("pt", "eta", "phi", "mass")
"""Kinematic fields of the jagged ROOT branches ``{Collection}_{field}`` (GeV, rad), float64."""
SLOT_FIELD = "slot"
"""Field of the jagged ROOT branch ``{Collection}_slot``: the slot (0..n_objects-1) of each object, int32."""


def jagged_branches(collection: str) -> tuple[str, list[str], str]:
    """Branch names of a jagged ROOT event table: counter ``n{collection}``, kinematics, ``{collection}_slot``."""
    kinematics = [f"{collection}_{field}" for field in OBJECT_FIELDS]
    return f"n{collection}", kinematics, f"{collection}_{SLOT_FIELD}"


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

    def to_awkward(self) -> Any:
        """The events as an awkward array of ``Momentum4D`` records (``vector``), absent objects dropped.

        ``events[i]`` holds the objects of event ``i`` that exist (pT-ordered), each with fields
        ``pt``, ``eta``, ``phi``, ``mass`` (GeV, rad) and vector's four-vector behaviour:
        ``events.mass``, ``events[:, 0].deltaR(events[:, 1])`` or, for events with at least two
        objects, ``(events[:, 0] + events[:, 1]).mass``. The array is jagged (``var`` objects per event).
        """
        import awkward as ak
        import vector

        counts = self.mask.sum(axis=1)
        objects = ak.zip(
            {key: getattr(self, key)[self.mask] for key in ("pt", "eta", "phi", "mass")},
            with_name="Momentum4D",
            behavior=vector.backends.awkward.behavior,
        )
        return ak.unflatten(objects, counts)

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


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Angles in rad mapped into (−π, π]."""
    wrapped = np.mod(np.asarray(phi, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi
    return np.where(wrapped <= -np.pi, np.pi, wrapped)
