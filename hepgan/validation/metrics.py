"""Two-sample comparison metrics for validating generated against reference showers.

Metrics are kept in a registry (:data:`METRICS`) so that validation reports and training
monitors use the same code. A metric is registered with the kind of input it needs:

- ``"histogram"``: called as ``func(counts_ref, counts_gen)`` on histograms with common
  binning (under/overflow included as ordinary bins);
- ``"sample"``: called as ``func(values_ref, values_gen)`` on 1-D samples;
- ``"multivariate"``: called as ``func(features_ref, features_gen)`` on (N, d) arrays
  (reserved for Fréchet/kernel physics distances and classifier tests).

Every metric returns a flat ``dict[str, float]`` so results serialise to JSON directly and
wrappers (e.g. bootstrap uncertainties) can be applied uniformly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

MetricFunction = Callable[[np.ndarray, np.ndarray], dict[str, float]]
METRIC_KINDS = ("histogram", "sample", "multivariate")


@dataclass(frozen=True)
class Chi2Result:
    """Result of a two-histogram χ² test.

    Attributes:
        chi2: the test statistic.
        ndf: degrees of freedom (non-empty bins - 1).
        p_value: P(χ²_ndf >= chi2); NaN when ndf < 1.
    """

    chi2: float
    ndf: int
    p_value: float

    @property
    def chi2_ndf(self) -> float:
        """χ²/ndf, NaN when ndf < 1."""
        return self.chi2 / self.ndf if self.ndf > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"chi2": self.chi2, "ndf": float(self.ndf), "p_value": self.p_value, "chi2_ndf": self.chi2_ndf}


def _as_counts(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array


def _chi2_p_value(chi2: float, ndf: int) -> float:
    return float(stats.chi2.sf(chi2, ndf)) if ndf > 0 else float("nan")


def chi2_unweighted(counts_1: np.ndarray, counts_2: np.ndarray) -> Chi2Result:
    """Pearson χ² homogeneity test of two unweighted histograms with different totals.

    χ² = Σ_i (N2 n1i − N1 n2i)² / (N1 N2 (n1i + n2i)) over bins with n1i + n2i > 0, with
    N1 = Σ n1i, N2 = Σ n2i and ndf = (number of such bins) − 1. This is the Pearson χ² of
    the 2×k contingency table, and ROOT's ``TH1::Chi2Test`` option "UU".

    References:
        N. D. Gagunashvili, "Comparison of weighted and unweighted histograms",
        arXiv:physics/0605123 (unweighted–unweighted comparison); ROOT ``TH1::Chi2Test``
        documentation.
    """
    n1, n2 = _as_counts("counts_1", counts_1), _as_counts("counts_2", counts_2)
    total_1, total_2 = n1.sum(), n2.sum()
    if total_1 <= 0 or total_2 <= 0:
        raise ValueError("both histograms need a positive total count")
    used = (n1 + n2) > 0
    n1, n2 = n1[used], n2[used]
    chi2 = float(np.sum((total_2 * n1 - total_1 * n2) ** 2 / (total_1 * total_2 * (n1 + n2))))
    ndf = int(used.sum()) - 1
    return Chi2Result(chi2, ndf, _chi2_p_value(chi2, ndf))


def chi2_weighted(counts_1: np.ndarray, counts_2: np.ndarray, sumw2_1: np.ndarray, sumw2_2: np.ndarray) -> Chi2Result:
    """χ² test of two weighted histograms (ROOT ``TH1::Chi2Test`` option "WW").

    χ² = Σ_i (W1 w2i − W2 w1i)² / (W1² s2i² + W2² s1i²), with W = Σ_i w_i the totals of
    weights and s_i² the sums of squared weights per bin. Bins where both histograms have
    zero content and zero variance are skipped; ndf = (number of remaining bins) − 1.
    The statistic is invariant under scaling either histogram (w → c w, s² → c² s²).

    References:
        N. D. Gagunashvili, "Comparison of weighted and unweighted histograms",
        arXiv:physics/0605123 (weighted–weighted comparison); ROOT
        ``TH1::Chi2Test`` / ``Chi2TestX`` documentation.

    Raises:
        ValueError: if a bin with content has zero variance in both histograms.
    """
    w1, w2 = _as_counts("counts_1", counts_1), _as_counts("counts_2", counts_2)
    s1, s2 = _as_counts("sumw2_1", sumw2_1), _as_counts("sumw2_2", sumw2_2)
    if not (w1.shape == w2.shape == s1.shape == s2.shape):
        raise ValueError("counts and sumw2 arrays must all have the same number of bins")
    if np.any(s1 < 0) or np.any(s2 < 0):
        raise ValueError("sums of squared weights must be >= 0")
    total_1, total_2 = w1.sum(), w2.sum()
    if total_1 <= 0 or total_2 <= 0:
        raise ValueError("both histograms need a positive total weight")
    empty = (w1 == 0) & (w2 == 0) & (s1 == 0) & (s2 == 0)
    w1, w2, s1, s2 = w1[~empty], w2[~empty], s1[~empty], s2[~empty]
    variance = total_1**2 * s2 + total_2**2 * s1
    if np.any(variance <= 0):
        raise ValueError("a bin with content has zero variance (sumw2) in both histograms")
    chi2 = float(np.sum((total_1 * w2 - total_2 * w1) ** 2 / variance))
    ndf = int(w1.size) - 1
    return Chi2Result(chi2, ndf, _chi2_p_value(chi2, ndf))


def chi2_two_histograms(
    counts_1: np.ndarray,
    counts_2: np.ndarray,
    sumw2_1: np.ndarray | None = None,
    sumw2_2: np.ndarray | None = None,
) -> Chi2Result:
    """Two-histogram χ² test: unweighted ("UU") or, with both ``sumw2`` given, weighted ("WW").

    See :func:`chi2_unweighted` and :func:`chi2_weighted` for the formulas and sources.
    To compare an unweighted with a weighted histogram pass ``sumw2 = counts`` for the
    unweighted one (unit weights); ROOT's dedicated "UW" test is not implemented.
    """
    if sumw2_1 is None and sumw2_2 is None:
        return chi2_unweighted(counts_1, counts_2)
    if sumw2_1 is None or sumw2_2 is None:
        raise ValueError("give sumw2 for both histograms (use sumw2 = counts for an unweighted one) or for neither")
    return chi2_weighted(counts_1, counts_2, sumw2_1, sumw2_2)


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein-1 (earth mover's) distance between two samples, in their unit.

    Uses :func:`scipy.stats.wasserstein_distance`; non-finite values are dropped.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_1d needs at least one finite value in each sample")
    return float(stats.wasserstein_distance(a, b))


def separation_power(counts_1: np.ndarray, counts_2: np.ndarray) -> float:
    """Separation power ½ Σ_i (h1i − h2i)² / (h1i + h2i) of two histograms normalised to 1.

    0 for identical shapes, 1 for histograms with no bin in common. Bins empty in both are
    skipped. References: TMVA Users Guide, Hoecker et al., arXiv:physics/0703039 ("separation");
    its use for showers in the CaloChallenge evaluation, Krause et al., arXiv:2410.21611.
    """
    n1, n2 = _as_counts("counts_1", counts_1), _as_counts("counts_2", counts_2)
    total_1, total_2 = n1.sum(), n2.sum()
    if total_1 <= 0 or total_2 <= 0:
        raise ValueError("both histograms need a positive total")
    h1, h2 = n1 / total_1, n2 / total_2
    used = (h1 + h2) > 0
    return float(0.5 * np.sum((h1[used] - h2[used]) ** 2 / (h1[used] + h2[used])))


@dataclass(frozen=True)
class Metric:
    """A registered metric: its name, the kind of input it takes and the function."""

    name: str
    kind: str
    func: MetricFunction


METRICS: dict[str, Metric] = {}
"""Registry name → :class:`Metric`; add entries with :func:`register_metric`."""


def register_metric(name: str, kind: str) -> Callable[[MetricFunction], MetricFunction]:
    """Decorator adding ``func(ref, gen) -> dict[str, float]`` to :data:`METRICS`."""
    if kind not in METRIC_KINDS:
        raise ValueError(f"metric kind must be one of {METRIC_KINDS}, got {kind!r}")

    def decorator(func: MetricFunction) -> MetricFunction:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(name, kind, func)
        return func

    return decorator


@register_metric("chi2", "histogram")
def _chi2_metric(counts_ref: np.ndarray, counts_gen: np.ndarray) -> dict[str, float]:
    return chi2_unweighted(counts_ref, counts_gen).as_dict()


@register_metric("separation_power", "histogram")
def _separation_metric(counts_ref: np.ndarray, counts_gen: np.ndarray) -> dict[str, float]:
    return {"separation_power": separation_power(counts_ref, counts_gen)}


@register_metric("w1", "sample")
def _w1_metric(values_ref: np.ndarray, values_gen: np.ndarray) -> dict[str, float]:
    return {"w1": wasserstein_1d(values_ref, values_gen)}


DEFAULT_1D_METRICS = ("chi2", "w1", "separation_power")


def compare_1d(
    values_ref: np.ndarray,
    values_gen: np.ndarray,
    counts_ref: np.ndarray,
    counts_gen: np.ndarray,
    metrics: Iterable[str] = DEFAULT_1D_METRICS,
) -> dict[str, float]:
    """Run registered histogram and sample metrics on one observable, merging their outputs.

    Args:
        values_ref, values_gen: the per-shower values (for ``"sample"`` metrics).
        counts_ref, counts_gen: their histograms on common bins (for ``"histogram"`` metrics).
        metrics: registered metric names.

    Returns:
        Flat dict of every metric's outputs (e.g. ``chi2``, ``ndf``, ``p_value``, ``w1``).
    """
    out: dict[str, float] = {}
    for name in metrics:
        metric = METRICS[name]
        if metric.kind == "histogram":
            out.update(metric.func(counts_ref, counts_gen))
        elif metric.kind == "sample":
            out.update(metric.func(values_ref, values_gen))
        else:
            raise ValueError(f"metric {name!r} takes {metric.kind} input, not one observable")
    return out


def finite_or_none(results: Mapping[str, float]) -> dict[str, float | None]:
    """Copy of ``results`` with NaN/inf replaced by ``None`` (strict JSON)."""
    return {key: (float(value) if np.isfinite(value) else None) for key, value in results.items()}
