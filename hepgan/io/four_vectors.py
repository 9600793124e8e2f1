"""Four-vector helpers on awkward arrays: kinematic cuts, pT ordering and padding into an :class:`EventBatch`.

Momenta are ``vector`` four-vectors (GeV) in awkward arrays of shape (N, var); the
helpers here turn them into the fixed-size, pT-ordered, masked form of
:class:`~hepgan.io.event_batch.EventBatch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import awkward as ak
import numpy as np

from hepgan.io.event_batch import EventBatch, wrap_phi

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


def any_equal(values: Any, targets: Sequence[int]) -> Any:
    """Boolean (jagged) array: ``values`` equals one of ``targets`` (e.g. pdgIds)."""
    keep = values == targets[0]
    for target in targets[1:]:
        keep = keep | (values == target)
    return keep


def to_jagged(values: np.ndarray) -> Any:
    """An (n, k) numpy array as an awkward (n, var) array."""
    return ak.from_regular(ak.Array(values), axis=1)


def stack_columns(columns: Sequence[Any]) -> np.ndarray:
    """(n, k) array from k awkward/numpy arrays of one value per event."""
    return np.stack([np.asarray(ak.to_numpy(c)) for c in columns], axis=1)
