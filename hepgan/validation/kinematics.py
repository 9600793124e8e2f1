"""Event kinematic observables as pure functions on arrays, computed with the ``vector`` library.

Inputs are per-object arrays of transverse momentum pT (GeV), pseudorapidity η, azimuth
φ (rad) and mass m (GeV), shaped (N,) for one object per event or (N, n_objects) for an
event table with a boolean ``mask`` (as :class:`hepgan.io.events.EventBatch` holds them).

Observables (names as in :data:`EVENT_OBSERVABLES`; objects counted from 1 in slot order, which is pT
order except for the truth slots of parton-level tt̄ tables):

- ``pt_{i}``, ``eta_{i}``, ``phi_{i}``: the i-th object's pT [GeV], η, φ [rad];
- ``m_12``: invariant mass of the leading pair, sqrt((p1 + p2)²) [GeV];
- ``delta_r_12``: ΔR = sqrt(Δη² + Δφ²) between the two leading objects, Δφ wrapped into [−π, π];
- ``pt_12``: transverse momentum of the pair's four-momentum sum [GeV];
- ``y_12``: rapidity of the pair's four-momentum sum;
- ``delta_r_{i}{j}``: ΔR between objects i < j among the first six (``delta_r_12`` above included).

The registry also describes the observables the event report adds from elsewhere: the
number of present objects ``n_objects_present`` (integer valued), the W/top candidate masses
``m_w1``, ``m_w2``, ``m_t1``, ``m_t2`` and top transverse momenta ``pt_t1``, ``pt_t2``
(GeV, :mod:`hepgan.data.resonances`), and the peak histograms ``m_w``/``m_t`` (both candidates).

:func:`decay_angles` gives the decay angles (cos θ*, φ*) of the "pair" event representation
(:mod:`hepgan.data.event_transforms`) with ``vector``'s boosts.

An observable of an object that does not exist in an event (mask False) is NaN there;
callers histogram with explicit bin edges (NaN falls outside every bin) or drop NaN first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import vector

FourMomenta: TypeAlias = Any
"""A ``vector.MomentumNumpy4D`` array of four-momenta, as :func:`four_momenta` builds it.

Typed ``Any``: vector's stubs type its arithmetic (``a + b``) as a plain ndarray, its indexing
(``p4[:, i]``) as a union of coordinate classes and :func:`vector.array` as the ``VectorNumpy`` base,
none of which carries the momentum properties (``pt``, ``mass2``, ``boostCM_of_p4``, ...) used here.
"""


@dataclass(frozen=True)
class EventObservableInfo:
    """How to present one event observable.

    Attributes:
        label: axis label (mathtext); ``{id}`` is replaced by the object number for
            per-object observables.
        unit: physical unit (``""`` for dimensionless).
        log: binning hint: ``True`` for log-spaced bins (positive, wide-range quantities).
        range: binning hint: fixed (low, high) edges, or None to follow the data.
        per_object: whether the observable exists once per object (name ``base_{id}``).
        per_pair: whether it exists once per pair of objects i < j (name ``base_{i}{j}``, i, j ≤ 9).
    """

    label: str
    unit: str
    log: bool = False
    range: tuple[float, float] | None = None
    per_object: bool = False
    per_pair: bool = False


EVENT_OBSERVABLES: dict[str, EventObservableInfo] = {
    "pt": EventObservableInfo("$p_T$ of object {id} [GeV]", "GeV", log=True, per_object=True),
    "eta": EventObservableInfo(r"$\eta$ of object {id}", "", per_object=True),
    "phi": EventObservableInfo(r"$\phi$ of object {id} [rad]", "rad", range=(-np.pi, np.pi), per_object=True),
    "m_12": EventObservableInfo("Invariant mass $m_{12}$ [GeV]", "GeV"),
    "delta_r_12": EventObservableInfo(r"$\Delta R_{12}$", ""),
    "pt_12": EventObservableInfo("$p_T$ of the pair [GeV]", "GeV", log=True),
    "y_12": EventObservableInfo("Rapidity of the pair $y_{12}$", ""),
    "delta_r": EventObservableInfo(r"$\Delta R_{{{id}}}$", "", per_pair=True),
    "n_objects_present": EventObservableInfo("Number of objects per event", ""),
    "m_w1": EventObservableInfo("Mass of W candidate 1 $m_{W1}$ [GeV]", "GeV"),
    "m_w2": EventObservableInfo("Mass of W candidate 2 $m_{W2}$ [GeV]", "GeV"),
    "m_t1": EventObservableInfo("Mass of top candidate 1 $m_{t1}$ [GeV]", "GeV"),
    "m_t2": EventObservableInfo("Mass of top candidate 2 $m_{t2}$ [GeV]", "GeV"),
    "pt_t1": EventObservableInfo("$p_T$ of top candidate 1 [GeV]", "GeV", log=True),
    "pt_t2": EventObservableInfo("$p_T$ of top candidate 2 [GeV]", "GeV", log=True),
    "m_w": EventObservableInfo("Mass of the W candidates $m_{W}$ [GeV]", "GeV"),
    "m_t": EventObservableInfo("Mass of the top candidates $m_{t}$ [GeV]", "GeV"),
}
"""Registry of event observable base names → presentation; look names up with :func:`describe_event`."""

PAIR_OBSERVABLES = ("m_12", "delta_r_12", "pt_12", "y_12")
MULTIPLICITY = "n_objects_present"
MAX_DELTA_R_OBJECTS = 6
"""ΔR is computed between every pair of the first this many objects."""
_OBJECT_NAME = re.compile(r"^(?P<base>[a-z_]+?)_(?P<id>\d+)$")


def describe_event(name: str) -> EventObservableInfo:
    """Presentation info for a full observable name such as ``"pt_2"`` or ``"m_12"`` (object id filled in).

    Raises:
        KeyError: if ``name`` is not a known event observable.
    """
    info = EVENT_OBSERVABLES.get(name)
    if info is not None and not info.per_object:
        return info
    match = _OBJECT_NAME.match(name)
    if match is not None:
        base, number = EVENT_OBSERVABLES.get(match["base"]), match["id"]
        if base is not None and base.per_object:
            return EventObservableInfo(base.label.format(id=number), base.unit, base.log, base.range, True)
        if base is not None and base.per_pair and len(number) == 2 and "0" < number[0] < number[1]:
            return EventObservableInfo(base.label.format(id=number), base.unit, base.log, base.range, per_pair=True)
    raise KeyError(f"unknown event observable {name!r}")


def delta_r_pairs(n_objects: int) -> list[tuple[int, int]]:
    """The (i, j) object pairs, 0-based with i < j, of the first ``min(n_objects, 6)`` objects, in order."""
    n = min(n_objects, MAX_DELTA_R_OBJECTS)
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def delta_r_name(i: int, j: int) -> str:
    """The name ``delta_r_{i+1}{j+1}`` of the ΔR between 0-based objects ``i`` and ``j``."""
    return f"delta_r_{i + 1}{j + 1}"


def event_observable_names(n_objects: int) -> list[str]:
    """All names :func:`event_observables` returns for ``n_objects`` objects per event, in order."""
    names = [f"{base}_{i}" for i in range(1, n_objects + 1) for base in ("pt", "eta", "phi")]
    names += list(PAIR_OBSERVABLES) if n_objects >= 2 else []
    return names + [delta_r_name(i, j) for i, j in delta_r_pairs(n_objects)[1:]]


def four_momenta(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> FourMomenta:
    """``vector`` four-momenta from pT (GeV), η, φ (rad) and mass (GeV) arrays of one shape."""
    arrays = [np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, mass)]
    return vector.array(dict(zip(("pt", "eta", "phi", "mass"), arrays, strict=True)))


def pair_mass(a: FourMomenta, b: FourMomenta) -> np.ndarray:
    """Invariant mass sqrt((a + b)²) in GeV (0 for rounding-level negative m²)."""
    return np.sqrt(np.maximum(np.asarray((a + b).mass2, dtype=np.float64), 0.0))


def delta_r(a: FourMomenta, b: FourMomenta) -> np.ndarray:
    """ΔR = sqrt(Δη² + Δφ²) with Δφ wrapped into [−π, π]."""
    return np.asarray(a.deltaR(b), dtype=np.float64)


def pair_pt(a: FourMomenta, b: FourMomenta) -> np.ndarray:
    """Transverse momentum of a + b in GeV."""
    return np.asarray((a + b).pt, dtype=np.float64)


def pair_rapidity(a: FourMomenta, b: FourMomenta) -> np.ndarray:
    """Rapidity y = ½ ln((E + p_z)/(E − p_z)) of a + b."""
    return np.asarray((a + b).rapidity, dtype=np.float64)


def decay_angles(a: FourMomenta, b: FourMomenta) -> tuple[np.ndarray, np.ndarray]:
    """cos θ* and φ* (rad, in (−π, π]) of ``a`` in the rest frame of a + b.

    The rest frame is reached by the pure boost of the lab by −P/E (P = a + b); θ* is the
    polar angle to the beam (z) axis and φ* the azimuth measured from the pair's transverse
    direction (φ of a minus φ of P), as in the "pair" representation.
    """
    pair = a + b
    rest = a.boostCM_of_p4(pair)
    cos_theta = np.asarray(rest.z, dtype=np.float64) / np.asarray(rest.mag, dtype=np.float64)
    phi_star = np.angle(np.exp(1j * (np.asarray(rest.phi, dtype=np.float64) - np.asarray(pair.phi, dtype=np.float64))))
    return cos_theta, np.where(phi_star <= -np.pi, np.pi, phi_star)


def _masked(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, values, np.nan)


def event_observables(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray, mask: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every observable of :func:`event_observable_names` for (N, n_objects) object arrays.

    Args:
        pt, eta, phi, mass: (N, n_objects) arrays in GeV / rad, objects in their slots (decreasing pT,
            or the truth slots of ``ttbar_partons`` tables).
        mask: (N, n_objects) bool, True where the object exists; None means all exist.

    Returns:
        name → (N,) float64 array, NaN where a needed object is absent.
    """
    pt, eta, phi, mass = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (pt, eta, phi, mass))
    mask = np.ones(pt.shape, dtype=bool) if mask is None else np.atleast_2d(np.asarray(mask, dtype=bool))
    with np.errstate(divide="ignore", invalid="ignore"):  # absent (all-zero) objects; masked to NaN below
        return _observables(four_momenta(pt, eta, phi, mass), mask)


def _observables(p4: FourMomenta, mask: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for i in range(mask.shape[1]):
        present = mask[:, i]
        out[f"pt_{i + 1}"] = _masked(np.asarray(p4[:, i].pt), present)
        out[f"eta_{i + 1}"] = _masked(np.asarray(p4[:, i].eta), present)
        out[f"phi_{i + 1}"] = _masked(np.asarray(p4[:, i].phi), present)
    if mask.shape[1] >= 2:
        a, b = p4[:, 0], p4[:, 1]
        both = mask[:, 0] & mask[:, 1]
        out["m_12"] = _masked(pair_mass(a, b), both)
        out["delta_r_12"] = _masked(delta_r(a, b), both)
        out["pt_12"] = _masked(pair_pt(a, b), both)
        out["y_12"] = _masked(pair_rapidity(a, b), both)
    for i, j in delta_r_pairs(mask.shape[1])[1:]:
        out[delta_r_name(i, j)] = _masked(delta_r(p4[:, i], p4[:, j]), mask[:, i] & mask[:, j])
    return out


def object_multiplicity(mask: np.ndarray) -> np.ndarray:
    """The number of present objects per event, (N,) float64 with integer values."""
    return np.asarray(mask, dtype=bool).sum(axis=1).astype(np.float64)
