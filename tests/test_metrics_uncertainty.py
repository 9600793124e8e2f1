"""Metric values with uncertainties: W1 and separation power bootstraps, ROC AUC, quick metrics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from hepgan.validation.metrics import (
    METRICS,
    QUICK_METRIC_NAMES,
    chi2_two_histograms,
    quick_metrics,
    roc_auc,
    separation_power,
    separation_power_with_error,
    wasserstein_1d_with_error,
    wasserstein_sorted,
)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (7, 7), (13, 5), (100, 37)])
def test_exact_w1_matches_scipy(n, m):
    rng = np.random.default_rng(n * m)
    a, b = rng.exponential(size=n), rng.normal(size=m)
    assert wasserstein_sorted(np.sort(a), np.sort(b)) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)


@pytest.mark.parametrize("delta", [0.0, 0.5, -1.5])
def test_w1_of_shifted_gaussians_with_error(delta):
    rng = np.random.default_rng(1)
    value, error = wasserstein_1d_with_error(rng.normal(0.0, 1.0, 20_000), rng.normal(delta, 1.0, 20_000), seed=2)
    assert 0 < error < 0.03
    assert value == pytest.approx(abs(delta), abs=max(4 * error, 0.03))


def test_w1_error_covers_the_spread_of_repeats():
    rng = np.random.default_rng(3)
    values, errors = [], []
    for _ in range(30):
        value, error = wasserstein_1d_with_error(rng.normal(0, 1, 400), rng.normal(0.5, 1, 400), n_bootstrap=30)
        values.append(value)
        errors.append(error)
    assert np.mean(errors) == pytest.approx(np.std(values), rel=0.5)


def test_separation_power_error():
    counts = np.array([5.0, 40, 120, 40, 5])
    value, error = separation_power_with_error(counts, counts[::-1] * 2)
    assert value == pytest.approx(0.0, abs=1e-12)
    assert error > 0
    shifted = np.array([40.0, 120, 40, 5, 5])
    value, error = separation_power_with_error(counts, shifted, n_bootstrap=50)
    assert value == pytest.approx(separation_power(counts, shifted))
    assert 0 < error < value


def test_chi2_registry_reports_null_spread():
    result = METRICS["chi2"].func(np.array([10, 20, 30.0]), np.array([12, 18, 33.0]))
    assert result["chi2_ndf_err"] == pytest.approx(1.0)  # sqrt(2 / 2)
    assert chi2_two_histograms([1, 2], [2, 1]).chi2_ndf_err == pytest.approx(np.sqrt(2.0))


def test_roc_auc_matches_mann_whitney_and_limits():
    rng = np.random.default_rng(4)
    pos, neg = rng.normal(1.0, 1.0, 300), np.round(rng.normal(0.0, 1.0, 200), 1)  # ties too
    auc, error = roc_auc(pos, neg)
    u = stats.mannwhitneyu(pos, neg).statistic
    assert auc == pytest.approx(u / (pos.size * neg.size))
    assert 0.01 < error < 0.05
    assert roc_auc([2.0, 3.0], [0.0, 1.0])[0] == 1.0
    assert roc_auc([0.0, 1.0], [2.0, 3.0])[0] == 0.0
    assert roc_auc([1.0, 1.0], [1.0, 1.0])[0] == 0.5


def test_fpd_kpd_classifier_are_registered():
    for name in ("fpd", "kpd", "classifier_auc"):
        assert METRICS[name].kind == "multivariate"
    rng = np.random.default_rng(5)
    out = METRICS["fpd"].func(rng.normal(size=(400, 3)), rng.normal(size=(400, 3)))
    assert set(out) == {"fpd", "fpd_err"}


def _observables(rng, n, shift=0.0):
    return {
        "a": rng.normal(shift, 1.0, n),
        "b": rng.exponential(2.0, n) * (1 + shift),
        "c": rng.gamma(3.0, 1.0, n),
        "constant": np.zeros(n),
    }


def test_quick_metrics_fast_and_ordered():
    rng = np.random.default_rng(6)
    ref = _observables(rng, 1500)
    same = _observables(rng, 1500)
    start = time.perf_counter()
    good = quick_metrics(ref, same)
    assert time.perf_counter() - start < 1.0
    bad = quick_metrics(ref, _observables(rng, 1500, shift=0.5))
    assert set(good) == set(QUICK_METRIC_NAMES)
    assert all(np.isfinite(v) for v in good.values())
    assert good["chi2_ndf_mean"] == pytest.approx(1.0, abs=0.5)
    for name in QUICK_METRIC_NAMES:
        assert bad[name] > 3 * good[name], name


def test_quick_metrics_with_nothing_in_common():
    out = quick_metrics({"a": np.ones(5)}, {"b": np.ones(5)})
    assert all(np.isnan(v) for v in out.values())
