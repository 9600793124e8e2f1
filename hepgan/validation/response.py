"""Energy response E_tot/E_inc per incident energy: the first thing a physicist checks."""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from hepgan.validation.energy_bins import make_energy_binning, response_statistics


class ResponseRow(TypedDict):
    """One incident-energy bin of :func:`response_per_energy`."""

    e_inc_mev: float
    label: str
    n_reference: int
    n_generated: int
    mean_reference: float
    mean_generated: float
    std_reference: float
    std_generated: float
    mean_rel_diff: float
    std_rel_diff: float


def response_per_energy(
    reference_ratio: np.ndarray,
    reference_incident: np.ndarray,
    generated_ratio: np.ndarray,
    generated_incident: np.ndarray,
) -> list[ResponseRow]:
    """Mean and standard deviation of E_tot/E_inc per incident-energy bin, reference vs generated.

    Bins come from the reference (one per energy for discrete spectra, else quantile bins).
    Returns one dict per bin with ``e_inc_mev`` (bin energy), ``label``, ``n_reference``,
    ``n_generated``, ``mean_reference``, ``mean_generated``, ``std_reference``,
    ``std_generated`` and the relative differences ``mean_rel_diff`` = mean_gen/mean_ref − 1
    and ``std_rel_diff`` = std_gen/std_ref − 1. Bins with fewer than 2 showers on a side are skipped.
    """
    binning = make_energy_binning(reference_incident)
    ref = response_statistics(
        np.asarray(reference_ratio, np.float64), binning.assign(reference_incident), binning.n_bins
    )
    gen = response_statistics(
        np.asarray(generated_ratio, np.float64), binning.assign(generated_incident), binning.n_bins
    )
    rows: list[ResponseRow] = []
    for i, label in enumerate(binning.labels()):
        if ref["n"][i] < 2 or gen["n"][i] < 2:
            continue
        rows.append(
            {
                "e_inc_mev": float(binning.centres[i]),
                "label": label,
                "n_reference": int(ref["n"][i]),
                "n_generated": int(gen["n"][i]),
                "mean_reference": float(ref["mean"][i]),
                "mean_generated": float(gen["mean"][i]),
                "std_reference": float(ref["width"][i]),
                "std_generated": float(gen["width"][i]),
                "mean_rel_diff": float(gen["mean"][i] / ref["mean"][i] - 1.0) if ref["mean"][i] > 0 else float("nan"),
                "std_rel_diff": float(gen["width"][i] / ref["width"][i] - 1.0) if ref["width"][i] > 0 else float("nan"),
            }
        )
    return rows
