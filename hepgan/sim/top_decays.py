"""Truth partons of pp → tt̄ → (b q q̄′)(b̄ q q̄′) from Pythia 8 event records, in a fixed slot order.

Each event gives six objects (pT, η, φ, m in GeV/rad), not ordered by pT but by their
place in the decay chain (:data:`TRUTH_SLOTS`):

0. the b quark from the top quark t;
1. 2. the two daughters of the W⁺ from t, the one with the higher pT first;
3. the b̄ quark from the anti-top t̄;
4. 5. the two daughters of the W⁻ from t̄, the one with the higher pT first.

The momenta are those the decay products have when they are made: the top's last copy in
the record (after recoils and radiation) decays to W and b; the W is followed to its last
copy and its two daughters are taken. With showers on these differ from the partons after
radiation; at ``level="hard"`` (no radiation) they are the same.

The event record is Pythia's as returned by ``Pythia.nextBatch``: per event a list of
particles with ``id``, ``status``, ``daughter1``, ``daughter2`` (positions in the event) and
``p`` (``px``, ``py``, ``pz``, ``e`` in GeV).
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from hepgan.errors import ConfigError, HepganError
from hepgan.io.events import EventBatch, wrap_phi

TOP_ID = 6
W_ID = 24
B_ID = 5
N_TRUTH = 6
TRUTH_SLOTS = ("b", "w_plus_daughter_1", "w_plus_daughter_2", "bbar", "w_minus_daughter_1", "w_minus_daughter_2")
"""Names of the six truth slots, in stored order (W daughters: higher pT first)."""
MAX_COPIES = 200
"""Longest chain of copies of one particle followed through a record."""


def check_top_decay_config(
    process: str, n_objects: int, pt_min_gev: float, abs_eta_max: float | None, where: str
) -> None:
    """Raise ConfigError naming ``where.field`` unless process is ttbar_hadronic, n_objects 6 and no cuts are set."""
    if process != "ttbar_hadronic":
        raise ConfigError(f"{where}.objects: 'top_decays' needs process 'ttbar_hadronic', got {process!r}")
    if n_objects != N_TRUTH:
        raise ConfigError(f"{where}.n_objects: objects 'top_decays' stores exactly {N_TRUTH}, got {n_objects}")
    if pt_min_gev != 0 or abs_eta_max is not None:
        name = "pt_min_gev" if pt_min_gev != 0 else "abs_eta_max"
        raise ConfigError(f"{where}.{name}: truth partons (objects 'top_decays') take no cuts; remove it")


class _FlatRecord:
    """The particle records of a batch of events as flat numpy arrays with per-event offsets.

    Index arguments and results hold one flat index per event, event ``i`` at position ``i``.
    """

    def __init__(self, particles: Any) -> None:
        self.counts = np.asarray(ak.to_numpy(ak.num(particles["id"], axis=1)), dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        flat = {name: ak.to_numpy(ak.flatten(particles[name])) for name in ("id", "daughter1", "daughter2")}
        self.ids = np.asarray(flat["id"], dtype=np.int64)
        self.daughter1 = np.asarray(flat["daughter1"], dtype=np.int64)
        self.daughter2 = np.asarray(flat["daughter2"], dtype=np.int64)
        p = particles["p"]
        self.momentum = {
            name: np.asarray(ak.to_numpy(ak.flatten(p[name])), dtype=np.float64) for name in ("px", "py", "pz", "e")
        }

    def first(self, pdg_id: int) -> np.ndarray:
        """Flat index of the first particle with ``pdg_id`` in each event; raises when an event has none."""
        found = np.flatnonzero(self.ids == pdg_id)
        event = np.searchsorted(self.offsets + self.counts, found, side="right")
        events, first = np.unique(event, return_index=True)  # found is sorted: first hit of each event
        if len(events) < len(self.counts):
            raise HepganError(
                f"{len(self.counts) - len(events)} of {len(self.counts)} events hold no particle with pdgId "
                f"{pdg_id}; top_decays needs pp → tt̄ events (process ttbar_hadronic)"
            )
        return found[first]

    def daughter(self, index: np.ndarray, which: int) -> np.ndarray:
        """Flat index of daughter1 (``which`` 1) or daughter2 (2) of each event's ``index``; -1 where there is none."""
        local = (self.daughter1 if which == 1 else self.daughter2)[index]
        valid = (local > 0) & (local < self.counts)
        return np.where(valid, self.offsets + local, -1)

    def last_copy(self, index: np.ndarray) -> np.ndarray:
        """Follow each particle through daughters of the same pdgId (recoil copies, emissions) to its last copy."""
        for _ in range(MAX_COPIES):
            nxt = index
            for which in (2, 1):  # daughter1 wins when both have the same pdgId
                d = self.daughter(index, which)
                same = (d >= 0) & (self.ids[np.maximum(d, 0)] == self.ids[index])
                nxt = np.where(same, d, nxt)
            if np.array_equal(nxt, index):
                return index
            index = nxt
        raise HepganError(f"a particle in the Pythia record has more than {MAX_COPIES} copies; the record looks broken")


def _decay_pair(record: _FlatRecord, mother: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the two daughters of each ``mother``; raises when a mother has not exactly two."""
    first, second = record.daughter(mother, 1), record.daughter(mother, 2)
    bad = (first < 0) | (second != first + 1)
    if bad.any():
        raise HepganError(
            f"{int(bad.sum())} of {len(bad)} {what} decays in the Pythia record do not have exactly two daughters"
        )
    return first, second


def _top_side(record: _FlatRecord, sign: int) -> list[np.ndarray]:
    """Flat indices [b, W daughter (higher pT), W daughter (lower pT)] of the t (sign +1) or t̄ (−1)."""
    top = record.last_copy(record.first(sign * TOP_ID))
    first, second = _decay_pair(record, top, "top")
    w = np.where(record.ids[first] == sign * W_ID, first, second)
    b = np.where(w == first, second, first)
    wrong = (record.ids[w] != sign * W_ID) | (record.ids[b] != sign * B_ID)
    if wrong.any():
        name = "t → W⁺ b" if sign > 0 else "t̄ → W⁻ b̄"
        raise HepganError(
            f"{int(wrong.sum())} of {len(wrong)} events have no {name} decay in the Pythia record; "
            "top_decays needs process ttbar_hadronic (its settings force t → W b)"
        )
    q1, q2 = _decay_pair(record, record.last_copy(w), "W")
    px, py = record.momentum["px"], record.momentum["py"]
    swap = np.hypot(px[q2], py[q2]) > np.hypot(px[q1], py[q1])
    return [b, np.where(swap, q2, q1), np.where(swap, q1, q2)]


def select_top_decays(particles: Any) -> EventBatch:
    """The six tt̄ decay partons of each event in the truth order of :data:`TRUTH_SLOTS` (GeV, rad).

    Args:
        particles: awkward (N, var) array of Pythia particle records (``Pythia.nextBatch(...)["prt"]``).

    Raises:
        HepganError: an event without the t → W b, W → two daughters chain (e.g. another process).
    """
    n_events = len(particles)
    if n_events == 0:
        return EventBatch.empty(N_TRUTH)
    record = _FlatRecord(particles)
    index = np.stack([*_top_side(record, +1), *_top_side(record, -1)], axis=1)
    px, py, pz, e = (record.momentum[name][index] for name in ("px", "py", "pz", "e"))
    pt = np.hypot(px, py)
    p2 = pt**2 + pz**2
    return EventBatch(
        pt=pt,
        eta=np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0)),
        phi=wrap_phi(np.arctan2(py, px)),
        mass=np.sqrt(np.maximum(e**2 - p2, 0.0)),
        mask=np.ones((n_events, N_TRUTH), dtype=bool),
    )


__all__ = ["N_TRUTH", "TRUTH_SLOTS", "check_top_decay_config", "select_top_decays"]
