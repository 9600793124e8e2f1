"""Streaming statistics of event quantities for fitting the event preprocessing (means, widths, quantile knots).

Fitted in one pass over the training events, chunk by chunk: sums for means and widths,
and a capped sample (the first ``QUANTILE_SAMPLE`` values per quantity) for the quantile
knots of the "quantile" mode.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from hepgan.io.events import EventBatch

QUANTILE_SAMPLE = 1_000_000  # values per slot used to place the quantile knots
FIXED_MASS_RTOL = 1e-6
"""Masses of one slot equal to this relative tolerance count as one fixed mass."""
KNOT_PAD = 1e-6
"""Outer knots of the pair quantities and of symmetrised maps moved out by this fraction of the
range, so the fitted extremes map to levels above the quantile clamp: they round trip
exactly and mirror to the negated feature."""


class SampleStats:
    """Streaming mean, width and a capped sample (for quantile knots) of named (N,) quantities."""

    def __init__(self, names: Iterable[str]) -> None:
        self.count = 0
        self.sums = dict.fromkeys(names, 0.0)
        self.squares = dict.fromkeys(self.sums, 0.0)
        self.samples: dict[str, list[np.ndarray]] = {name: [] for name in self.sums}
        self.sampled = 0

    def add(self, values: dict[str, np.ndarray]) -> None:
        room = QUANTILE_SAMPLE - self.sampled
        n = 0
        for name, value in values.items():
            n = len(value)
            self.sums[name] += float(value.sum())
            self.squares[name] += float((value * value).sum())
            if room > 0:
                self.samples[name].append(value[:room])
        self.count += n
        self.sampled += max(0, min(room, n))

    def mean_std(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(1,) mean and standard deviation (width >= 1e-6)."""
        n = max(self.count, 1)
        mean = self.sums[name] / n
        var = max(self.squares[name] / n - mean**2, 0.0)
        std = np.sqrt(var) if var > 1e-12 else 1.0
        return torch.tensor([mean], dtype=torch.float64), torch.tensor([std], dtype=torch.float64)

    def knots(self, name: str, levels: np.ndarray, symmetric: bool = False, pad: float = 0.0) -> torch.Tensor:
        """(1, len(levels)) strictly increasing quantiles (see :func:`quantile_knots`)."""
        parts = self.samples[name]
        values = np.concatenate(parts) if parts else np.zeros(0)
        return torch.from_numpy(quantile_knots(values, levels, symmetric, pad)[None, :])


def quantile_knots(values: np.ndarray, levels: np.ndarray, symmetric: bool, pad: float = 0.0) -> np.ndarray:
    """Quantiles of ``values`` at ``levels``, made strictly increasing (ties of discrete values).

    ``symmetric``: the quantiles of ``values`` together with ``−values``, made exactly odd
    (q(1 − u) = −q(u)), so the map x → Φ⁻¹(F(x)) is odd as well. ``pad``: the first and
    last knot moved out by this fraction of the range.
    """
    if not values.size:
        return levels.copy()
    if symmetric:
        q = np.quantile(np.concatenate([values, -values]), levels)
        q = 0.5 * (q - q[::-1])
        span = max(float(q[-1] - q[0]), 1.0)
        q = q + (np.arange(len(q)) - (len(q) - 1) / 2.0) * 1e-12 * span
    else:
        q = np.quantile(values, levels)
        span = max(float(q[-1] - q[0]), 1.0)
        q = q + np.arange(len(q)) * 1e-12 * span
    if pad > 0:
        q[0] -= pad * span
        q[-1] += pad * span
    return q


class RunningStats:
    """Per-slot sums over present objects for means and widths, and the mass range."""

    def __init__(self, n_objects: int) -> None:
        self.n_events = 0
        self.any_absent = False
        self.count = np.zeros(n_objects)
        self.sums = {key: np.zeros(n_objects) for key in ("log_pt", "eta", "log_mass", "mass")}
        self.squares = {key: np.zeros(n_objects) for key in ("log_pt", "eta", "log_mass")}
        self.mass_min = np.full(n_objects, np.inf)
        self.mass_max = np.full(n_objects, -np.inf)
        self.samples: dict[str, list[list[np.ndarray]]] = {
            key: [[] for _ in range(n_objects)] for key in ("log_pt", "eta")
        }
        self.sampled = np.zeros(n_objects, dtype=np.int64)

    def add(self, batch: EventBatch, mass_epsilon_gev: float) -> None:
        mask = batch.mask
        mass = np.maximum(batch.mass, 0.0)
        values = {
            "log_pt": np.log(np.where(mask, batch.pt, 1.0)),
            "eta": batch.eta,
            "log_mass": np.log(mass + mass_epsilon_gev),
            "mass": mass,
        }
        self.n_events += len(batch)
        self.any_absent = self.any_absent or not bool(mask.all())
        self.count += mask.sum(axis=0)
        for key, value in values.items():
            present = np.where(mask, value, 0.0)
            self.sums[key] += present.sum(axis=0)
            if key in self.squares:
                self.squares[key] += (present * present).sum(axis=0)
        for j in range(mask.shape[1]):  # the first QUANTILE_SAMPLE present values of each slot
            room = QUANTILE_SAMPLE - int(self.sampled[j])
            if room > 0:
                for key in ("log_pt", "eta"):
                    self.samples[key][j].append(values[key][mask[:, j], j][:room])
                self.sampled[j] += min(room, int(mask[:, j].sum()))
        self.mass_min = np.minimum(self.mass_min, np.where(mask, mass, np.inf).min(axis=0, initial=np.inf))
        self.mass_max = np.maximum(self.mass_max, np.where(mask, mass, -np.inf).max(axis=0, initial=-np.inf))

    def mean_std(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-slot mean and standard deviation (0 and 1 for slots never present; width >= 1e-6)."""
        n = np.maximum(self.count, 1.0)
        mean = self.sums[key] / n
        var = np.maximum(self.squares[key] / n - mean**2, 0.0)
        std = np.where(var > 1e-12, np.sqrt(var), 1.0)
        return torch.from_numpy(np.where(self.count > 0, mean, 0.0)), torch.from_numpy(std)

    def knots(self, key: str, levels: np.ndarray, symmetric: bool = False) -> torch.Tensor:
        """(n_objects, len(levels)) strictly increasing quantiles of ``key`` per slot (0..1 for empty slots).

        ``symmetric``: quantiles of the values and their mirror image (see :func:`quantile_knots`).
        """
        pad = KNOT_PAD if symmetric else 0.0
        rows = [
            quantile_knots(np.concatenate(parts) if parts else np.zeros(0), levels, symmetric, pad)
            for parts in self.samples[key]
        ]
        return torch.from_numpy(np.array(rows))

    def slot_mass(self) -> np.ndarray:
        """Per-slot mass in GeV: the one value where all agree (exactly as read), else the mean; 0 if never present."""
        mean = self.sums["mass"] / np.maximum(self.count, 1.0)
        return np.where(self.count > 0, np.where(self._fixed_slots(), self.mass_min, mean), 0.0)

    def _fixed_slots(self) -> np.ndarray:
        spread = np.where(self.count > 0, self.mass_max - self.mass_min, 0.0)
        scale = np.where(self.count > 0, np.maximum(np.abs(self.mass_max), 1e-12), 1.0)
        return spread <= FIXED_MASS_RTOL * scale

    def masses_fixed(self) -> bool:
        """Whether every slot's present masses agree to ``FIXED_MASS_RTOL``."""
        return bool(np.all(self._fixed_slots()))
