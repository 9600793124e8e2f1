"""Pythia 8 reference generation (skipped where the optional pythia8mc package is missing)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hepgan.errors import ConfigError, HepganError
from hepgan.io.events import EventBatch, EventReader, EventSelection
from hepgan.sim.pythia import PythiaConfig, generate_events, simulate_events_to_file
from hepgan.validation.kinematics import event_observables

needs_pythia = pytest.mark.skipif(importlib.util.find_spec("pythia8mc") is None, reason="pythia8mc not installed")
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "events.yaml"
Z_MASS_GEV = 91.19


@pytest.fixture(scope="module")
def zmumu_200() -> EventBatch:
    return generate_events(PythiaConfig(process="zmumu", seed=4242), 200)


def assert_same(a: EventBatch, b: EventBatch) -> None:
    for key, value in a.arrays().items():
        np.testing.assert_array_equal(value, getattr(b, key), err_msg=key)


@needs_pythia
def test_zmumu_is_seeded(zmumu_200: EventBatch, capfd: pytest.CaptureFixture[str]) -> None:
    again = generate_events(PythiaConfig(process="zmumu", seed=4242), 200)
    assert capfd.readouterr().out == ""  # Pythia's own output is off
    assert_same(again, zmumu_200)
    other = generate_events(PythiaConfig(process="zmumu", seed=4243), 20)
    assert not np.array_equal(other.pt, zmumu_200.pt[:20])


@needs_pythia
def test_zmumu_dimuon_mass_peak(zmumu_200: EventBatch) -> None:
    batch = zmumu_200
    assert len(batch) == 200 and batch.mask.all()  # Z -> mu mu only: two final-state muons in every event
    np.testing.assert_allclose(batch.mass, 0.10566, rtol=1e-4)
    assert (batch.pt[:, 0] >= batch.pt[:, 1]).all()
    mass = event_observables(batch.pt, batch.eta, batch.phi, batch.mass, batch.mask)["m_12"]
    assert (mass > 40.0).mean() > 0.95  # mHat > 50 GeV, minus FSR
    peak = mass[(mass > 80.0) & (mass < 100.0)]
    assert len(peak) > 100
    assert abs(np.median(peak) - Z_MASS_GEV) < 1.0


@needs_pythia
def test_parton_level_to_root_file(tmp_path: Path) -> None:
    config = PythiaConfig(process="zmumu", level="parton", seed=11, pt_min_gev=5.0)
    out = tmp_path / "zmumu.root"
    summary = simulate_events_to_file(config, out, n=50, chunk_size=20)
    assert summary.n == 50 and summary.events_per_second > 0
    with EventReader(out) as reader:
        assert len(reader) == 50
        assert reader.attrs["seed"] == 11 and reader.attrs["level"] == "parton"
        assert "HadronLevel:all = off" in json.loads(reader.attrs["pythia_settings"])
        batch = reader.read()
    assert (batch.pt[batch.mask] >= 5.0).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zmumu.root"]


@needs_pythia
def test_seed_override_and_hdf5(tmp_path: Path) -> None:
    config = PythiaConfig(process="zmumu", level="parton", seed=11)
    simulate_events_to_file(config, tmp_path / "a.h5", n=10, seed=12)
    with EventReader(tmp_path / "a.h5") as reader:
        assert reader.attrs["seed"] == 12 and reader.attrs["units"] == "GeV"
        assert_same(reader.read(), generate_events(PythiaConfig(process="zmumu", level="parton", seed=12), 10))


@needs_pythia
def test_bad_pythia_setting_is_a_config_error(tmp_path: Path) -> None:
    config = PythiaConfig(process="zmumu", level="parton", settings=("NoSuch:setting = on",))
    with pytest.raises(ConfigError, match="NoSuch:setting"):
        simulate_events_to_file(config, tmp_path / "x.h5", n=5)
    assert list(tmp_path.iterdir()) == []


def test_missing_pythia_gives_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pythia8mc", None)  # import now fails
    with pytest.raises(HepganError, match=r"pip install 'hepgan\[pythia\]'"):
        generate_events(PythiaConfig(), 1)


def test_config_validation() -> None:
    ttbar = PythiaConfig.from_dict({"process": "ttbar", "level": "parton"})
    assert ttbar.pdg_id == (6, -6) and ttbar.status == (62,)
    assert "Top:gg2ttbar = on" in ttbar.pythia_settings() and "HadronLevel:all = off" in ttbar.pythia_settings()
    assert PythiaConfig.from_dict(ttbar.to_dict()) == ttbar
    settings = PythiaConfig(settings=("PartonLevel:MPI = off",)).pythia_settings()
    assert settings[-1] == "PartonLevel:MPI = off" and "Random:seed = 12345" in settings
    bad = [
        ({"seed": 0}, "simulation.pythia.seed"),
        ({"seed": 900_000_001}, "simulation.pythia.seed"),
        ({"process": "higgs"}, "simulation.pythia.process"),
        ({"level": "detector"}, "simulation.pythia.level"),
        ({"process": "custom"}, "simulation.pythia.settings"),
        ({"n_events": "many"}, "simulation.pythia.n_events"),
        ({"settings": ["no equals sign"]}, "simulation.pythia.settings"),
        ({"colour": 1}, "unknown key 'colour'"),
    ]
    for data, expected in bad:
        with pytest.raises(ConfigError, match=expected):
            PythiaConfig.from_dict(data)


def test_example_config_sections_parse() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    pythia = PythiaConfig.from_dict(config["simulation"]["pythia"], "simulation.pythia")
    assert pythia.process == "zmumu" and pythia.pdg_id == (13, -13) and pythia.n_objects == 2
    selection = EventSelection.from_dict(config["data"]["selection"], "data.selection")
    assert selection.n_objects == pythia.n_objects
