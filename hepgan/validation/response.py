"""Energy response E_tot/E_inc per incident energy: the first thing a physicist checks."""

from __future__ import annotations

import numpy as np


def energy_bins(incident_mev: np.ndarray, max_discrete: int = 30, n_quantile_bins: int = 10) -> np.ndarray:
    """Bin edges in MeV: one bin per energy for discrete spectra, else equal-population bins."""
    incident = np.asarray(incident_mev, dtype=np.float64)
    distinct = np.unique(incident)
    if len(distinct) <= max_discrete:
        if len(distinct) == 1:
            return np.array([distinct[0] * 0.99, distinct[0] * 1.01])
        mids = np.sqrt(distinct[1:] * distinct[:-1])
        return np.concatenate([[distinct[0] * 0.99], mids, [distinct[-1] * 1.01]])
    edges = np.quantile(incident, np.linspace(0.0, 1.0, n_quantile_bins + 1))
    edges[-1] = np.nextafter(edges[-1], np.inf)
    return edges


def response_per_energy(reference_ratio: np.ndarray, reference_incident: np.ndarray, generated_ratio: np.ndarray,
                        generated_incident: np.ndarray, edges: np.ndarray | None = None) -> list[dict[str, float]]:
    """Mean and standard deviation of E_tot/E_inc per incident-energy bin, reference vs generated.

    Returns one dict per bin with ``e_low_mev``, ``e_high_mev``, ``n_reference``, ``n_generated``,
    ``mean_reference``, ``mean_generated``, ``std_reference``, ``std_generated`` and the relative
    differences ``mean_rel_diff`` = mean_gen/mean_ref − 1 and ``std_rel_diff`` = std_gen/std_ref − 1.
    Bins with fewer than 2 showers in either sample are skipped.
    """
    if edges is None:
        edges = energy_bins(reference_incident)
    rows = []
    ref_bin = np.searchsorted(edges, reference_incident, side="right") - 1
    gen_bin = np.searchsorted(edges, generated_incident, side="right") - 1
    for b in range(len(edges) - 1):
        ref = np.asarray(reference_ratio)[ref_bin == b]
        gen = np.asarray(generated_ratio)[gen_bin == b]
        if len(ref) < 2 or len(gen) < 2:
            continue
        mean_r, mean_g = float(ref.mean()), float(gen.mean())
        std_r, std_g = float(ref.std(ddof=1)), float(gen.std(ddof=1))
        rows.append({
            "e_low_mev": float(edges[b]), "e_high_mev": float(edges[b + 1]),
            "n_reference": len(ref), "n_generated": len(gen),
            "mean_reference": mean_r, "mean_generated": mean_g,
            "std_reference": std_r, "std_generated": std_g,
            "mean_rel_diff": mean_g / mean_r - 1.0 if mean_r > 0 else float("nan"),
            "std_rel_diff": std_g / std_r - 1.0 if std_r > 0 else float("nan"),
        })
    return rows
