"""Invertible preprocessing: exact round trip, standardisation and persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgan.data.transforms import ShowerTransform


def _showers(rng: np.random.Generator, n: int = 400, cells: int = 30) -> tuple[np.ndarray, np.ndarray]:
    energies = 2.0 ** rng.integers(8, 16, n)
    weights = rng.gamma(2.0, 1.0, (n, cells)) * (rng.random((n, cells)) < 0.6)
    weights[:, 0] += 1.0  # no empty showers
    fractions = weights / weights.sum(axis=1, keepdims=True)
    response = rng.normal(0.9, 0.05, n)
    return fractions * (response * energies)[:, None], energies


def test_inverse_of_forward_is_identity() -> None:
    rng = np.random.default_rng(3)
    cells, energies = _showers(rng)
    transform = ShowerTransform(cells.shape[1], fraction_epsilon=1e-6).fit(
        [(cells[:200], energies[:200]), (cells[200:], energies[200:])]
    )
    cells_t, e_t = torch.from_numpy(cells), torch.from_numpy(energies)
    back = transform.inverse(transform.forward(cells_t, e_t), e_t)
    np.testing.assert_allclose(back.numpy(), cells, rtol=1e-9, atol=1e-9)


def test_features_are_standardised() -> None:
    rng = np.random.default_rng(4)
    cells, energies = _showers(rng, n=2000)
    transform = ShowerTransform(cells.shape[1]).fit([(cells, energies)])
    features = transform.forward(torch.from_numpy(cells), torch.from_numpy(energies)).numpy()
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-8)
    np.testing.assert_allclose(features.std(axis=0), 1.0, atol=1e-6)
    # the response is standardised per incident energy, not only overall
    for e in np.unique(energies):
        z = features[energies == e, 0]
        assert abs(z.mean()) < 1e-8 and z.std() == pytest.approx(1.0, abs=1e-6)


def test_response_interpolates_between_energy_bins() -> None:
    transform = ShowerTransform(2, response_bins=4)
    cells = np.array([[0.5, 0.5], [0.7, 0.3], [50.0, 30.0], [60.0, 30.0]])
    energies = np.array([1.0, 1.0, 100.0, 100.0])
    transform.fit([(cells * energies[:, None] / np.array([1, 1, 100, 100])[:, None], energies)])
    mu, _ = transform._response_params(torch.tensor([10.0]))  # halfway in ln E
    assert mu.item() == pytest.approx(0.5 * (1.0 + 0.85))
    mu_lo, _ = transform._response_params(torch.tensor([0.1]))  # constant beyond the ends
    assert mu_lo.item() == pytest.approx(1.0)


def test_state_dict_restores_the_same_transform() -> None:
    rng = np.random.default_rng(5)
    cells, energies = _showers(rng)
    transform = ShowerTransform(cells.shape[1]).fit([(cells, energies)])
    restored = ShowerTransform.from_state_dict(transform.state_dict())
    features = torch.randn(10, transform.n_features, dtype=torch.float64)
    e = torch.from_numpy(energies[:10])
    assert torch.equal(transform.inverse(features, e), restored.inverse(features, e))
    out = restored.inverse(features, e)
    assert torch.all(out >= 0)


def test_generated_fractions_sum_to_the_response() -> None:
    rng = np.random.default_rng(6)
    cells, energies = _showers(rng)
    transform = ShowerTransform(cells.shape[1]).fit([(cells, energies)])
    features = torch.randn(50, transform.n_features, dtype=torch.float64)
    e = torch.full((50,), 1024.0, dtype=torch.float64)
    out = transform.inverse(features, e)
    mu, sigma = transform._response_params(e)
    expected = torch.clamp(mu + sigma * features[:, 0], min=0) * e
    np.testing.assert_allclose(out.sum(dim=1).numpy(), expected.numpy(), rtol=1e-10)
