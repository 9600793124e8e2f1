"""Incident-energy bins in which shower observables are compared, and statistics per bin.

:func:`make_energy_binning` chooses the bins from the reference sample: one bin per distinct
energy for discrete spectra (at most 20 energies), else quantile bins of the reference (or
given edges); :func:`response_statistics` gives the mean and width of a quantity per bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepgan.validation.histograms import finite

MAX_DISCRETE_ENERGIES = 20
DEFAULT_QUANTILE_BINS = 5
DISCRETE_RTOL = 1e-3

EnergyBinsSpec = str | int | Sequence[float]


@dataclass(frozen=True)
class EnergyBinning:
    """Incident-energy bins (MeV) in which observables are compared.

    Attributes:
        mode: ``"discrete"`` (one bin per distinct reference energy), ``"quantile"`` or
            ``"edges"`` (continuous bins; the outer bins are open-ended).
        low, high: (k,) bin limits in MeV (equal for discrete bins).
        centres: (k,) representative energy per bin in MeV (discrete value or reference median).
    """

    mode: str
    low: np.ndarray
    high: np.ndarray
    centres: np.ndarray

    @property
    def n_bins(self) -> int:
        return int(self.centres.size)

    def assign(self, incident_mev: np.ndarray) -> np.ndarray:
        """Bin index of each incident energy; -1 where a discrete energy matches no bin."""
        energy = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        if self.mode == "discrete":
            values = self.centres
            right = np.clip(np.searchsorted(values, energy), 0, values.size - 1)
            left = np.clip(right - 1, 0, values.size - 1)
            nearest = np.where(np.abs(values[left] - energy) < np.abs(values[right] - energy), left, right)
            close = np.abs(values[nearest] - energy) <= DISCRETE_RTOL * np.abs(values[nearest])
            return np.where(close, nearest, -1)
        return np.searchsorted(self.high[:-1], energy, side="right")

    def labels(self) -> list[str]:
        """Human-readable bin names, e.g. ``"65.5 GeV"`` or ``"1.0-4.1 GeV"``."""
        if self.mode == "discrete":
            return [f"{c / 1000:.4g} GeV" for c in self.centres]
        return [f"{lo / 1000:.4g}-{hi / 1000:.4g} GeV" for lo, hi in zip(self.low, self.high, strict=True)]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "unit": "MeV",
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "centres": self.centres.tolist(),
            "labels": self.labels(),
        }


def make_energy_binning(reference_incident_mev: np.ndarray, energy_bins: EnergyBinsSpec = "auto") -> EnergyBinning:
    """Choose incident-energy bins from the reference sample.

    Args:
        reference_incident_mev: (N,) reference incident energies in MeV.
        energy_bins: ``"auto"`` (discrete if at most 20 distinct energies, else 5 quantile
            bins), ``"discrete"``, an int (number of quantile bins) or a sequence of edges (MeV).
    """
    energy = finite(reference_incident_mev)
    if energy.size == 0:
        raise ValueError("no finite reference incident energy")
    distinct = np.unique(energy)
    if energy_bins == "discrete" or (energy_bins == "auto" and distinct.size <= MAX_DISCRETE_ENERGIES):
        return EnergyBinning("discrete", distinct, distinct, distinct)
    if isinstance(energy_bins, str) and energy_bins != "auto":
        raise ValueError(f"energy_bins must be 'auto', 'discrete', an int or edges, got {energy_bins!r}")
    if isinstance(energy_bins, str | int):
        n_bins = DEFAULT_QUANTILE_BINS if isinstance(energy_bins, str) else int(energy_bins)
        if n_bins < 1:
            raise ValueError(f"energy_bins must be >= 1, got {n_bins}")
        edges, mode = np.unique(np.quantile(energy, np.linspace(0.0, 1.0, n_bins + 1))), "quantile"
    else:
        edges, mode = np.asarray(energy_bins, dtype=np.float64), "edges"
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("energy bin edges must be at least two increasing energies in MeV")
    if edges.size < 2:
        edges = np.array([edges[0], edges[0]])
    low, high = edges[:-1], edges[1:]
    binning = EnergyBinning(mode, low, high, 0.5 * (low + high))
    index = binning.assign(energy)
    centres = np.array(
        [np.median(energy[index == i]) if np.any(index == i) else c for i, c in enumerate(binning.centres)]
    )
    return EnergyBinning(mode, low, high, centres)


def response_statistics(values: np.ndarray, bin_index: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    """Mean, width (sample std) and their errors of ``values`` per bin; NaN for bins with < 2 entries.

    The width's error holds for any distribution, not only a Gaussian: Var(s²) = (m₄ − s⁴ (n − 3)/(n − 1)) / n
    with m₄ the fourth central moment, and σ(s) = √Var(s²) / (2 s) (σ/√(2n) for a Gaussian; larger with tails).
    """
    out = {key: np.full(n_bins, np.nan) for key in ("mean", "mean_err", "width", "width_err")}
    out["n"] = np.zeros(n_bins)
    for i in range(n_bins):
        sample = finite(values[bin_index == i])
        out["n"][i] = sample.size
        if sample.size < 2:
            continue
        std = sample.std(ddof=1)
        out["mean"][i], out["mean_err"][i] = sample.mean(), std / np.sqrt(sample.size)
        n = sample.size
        fourth = np.mean((sample - sample.mean()) ** 4)
        variance_of_variance = max(fourth - std**4 * (n - 3) / (n - 1), 0.0) / n
        out["width"][i] = std
        out["width_err"][i] = np.sqrt(variance_of_variance) / (2.0 * std) if std > 0 else 0.0
    return out
