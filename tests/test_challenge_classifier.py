"""The CaloChallenge-protocol classifier: Bayes AUC and JSD of two Gaussians, isotonic calibration, the inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from hepgan.io.geometry import load_geometry
from hepgan.validation.challenge_classifier import (
    challenge_classifier_test,
    challenge_high_level_features,
    challenge_low_level_features,
    challenge_network,
    isotonic_calibration,
)
from hepgan.validation.observables import shower_observables


def _gaussian_jsd(delta: float) -> float:
    """JS divergence (in units of ln 2, i.e. bits) between N(0, 1) and N(δ, 1), by quadrature."""
    p, q = stats.norm(0.0, 1.0).pdf, stats.norm(delta, 1.0).pdf

    def integrand(x: float) -> float:
        m = 0.5 * (p(x) + q(x))
        return 0.5 * (p(x) * math.log(p(x) / m) + q(x) * math.log(q(x) / m))

    value, _ = integrate.quad(integrand, -12.0, 12.0 + delta)
    return value / math.log(2.0)


@pytest.mark.parametrize("delta", [0.0, 1.0])
def test_two_gaussians_reach_the_bayes_auc_and_jsd(delta: float) -> None:
    """N(0, 1) against N(δ, 1), 2500 each: AUC = Φ(δ/√2) and JSD = the quadrature value, within the errors."""
    rng = np.random.default_rng(11)
    reference = rng.normal(0.0, 1.0, (2500, 1))
    generated = rng.normal(delta, 1.0, (2500, 1))
    result = challenge_classifier_test(reference, generated, seed=3)
    assert result.n_train == 3000 and result.n_test == 1000 and result.n_validation == 1000
    bayes = stats.norm.cdf(delta / math.sqrt(2.0))
    assert abs(result.auc - bayes) < 3 * result.auc_err + 0.01
    # the calibrated classifier's JSD is a lower bound that reaches the true value for a well-trained network
    assert abs(result.jsd - _gaussian_jsd(delta)) < 3 * result.jsd_err + 0.02


def test_isotonic_calibration_by_hand() -> None:
    """Scores 0, 1, 2, 3 with labels 0, 1, 0, 1: the pooled fit is 0, ½, ½, 1, clipped to [1e-6, 1 − 1e-6]."""
    knots, probabilities = isotonic_calibration(np.array([3.0, 0.0, 2.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0]))
    np.testing.assert_array_equal(knots, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(probabilities, [1e-6, 0.5, 0.5, 1 - 1e-6])
    # tied scores share their block's mean
    knots, probabilities = isotonic_calibration(np.array([1.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0]))
    np.testing.assert_array_equal(knots, [1.0, 2.0])
    np.testing.assert_allclose(probabilities, [0.5, 1 - 1e-6])


def test_network_is_the_challenge_default() -> None:
    """input → 512 → 512 → 512 → 1: (d + 1)·512 + 2·513·512 + 513 weights."""
    n = sum(p.numel() for p in challenge_network(14).parameters())
    assert n == 15 * 512 + 2 * 513 * 512 + 513


def test_inputs_follow_the_challenge_layout() -> None:
    """ds1 photons: log10 E_inc, 5 layer energies (log10(E + 1e-8)), centres and widths of the 2 layers binned in
    alpha in mm / 100; voxels / E_inc after log10 E_inc."""
    geometry = load_geometry("calochallenge_ds1_photons")
    rng = np.random.default_rng(2)
    showers = rng.exponential(1.0, (6, geometry.n_voxels)) * (rng.random((6, geometry.n_voxels)) < 0.3)
    showers[0, :] = 0.0  # an empty shower: its centres and widths read 0, its layer energies log10(1e-8)
    incident = np.full(6, 65536.0)
    high = challenge_high_level_features(shower_observables(showers, incident, geometry), incident, geometry)
    binned = [layer.id for layer in geometry.layers if layer.n_alpha > 1]
    assert len(binned) == 2 and high.shape == (6, 1 + 5 + 4 * 2)
    np.testing.assert_allclose(high[:, 0], math.log10(65536.0), rtol=1e-6)
    np.testing.assert_allclose(high[0, 1:6], -8.0, rtol=1e-6)
    assert np.all(high[0, 6:] == 0.0) and np.all(np.isfinite(high))
    start = 0
    for i, layer in enumerate(geometry.layers):
        size = layer.shape[0] * layer.shape[1]
        expected = np.log10(showers[1:, start : start + size].sum(axis=1) + 1e-8)
        np.testing.assert_allclose(high[1:, 1 + i], expected, rtol=1e-5)
        start += size
    low = challenge_low_level_features(showers, incident)
    assert low.shape == (6, 1 + geometry.n_voxels)
    np.testing.assert_allclose(low[:, 1:], showers / 65536.0, rtol=1e-6)
