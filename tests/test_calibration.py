"""Cell calibration: per-cell quantile mapping of generated fractions onto the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from hepgan.data.calibration import CellCalibration, draw_ranks
from hepgan.domains import train
from hepgan.generate import ShowerGenerator

from .helpers import small_config


def showers(rng: np.random.Generator, n: int, outer_rate: float, outer_scale: float) -> np.ndarray:
    """(n, 3) cells in MeV: a core cell, a middle cell, an outer cell hit with probability ``outer_rate``."""
    core = rng.uniform(60.0, 80.0, n)
    middle = rng.gamma(4.0, 5.0, n)
    outer = np.where(rng.random(n) < outer_rate, rng.exponential(outer_scale, n), 0.0)
    return np.c_[core, middle, outer]


def chunks(cells: np.ndarray, incident: np.ndarray, size: int = 300) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(cells[i : i + size], incident[i : i + size]) for i in range(0, len(cells), size)]


def fractions(cells: np.ndarray) -> np.ndarray:
    return cells / cells.sum(axis=1, keepdims=True)


def fitted_at_one_energy(rng: np.random.Generator, reference_rate: float, generated_rate: float) -> CellCalibration:
    """A calibration at 5 GeV from 3000 reference showers and 6000 generated ones (outer-cell hit rates given)."""
    calibration, _ = CellCalibration.from_reference(chunks(showers(rng, 3000, reference_rate, 5.0), np.full(3000, 5e3)))
    calibration.fit_generated(showers(rng, 6000, generated_rate, 5.0), np.full(6000, 5e3))
    return calibration


def test_maps_each_cells_distribution_onto_the_reference_per_energy():
    """The generator's outer cell is hit too rarely and too weakly, differently at two energies."""
    rng = np.random.default_rng(0)
    n = 4000
    ref_inc = rng.choice([1e3, 1e5], n)
    ref = np.where(ref_inc[:, None] > 1e4, showers(rng, n, 0.4, 8.0), showers(rng, n, 0.2, 4.0))
    calibration, energies = CellCalibration.from_reference(chunks(ref, ref_inc), max_per_bin=1500)
    assert calibration.n_bins == 2 and len(energies) == 3000
    gen_inc = np.repeat(energies, 2)
    calibration.fit_generated(showers(rng, len(gen_inc), 0.05, 1.0), gen_inc)

    test_inc = rng.choice([1e3, 1e5], n)
    test = showers(rng, n, 0.05, 1.0)
    out = calibration.apply(torch.from_numpy(test), torch.from_numpy(test_inc), torch.Generator().manual_seed(1))
    out = out.numpy()
    assert out.sum(axis=1) == pytest.approx(test.sum(axis=1), rel=1e-5)  # total energy kept
    for energy, rate in ((1e3, 0.2), (1e5, 0.4)):
        mine, theirs = fractions(out[test_inc == energy]), fractions(ref[ref_inc == energy])
        occupancy = np.mean(mine[:, 2] > 0)
        assert occupancy == pytest.approx(rate, abs=4 * np.sqrt(rate * (1 - rate) / len(mine)) + 0.02)
        for cell in range(3):
            # the renormalisation moves fractions a little: compare the distributions loosely
            assert stats.ks_2samp(mine[:, cell], theirs[:, cell]).statistic < 0.06, (energy, cell)
        raw = fractions(test[test_inc == energy])
        assert stats.ks_2samp(raw[:, 2], theirs[:, 2]).statistic > 0.1  # it was off before


def test_same_distribution_is_left_almost_unchanged_and_order_is_kept():
    rng = np.random.default_rng(2)
    calibration = fitted_at_one_energy(rng, 0.3, 0.3)
    test = showers(rng, 2000, 0.3, 5.0)
    out = calibration.apply(torch.from_numpy(test), torch.from_numpy(np.full(2000, 5e3))).numpy()
    before, after = fractions(test), fractions(out)
    assert np.median(np.abs(after[:, 1] - before[:, 1])) < 0.01
    # monotone per cell: the ranks of the middle cell's fractions barely move
    assert stats.spearmanr(before[:, 1], after[:, 1]).statistic > 0.99


def test_no_hits_below_the_reference_smallest_and_empty_share_kept():
    """Same distribution on both sides: empty stays as often empty, no new tiny hits appear."""
    rng = np.random.default_rng(8)
    inc = np.full(4000, 5e3)
    ref = showers(rng, 4000, 0.5, 5.0)
    smallest = fractions(ref)[:, 2][fractions(ref)[:, 2] > 0].min()
    calibration, _ = CellCalibration.from_reference(chunks(ref, inc))
    calibration.fit_generated(showers(rng, 8000, 0.5, 5.0), np.full(8000, 5e3))
    test = showers(rng, 4000, 0.5, 5.0)
    out = fractions(calibration.apply(torch.from_numpy(test), torch.from_numpy(inc), torch.Generator()).numpy())
    outer = out[:, 2]
    assert not np.any((outer > 0) & (outer < 0.9 * smallest))
    assert np.mean(outer > 0) == pytest.approx(0.5, abs=0.03)


def test_mixed_spectrum_gets_no_empty_bin_and_iterators_are_refused():
    """A 1 TeV spike on a continuous 1-100 GeV spectrum: quantile bins, none of them empty."""
    rng = np.random.default_rng(9)
    inc = np.r_[np.full(3000, 1e6), rng.uniform(1e3, 1e5, 3000)]
    ref = showers(rng, 6000, 0.3, 5.0)
    calibration, energies = CellCalibration.from_reference(chunks(ref, inc))
    counts = np.bincount(calibration.bin_of(inc), minlength=calibration.n_bins)
    assert calibration.n_bins > 2 and np.all(counts > 0)
    calibration.fit_generated(showers(rng, 2 * len(energies), 0.3, 5.0), np.repeat(energies, 2))
    with pytest.raises(TypeError, match="re-iterable"):
        CellCalibration.from_reference(iter(chunks(ref, inc)))


def test_state_dict_round_trip_and_seeded_ties():
    rng = np.random.default_rng(3)
    inc = rng.choice([1e3, 4e3, 1.6e4], 1200)
    ref = showers(rng, 1200, 0.3, 5.0)
    calibration, energies = CellCalibration.from_reference(chunks(ref, inc))
    calibration.fit_generated(showers(rng, 2 * len(energies), 0.1, 5.0), np.repeat(energies, 2))
    restored = CellCalibration.from_state_dict(calibration.state_dict())
    test, test_inc = torch.from_numpy(showers(rng, 500, 0.1, 5.0)), torch.from_numpy(rng.choice([1e3, 1.6e4], 500))
    first = calibration.apply(test, test_inc, torch.Generator().manual_seed(5))
    assert torch.equal(first, restored.apply(test, test_inc, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, calibration.apply(test, test_inc, torch.Generator().manual_seed(6)))
    with pytest.raises(RuntimeError, match="fit_generated"):
        CellCalibration.from_reference(chunks(ref, inc))[0].apply(test, test_inc)


def test_training_stores_and_generation_applies_the_calibration(tmp_path: Path, reference_file: Path):
    config = small_config(tmp_path, reference_file, max_steps=3)
    result = train(config, progress=False)
    generator = ShowerGenerator.from_checkpoint(result.checkpoint, device="cpu")
    assert generator.calibration is not None and generator.calibration.n_bins == 3  # 1, 4, 16 GeV
    assert generator.profile_calibration is not None and generator.profile_calibration.fitted
    generator.profile_calibration = None  # it moves energy between rings; the cell calibration alone keeps E_tot
    incident = np.full(300, 4096.0)
    calibrated = generator.sample(incident, seed=4).showers_mev
    generator.calibration = None
    raw = generator.sample(incident, seed=4).showers_mev
    assert np.asarray(calibrated).sum(axis=1) == pytest.approx(np.asarray(raw).sum(axis=1), rel=1e-4)
    assert not np.allclose(calibrated, raw)


def log_uniform_pair(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """(n, 2) cells: a core of 100 MeV and a second cell whose energy over the core is log-uniform in [low, high]."""
    ratio = np.exp(rng.uniform(np.log(low), np.log(high), n))
    return np.c_[np.full(n, 100.0), 100.0 * ratio]


def test_grid_map_is_the_analytic_quantile_map():
    """Generated ratio log-uniform in [1e-4, 1e-2], reference in [1e-3, 1e-1]: the exact map multiplies the
    second cell's share by about 10 (the core's distribution is the same on both sides, up to the shares' own
    spread). The grid (CDF nodes in ln f) must reproduce it to the fit's sampling error."""
    rng = np.random.default_rng(11)
    inc = np.full(40_000, 5e3)
    ref = log_uniform_pair(rng, 40_000, 1e-3, 1e-1)
    calibration, _ = CellCalibration.from_reference(chunks(ref, inc, size=10_000), max_per_bin=40_000)
    calibration.fit_generated(log_uniform_pair(rng, 40_000, 1e-4, 1e-2), np.full(40_000, 5e3))
    test = log_uniform_pair(rng, 5000, 1.5e-4, 0.8e-2)  # away from the ends, where the maps are clipped
    out = calibration.apply(torch.from_numpy(test), torch.from_numpy(np.full(5000, 5e3))).numpy()
    f_gen, f_out = fractions(test)[:, 1], fractions(out)[:, 1]
    # the exact map: rank u of the generated share, then the reference share at u (both distributions known)
    u = (np.log(test[:, 1] / test[:, 0]) - np.log(1e-4)) / np.log(100.0)
    ratio_ref = np.exp(np.log(1e-3) + u * np.log(100.0))
    f_exact = ratio_ref / (1 + ratio_ref)
    relative = f_out / f_exact - 1
    assert np.median(np.abs(relative)) < 0.02 and np.max(np.abs(relative)) < 0.08
    assert np.median(f_out / f_gen) == pytest.approx(10.0, rel=0.1)


@pytest.mark.parametrize(("generated_rate", "reference_rate"), [(0.2, 0.5), (0.6, 0.35)])
def test_occupancy_becomes_the_references(generated_rate: float, reference_rate: float):
    """More or fewer empty cells than the reference: the calibrated share of hits is the reference's, to
    half a node spacing of the empty ranks plus the statistical error."""
    rng = np.random.default_rng(12)
    inc = np.full(20_000, 5e3)
    ref = showers(rng, 20_000, reference_rate, 5.0)
    calibration, _ = CellCalibration.from_reference(chunks(ref, inc, size=5000), max_per_bin=20_000)
    calibration.fit_generated(showers(rng, 20_000, generated_rate, 5.0), inc)
    test = showers(rng, 20_000, generated_rate, 5.0)
    out = calibration.apply(torch.from_numpy(test), torch.from_numpy(inc), torch.Generator().manual_seed(3)).numpy()
    occupancy = np.mean(out[:, 2] > 0)
    error = 3 * np.sqrt(reference_rate * (1 - reference_rate) / 20_000) * np.sqrt(3)  # ref, fit and test samples
    assert occupancy == pytest.approx(reference_rate, abs=error + 0.5 / 63)


def test_given_ranks_replace_the_generator_and_drawn_ranks_are_uniform():
    rng = np.random.default_rng(13)
    calibration = fitted_at_one_energy(rng, 0.5, 0.2)
    test, test_inc = torch.from_numpy(showers(rng, 500, 0.2, 5.0)), torch.from_numpy(np.full(500, 5e3))
    ranks = torch.rand(500, 3, generator=torch.Generator().manual_seed(1))
    first = calibration.apply(test, test_inc, torch.Generator().manual_seed(5), ranks=ranks)
    assert torch.equal(first, calibration.apply(test, test_inc, torch.Generator().manual_seed(6), ranks=ranks))
    drawn = draw_ranks((200_000,), torch.device("cpu"), torch.Generator().manual_seed(7))
    assert drawn.dtype == torch.float32 and 0 < float(drawn.min()) and float(drawn.max()) < 1
    assert stats.kstest(drawn.numpy(), "uniform").pvalue > 0.001
    again = draw_ranks((200_000,), torch.device("cpu"), torch.Generator().manual_seed(7))
    assert torch.equal(drawn, again)


def test_older_quantile_state_is_converted_and_checked():
    """A state with generated quantiles (older checkpoints) loads onto the node grid; a decreasing table is refused."""
    rng = np.random.default_rng(14)
    inc = np.full(3000, 5e3)
    ref = showers(rng, 3000, 0.3, 5.0)
    calibration, _ = CellCalibration.from_reference(chunks(ref, inc))
    generated = fractions(showers(rng, 6000, 0.3, 5.0))
    levels = np.linspace(0.0, 1.0, calibration.reference_quantiles.shape[-1])
    state = {
        "log_edges": torch.from_numpy(calibration.log_edges),
        "reference_quantiles": torch.from_numpy(calibration.reference_quantiles),
        "reference_zero": torch.from_numpy(calibration.reference_zero),
        "reference_floor": torch.from_numpy(calibration.reference_floor),
        "generated_quantiles": torch.from_numpy(np.quantile(generated, levels, axis=0).T[None].astype(np.float32)),
        "generated_zero": torch.from_numpy((generated <= 0).mean(axis=0)[None].astype(np.float32)),
    }
    converted = CellCalibration.from_state_dict(state)
    converted.check(3)
    calibration.fit_generated(generated, np.full(6000, 5e3))
    # the converted map (the quantiles' CDF read at its nodes) calibrates like a fresh fit on the same showers
    test, test_inc = torch.from_numpy(showers(rng, 2000, 0.3, 5.0)), torch.from_numpy(np.full(2000, 5e3))
    ranks = torch.rand(2000, 3, generator=torch.Generator().manual_seed(2))
    a, b = (fractions(c.apply(test, test_inc, ranks=ranks).numpy()) for c in (converted, calibration))
    assert np.mean((a > 0) != (b > 0)) < 0.01
    hits = (a > 0) & (b > 0)
    assert np.median(np.abs(a[hits] / b[hits] - 1)) < 0.01
    state["generated_quantiles"][0, 1, 40] = 0.9
    with pytest.raises(ValueError, match=r"cell_calibration\.generated_quantiles decreases"):
        CellCalibration.from_state_dict(state)


def test_empty_and_non_finite_showers_pass_through():
    """A shower with every cell empty stays empty; NaN/inf rows stay non-finite (the generator's check names them)."""
    rng = np.random.default_rng(15)
    calibration = fitted_at_one_energy(rng, 0.3, 0.3)
    test = torch.from_numpy(showers(rng, 4, 0.3, 5.0))
    test[0] = 0.0
    test[1, 0] = float("nan")
    test[2, 1] = float("inf")
    out = calibration.apply(test, torch.full((4,), 5e3), torch.Generator().manual_seed(1))
    assert torch.equal(out[0], torch.zeros(3, dtype=out.dtype))
    assert not torch.isfinite(out[1]).all() and not torch.isfinite(out[2]).all()
    assert torch.isfinite(out[3]).all() and float(out[3].sum()) == pytest.approx(float(test[3].sum()), rel=1e-5)


def test_fit_on_non_finite_showers_says_so():
    rng = np.random.default_rng(16)
    inc = np.full(600, 5e3)
    calibration, _ = CellCalibration.from_reference(chunks(showers(rng, 600, 0.3, 5.0), inc))
    generated = showers(rng, 600, 0.3, 5.0)
    generated[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 generated showers hold NaN/inf"):
        calibration.fit_generated(generated, inc)
