"""Incident-energy spectra (hepgan.sim.spectra)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hepgan.errors import ConfigError
from hepgan.sim.spectra import CALOCHALLENGE_DS1_ENERGIES_MEV, EnergySpectrum


def test_default_is_calochallenge_ds1():
    spec = EnergySpectrum()
    assert spec.kind == "discrete"
    assert len(spec.values_mev) == 15
    assert spec.values_mev[0] == 256.0 and spec.values_mev[-1] == 4194304.0
    assert np.allclose(np.diff(np.log2(spec.values_mev)), 1.0)
    assert spec.values_mev == CALOCHALLENGE_DS1_ENERGIES_MEV


@pytest.mark.parametrize("n", [0, 1, 7, 14, 15, 16, 100, 1003])
def test_discrete_counts_balanced(n):
    spec = EnergySpectrum()
    energies = spec.sample(n, np.random.default_rng(n))
    assert energies.dtype == np.float64 and energies.shape == (n,)
    assert set(energies.tolist()) <= set(spec.values_mev)
    counts = np.array([(energies == v).sum() for v in spec.values_mev])
    assert counts.sum() == n
    assert counts.max() - counts.min() <= 1


def test_discrete_is_shuffled_and_reproducible():
    spec = EnergySpectrum(values_mev=(1.0, 2.0, 3.0))
    a = spec.sample(300, np.random.default_rng(7))
    b = spec.sample(300, np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert not np.all(np.diff(a) >= 0)
    # each value is spread over the sequence, not in blocks
    assert abs(np.mean(np.flatnonzero(a == 1.0)) - 150) < 40


def test_uniform_range_and_ks():
    spec = EnergySpectrum(kind="uniform", min_mev=1000.0, max_mev=5000.0)
    e = spec.sample(4000, np.random.default_rng(1))
    assert e.min() >= 1000.0 and e.max() <= 5000.0
    assert stats.kstest(e, stats.uniform(loc=1000.0, scale=4000.0).cdf).pvalue > 0.01
    # and it is not log-uniform
    assert stats.kstest(e, stats.loguniform(1000.0, 5000.0).cdf).pvalue < 1e-6


def test_log_uniform_range_and_ks():
    spec = EnergySpectrum(kind="log_uniform", min_mev=256.0, max_mev=4194304.0)
    e = spec.sample(4000, np.random.default_rng(2))
    assert e.min() >= 256.0 and e.max() <= 4194304.0
    assert stats.kstest(e, stats.loguniform(256.0, 4194304.0).cdf).pvalue > 0.01
    assert stats.kstest(np.log(e), stats.uniform(np.log(256.0), np.log(4194304.0 / 256.0)).cdf).pvalue > 0.01


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "discrete", "values_mev": [1000.0, 2000.0]},
        {"kind": "uniform", "min_mev": 10.0, "max_mev": 20.0},
        {"kind": "log_uniform", "min_mev": 10.0, "max_mev": 1e6},
    ],
)
def test_dict_round_trip(data):
    spec = EnergySpectrum.from_dict(data, "cfg.yaml")
    assert spec.to_dict() == data
    assert EnergySpectrum.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "gaussian"}, "kind"),
        ({"kind": "uniform", "min_mev": 10.0, "max_mev": 5.0}, "min_mev"),
        ({"kind": "log_uniform", "min_mev": -1.0, "max_mev": 5.0}, "min_mev"),
        ({"kind": "uniform", "min_mev": 1.0, "max_mev": "lots"}, "max_mev"),
        ({"values_mev": []}, "values_mev"),
        ({"values_mev": [100.0, -5.0]}, "values_mev"),
        ({"values_mev": 100.0}, "values_mev"),
        ({"energies": [1.0]}, "energies"),
    ],
)
def test_bad_config_names_field(data, field):
    with pytest.raises(ConfigError, match=f"cfg.yaml.*{field}"):
        EnergySpectrum.from_dict(data, "cfg.yaml")


def test_bad_sample_size():
    with pytest.raises(ConfigError):
        EnergySpectrum().sample(-1, np.random.default_rng(0))
