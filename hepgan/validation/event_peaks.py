"""Resonance peaks and the correlation of the two top pT's for the event report, with bootstrap errors and floors.

Peaks (:func:`compare_peak`): for a :class:`~hepgan.data.resonances.PeakSpec` the candidate
masses are filled into one sample (both W candidates into the W peak, both tops into the top
peak). The peak is summarised in the spec's window by robust quantiles rather than a fit,
which needs no starting values and cannot fail to converge: the position is the median of
the masses in the window and the width their interquartile range (for a pure Breit–Wigner
the IQR equals the full width Γ; the window truncation makes it somewhat smaller, equally
for both samples). Errors are bootstrap standard deviations (50 resamples). The targets are
relative differences generated vs reference within the spec's ``target_position_rel`` and
``target_width_rel``. The peak *floor* is the same relative difference between two random
halves of the reference events, reported beside the targets (not a target itself).

Correlation (:func:`compare_correlation`): the Pearson correlation ρ of two observables
(``pt_t1``, ``pt_t2``) over the events where both are finite, in the reference and the
generated sample, each with a bootstrap error (100 resamples, seeded); their difference
with the two errors added in quadrature; and its floor: the mean over 100 random splits of
the reference events into halves of |ρ(half 1) − ρ(half 2)|, with the standard error of that
mean. Averaging over splits keeps the floor from being accidentally near zero, as a single
split's |difference| often is. Target: |ρ_gen − ρ_ref| ≤ 3 × floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.data.resonances import PEAKS, PeakSpec
from hepgan.validation.histograms import finite
from hepgan.validation.kinematics import describe_event
from hepgan.validation.plots import plot_comparison
from hepgan.validation.verdicts import reference_halves

MIN_VALUES = 20
"""Values (masses in the window, events with both correlated observables) needed for an estimate."""
N_BOOTSTRAP = 50
N_BOOTSTRAP_CORRELATION = 100
N_FLOOR_SPLITS = 100
TARGET_CORRELATION_FLOOR_FACTOR = 3.0
PAIR_PEAK = PEAKS["pair"][0]
"""The Z → μμ peak of ``m_12`` in 80–100 GeV (position within 0.5 %, width within 10 %)."""
TOP_PT_CORRELATION = ("pt_t1", "pt_t2")
PEAK_ESTIMATOR = "position: median in window; width: interquartile range in window (= Γ for a Breit-Wigner)"


# ----------------------------------------------------------------------------- peaks
def peak_position_width(masses: np.ndarray, window: tuple[float, float] = PAIR_PEAK.window_gev) -> tuple[float, float]:
    """Median and interquartile range (GeV) of the masses inside ``window``; NaN with < 20 values."""
    inside = masses[(masses >= window[0]) & (masses <= window[1])]
    if inside.size < MIN_VALUES:
        return float("nan"), float("nan")
    q25, q50, q75 = np.quantile(inside, (0.25, 0.5, 0.75))
    return float(q50), float(q75 - q25)


def peak_summary(
    masses: np.ndarray, seed: int = 0, window: tuple[float, float] = PAIR_PEAK.window_gev
) -> dict[str, Any]:
    """Peak position and width (GeV) of :func:`peak_position_width` with bootstrap errors (GeV)."""
    masses = finite(masses)
    inside = masses[(masses >= window[0]) & (masses <= window[1])]
    position, width = peak_position_width(inside, window)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [peak_position_width(rng.choice(inside, inside.size), window) for _ in range(N_BOOTSTRAP)]
        if inside.size >= MIN_VALUES
        else [[np.nan, np.nan]]
    )
    return {
        "position_gev": position,
        "position_err_gev": float(np.std(draws[:, 0])),
        "width_gev": width,
        "width_err_gev": float(np.std(draws[:, 1])),
        "n_in_window": int(inside.size),
        "fraction_in_window": float(inside.size / max(masses.size, 1)),
    }


def peak_masses(observables: Mapping[str, np.ndarray], spec: PeakSpec, events: np.ndarray | None = None) -> np.ndarray:
    """The finite candidate masses (GeV) of ``spec`` in one array, optionally of the events ``events`` only."""
    columns = [np.asarray(observables[name]) for name in spec.candidates]
    return finite(np.concatenate([column if events is None else column[events] for column in columns]))


def _relative(generated: Mapping[str, Any], reference: Mapping[str, Any], key: str) -> tuple[float, float]:
    """gen/ref − 1 of ``{key}_gev`` and its error from the two bootstrap errors (added in quadrature)."""
    gen, ref = generated[f"{key}_gev"], reference[f"{key}_gev"]
    gen_err, ref_err = generated[f"{key}_err_gev"], reference[f"{key}_err_gev"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.float64(gen) / np.float64(ref)
        error = abs(ratio) * np.hypot(np.float64(gen_err) / gen, np.float64(ref_err) / ref)
    return float(ratio - 1.0), float(error)


def compare_peak(
    reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray], spec: PeakSpec = PAIR_PEAK, seed: int = 0
) -> dict[str, Any]:
    """Reference and generated summaries of the peak ``spec``, relative differences, targets and floor.

    Args:
        reference, generated: observable name → (N,) values (GeV), holding the spec's candidates.
        spec: the peak (candidates, window in GeV, targets).
        seed: seeds the bootstraps and the reference split of the floor.

    Returns:
        ``name``, ``observable`` (= name), ``candidates``, ``window_gev``, ``estimator``,
        ``reference``/``generated`` (:func:`peak_summary`), ``position_rel_diff``/``position_rel_err``
        and ``width_rel_diff``/``width_rel_err`` (gen/ref − 1), the targets ``target_position_rel``/
        ``target_width_rel``, ``position_within_target``/``width_within_target``, and ``floor``: the
        same relative differences between two random halves of the reference events.
    """
    ref = peak_summary(peak_masses(reference, spec), seed, spec.window_gev)
    gen = peak_summary(peak_masses(generated, spec), seed + 1, spec.window_gev)
    first, second = reference_halves(len(reference[spec.candidates[0]]), seed)
    half_1 = peak_summary(peak_masses(reference, spec, first), seed + 2, spec.window_gev)
    half_2 = peak_summary(peak_masses(reference, spec, second), seed + 3, spec.window_gev)
    entry: dict[str, Any] = {
        "name": spec.name,
        "observable": spec.name,
        "candidates": list(spec.candidates),
        "window_gev": list(spec.window_gev),
        "estimator": PEAK_ESTIMATOR,
        "reference": ref,
        "generated": gen,
        "target_position_rel": spec.target_position_rel,
        "target_width_rel": spec.target_width_rel,
        "floor": {},
    }
    for key in ("position", "width"):
        diff, err = _relative(gen, ref, key)
        entry[f"{key}_rel_diff"], entry[f"{key}_rel_err"] = diff, err
        entry[f"{key}_within_target"] = bool(abs(diff) <= getattr(spec, f"target_{key}_rel"))
        entry["floor"][f"{key}_rel_diff"], entry["floor"][f"{key}_rel_err"] = _relative(half_2, half_1, key)
    return entry


def plot_peak(reference: np.ndarray, generated: np.ndarray, spec: PeakSpec, plots: Path, title: str) -> str:
    """The candidate masses (GeV) of both samples in the peak window: ``plots/{name}_peak.png`` (relative path)."""
    edges = np.linspace(*spec.window_gev, 41)
    path = plots / f"{spec.name}_peak.png"
    window = f"window {spec.window_gev[0]:g}–{spec.window_gev[1]:g} GeV"
    label = describe_event(spec.name).label
    plot_comparison(
        finite(reference), finite(generated), edges, label, path, unit="GeV", log_y=False, title=f"{title}\n{window}"
    )
    return f"plots/{path.name}"


# ----------------------------------------------------------------------------- correlation
def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two (n,) samples; NaN when either is constant or n < 2."""
    if x.size < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    return float(np.dot(dx, dy) / denominator) if denominator > 0 else float("nan")


def _pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    return x[both], y[both]


def correlation_summary(
    x: np.ndarray, y: np.ndarray, seed: int = 0, n_bootstrap: int = N_BOOTSTRAP_CORRELATION
) -> dict[str, Any]:
    """ρ of (x, y) over the entries where both are finite, with its bootstrap error.

    Returns:
        ``value`` (NaN with fewer than 20 pairs), ``err`` (standard deviation of ρ over
        ``n_bootstrap`` resamples of the pairs with replacement) and ``n`` (pairs used).
    """
    x, y = _pairs(x, y)
    if x.size < MIN_VALUES:
        return {"value": float("nan"), "err": float("nan"), "n": int(x.size)}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_bootstrap):
        index = rng.integers(0, x.size, x.size)
        draws.append(pearson(x[index], y[index]))
    return {"value": pearson(x, y), "err": float(np.std(draws)), "n": int(x.size)}


def correlation_floor(
    x: np.ndarray, y: np.ndarray, seed: int = 0, n_splits: int = N_FLOOR_SPLITS
) -> tuple[float, float]:
    """Mean over ``n_splits`` random splits into halves of |ρ(half 1) − ρ(half 2)|, and its standard error."""
    x, y = _pairs(x, y)
    if x.size < 2 * MIN_VALUES:
        return float("nan"), float("nan")
    differences = []
    for split in range(n_splits):
        first, second = reference_halves(x.size, seed + split)
        differences.append(abs(pearson(x[first], y[first]) - pearson(x[second], y[second])))
    return float(np.mean(differences)), float(np.std(differences) / np.sqrt(n_splits))


def compare_correlation(
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    names: Sequence[str] = TOP_PT_CORRELATION,
    seed: int = 0,
) -> dict[str, Any]:
    """The correlation of two observables, reference against generated, with its floor and target.

    Returns:
        ``name`` (``corr_{a}_{b}``), ``observables``, ``reference``/``generated``
        (:func:`correlation_summary`), ``difference`` (ρ_gen − ρ_ref) ± ``difference_err``,
        ``floor`` ± ``floor_err`` (:func:`correlation_floor`), ``difference_over_floor``,
        ``target_floor_factor`` (3) and ``within_target`` (|difference| ≤ 3 × floor); with
        ``skipped`` instead of a difference when either sample has fewer than 20 pairs.
    """
    a, b = names
    ref = correlation_summary(reference[a], reference[b], seed)
    gen = correlation_summary(generated[a], generated[b], seed + 1)
    floor, floor_err = correlation_floor(reference[a], reference[b], seed + 2)
    entry: dict[str, Any] = {
        "name": f"corr_{a}_{b}",
        "observables": [a, b],
        "estimator": "Pearson correlation over events with both values; errors: bootstrap; "
        "floor: mean |difference| between two random halves of the reference over splits",
        "reference": ref,
        "generated": gen,
        "target_floor_factor": TARGET_CORRELATION_FLOOR_FACTOR,
    }
    if min(ref["n"], gen["n"]) < MIN_VALUES or not np.isfinite(ref["value"]) or not np.isfinite(gen["value"]):
        entry["skipped"] = f"fewer than {MIN_VALUES} events with both values, or a constant sample"
        entry["within_target"] = False
        return entry
    difference = gen["value"] - ref["value"]
    entry.update(
        difference=difference,
        difference_err=float(np.hypot(ref["err"], gen["err"])),
        floor=floor,
        floor_err=floor_err,
        difference_over_floor=abs(difference) / floor if floor > 0 else None,
        within_target=bool(abs(difference) <= TARGET_CORRELATION_FLOOR_FACTOR * floor),
    )
    return entry
