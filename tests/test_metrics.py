"""Checks of the two-sample metrics against hand values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hepgan.validation.histograms import common_edges, histogram_counts
from hepgan.validation.metrics import (
    METRICS,
    chi2_two_histograms,
    compare_1d,
    register_metric,
    separation_power,
    wasserstein_1d,
)


def test_chi2_identical_histograms():
    counts = np.array([5, 10, 20, 7, 0, 3])
    result = chi2_two_histograms(counts, counts)
    assert result.chi2 == pytest.approx(0.0)
    assert result.ndf == 4  # the empty bin is dropped
    assert result.p_value == pytest.approx(1.0)


def test_chi2_scaled_copy_is_compatible():
    counts = np.array([5, 10, 20, 7, 3])
    assert chi2_two_histograms(counts, 3 * counts).chi2 == pytest.approx(0.0, abs=1e-12)


def test_chi2_matches_contingency_table():
    rng = np.random.default_rng(3)
    n1 = rng.poisson(30, size=12) + 1
    n2 = rng.poisson(70, size=12) + 1
    result = chi2_two_histograms(n1, n2)
    chi2, p_value, dof, _ = stats.chi2_contingency(np.vstack([n1, n2]), correction=False)
    assert result.chi2 == pytest.approx(chi2, rel=1e-10)
    assert result.ndf == dof
    assert result.p_value == pytest.approx(p_value, rel=1e-8)


def test_chi2_hand_computed():
    # N1 = 10, N2 = 20: bins (4, 6) and (6, 14)
    expected = (20 * 4 - 10 * 6) ** 2 / (10 * 20 * 10) + (20 * 6 - 10 * 14) ** 2 / (10 * 20 * 20)
    result = chi2_two_histograms([4, 6], [6, 14])
    assert result.chi2 == pytest.approx(expected)
    assert result.ndf == 1


def test_chi2_p_values_uniform_under_null():
    rng = np.random.default_rng(12345)
    shape = np.array([1, 3, 6, 10, 14, 16, 14, 10, 6, 3, 1], dtype=float)
    shape /= shape.sum()
    p_values = [chi2_two_histograms(rng.poisson(800 * shape), rng.poisson(2000 * shape)).p_value for _ in range(200)]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_weighted_chi2_is_scale_invariant_and_equals_uu_for_equal_totals():
    n1 = np.array([12.0, 30.0, 25.0, 9.0])
    n2 = np.array([15.0, 27.0, 20.0, 14.0])  # same total as n1
    ww = chi2_two_histograms(n1, n2, n1, n2)
    assert ww.chi2 == pytest.approx(chi2_two_histograms(n1, n2).chi2)
    scaled = chi2_two_histograms(n1, 0.3 * n2, n1, 0.09 * n2)
    assert scaled.chi2 == pytest.approx(ww.chi2)
    assert scaled.ndf == 3


def test_weighted_chi2_p_values_uniform_under_null():
    rng = np.random.default_rng(7)
    shape = np.array([2, 5, 9, 12, 9, 5, 2], dtype=float)
    shape /= shape.sum()
    edges = np.arange(len(shape) + 1)
    p_values = []
    for _ in range(200):
        bins_1 = rng.choice(len(shape), size=600, p=shape)
        bins_2 = rng.choice(len(shape), size=900, p=shape)
        weights_2 = rng.uniform(0.5, 1.5, size=bins_2.size)
        w2, _ = np.histogram(bins_2, edges, weights=weights_2)
        s2, _ = np.histogram(bins_2, edges, weights=weights_2**2)
        n1, _ = np.histogram(bins_1, edges)
        p_values.append(chi2_two_histograms(n1, w2, n1, s2).p_value)
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_chi2_input_errors():
    with pytest.raises(ValueError, match="sumw2"):
        chi2_two_histograms([1, 2], [2, 1], sumw2_1=[1, 2])
    with pytest.raises(ValueError, match="positive"):
        chi2_two_histograms([0, 0], [2, 1])
    with pytest.raises(ValueError, match="zero variance"):
        chi2_two_histograms([1.0, 2.0], [2.0, 1.0], [0.0, 2.0], [0.0, 1.0])


def test_wasserstein_of_shifted_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 20_000)
    b = rng.normal(0.7, 1.0, 20_000)
    assert wasserstein_1d(a, b) == pytest.approx(0.7, abs=0.03)
    assert wasserstein_1d(a, a) == 0.0


def test_separation_power_limits():
    h = np.array([1.0, 4.0, 9.0, 0.0])
    assert separation_power(h, 2 * h) == pytest.approx(0.0)
    assert separation_power([1, 2, 0, 0], [0, 0, 5, 1]) == pytest.approx(1.0)
    assert 0.0 < separation_power([1, 2, 3], [3, 2, 1]) < 1.0


def test_registry_and_compare_1d():
    assert {"chi2", "w1", "separation_power"} <= set(METRICS)
    rng = np.random.default_rng(5)
    ref, gen = rng.normal(size=500), rng.normal(size=400)
    edges = common_edges(ref, gen, 20)
    result = compare_1d(ref, gen, histogram_counts(ref, edges), histogram_counts(gen, edges))
    assert {"chi2", "ndf", "p_value", "chi2_ndf", "w1", "separation_power"} <= set(result)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("chi2", "histogram")(lambda a, b: {})
    with pytest.raises(ValueError, match="kind"):
        register_metric("new", "nonsense")


def test_common_edges_and_flow_counts():
    ref = np.concatenate([np.linspace(1.0, 100.0, 1000), [np.nan, np.inf]])
    edges = common_edges(ref, None, 10, log=True)
    assert edges.size == 11 and np.all(np.diff(edges) > 0)
    assert edges[0] == pytest.approx(np.quantile(np.linspace(1.0, 100.0, 1000), 0.005))
    counts = histogram_counts(np.array([0.0, 1.2, 5.0, 1e4]), edges)
    assert counts.size == 12 and counts.sum() == 4 and counts[0] == 2 and counts[-1] == 1
    flat = common_edges(np.full(10, 3.0), None, 4)
    assert flat[0] < 3.0 < flat[-1]
    assert common_edges(np.zeros(5), None, 4, log=True)[0] < 0.0  # no positive value: linear
