"""Profile calibration: the Gaussian-copula known answer, empty groups, kept shapes, NaN showers, the groups of a
geometry, checkpoint tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hepgan.data.profile_calibration import N_LEVELS, ProfileCalibration, empty_score, group_energies, profile_groups
from hepgan.io.geometry import load_geometry

SLICES = (slice(0, 2), slice(2, 5), slice(5, 6))  # three groups of 2, 3 and 1 cells
INDEX = np.array([0, 0, 1, 1, 1, 2, 3])  # ... and one extra cell outside the groups
ENERGIES_MEV = (1000.0, 8000.0)
# ln(E_l/E_inc) is Gaussian: means, stds and correlations (0-1, 0-2, 1-2) of the reference and the generator
REFERENCE = (np.array([-3.0, -1.0, -2.0]), np.array([0.5, 0.1, 0.3]), (0.6, -0.3, 0.2))
GENERATED = (np.array([-2.5, -1.2, -2.2]), np.array([0.3, 0.2, 0.6]), (0.0, 0.5, -0.4))


def _showers(
    n: int, model: tuple, energy: float, rng: np.random.Generator, empty: tuple[float, ...] = (0, 0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """(cells (n, 7) MeV, incident (n,)): layer shares lognormal with a Gaussian copula, random shapes within
    layers, the layers emptied with probabilities ``empty``, and an extra cell of 1 MeV."""
    mean, std, (r01, r02, r12) = model
    correlation = np.array([[1.0, r01, r02], [r01, 1.0, r12], [r02, r12, 1.0]])
    shares = np.exp(mean + std * (rng.standard_normal((n, 3)) @ np.linalg.cholesky(correlation).T))
    shares *= rng.random((n, 3)) >= np.asarray(empty)
    cells = np.empty((n, 7))
    for layer, part in enumerate(SLICES):
        width = part.stop - part.start
        cells[:, part] = rng.dirichlet(np.ones(width), n) * (shares[:, layer] * energy)[:, None]
    cells[:, 6] = 1.0
    return cells, np.full(n, energy)


def _fitted(n: int = 20_000, seed: int = 0, ref_empty=(0, 0, 0), gen_empty=(0, 0, 0)) -> ProfileCalibration:
    rng = np.random.default_rng(seed)
    chunks = [_showers(n, REFERENCE, energy, rng, ref_empty) for energy in ENERGIES_MEV]
    calibration, at = ProfileCalibration.from_reference(chunks, INDEX, 3)
    assert calibration.n_bins == 2 and not calibration.fitted
    parts = [_showers(int((at == energy).sum()), GENERATED, energy, rng, gen_empty) for energy in ENERGIES_MEV]
    cells, incident = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    calibration.fit_generated(_shares(cells, incident), incident)
    return calibration


def _shares(cells: np.ndarray, incident: np.ndarray) -> np.ndarray:
    return group_energies(cells, INDEX, 3) / incident[:, None]


def _apply(calibration: ProfileCalibration, cells: np.ndarray, incident: np.ndarray) -> np.ndarray:
    return calibration.apply(torch.from_numpy(cells).float(), torch.from_numpy(incident)).double().numpy()


def test_gaussian_copula_maps_onto_the_reference_marginals_and_correlations() -> None:
    """Lognormal layers with a Gaussian copula: the calibrated ln x_l have the reference's means, stds and
    correlations, not the generator's (known answer)."""
    calibration = _fitted()
    rng = np.random.default_rng(7)
    cells, incident = _showers(50_000, GENERATED, 8000.0, rng)
    out = _apply(calibration, cells, incident)
    log_shares = np.log(_shares(out, incident))
    mean, std, correlations = REFERENCE
    # the reference tables come from 20 000 showers per energy (errors ~1 % of σ); the tails beyond their largest
    # and smallest values are clamped, which narrows the widths by ~2 %
    assert np.all(np.abs(log_shares.mean(axis=0) - mean) < 0.03 * std)
    np.testing.assert_allclose(log_shares.std(axis=0), std, rtol=0.04)
    measured = np.corrcoef(log_shares.T)[np.triu_indices(3, 1)]
    np.testing.assert_allclose(measured, correlations, atol=0.03)  # the generator's are 0, 0.5, −0.4
    for layer in range(3):  # each marginal is the reference's lognormal, by a KS test at 20 000 reference showers
        statistic = stats.kstest(log_shares[:, layer], "norm", args=(mean[layer], std[layer])).statistic
        assert statistic < 1.95 / np.sqrt(20_000)


def test_shapes_within_layers_and_extra_cells_are_kept() -> None:
    calibration = _fitted(4000)
    rng = np.random.default_rng(3)
    cells, incident = _showers(500, GENERATED, 1000.0, rng)
    out = _apply(calibration, cells, incident)
    for part in SLICES[:2]:  # every cell of a layer is scaled by one factor
        ratio = out[:, part] / cells[:, part]
        np.testing.assert_allclose(ratio, ratio[:, :1].repeat(ratio.shape[1], axis=1), rtol=1e-5)
    np.testing.assert_array_equal(out[:, 6], cells[:, 6].astype(np.float32))  # the extra cell is in no group
    assert not np.allclose(_shares(out, incident), _shares(cells, incident), rtol=0.05)


def test_empty_layers_stay_empty_and_the_reference_empty_share_is_reached() -> None:
    """Layer 0 is empty in 30 % of the reference showers and 10 % of the generated ones: generated empty layers
    stay empty and the lowest-scoring 20 % become empty (a layer can be emptied, not filled)."""
    calibration = _fitted(20_000, ref_empty=(0.3, 0, 0), gen_empty=(0.1, 0, 0))
    rng = np.random.default_rng(11)
    cells, incident = _showers(20_000, GENERATED, 1000.0, rng, empty=(0.1, 0, 0))
    out = _apply(calibration, cells, incident)
    was_empty = cells[:, SLICES[0]].sum(axis=1) == 0
    now_empty = out[:, SLICES[0]].sum(axis=1) == 0
    assert np.all(now_empty[was_empty])
    assert abs(now_empty.mean() - 0.3) < 0.02
    assert np.all(out[:, SLICES[1]].sum(axis=1) > 0)


def test_empty_score_is_the_truncated_normal_mean() -> None:
    for p0 in (1e-3, 0.1, 0.5, 0.9):
        expected = stats.truncnorm(-np.inf, stats.norm.ppf(p0)).mean()
        assert empty_score(np.array(p0)) == pytest.approx(expected, rel=1e-9)


def test_nan_and_empty_showers() -> None:
    calibration = _fitted(2000)
    cells = np.zeros((3, 7))
    cells[1, :] = np.nan
    cells[2, :] = 10.0
    out = _apply(calibration, cells, np.full(3, 1000.0))
    np.testing.assert_array_equal(out[0], 0.0)
    assert np.all(np.isnan(out[1]))
    assert np.all(np.isfinite(out[2])) and np.all(out[2, :6] > 0)


def test_state_dict_round_trip_and_checks() -> None:
    calibration = _fitted(2000)
    state = calibration.state_dict()
    again = ProfileCalibration.from_state_dict(state)
    again.check(7)
    rng = np.random.default_rng(5)
    cells, incident = _showers(100, GENERATED, 8000.0, rng)
    np.testing.assert_array_equal(_apply(again, cells, incident), _apply(calibration, cells, incident))
    with pytest.raises(ValueError, match=r"^profile_calibration\.group_index has shape \(7,\), expected \(8,\)"):
        again.check(8)
    broken = dict(state)
    broken["generated_quantiles"] = state["generated_quantiles"].flip(-1).contiguous()
    with pytest.raises(ValueError, match=r"^profile_calibration\.generated_quantiles decreases"):
        ProfileCalibration.from_state_dict(broken).check(7)
    broken = dict(state)
    broken["reference_zero_share"] = state["reference_zero_share"] + 2.0
    with pytest.raises(ValueError, match=r"^profile_calibration\.reference_zero_share has empty shares"):
        ProfileCalibration.from_state_dict(broken).check(7)
    assert state["reference_quantiles"].shape == (2, 3, N_LEVELS)
    unfitted = ProfileCalibration(calibration.log_edges, INDEX, calibration.reference)
    with pytest.raises(RuntimeError, match="fit_generated"):
        unfitted.state_dict()


def test_non_finite_generated_showers_are_refused() -> None:
    calibration = _fitted(2000)
    shares = np.full((10, 3), 0.1)
    shares[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 generated showers have a NaN/inf group energy"):
        calibration.fit_generated(shares, np.full(10, 1000.0))


def test_groups_of_the_dataset_1_photons() -> None:
    """Rings: one group per (layer, radial bin), all alpha sectors together; layers: one per layer."""
    geometry = load_geometry("calochallenge_ds1_photons")
    rings, n_rings = profile_groups(geometry, "rings", n_extra=2)
    assert n_rings == 8 + 16 + 19 + 5 + 5 and rings.shape == (368 + 2,)
    np.testing.assert_array_equal(rings[-2:], n_rings)
    layer_1 = geometry.layer_slices[1]  # 10 alpha sectors × 16 radial bins, r fastest
    np.testing.assert_array_equal(rings[layer_1].reshape(10, 16), np.tile(8 + np.arange(16), (10, 1)))
    layers, n_layers = profile_groups(geometry, "layers")
    np.testing.assert_array_equal(layers, geometry.layer_of_voxel)
    assert n_layers == 5
    calogan = load_geometry("calogan")  # cartesian layers, no radial bins: each layer is one group
    rings, n_rings = profile_groups(calogan, "rings", n_extra=3)
    np.testing.assert_array_equal(rings, np.r_[calogan.layer_of_voxel, 3, 3, 3])
    assert n_rings == 3
    with pytest.raises(ValueError, match="profile groups 'voxels': expected layers or rings"):
        profile_groups(calogan, "voxels")


def test_group_energies_sum_the_cells_of_each_group() -> None:
    cells = np.arange(14.0).reshape(2, 7)
    np.testing.assert_array_equal(group_energies(cells, INDEX, 3), [[1.0, 9.0, 5.0], [15.0, 30.0, 12.0]])
