"""Response calibration: known quantile maps, per-energy bins, unchanged shapes, NaN/empty showers, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hepgan.data.response_calibration import N_LEVELS, ResponseCalibration, map_response

ENERGIES_MEV = np.array([1024.0, 4096.0, 16384.0])
REFERENCE = {1024.0: (0.90, 0.06), 4096.0: (0.95, 0.03), 16384.0: (0.98, 0.015)}  # mean, std of E_tot/E_inc
GENERATED = {1024.0: (0.92, 0.03), 4096.0: (0.94, 0.02), 16384.0: (0.985, 0.01)}  # too narrow, shifted


def _showers(response: np.ndarray, incident: np.ndarray, rng: np.random.Generator, n_cells: int = 12) -> np.ndarray:
    """Showers (N, n_cells) in MeV with random shapes and the given E_tot/E_inc."""
    shapes = rng.dirichlet(np.ones(n_cells), len(response))
    return shapes * (response * incident)[:, None]


def _fitted(n_reference: int = 4000, seed: int = 0) -> ResponseCalibration:
    rng = np.random.default_rng(seed)
    incident = np.repeat(ENERGIES_MEV, n_reference)
    response = np.concatenate([rng.normal(*REFERENCE[e], n_reference) for e in ENERGIES_MEV])
    calibration, at = ResponseCalibration.from_reference([(_showers(response, incident, rng), incident)])
    generated = np.array([rng.normal(*GENERATED[e]) for e in at])
    calibration.fit_generated(generated, at)
    return calibration


def test_gaussian_responses_map_onto_the_reference_per_energy() -> None:
    """Generated N(μ_g, σ_g) per energy becomes the reference's N(μ_r, σ_r): the map μ_r + σ_r (u − μ_g)/σ_g."""
    calibration = _fitted()
    assert calibration.n_bins == 3
    rng = np.random.default_rng(7)
    for energy in ENERGIES_MEV:
        mean_g, std_g = GENERATED[energy]
        mean_r, std_r = REFERENCE[energy]
        response = rng.normal(mean_g, std_g, 20_000)
        incident = np.full(response.size, energy)
        cells = torch.from_numpy(_showers(response, incident, rng))
        out = calibration.apply(cells, torch.from_numpy(incident)).numpy()
        mapped = out.sum(axis=1) / incident
        central = np.abs(response - mean_g) < 2 * std_g
        expected = mean_r + std_r * (response - mean_g) / std_g
        # the reference quantiles come from 4000 showers: their noise is ~σ_r/√4000·(a few) in the centre
        assert np.max(np.abs(mapped[central] - expected[central])) < 0.1 * std_r
        assert abs(mapped.mean() - mean_r) < 5 * std_r / np.sqrt(4000)
        assert abs(mapped.std() / std_r - 1) < 0.05  # the width is the reference's, not the generator's 0.5-0.67
        # the mapped responses follow the 4000 reference showers' empirical CDF: their KS distance to the true
        # normal is that of a 4000-shower sample (1.95/√n: p = 0.001)
        assert stats.kstest(mapped, "norm", args=(mean_r, std_r)).statistic < 1.95 / np.sqrt(4000)


def test_shapes_kept_and_the_map_is_monotone() -> None:
    calibration = _fitted(1000)
    rng = np.random.default_rng(3)
    response = np.sort(rng.normal(0.94, 0.02, 500))
    incident = np.full(500, 4096.0)
    cells = _showers(response, incident, rng)
    out = calibration.apply(torch.from_numpy(cells), torch.from_numpy(incident)).numpy()
    shapes = cells / cells.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out / out.sum(axis=1, keepdims=True), shapes, rtol=1e-6)
    assert np.all(np.diff(out.sum(axis=1)) >= 0)  # larger response stays larger
    assert np.array_equal(out > 0, cells > 0)  # no cell switched on or off


def test_empty_nan_and_out_of_range_showers() -> None:
    calibration = _fitted(1000)
    cells = torch.tensor([[0.0, 0.0], [np.nan, 1.0], [np.inf, 1.0], [2500.0, 2500.0], [1.0, 1.0]], dtype=torch.float64)
    incident = torch.full((5,), 4096.0, dtype=torch.float64)
    out = calibration.apply(cells, incident).numpy()
    assert np.all(out[0] == 0.0)  # an empty shower stays empty
    assert np.isnan(out[1, 0]) and not np.isfinite(out[2]).all()  # NaN/inf rows stay non-finite
    assert calibration.generated_quantiles is not None
    top = calibration.generated_quantiles[1, -1]
    assert 5000.0 / 4096.0 > top
    # above the generated range the map continues with slope 1 from the reference's top quantile
    expected = calibration.reference_quantiles[1, -1] + (5000.0 / 4096.0 - top)
    assert out[3].sum() / 4096.0 == pytest.approx(expected, 1e-5)
    assert np.all(out[4] >= 0)  # a response far below the range never turns negative


def test_map_response_reads_the_tables_between_nodes() -> None:
    """Hand-computed: one bin whose generated quantiles 0…1 map onto 0…2 (values = 2u, slope 1 beyond the ends)."""
    levels = np.linspace(0.0, 1.0, N_LEVELS)
    calibration = ResponseCalibration(np.zeros(0), 2 * levels[None], levels[None])
    tables = [torch.from_numpy(t) for t in calibration.tables()]
    response = torch.tensor([0.0, 0.25, 0.5004, 1.0, 1.5, -0.5], dtype=torch.float32)
    out = map_response(response, torch.zeros(6, dtype=torch.int64), *tables).numpy()
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0008, 2.0, 2.5, -0.5], atol=2e-5)


def test_state_round_trip_and_bad_tables() -> None:
    calibration = _fitted(500)
    state = calibration.state_dict()
    loaded = ResponseCalibration.from_state_dict(state)
    loaded.check()
    incident = torch.from_numpy(np.resize(ENERGIES_MEV, 30))
    cells = torch.rand(30, 12, dtype=torch.float64) * 100
    assert torch.equal(loaded.apply(cells, incident), calibration.apply(cells, incident))
    bad = dict(state, generated_quantiles=state["generated_quantiles"][:, :10])
    with pytest.raises(ValueError, match=r"response_calibration.generated_quantiles.*1001 levels"):
        ResponseCalibration.from_state_dict(bad).check()
    decreasing = dict(state, reference_quantiles=state["reference_quantiles"].flip(1))
    with pytest.raises(ValueError, match=r"response_calibration\.reference_quantiles"):
        ResponseCalibration.from_state_dict(decreasing).check()
    with pytest.raises(ValueError, match="NaN/inf total energy"):
        calibration.fit_generated(np.array([np.nan, 1.0, 1.0]), ENERGIES_MEV)


def test_continuous_energies_get_quantile_bins() -> None:
    rng = np.random.default_rng(5)
    incident = np.exp(rng.uniform(np.log(1e3), np.log(1e6), 30_000))
    response = rng.normal(0.95, 0.02, incident.size)
    calibration, at = ResponseCalibration.from_reference([(_showers(response, incident, rng, 4), incident)])
    assert calibration.n_bins == 20 and len(at) == 20 * 10_000
    assert at.min() >= incident.min() and at.max() <= incident.max()


@pytest.mark.parametrize(("n_cells", "per_bin"), [(368, 5_000), (6480, 2314), (40500, 500)])
def test_generated_showers_per_fit_are_bounded_for_large_geometries(n_cells: int, per_bin: int) -> None:
    """At most 3e8 generated cells per fit (20 bins here), and no fewer than 500 showers per bin."""
    rng = np.random.default_rng(6)
    incident = np.exp(rng.uniform(np.log(1e3), np.log(1e6), 10_000))  # 500 per bin: 10 x 500 generated
    totals = rng.normal(0.95, 0.02, incident.size) * incident

    def chunks():  # one column holding E_tot, the others empty: the calibration reads only their sum
        for start in range(0, incident.size, 500):
            cells = np.zeros((len(incident[start : start + 500]), n_cells), np.float32)
            cells[:, 0] = totals[start : start + 500]
            yield cells, incident[start : start + 500]

    calibration, at = ResponseCalibration.from_reference(chunks())
    assert calibration.n_bins == 20 and len(at) == 20 * per_bin
    assert len(at) * n_cells <= 3e8 or per_bin == 500  # the floor of 500 per bin may exceed the budget
