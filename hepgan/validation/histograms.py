"""Common binning and histogram filling for reference/generated comparisons (``hist``), and reading
histogram objects (``hist.Hist``, boost-histogram, uproot: any UHI PlottableHistogram) as arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hist
import numpy as np

DEFAULT_QUANTILES = (0.005, 0.995)
MAX_LATTICE_VALUES = 1000
"""At most this many distinct values for a sample to count as discrete (:func:`lattice`)."""
MAX_LATTICE_POINTS = 10_000
"""At most this many lattice points between the smallest and largest value."""


def finite(values: np.ndarray) -> np.ndarray:
    """Flattened float64 copy of ``values`` without NaN/inf."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return array[np.isfinite(array)]


def _value_range(
    reference: np.ndarray, generated: np.ndarray | None, quantiles: tuple[float, float] | None
) -> tuple[float, float]:
    if quantiles is not None:
        low, high = np.quantile(reference, quantiles)
        return float(low), float(high)
    pooled = reference if generated is None or generated.size == 0 else np.concatenate([reference, generated])
    return float(pooled.min()), float(pooled.max())


def _widen(low: float, high: float, log: bool) -> tuple[float, float]:
    """Make a zero-width range usable: ±50% of the value (or ±0.5 around 0)."""
    if high > low:
        return low, high
    if log:
        return low / 2.0, high * 2.0
    pad = 0.5 * abs(low) if low != 0 else 0.5
    return low - pad, high + pad


def common_edges(
    reference: np.ndarray,
    generated: np.ndarray | None = None,
    n_bins: int = 50,
    log: bool = False,
    quantiles: tuple[float, float] | None = DEFAULT_QUANTILES,
) -> np.ndarray:
    """Bin edges shared by the reference and generated samples.

    The range is the reference's ``quantiles`` (default 0.5 % – 99.5 %), so that a few
    outliers do not squeeze the bulk into one bin, or with ``quantiles=None`` the full range
    of both samples. Values outside the range go to the under/overflow bins, which
    :func:`histogram_counts` keeps so that the χ² test still sees them.

    Args:
        reference, generated: the samples (non-finite values are ignored).
        n_bins: number of bins inside the range.
        log: log-spaced bins over the positive values; falls back to linear bins when the
            reference has no positive value.
        quantiles: (low, high) quantiles of the reference, or ``None`` for the full range.

    Returns:
        ``n_bins + 1`` strictly increasing edges.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    ref = finite(reference)
    gen = None if generated is None else finite(generated)
    if log:
        ref_pos = ref[ref > 0]
        if ref_pos.size:
            low, high = _widen(*_value_range(ref_pos, None if gen is None else gen[gen > 0], quantiles), log=True)
            return np.geomspace(low, high, n_bins + 1)
    if ref.size == 0:
        raise ValueError("the reference sample has no finite value to bin")
    low, high = _widen(*_value_range(ref, gen, quantiles), log=False)
    return np.linspace(low, high, n_bins + 1)


def lattice(values: np.ndarray, tolerance: float = 1e-6) -> tuple[float, float] | None:
    """(first value, step) when the finite ``values`` take few distinct values on a regular lattice.

    Discrete observables (the fraction of hit voxels in a layer of k voxels takes the values
    j/k) are recognised by having at most :data:`MAX_LATTICE_VALUES` distinct values, each an
    integer multiple (within ``tolerance``) of the smallest gap away from the smallest value.
    ``None`` for continuous samples and for fewer than two distinct values.
    """
    distinct = np.unique(finite(values))
    if not 2 <= distinct.size <= MAX_LATTICE_VALUES:
        return None
    step = float(np.min(np.diff(distinct)))
    multiples = (distinct - distinct[0]) / step
    if multiples[-1] > MAX_LATTICE_POINTS or np.any(np.abs(multiples - np.round(multiples)) > tolerance):
        return None
    return float(distinct[0]), step


def lattice_edges(reference: np.ndarray, generated: np.ndarray | None = None, n_bins: int = 50) -> np.ndarray | None:
    """Bin edges half-way between the allowed values of a discrete observable, or ``None``.

    Both samples together must lie on one lattice (:func:`lattice`). Each bin holds one
    lattice value, or, when there are more than ``n_bins`` values between the smallest and
    the largest, the same whole number of consecutive values, so that no bin gets more
    allowed values than its neighbours.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    pooled = finite(reference) if generated is None else np.concatenate([finite(reference), finite(generated)])
    found = lattice(pooled)
    if found is None:
        return None
    first, step = found
    n_values = round(float(pooled.max() - first) / step) + 1
    group = -(-n_values // n_bins)
    n = -(-n_values // group)
    return first - 0.5 * step + group * step * np.arange(n + 1)


def make_hist(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> hist.Hist:
    """Fill a 1-D ``hist.Hist`` on ``edges`` (weighted storage, so variances are kept).

    Non-finite values are dropped; values outside the edges go to under/overflow.
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    keep = np.isfinite(array)
    h = hist.Hist(hist.axis.Variable(np.asarray(edges, dtype=np.float64)), storage=hist.storage.Weight())
    if weights is None:
        h.fill(array[keep])
    else:
        h.fill(array[keep], weight=np.asarray(weights, dtype=np.float64).reshape(-1)[keep])
    return h


def histogram_counts(values: np.ndarray, edges: np.ndarray, flow: bool = True) -> np.ndarray:
    """Counts of ``values`` on ``edges``; with ``flow`` the under/overflow bins are first/last."""
    return np.asarray(make_hist(values, edges).values(flow=flow), dtype=np.float64)


def _finite_counts(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array


def is_histogram(value: Any) -> bool:
    """Whether ``value`` is a histogram object (``hist.Hist``, boost-histogram, any UHI PlottableHistogram)."""
    return callable(getattr(value, "values", None)) and hasattr(value, "axes")


def _flow_call(method: Any, flow: bool) -> Any:
    """``method(flow=flow)`` where the histogram library takes it, else ``method()`` (the UHI protocol)."""
    try:
        return method(flow=flow)
    except TypeError:
        return method()


def _axis_edges(axis: Any) -> np.ndarray:
    """Bin edges of a UHI axis: ``axis.edges`` where present, else from its (lower, upper) bins."""
    edges = getattr(axis, "edges", None)
    if edges is not None:
        return np.asarray(edges, dtype=np.float64)
    bins = [axis[i] for i in range(len(axis))]
    return np.asarray([bins[0][0], *(upper for _, upper in bins)], dtype=np.float64)


@dataclass(frozen=True)
class HistogramArrays:
    """Counts, variances (``None`` for plain counts) and edges (``None`` for plain counts) of one histogram."""

    counts: np.ndarray
    variances: np.ndarray | None = None
    edges: np.ndarray | None = None

    @property
    def weighted(self) -> bool:
        """Whether the variances differ from the counts (filled with weights other than 1)."""
        return self.variances is not None and not np.allclose(self.variances, self.counts, rtol=1e-9, atol=0.0)


def histogram_arrays(name: str, histogram: Any, flow: bool = True) -> HistogramArrays:
    """Counts (and variances and edges) of a 1-D histogram object, or of an array of counts.

    A histogram object is read through the UHI PlottableHistogram protocol: ``values()``,
    ``variances()`` and ``axes[0]``; with ``flow`` (the default, as in hepgan's reports) the
    under- and overflow bins are included as ordinary bins where the library provides them
    (``hist``, boost-histogram, uproot).
    """
    if not is_histogram(histogram):
        return HistogramArrays(_finite_counts(name, histogram))
    if len(histogram.axes) != 1:
        raise ValueError(f"{name}: expected a 1-D histogram, got {len(histogram.axes)} axes")
    counts = _finite_counts(name, _flow_call(histogram.values, flow))
    variances_method = getattr(histogram, "variances", None)
    variances = None if variances_method is None else _flow_call(variances_method, flow)
    if variances is not None:
        variances = _finite_counts(f"{name} variances", variances)
        if variances.shape != counts.shape:
            variances = None
    return HistogramArrays(counts, variances, _axis_edges(histogram.axes[0]))


def histogram_pair(histogram_1: Any, histogram_2: Any) -> tuple[HistogramArrays, HistogramArrays]:
    """:func:`histogram_arrays` of two histograms (or arrays of counts) on the same bins.

    Flow bins are included when both sides have them; when only one side does (a plain UHI
    histogram or an array of in-range counts against a ``hist.Hist``), the in-range bins are compared.

    Raises:
        ValueError: different bin edges, or different numbers of bins.
    """
    first, second = histogram_arrays("counts_1", histogram_1), histogram_arrays("counts_2", histogram_2)
    if first.edges is not None and second.edges is not None:
        if first.edges.shape != second.edges.shape or not np.allclose(first.edges, second.edges):
            raise ValueError("the two histograms have different bin edges; fill both on the same axis")
    if first.counts.shape != second.counts.shape:
        inner = histogram_arrays("counts_1", histogram_1, False), histogram_arrays("counts_2", histogram_2, False)
        if inner[0].counts.shape == inner[1].counts.shape:
            return inner
        raise ValueError(f"the histograms have {first.counts.size} and {second.counts.size} bins")
    return first, second
