"""Two-sample comparison metrics for validating generated against reference samples.

Metrics are kept in one registry (:data:`METRICS`) used by the validation reports
(:mod:`hepgan.validation.comparison`) and by the training monitor (:func:`quick_metrics`).
A metric is registered with the kind of input it needs:

- ``"histogram"``: called as ``func(counts_ref, counts_gen)`` on histograms with common
  binning (under/overflow included as ordinary bins);
- ``"sample"``: called as ``func(values_ref, values_gen)`` on 1-D samples;
- ``"multivariate"``: called as ``func(features_ref, features_gen)`` on (N, d) arrays
  (Fréchet/kernel physics distances and classifier tests).

The histogram metrics (:func:`chi2_two_histograms`, :func:`separation_power`) take arrays of
bin counts or histogram objects (``hist.Hist``, any UHI PlottableHistogram).

Every metric returns a flat ``dict[str, float]`` so results serialise to JSON directly and
wrappers (e.g. bootstrap uncertainties) can be applied uniformly. A metric's uncertainty is
the key with the suffix ``_err`` (``w1`` and ``w1_err``; ``fpd`` and ``fpd_err``).

Registered metrics: ``chi2``, ``separation_power`` (histogram), ``w1`` (sample), ``fpd`` and
``kpd`` (multivariate; :mod:`hepgan.validation.physics_distances`). ``classifier_auc``
(multivariate, :mod:`hepgan.validation.classifier`) is registered by the package
:mod:`hepgan.validation` and imports torch on first use; this module never imports the
classifier (which takes :func:`roc_auc` from here).

W1 normalisation (one rule for reports and training): :func:`normalised_w1` divides W1 by
:func:`w1_scale`, the population standard deviation (ddof = 0) of the finite reference values,
so that W1 is dimensionless and comparable between observables; it is undefined (NaN) for a
constant reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from hepgan.validation.histograms import common_edges, finite, histogram_counts, histogram_pair, is_histogram
from hepgan.validation.physics_distances import (
    fpd,
    frechet_distance_samples,
    high_level_matrix,
    high_level_names,
    kpd,
    standardise,
)

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

    @property
    def chi2_ndf_err(self) -> float:
        """Standard deviation of χ²/ndf under the null hypothesis, sqrt(2/ndf); NaN when ndf < 1."""
        return float(np.sqrt(2.0 / self.ndf)) if self.ndf > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "chi2": self.chi2,
            "ndf": float(self.ndf),
            "p_value": self.p_value,
            "chi2_ndf": self.chi2_ndf,
            "chi2_ndf_err": self.chi2_ndf_err,
        }


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
    counts_1: Any,
    counts_2: Any,
    sumw2_1: np.ndarray | None = None,
    sumw2_2: np.ndarray | None = None,
) -> Chi2Result:
    """Two-histogram χ² test: unweighted ("UU") or, with both ``sumw2`` given, weighted ("WW").

    ``counts_1`` and ``counts_2`` are arrays of bin counts on common bins, or histogram objects
    (``hist.Hist`` or any UHI PlottableHistogram, read by :func:`histogram_arrays`: under- and
    overflow included, the same bin edges required). A histogram whose variances differ from its
    counts (filled with weights) is compared with the weighted test, its variances as ``sumw2``.

    See :func:`chi2_unweighted` and :func:`chi2_weighted` for the formulas and sources.
    To compare an unweighted with a weighted histogram pass ``sumw2 = counts`` for the
    unweighted one (unit weights); ROOT's dedicated "UW" test is not implemented.
    """
    if is_histogram(counts_1) or is_histogram(counts_2):
        first, second = histogram_pair(counts_1, counts_2)
        counts_1, counts_2 = first.counts, second.counts
        if sumw2_1 is None and sumw2_2 is None and (first.weighted or second.weighted):
            sumw2_1 = first.variances if first.weighted else first.counts
            sumw2_2 = second.variances if second.weighted else second.counts
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


def _counts_pair(counts_1: Any, counts_2: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of counts from arrays or histogram objects (see :func:`histogram_pair`)."""
    first, second = histogram_pair(counts_1, counts_2)
    return first.counts, second.counts


def separation_power(counts_1: Any, counts_2: Any) -> float:
    """Separation power ½ Σ_i (h1i − h2i)² / (h1i + h2i) of two histograms normalised to 1.

    0 for identical shapes, 1 for histograms with no bin in common. Bins empty in both are
    skipped. The histograms are arrays of counts on common bins or histogram objects
    (``hist.Hist``, any UHI PlottableHistogram; under- and overflow included, see
    :func:`histogram_arrays`). References: TMVA Users Guide, Hoecker et al.,
    arXiv:physics/0703039 ("separation"); its use for showers in the CaloChallenge evaluation,
    Krause et al., arXiv:2410.21611.
    """
    n1, n2 = _counts_pair(counts_1, counts_2)
    total_1, total_2 = n1.sum(), n2.sum()
    if total_1 <= 0 or total_2 <= 0:
        raise ValueError("both histograms need a positive total")
    h1, h2 = n1 / total_1, n2 / total_2
    used = (h1 + h2) > 0
    return float(0.5 * np.sum((h1[used] - h2[used]) ** 2 / (h1[used] + h2[used])))


DEFAULT_N_BOOTSTRAP = 20
MAX_BOOTSTRAP_SIZE = 100_000


def _finite_sample(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError(f"{name} needs at least one finite value")
    return array


def _quantile_pairing(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals of u in (0, 1] on which both empirical quantile functions are constant.

    Returns (widths, index into the sorted first sample, index into the sorted second one).
    """
    breaks = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(breaks, prepend=0.0)
    middle = breaks - 0.5 * widths
    index_a = np.minimum((middle * n).astype(np.int64), n - 1)
    index_b = np.minimum((middle * m).astype(np.int64), m - 1)
    return widths, index_a, index_b


def wasserstein_sorted(a_sorted: np.ndarray, b_sorted: np.ndarray) -> float:
    """Exact W1 = ∫₀¹ |F_a⁻¹(u) − F_b⁻¹(u)| du of two sorted 1-D samples (any sizes)."""
    widths, index_a, index_b = _quantile_pairing(a_sorted.size, b_sorted.size)
    return float(np.abs(a_sorted[index_a] - b_sorted[index_b]) @ widths)


def wasserstein_1d_with_error(
    a: np.ndarray, b: np.ndarray, n_bootstrap: int = DEFAULT_N_BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """1-D Wasserstein-1 distance (unit of the values) and its bootstrap standard error.

    W1 is the area between the two empirical quantile functions (equal to
    :func:`scipy.stats.wasserstein_distance`). The error is the standard deviation of W1 over
    ``n_bootstrap`` resamplings (with replacement) of both samples (Efron & Tibshirani, "An
    Introduction to the Bootstrap", 1993). Samples larger than 100 000 are bootstrapped on
    subsamples of that size and the error scaled by sqrt(subsample/size), keeping the cost
    bounded for 1e6-shower files. Non-finite values are dropped.

    References: W1 as a generative-model metric for jets and showers, Kansal et al.,
    arXiv:2211.10295; CaloChallenge evaluation, Krause et al., arXiv:2410.21611.
    """
    a, b = np.sort(_finite_sample("wasserstein_1d", a)), np.sort(_finite_sample("wasserstein_1d", b))
    value = wasserstein_sorted(a, b)
    if n_bootstrap < 2:
        return value, float("nan")
    rng = np.random.default_rng(seed)
    size_a, size_b = min(a.size, MAX_BOOTSTRAP_SIZE), min(b.size, MAX_BOOTSTRAP_SIZE)
    replicas = [
        wasserstein_sorted(np.sort(rng.choice(a, size_a)), np.sort(rng.choice(b, size_b))) for _ in range(n_bootstrap)
    ]
    shrink = np.sqrt(0.5 * (size_a / a.size + size_b / b.size))
    return value, float(np.std(replicas, ddof=1) * shrink)


def _separation_rows(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """Separation power of each row pair of (B, k) count arrays (normalised per row)."""
    h1 = h1 / np.maximum(h1.sum(axis=-1, keepdims=True), 1e-300)
    h2 = h2 / np.maximum(h2.sum(axis=-1, keepdims=True), 1e-300)
    total = h1 + h2
    ratio = np.divide((h1 - h2) ** 2, total, out=np.zeros_like(total), where=total > 0)
    return 0.5 * ratio.sum(axis=-1)


def separation_power_with_error(
    counts_1: Any, counts_2: Any, n_bootstrap: int = DEFAULT_N_BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """Separation power (see :func:`separation_power`) and its bootstrap standard error.

    The error is the standard deviation over ``n_bootstrap`` Poisson resamplings of every
    bin count of both histograms (the bootstrap of a histogram; Efron & Tibshirani 1993).
    """
    n1, n2 = _counts_pair(counts_1, counts_2)
    value = separation_power(n1, n2)
    if n_bootstrap < 2:
        return value, float("nan")
    rng = np.random.default_rng(seed)
    replicas = _separation_rows(rng.poisson(n1, (n_bootstrap, n1.size)), rng.poisson(n2, (n_bootstrap, n2.size)))
    return value, float(np.std(replicas, ddof=1))


def roc_auc(scores_positive: np.ndarray, scores_negative: np.ndarray) -> tuple[float, float]:
    """Area under the ROC curve and its standard error, from classifier scores.

    AUC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻), computed with the Mann–Whitney rank-sum formula
    AUC = (R⁺ − n⁺(n⁺ + 1)/2) / (n⁺ n⁻), R⁺ the sum of the positive scores' mid-ranks.
    The error is Hanley & McNeil's, Radiology 143 (1982) 29: with Q1 = A/(2 − A) and
    Q2 = 2A²/(1 + A), σ² = [A(1 − A) + (n⁺ − 1)(Q1 − A²) + (n⁻ − 1)(Q2 − A²)] / (n⁺ n⁻).
    """
    positive = _finite_sample("roc_auc", scores_positive)
    negative = _finite_sample("roc_auc", scores_negative)
    n_pos, n_neg = positive.size, negative.size
    ranks = stats.rankdata(np.concatenate([positive, negative]))
    auc = float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return auc, float(np.sqrt(max(variance, 0.0)))


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
    value, error = separation_power_with_error(counts_ref, counts_gen)
    return {"separation_power": value, "separation_power_err": error}


@register_metric("w1", "sample")
def _w1_metric(values_ref: np.ndarray, values_gen: np.ndarray) -> dict[str, float]:
    value, error = wasserstein_1d_with_error(values_ref, values_gen)
    return {"w1": value, "w1_err": error}


@register_metric("fpd", "multivariate")
def _fpd_metric(features_ref: np.ndarray, features_gen: np.ndarray) -> dict[str, float]:
    value, error = fpd(features_ref, features_gen)
    return {"fpd": value, "fpd_err": error}


@register_metric("kpd", "multivariate")
def _kpd_metric(features_ref: np.ndarray, features_gen: np.ndarray) -> dict[str, float]:
    value, error = kpd(features_ref, features_gen)
    return {"kpd": value, "kpd_err": error}


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


def w1_scale(reference: np.ndarray) -> float:
    """The W1 normalisation of an observable: the population standard deviation (ddof = 0) of its
    finite reference values, in the observable's unit; NaN when the reference is constant or empty."""
    values = finite(reference)
    std = float(np.std(values)) if values.size else 0.0
    return std if std > 0 else float("nan")


def normalised_w1(w1: float | None, scale: float) -> float:
    """W1 (or its error), in the observable's unit, over ``scale`` = :func:`w1_scale` of the reference: dimensionless.

    NaN when ``w1`` is None/NaN or the scale is undefined. Used by the reports (``w1_normalised``)
    and by :func:`quick_metrics` (``w1_mean``), so both give the same number for the same samples.
    """
    if w1 is None or not np.isfinite(scale):
        return float("nan")
    return float(w1) / scale


QUICK_METRIC_NAMES = ("chi2_ndf_mean", "w1_mean", "separation_power_mean", "fpd")
"""Keys of :func:`quick_metrics`; all are "lower is better"."""


def quick_metrics(
    ref_observables: Mapping[str, np.ndarray], gen_observables: Mapping[str, np.ndarray], n_bins: int = 30
) -> dict[str, float]:
    """Cheap summary of how well generated observables match the reference (for training).

    Meant to be called every few hundred steps to select the best checkpoint; all values are
    "lower is better" and take well under a second for a few thousand showers. The 1-D
    metrics are the registered ``chi2``, ``w1`` and ``separation_power`` of :data:`METRICS`,
    the same functions the validation report runs.

    Args:
        ref_observables, gen_observables: name → (N,) per-shower observables, e.g. from
            :func:`hepgan.validation.observables.shower_observables`; common names are used.
        n_bins: histogram bins per observable (reference 0.5–99.5 % range plus under/overflow).

    Returns:
        ``chi2_ndf_mean``: mean χ²/ndf of the two-histogram test over observables;
        ``w1_mean``: mean of :func:`normalised_w1` (W1 over the reference standard deviation,
        dimensionless; the report's ``w1_normalised``);
        ``separation_power_mean``: mean separation power;
        ``fpd``: Fréchet distance of the standardised high-level observables
        (:func:`hepgan.validation.physics_distances.high_level_names`, or all common ones
        when none of those is present) at the given sample size
        (no extrapolation in 1/N, so it carries a positive finite-size bias; compare values
        only at equal sample sizes). Observables constant in the reference are skipped.
        NaN when nothing could be compared.
    """
    names = [name for name in ref_observables if name in gen_observables]
    chi2s, w1s, separations = [], [], []
    for name in names:
        ref, gen = finite(ref_observables[name]), finite(gen_observables[name])
        scale = w1_scale(ref)
        if min(ref.size, gen.size) < 2 or not np.isfinite(scale):
            continue
        edges = common_edges(ref, gen, n_bins)
        results = compare_1d(ref, gen, histogram_counts(ref, edges), histogram_counts(gen, edges))
        if results["ndf"] > 0:
            chi2s.append(results["chi2_ndf"])
        separations.append(results["separation_power"])
        w1s.append(normalised_w1(results["w1"], scale))
    out = {
        "chi2_ndf_mean": float(np.mean(chi2s)) if chi2s else float("nan"),
        "w1_mean": float(np.mean(w1s)) if w1s else float("nan"),
        "separation_power_mean": float(np.mean(separations)) if separations else float("nan"),
        "fpd": float("nan"),
    }
    features = high_level_names(names) or names
    if features:
        ref_z, gen_z = standardise(
            high_level_matrix(ref_observables, features), high_level_matrix(gen_observables, features)
        )
        if ref_z.shape[1] and min(len(ref_z), len(gen_z)) > 1:
            out["fpd"] = frechet_distance_samples(ref_z, gen_z)
    return out
