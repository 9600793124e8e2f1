"""Invertible preprocessing: exact round trip, standardisation and persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgan.data.transforms import ShowerTransform
from hepgan.errors import ConfigError


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
    transform = ShowerTransform(cells.shape[1], empty_cell_cut=False).fit([(cells, energies)])
    features = torch.randn(50, transform.n_features, dtype=torch.float64)
    e = torch.full((50,), 1024.0, dtype=torch.float64)
    out = transform.inverse(features, e)
    mu, sigma = transform._response_params(e)
    expected = torch.clamp(mu + sigma * features[:, 0], min=0) * e
    np.testing.assert_allclose(out.sum(dim=1).numpy(), expected.numpy(), rtol=1e-10)


def test_cells_are_standardised_per_incident_energy() -> None:
    rng = np.random.default_rng(7)
    cells, energies = _showers(rng, n=4000)
    # make the mean shape depend on the energy: cell 1 grows with E
    cells[:, 1] *= energies / 256.0
    transform = ShowerTransform(cells.shape[1]).fit([(cells[:2000], energies[:2000]), (cells[2000:], energies[2000:])])
    assert transform.cell_mean.shape == (8, cells.shape[1])
    features = transform.forward(torch.from_numpy(cells), torch.from_numpy(energies)).numpy()[:, 1:]
    for e in np.unique(energies):
        x = features[energies == e]
        np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-8)
        np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-6)
    # half-way in ln E between two bins: the mean of the two bins' parameters
    mean, std = transform.cell_parameters(torch.tensor([256.0 * np.sqrt(2.0)]), torch.device("cpu"), torch.float64)
    np.testing.assert_allclose(mean[0], 0.5 * (transform.cell_mean[0] + transform.cell_mean[1]), rtol=1e-12)
    np.testing.assert_allclose(std[0], 0.5 * (transform.cell_std[0] + transform.cell_std[1]), rtol=1e-12)
    # zero network output at a fitted energy is the bin's mean ln-fraction shape
    e = torch.full((1,), 1024.0, dtype=torch.float64)
    shower = transform.inverse(torch.zeros(1, transform.n_features, dtype=torch.float64), e)[0].numpy()
    expected = np.exp(transform.cell_mean[2].numpy()) - transform.fraction_epsilon
    np.testing.assert_allclose(shower / shower.sum(), expected / expected.sum(), rtol=1e-9)


def test_global_standardisation_has_one_mean_per_cell() -> None:
    rng = np.random.default_rng(8)
    cells, energies = _showers(rng)
    transform = ShowerTransform(cells.shape[1], cell_standardisation="global").fit([(cells, energies)])
    assert transform.cell_mean.shape == (cells.shape[1],)
    y = np.log(cells / cells.sum(axis=1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(transform.cell_mean.numpy(), y.mean(axis=0), rtol=1e-12)


def test_empty_cell_cut() -> None:
    """Fractions below ε and energies below the smallest fitted cell come back as 0."""
    cells = np.array([[10.0, 0.0, 2.0], [8.0, 4.0, 0.0], [9.0, 3.0, 0.5]])
    energies = np.full(3, 20.0)
    transform = ShowerTransform(3, fraction_epsilon=1e-3).fit([(cells, energies)])
    assert transform.min_cell_mev == 0.5
    e = torch.full((1,), 20.0, dtype=torch.float64)
    mean, std = transform.cell_parameters(e, torch.device("cpu"), torch.float64)

    def features_for(fractions: list[float]) -> torch.Tensor:
        x = (torch.log(torch.tensor([fractions], dtype=torch.float64) + 1e-3) - mean) / std
        return torch.cat([torch.zeros(1, 1, dtype=torch.float64), x], dim=1)

    out = transform.inverse(features_for([0.9, 0.0995, 0.0005]), e)[0]  # third: fraction 5e-4 < ε
    assert out[2] == 0 and out[1] > 0
    mu, _ = transform._response_params(e)
    total = float(mu * 20.0)
    out = transform.inverse(features_for([0.99, 0.2 / total, 0.0]), e)[0]  # second: 0.2 MeV < 0.5 MeV
    assert out[1] == 0 and out[0] > 0
    off = ShowerTransform(3, fraction_epsilon=1e-3, empty_cell_cut=False).fit([(cells, energies)])
    assert off.inverse(features_for([0.9, 0.0995, 0.0005]), e)[0][2] > 0


def test_states_without_the_new_fields_load_as_trained() -> None:
    rng = np.random.default_rng(9)
    cells, energies = _showers(rng)
    transform = ShowerTransform(cells.shape[1], cell_standardisation="global", empty_cell_cut=False)
    transform.fit([(cells, energies)])
    state = transform.state_dict()
    for key in ("cell_standardisation", "empty_cell_cut", "min_cell_mev"):
        state.pop(key)
    restored = ShowerTransform.from_state_dict(state)
    assert restored.cell_standardisation == "global" and not restored.empty_cell_cut
    features = torch.randn(20, transform.n_features, dtype=torch.float64)
    e = torch.from_numpy(energies[:20])
    assert torch.equal(transform.inverse(features, e), restored.inverse(features, e))


def test_fit_records_the_incident_energy_range_and_the_state_keeps_it() -> None:
    rng = np.random.default_rng(10)
    cells, energies = _showers(rng)
    transform = ShowerTransform(cells.shape[1]).fit([(cells[:150], energies[:150]), (cells[150:], energies[150:])])
    assert transform.incident_range_mev == (energies.min(), energies.max()) == (256.0, 32768.0)
    state = transform.state_dict()
    assert (state["incident_min_mev"], state["incident_max_mev"]) == (256.0, 32768.0)
    restored = ShowerTransform.from_state_dict(state)
    assert restored.incident_range_mev == (256.0, 32768.0)
    restored.check(cells.shape[1])
    # inside, and within the 1 % tolerance at both ends, pass
    restored.check_incident_range(np.array([256.0, 1000.0, 32768.0]))
    restored.check_incident_range(np.float32([256.0 * (1 - 5e-3), 32768.0 * (1 + 5e-3)]))
    with pytest.raises(ConfigError) as info:
        restored.check_incident_range(np.array([100.0, 1000.0, 65536.0, 40000.0]), "some/file.h5")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "some/file.h5: 3 of 4 incident energies lie outside the trained range 0.256 to 32.768 GeV"
    )
    assert "(smallest 0.1 GeV, largest 65.536 GeV)" in message and "trained on that range only" in message
    # beyond the tolerance: refused
    with pytest.raises(ConfigError, match=r"^1 of 1 incident energies .* \(largest 33\.4234 GeV\)"):
        restored.check_incident_range(np.array([32768.0 * (1 + 2e-2)]))


def test_states_without_the_incident_range_load_and_skip_the_check() -> None:
    rng = np.random.default_rng(11)
    cells, energies = _showers(rng)
    state = ShowerTransform(cells.shape[1]).fit([(cells, energies)]).state_dict()
    for key in ("incident_min_mev", "incident_max_mev"):
        state.pop(key)
    restored = ShowerTransform.from_state_dict(state)
    assert restored.incident_range_mev is None and "incident_min_mev" not in restored.state_dict()
    restored.check(cells.shape[1])
    restored.check_incident_range(np.array([1.0, 1e9]))  # unknown range: nothing is refused
    with pytest.raises(KeyError, match="incident_max_mev"):  # half a range is not an old state
        ShowerTransform.from_state_dict({**state, "incident_min_mev": 256.0})
    reversed_range = ShowerTransform.from_state_dict({**state, "incident_min_mev": 10.0, "incident_max_mev": 1.0})
    with pytest.raises(ValueError, match=r"transform\.incident_min_mev and incident_max_mev are 10 and 1"):
        reversed_range.check(cells.shape[1])
