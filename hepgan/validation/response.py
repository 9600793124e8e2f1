"""Energy response E_tot/E_inc per incident energy: the first thing a physicist checks.

Per incident-energy bin: the mean (scale) and the standard deviation (resolution) of the
response, reference against generated, as relative differences with their statistical
errors (:func:`hepgan.validation.energy_bins.response_statistics`; the width's error
accounts for the distribution's tails), a pull (difference / error) and whether the
difference is within the goals :data:`MEAN_GOAL` and :data:`WIDTH_GOAL`. A difference
that is outside the goal but within 2σ of it is marked "limited by statistics": more
showers are needed to tell.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from hepgan.validation.energy_bins import make_energy_binning, response_statistics

MEAN_GOAL = 0.01
"""|generated mean / reference mean − 1| at most this (1 %) ..."""
WIDTH_GOAL = 0.05
"""... and |generated width / reference width − 1| at most this (5 %), at every incident energy."""
STATISTICS_SIGMAS = 2.0


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
    mean_rel_diff_err: float
    std_rel_diff: float
    std_rel_diff_err: float
    mean_status: str
    std_status: str


def goal_status(difference: float, error: float, goal: float) -> str:
    """ "ok" when |difference| ≤ goal, "limited by statistics" when it is within STATISTICS_SIGMAS errors of the goal,
    else "outside goal"; "n/a" without a finite difference."""
    if not np.isfinite(difference):
        return "n/a"
    if abs(difference) <= goal:
        return "ok"
    return "limited by statistics" if abs(difference) - goal <= STATISTICS_SIGMAS * error else "outside goal"


def response_per_energy(
    reference_ratio: np.ndarray,
    reference_incident: np.ndarray,
    generated_ratio: np.ndarray,
    generated_incident: np.ndarray,
) -> list[ResponseRow]:
    """Mean and standard deviation of E_tot/E_inc per incident-energy bin, reference vs generated, with errors.

    Bins come from the reference (one per energy for discrete spectra, else quantile bins).
    Returns one dict per bin with ``e_inc_mev`` (bin energy), ``label``, ``n_reference``,
    ``n_generated``, ``mean_reference``, ``mean_generated``, ``std_reference``,
    ``std_generated``, the relative differences ``mean_rel_diff`` = mean_gen/mean_ref − 1 and
    ``std_rel_diff`` = std_gen/std_ref − 1 with their errors ``*_err`` (both samples' errors
    propagated), and ``mean_status``/``std_status`` against the goals (:func:`goal_status`).
    Bins with fewer than 2 showers on a side are skipped.
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
        mean_ratio = gen["mean"][i] / ref["mean"][i] if ref["mean"][i] > 0 else float("nan")
        std_ratio = gen["width"][i] / ref["width"][i] if ref["width"][i] > 0 else float("nan")
        mean_err = mean_ratio * float(
            np.hypot(ref["mean_err"][i] / ref["mean"][i], gen["mean_err"][i] / gen["mean"][i])
        )
        std_err = (
            std_ratio
            * float(np.hypot(ref["width_err"][i] / ref["width"][i], gen["width_err"][i] / max(gen["width"][i], 1e-300)))
            if ref["width"][i] > 0
            else float("nan")
        )
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
                "mean_rel_diff": float(mean_ratio - 1.0),
                "mean_rel_diff_err": float(mean_err),
                "std_rel_diff": float(std_ratio - 1.0),
                "std_rel_diff_err": float(std_err),
                "mean_status": goal_status(float(mean_ratio - 1.0), float(mean_err), MEAN_GOAL),
                "std_status": goal_status(float(std_ratio - 1.0), float(std_err), WIDTH_GOAL),
            }
        )
    return rows
