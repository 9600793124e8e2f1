"""FPD and KPD against closed forms and known answers (arXiv:2211.10295 conventions)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from hepgan.validation.physics_distances import (
    fpd,
    frechet_distance,
    frechet_distance_samples,
    high_level_matrix,
    high_level_names,
    kpd,
    mmd2_unbiased,
    polynomial_kernel,
    standardise,
)


def _random_covariance(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    mu_1, mu_2 = rng.normal(size=4), rng.normal(size=4)
    cov_1, cov_2 = _random_covariance(rng, 4), _random_covariance(rng, 4)
    root = linalg.sqrtm(cov_1 @ cov_2).real
    expected = np.sum((mu_1 - mu_2) ** 2) + np.trace(cov_1 + cov_2 - 2 * root)
    assert frechet_distance(mu_1, cov_1, mu_2, cov_2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu_1, cov_1, mu_1, cov_1) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (mu1 - mu2)^2 + (sigma1 - sigma2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])) == pytest.approx(
        2.0
    )


def test_frechet_distance_singular_covariance():
    cov = np.diag([1.0, 0.0])
    assert frechet_distance(np.zeros(2), cov, np.zeros(2), cov) == pytest.approx(0.0, abs=1e-12)


def test_fpd_of_same_and_shifted_gaussians():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(6000, 3))
    same = rng.normal(size=(6000, 3))
    value, error = fpd(reference, same, min_samples=2000, max_samples=6000)
    assert abs(value) < max(3 * error, 0.01)
    shifted = same + np.array([0.5, 0.0, 0.0])
    value, error = fpd(reference, shifted, min_samples=2000, max_samples=6000)
    assert value == pytest.approx(0.25, abs=max(3 * error, 0.03))
    assert error > 0


def test_fpd_extrapolation_removes_finite_size_bias():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3000, 8)), rng.normal(size=(3000, 8))
    raw = frechet_distance_samples(*standardise(x, y))
    value, error = fpd(x, y, min_samples=1000)
    assert raw > 0.005  # finite-sample bias ~ d^2 / N
    assert abs(value) < raw and abs(value) < 4 * error + 1e-3


def test_mmd2_unbiased_matches_loops():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    k = lambda a, b: (a @ b / 2 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(a, b) for a in x for b in y) / 30
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)
    assert polynomial_kernel(x, y).shape == (6, 5)


def test_kpd_same_and_shifted():
    rng = np.random.default_rng(4)
    reference, same = rng.normal(size=(4000, 4)), rng.normal(size=(4000, 4))
    value, error = kpd(reference, same, batch_size=1000)
    assert abs(value) < max(3 * error, 2e-3)
    value_shifted, error_shifted = kpd(reference, same + 0.3, batch_size=1000)
    assert value_shifted > 5 * max(error_shifted, abs(value))


def test_standardise_drops_constant_columns_and_clips():
    reference = np.column_stack([np.arange(1000.0), np.ones(1000)])
    generated = np.column_stack([np.full(10, 1e9), np.ones(10)])
    ref_z, gen_z = standardise(reference, generated)
    assert ref_z.shape == (1000, 1) and gen_z.shape == (10, 1)
    assert ref_z.mean() == pytest.approx(0.0) and ref_z.std() == pytest.approx(1.0)
    assert gen_z.max() < 2.0  # clipped to the reference's 99.9 % quantile
    _, unclipped = standardise(reference, generated, clip_quantile=None)
    assert unclipped.max() > 1e6


def test_high_level_feature_selection_and_log():
    observables = {
        "e_total": np.array([1.0, 2.0]),
        "e_ratio": np.array([0.9, 1.0]),
        "e_layer_2": np.array([10.0, 0.0]),
        "width_x_12": np.array([3.0, 4.0]),
        "sparsity_2": np.array([0.1, 0.2]),
    }
    names = high_level_names(list(observables))
    assert names == ["e_ratio", "e_layer_2", "width_x_12"]
    matrix = high_level_matrix(observables)
    np.testing.assert_allclose(matrix[:, 1], [1.0, -3.0])  # log10, floored at 1e-3 MeV
    np.testing.assert_allclose(matrix[:, 2], [3.0, 4.0])
