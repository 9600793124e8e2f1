"""One observable, reference against generated: the registered 1-D metrics with errors, floor and verdict.

:func:`compare_observable` is the comparison both reports run per observable (the shower report
also per incident-energy bin): χ² on common bins, W1 and separation power with bootstrap errors
(:data:`hepgan.validation.metrics.METRICS`), W1 normalised by :func:`hepgan.validation.metrics.w1_scale`,
the same metrics between two halves of the reference (the floor) and the verdict of
:func:`hepgan.validation.verdicts.observable_verdict`. :func:`compare` is the same comparison for
any two samples, returning the two histograms as ``hist.Hist`` as well::

    result = compare(reference_values, generated_values, bins=40)
    result["chi2_ndf"], result["w1"], result["verdict"], result["hist_reference"].plot()
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hepgan.validation.histograms import common_edges, finite, histogram_counts, lattice_edges, make_hist
from hepgan.validation.metrics import DEFAULT_1D_METRICS, compare_1d, finite_or_none, normalised_w1, w1_scale
from hepgan.validation.verdicts import observable_verdict, reference_halves

MIN_VALUES = 10
"""Finite values each sample needs for an observable to be compared."""
MIN_VALUES_FLOOR = 2 * MIN_VALUES
"""Finite reference values needed for the floor (each half gets one half)."""


def is_constant(values: np.ndarray, relative: float = 1e-12) -> bool:
    """Whether the finite ``values`` (at least one) are all equal up to ``relative`` of their magnitude."""
    values = finite(values)
    if values.size == 0:
        return False
    return float(np.ptp(values)) <= relative * max(1.0, float(np.max(np.abs(values))))


def degenerate_edges(value: float) -> np.ndarray:
    """Three bins around a constant ``value``, the middle one holding it (for drawing)."""
    half = 0.5 * abs(value) if value != 0 else 0.5
    return np.linspace(value - half, value + half, 4)


def comparison_edges(reference: np.ndarray, generated: np.ndarray, n_bins: int, log_bins: bool = False) -> np.ndarray:
    """Common bins: on the values' lattice for a discrete observable (not with ``log_bins``), else
    :func:`hepgan.validation.histograms.common_edges`."""
    edges = None if log_bins else lattice_edges(reference, generated, n_bins)
    return edges if edges is not None else common_edges(reference, generated, n_bins, log=log_bins)


def histogram_bin_count(n_reference: int, n_generated: int, n_max: int) -> int:
    """At most ``n_max`` bins, about 10 entries per bin in the smaller sample, at least 5."""
    return int(min(n_max, max(5, min(n_reference, n_generated) // 10)))


def _metrics_on(
    reference: np.ndarray, generated: np.ndarray, edges: np.ndarray, metrics: Iterable[str], scale: float
) -> dict[str, float | None]:
    """The registered metrics on one pair of samples, with W1 and its error normalised by ``scale``."""
    results = compare_1d(
        reference, generated, histogram_counts(reference, edges), histogram_counts(generated, edges), metrics
    )
    if "w1" in results:
        results["w1_normalised"] = normalised_w1(results["w1"], scale)
        results["w1_normalised_err"] = normalised_w1(results.get("w1_err"), scale)
    return finite_or_none(results)


def compare_observable(
    reference: np.ndarray,
    generated: np.ndarray,
    log_bins: bool = False,
    n_bins: int = 50,
    metrics: Iterable[str] = DEFAULT_1D_METRICS,
    floor: bool = True,
    seed: int = 0,
    edges: np.ndarray | None = None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Metrics of one observable on common bins (under/overflow included), with their floor and verdict.

    A discrete observable (values on a lattice, such as the fraction of hit voxels) is binned
    on its lattice (:func:`comparison_edges`). When both samples hold one and the same value
    (e.g. the centre of energy in y of a layer with a single azimuthal sector) nothing can be
    compared: the results carry ``degenerate`` (a note), no metric values and the verdict
    "n/a", and the averages over observables leave them out.

    Args:
        reference, generated: the observable's values (non-finite ones are dropped).
        log_bins, n_bins: log-spaced bins and at most ``n_bins`` of them (about 10 entries per
            bin in the smaller sample), unless ``edges`` are given.
        metrics: registered 1-D metric names (:data:`hepgan.validation.metrics.METRICS`).
        floor: also compute the floor (when the reference has at least 20 finite values).
        seed: seeds the reference split of the floor.
        edges: fixed bin edges, in the observable's unit.

    Returns:
        (results, edges): results hold the metric values and errors (``w1``/``w1_err`` in the
        observable's unit, ``separation_power``/``separation_power_err``, ``chi2_ndf``/``chi2_ndf_err``,
        ``chi2``, ``ndf``, ``p_value``, ...), ``w1_normalised``/``w1_normalised_err``
        (:func:`hepgan.validation.metrics.normalised_w1`), ``n_reference``, ``n_generated``,
        ``floor`` (the same metrics between two random halves of the reference) and ``verdict``
        (:func:`hepgan.validation.verdicts.observable_verdict`). Non-finite values are ``None``.
        ``edges`` is ``None`` (and the results carry ``skipped``) when either sample has fewer
        than 10 finite values.
    """
    metrics = list(metrics)
    ref, gen = finite(reference), finite(generated)
    base: dict[str, Any] = {"n_reference": int(ref.size), "n_generated": int(gen.size)}
    if min(ref.size, gen.size) < MIN_VALUES:
        return {**base, "skipped": f"fewer than {MIN_VALUES} showers"}, None
    if is_constant(ref) and is_constant(gen) and is_constant(np.array([ref[0], gen[0]])):
        base["degenerate"] = f"reference and generated are all {ref[0]:.6g}"
        base["verdict"] = "n/a"
        return base, degenerate_edges(float(ref[0])) if edges is None else edges
    if edges is None:
        edges = comparison_edges(ref, gen, histogram_bin_count(ref.size, gen.size, n_bins), log_bins)
    scale = w1_scale(ref)
    base.update(_metrics_on(ref, gen, edges, metrics, scale))
    if floor and ref.size >= MIN_VALUES_FLOOR:
        first, second = reference_halves(ref.size, seed)
        base["floor"] = _metrics_on(ref[first], ref[second], edges, metrics, scale)
    base["verdict"] = observable_verdict(base)
    return base, edges


def compare(
    reference: Any,
    generated: Any,
    bins: int | Sequence[float] | np.ndarray = 50,
    *,
    log: bool = False,
    metrics: Iterable[str] = DEFAULT_1D_METRICS,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two 1-D samples: the report's metrics, floor and verdict, and both histograms as ``hist.Hist``.

    Args:
        reference, generated: the values (array-likes; non-finite values are dropped), in one unit.
        bins: a number of bins over the reference's 0.5–99.5 % range (values outside go to the
            under/overflow bins, which the χ² test sees), or the bin edges.
        log: log-spaced bins (with a number of bins).
        metrics: registered 1-D metric names (:data:`hepgan.validation.metrics.METRICS`).
        seed: seeds the reference split of the floor and the bootstrap errors' resampling.

    Returns:
        The results of :func:`compare_observable` (``chi2``, ``ndf``, ``p_value``, ``chi2_ndf`` ±
        ``chi2_ndf_err``, ``w1`` ± ``w1_err`` in the values' unit, ``w1_normalised``,
        ``separation_power`` ± ``separation_power_err``, ``floor``, ``verdict``, ``n_reference``,
        ``n_generated``), plus ``edges`` and ``hist_reference`` / ``hist_generated``: the two
        samples filled on those edges (``hist.Hist`` with weight storage, flow bins included).

    Raises:
        ValueError: fewer than 10 finite values in either sample, or fewer than 1 bin.
    """
    ref, gen = finite(reference), finite(generated)
    if min(ref.size, gen.size) < MIN_VALUES:
        raise ValueError(
            f"compare needs at least {MIN_VALUES} finite values in each sample, got {ref.size} and {gen.size}"
        )
    if isinstance(bins, int | np.integer):
        edges = common_edges(ref, gen, int(bins), log=log)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins: expected a number of bins or at least 2 strictly increasing edges")
    results, _ = compare_observable(ref, gen, metrics=metrics, seed=seed, edges=edges)
    return {**results, "edges": edges, "hist_reference": make_hist(ref, edges), "hist_generated": make_hist(gen, edges)}
