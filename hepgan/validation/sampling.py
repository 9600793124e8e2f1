"""Voxel-level subsamples of showers for the low-level classifier, with bounded memory.

In memory, :func:`subsample_low_level` draws a seeded uniform subsample without replacement;
when streaming files, :class:`ShowerReservoir` keeps a uniform reservoir sample of a stream of
chunks. Either way at most ``capacity`` showers (:func:`low_level_capacity`: at most 25e6
voxel values, 100 MB as float32) are kept per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_SHOWERS_LOW_LEVEL = 50_000
DEFAULT_MAX_SHOWERS_HIGH_LEVEL = 50_000
"""Showers per sample in the high-level feature matrices of FPD, KPD and the high-level classifiers."""
MAX_LOW_LEVEL_VALUES = 25_000_000  # voxel values kept per sample (100 MB as float32)


@dataclass
class LowLevelSample:
    """A uniform random subsample of showers kept for voxel-level metrics.

    Attributes:
        showers_mev: (n, n_voxels) float32 voxel energies in MeV.
        incident_mev: (n,) incident energies in MeV.
        n_total: showers in the full sample the subsample was drawn from.
    """

    showers_mev: np.ndarray
    incident_mev: np.ndarray
    n_total: int

    def to_json(self) -> dict[str, int]:
        return {"n_used": len(self.incident_mev), "n_total": self.n_total}


def low_level_capacity(max_showers: int, n_voxels: int) -> int:
    """Showers kept for low-level metrics: ``max_showers``, capped at 25e6 voxel values."""
    return int(max(0, min(max_showers, MAX_LOW_LEVEL_VALUES // max(n_voxels, 1))))


def row_subsample(n: int, cap: int, seed: int) -> np.ndarray | None:
    """Sorted seeded uniform choice (without replacement) of ``cap`` of ``n`` rows; None when ``n <= cap``.

    The low-level classifiers' subsample and the high-level metrics' row cap both draw it.
    """
    if n <= cap:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def subsample_low_level(showers_mev: np.ndarray, incident_mev: np.ndarray, capacity: int, seed: int) -> LowLevelSample:
    """Seeded uniform subsample (without replacement) of at most ``capacity`` in-memory showers."""
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
    n = len(incident)
    rows = row_subsample(n, capacity, seed)
    index = np.arange(n) if rows is None else rows
    return LowLevelSample(np.asarray(showers_mev[index], dtype=np.float32), incident[index], n)


class ShowerReservoir:
    """Uniform random sample of at most ``capacity`` showers from a stream (reservoir sampling).

    Vitter's Algorithm R (ACM TOMS 11 (1985) 37), vectorised per chunk: the i-th shower
    (0-based) beyond the first ``capacity`` replaces slot j ~ U{0..i} when j < capacity.
    Memory is ``capacity`` showers whatever the stream length.
    """

    def __init__(self, capacity: int, n_voxels: int, seed: int = 0) -> None:
        self.capacity = int(capacity)
        self.n_voxels = int(n_voxels)
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self._showers: list[np.ndarray] | np.ndarray = []
        self._incident: list[np.ndarray] | np.ndarray = []

    def _filled(self) -> int:
        return sum(len(part) for part in self._incident) if isinstance(self._incident, list) else self.capacity

    def add(self, showers_mev: np.ndarray, incident_mev: np.ndarray) -> None:
        """Offer a chunk of showers (n, n_voxels) with incident energies (n,)."""
        showers = np.asarray(showers_mev, dtype=np.float32)
        incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        take = min(self.capacity - self._filled(), len(incident))
        if take > 0:
            # below capacity both are still lists of chunks (they become arrays together, once full)
            assert isinstance(self._showers, list) and isinstance(self._incident, list), "reservoir not yet full"
            self._showers.append(showers[:take].copy())
            self._incident.append(incident[:take].copy())
            if self._filled() == self.capacity:
                self._showers, self._incident = np.concatenate(self._showers), np.concatenate(self._incident)
        self.seen += take
        rest = len(incident) - take
        if rest <= 0 or self.capacity == 0:
            self.seen += max(rest, 0)
            return
        positions = np.arange(self.seen, self.seen + rest)
        slots = self.rng.integers(0, positions + 1)
        chosen = np.flatnonzero(slots < self.capacity)
        # later showers overwrite earlier ones in the same slot, as in the sequential algorithm
        unique_slots, last = np.unique(slots[chosen][::-1], return_index=True)
        rows = take + chosen[::-1][last]
        self._showers[unique_slots] = showers[rows]
        self._incident[unique_slots] = incident[rows]
        self.seen += rest

    def sample(self) -> LowLevelSample:
        """The current reservoir as a :class:`LowLevelSample`."""
        if isinstance(self._incident, list):
            showers = np.concatenate(self._showers) if self._showers else np.zeros((0, self.n_voxels), np.float32)
            incident = np.concatenate(self._incident) if self._incident else np.zeros(0)
            return LowLevelSample(showers, incident, self.seen)
        assert isinstance(self._showers, np.ndarray), "showers and incident energies become arrays together"
        return LowLevelSample(self._showers, self._incident, self.seen)
