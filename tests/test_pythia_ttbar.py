"""All-hadronic tt̄ from Pythia 8: truth top-decay partons and FastJet jets (skipped without pythia8mc/fastjet)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hepgan.errors import ConfigError, HepganError
from hepgan.io.events import EventBatch, EventReader
from hepgan.sim.jets import select_jets
from hepgan.sim.pythia import PythiaConfig, generate_events, reconstruction, simulate_events_to_file

needs_pythia = pytest.mark.skipif(importlib.util.find_spec("pythia8mc") is None, reason="pythia8mc not installed")
needs_fastjet = pytest.mark.skipif(importlib.util.find_spec("fastjet") is None, reason="fastjet not installed")
W_MASS_GEV = 80.4
TOP_MASS_GEV = 172.5
TOP_DECAYS = {"process": "ttbar_hadronic", "objects": "top_decays", "level": "hard", "n_objects": 6}
JETS = {
    "process": "ttbar_hadronic",
    "objects": "jets",
    "n_objects": 8,
    "min_objects": 6,
    "pt_min_gev": 25.0,
    "abs_eta_max": 2.5,
    "seed": 2024,
}


def four_momenta(batch: EventBatch, slots: list[int]) -> np.ndarray:
    """Summed (E, px, py, pz) in GeV of the given object slots, shape (N, 4)."""
    pt, eta, phi, mass = (getattr(batch, k)[:, slots] for k in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return np.stack([v.sum(axis=1) for v in (e, px, py, pz)], axis=1)


def invariant_mass(batch: EventBatch, slots: list[int]) -> np.ndarray:
    """Invariant mass (GeV) of the given object slots per event."""
    e, px, py, pz = four_momenta(batch, slots).T
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


@pytest.fixture(scope="module")
def truth_500() -> EventBatch:
    return generate_events(PythiaConfig.from_dict({**TOP_DECAYS, "seed": 31}), 500)


@pytest.fixture(scope="module")
def jet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jets") / "ttbar_jets.h5"
    simulate_events_to_file(PythiaConfig.from_dict(JETS), path, n=200, chunk_size=100)
    return path


@needs_pythia
def test_top_decays_are_in_truth_order(truth_500: EventBatch) -> None:
    batch = truth_500
    assert len(batch) == 500 and batch.n_objects == 6 and batch.mask.all()
    np.testing.assert_allclose(batch.mass[:, [0, 3]], 4.8, rtol=1e-6)  # b and b̄ (t → W b is forced)
    light = batch.mass[:, [1, 2, 4, 5]]  # W → u, d, s, c, b quarks
    assert np.isin(np.round(light, 2), [0.33, 0.5, 1.5, 4.8]).all()
    assert (batch.pt[:, 1] >= batch.pt[:, 2]).all() and (batch.pt[:, 4] >= batch.pt[:, 5]).all()
    assert (batch.pt[:, 0] < batch.pt[:, 1]).any()  # slots are not in pT order
    for w_slots, top_slots in (([1, 2], [0, 1, 2]), ([4, 5], [3, 4, 5])):
        assert abs(np.median(invariant_mass(batch, w_slots)) - W_MASS_GEV) < 1.0
        assert abs(np.median(invariant_mass(batch, top_slots)) - TOP_MASS_GEV) < 2.0


@needs_pythia
def test_top_decays_are_seeded_and_work_at_hadron_level(truth_500: EventBatch) -> None:
    again = generate_events(PythiaConfig.from_dict({**TOP_DECAYS, "seed": 31}), 40)
    for key, value in again.arrays().items():
        np.testing.assert_array_equal(value, getattr(truth_500, key)[:40], err_msg=key)
    hadron = generate_events(PythiaConfig.from_dict({**TOP_DECAYS, "level": "hadron", "seed": 5}), 20)
    assert hadron.mask.all()
    np.testing.assert_allclose(hadron.mass[:, [0, 3]], 4.8, rtol=1e-6)
    assert (abs(invariant_mass(hadron, [1, 2]) - W_MASS_GEV) < 15.0).mean() > 0.8  # the W as it decays


@needs_pythia
def test_top_decay_file_attributes(tmp_path: Path) -> None:
    out = tmp_path / "ttbar_partons.root"
    config = PythiaConfig.from_dict({**TOP_DECAYS, "seed": 8})
    summary = simulate_events_to_file(config, out, n=30, chunk_size=7)
    assert summary.n == 30 and summary.tried == 30
    with EventReader(out) as reader:
        attrs = reader.attrs
        assert attrs["objects"] == "top_decays" and attrs["reconstruction"] == "ttbar_partons"
        assert attrs["level"] == "hard" and attrs["events_tried"] == 30 and attrs["acceptance"] == 1.0
        assert "PartonLevel:MPI = off" in json.loads(attrs["pythia_settings"])
        assert "jet_radius" not in attrs
        batch = reader.read()
    np.testing.assert_allclose(batch.mass[:, 0], 4.8, rtol=1e-6)  # slot order survives the file
    in_memory = generate_events(config, 30)  # other chunks, same events
    for key, value in in_memory.arrays().items():
        np.testing.assert_allclose(getattr(batch, key), value, rtol=1e-12, atol=1e-12, err_msg=key)


@needs_pythia
@needs_fastjet
def test_hadron_level_jets(jet_file: Path) -> None:
    with EventReader(jet_file) as reader:
        attrs = reader.attrs
        batch = reader.read()
    assert len(batch) == 200 and batch.n_objects == 8
    n_jets = batch.mask.sum(axis=1)
    assert (n_jets >= 6).all()
    assert (batch.mask == (np.arange(8) < n_jets[:, None])).all()  # present jets come first
    pt = np.where(batch.mask, batch.pt, -1.0)
    assert (np.diff(pt, axis=1) <= 0).all()
    assert (batch.pt[batch.mask] >= 25.0).all() and (abs(batch.eta[batch.mask]) <= 2.5).all()
    assert (batch.mass[batch.mask] > 0).mean() > 0.95  # jets are massive
    assert np.median(invariant_mass(batch, list(range(6)))) > 2 * TOP_MASS_GEV - 45.0
    assert attrs["objects"] == "jets" and attrs["reconstruction"] == "ttbar_jets" and attrs["min_objects"] == 6
    assert attrs["jet_algorithm"] == "antikt" and attrs["jet_radius"] == 0.4 and attrs["jet_input_abs_eta_max"] == 4.9
    assert attrs["events_tried"] > 200 and attrs["acceptance"] == pytest.approx(200 / attrs["events_tried"])
    assert attrs["jet_clustering"].startswith("FastJet")


@needs_pythia
@needs_fastjet
def test_jets_are_seeded(jet_file: Path) -> None:
    again = generate_events(PythiaConfig.from_dict(JETS), 15)
    with EventReader(jet_file) as reader:
        first = reader.read(0, 15)
    for key, value in again.arrays().items():
        np.testing.assert_array_equal(value, getattr(first, key), err_msg=key)


def particle(pt: float, eta: float, phi: float, pdg_id: int = 211, status: int = 1) -> dict[str, object]:
    """One massless particle record as Pythia's nextBatch gives it (GeV)."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    p = {"px": px, "py": py, "pz": pz, "e": float(np.sqrt(px**2 + py**2 + pz**2))}
    return {"id": pdg_id, "status": status, "p": p}


@needs_fastjet
def test_clustering_known_answer() -> None:
    close = [particle(50.0, 0.0, 0.0), particle(30.0, 0.2, 0.0)]  # ΔR = 0.2: one jet
    far = particle(40.0, 1.0, 0.0)  # ΔR = 1.0 (and 0.8): its own jet
    ignored = [particle(100.0, 0.0, 2.0, pdg_id=14), particle(60.0, 0.0, -2.0, status=-62), particle(70.0, 5.0, 1.0)]
    events = ak.Array([[*close, far, *ignored], [], [particle(10.0, 0.0, 1.0)]])
    batch = select_jets(events, n_objects=3, radius=0.4)
    assert batch.mask.tolist() == [[True, True, False], [False, False, False], [True, False, False]]
    summed = sum((np.array([p["p"][k] for k in ("e", "px", "py", "pz")]) for p in close), np.zeros(4))
    e, px, py, pz = summed
    assert batch.pt[0, 0] == pytest.approx(80.0) and batch.phi[0, 0] == pytest.approx(0.0, abs=1e-12)
    assert batch.eta[0, 0] == pytest.approx(np.arcsinh(pz / np.hypot(px, py)))
    assert batch.mass[0, 0] == pytest.approx(np.sqrt(e**2 - px**2 - py**2 - pz**2))  # E scheme: four-momenta add
    assert batch.pt[0, 1] == pytest.approx(40.0) and batch.eta[0, 1] == pytest.approx(1.0)
    assert batch.mass[0, 1] == pytest.approx(0.0, abs=1e-5)
    for algorithm in ("kt", "cambridge"):
        other = select_jets(events, n_objects=3, radius=0.4, algorithm=algorithm)
        np.testing.assert_allclose(other.pt, batch.pt)
    wide = select_jets(events, n_objects=3, radius=1.2)  # everything visible in one jet
    assert wide.mask[0].tolist() == [True, False, False] and wide.pt[0, 0] == pytest.approx(120.0)
    cut = select_jets(events, n_objects=3, radius=0.4, pt_min_gev=20.0, abs_eta_max=0.5)
    assert cut.mask.tolist() == [[True, False, False], [False, False, False], [False, False, False]]
    narrow_input = select_jets(events, n_objects=3, radius=0.4, input_abs_eta_max=0.5)
    assert narrow_input.mask[0].tolist() == [True, False, False]  # the particle at η 1 is not clustered


def test_config_fields_defaults_and_round_trip() -> None:
    truth = PythiaConfig.from_dict(TOP_DECAYS)
    assert truth.pdg_id == () and truth.status == () and truth.min_objects == 0
    hard = ("PartonLevel:ISR = off", "PartonLevel:FSR = off", "PartonLevel:MPI = off", "HadronLevel:all = off")
    assert set(hard) | {"6:onIfMatch = 5 24", "24:onIfAny = 1 2 3 4 5"} <= set(truth.pythia_settings())
    assert PythiaConfig.from_dict({"process": "ttbar_hadronic", "objects": "top_decays"}).n_objects == 6
    jets = PythiaConfig.from_dict({**JETS, "jet_radius": 0.6, "jet_algorithm": "cambridge"})
    for config in (truth, jets):
        assert PythiaConfig.from_dict(config.to_dict()) == config
    assert PythiaConfig(process="ttbar_hadronic", objects="jets").pdg_id == ()  # untouched default muon ids dropped
    assert PythiaConfig.from_dict({"process": "ttbar_hadronic"}).pdg_id == (6, -6)  # particles: the tops
    assert [reconstruction(c) for c in (truth, jets)] == ["ttbar_partons", "ttbar_jets"]
    assert reconstruction(PythiaConfig()) == "pair"
    assert reconstruction(PythiaConfig(process="ttbar", pdg_id=(6, -6))) == "none"
    assert reconstruction(PythiaConfig(objects="jets")) == "none"


BAD_CONFIGS = [
    ({"objects": "tracks"}, "simulation.pythia.objects: expected one of particles, top_decays, jets"),
    ({"objects": "top_decays"}, "simulation.pythia.objects: 'top_decays' needs process 'ttbar_hadronic'"),
    ({**TOP_DECAYS, "n_objects": 4}, "simulation.pythia.n_objects: objects 'top_decays' stores exactly 6"),
    ({**TOP_DECAYS, "pt_min_gev": 20.0}, "simulation.pythia.pt_min_gev: truth partons"),
    ({**TOP_DECAYS, "abs_eta_max": 2.5}, "simulation.pythia.abs_eta_max: truth partons"),
    ({**TOP_DECAYS, "pdg_id": [5]}, "simulation.pythia.pdg_id: applies to objects 'particles' only"),
    ({**JETS, "status": [1]}, "simulation.pythia.status: applies to objects 'particles' only"),
    ({**JETS, "jet_radius": 0}, r"simulation.pythia.jet_radius: expected a number in \(0, 2\]"),
    ({**JETS, "jet_radius": 2.5}, r"simulation.pythia.jet_radius: expected a number in \(0, 2\]"),
    ({**JETS, "jet_radius": "wide"}, "simulation.pythia.jet_radius: expected a number"),
    ({**JETS, "jet_algorithm": "siscone"}, "simulation.pythia.jet_algorithm: expected one of antikt, kt, cambridge"),
    ({**JETS, "jet_input_abs_eta_max": 0}, "simulation.pythia.jet_input_abs_eta_max: expected a number > 0"),
    ({"jet_radius": 0.6}, "simulation.pythia.jet_radius: applies to objects 'jets' only"),
    ({**JETS, "min_objects": 9}, r"simulation.pythia.min_objects: expected an integer in 0..n_objects \(8\)"),
    ({"min_objects": -1}, "simulation.pythia.min_objects"),
    ({"min_objects": 1.5}, "simulation.pythia.min_objects: expected an integer"),
    ({"level": "partonic"}, "simulation.pythia.level: expected one of hadron, parton, hard"),
    ({**TOP_DECAYS, "jet_cone": 0.4}, "unknown key 'jet_cone'"),
]


@pytest.mark.parametrize(("data", "expected"), BAD_CONFIGS)
def test_bad_config_is_one_clear_error(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        PythiaConfig.from_dict(data)
    assert "\n" not in str(info.value)


@needs_pythia
@needs_fastjet
def test_no_event_passing_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    config = PythiaConfig.from_dict(
        {"process": "ttbar_hadronic", "objects": "jets", "level": "hard", "n_objects": 2, "min_objects": 1}
        | {"pt_min_gev": 5000.0, "abs_eta_max": 1.0}
    )
    with pytest.raises(HepganError, match=r"no event passes the selection.*>= 1 jets.*pT >= 5000 GeV, \|η\| <= 1"):
        simulate_events_to_file(config, tmp_path / "none.h5", n=5, chunk_size=10)
    assert list(tmp_path.iterdir()) == []


@needs_pythia
def test_failures_leave_no_file(tmp_path: Path) -> None:
    bad_setting = PythiaConfig.from_dict({**TOP_DECAYS, "settings": ["NoSuch:thing = 1"]})
    with pytest.raises(ConfigError, match="NoSuch:thing"):
        simulate_events_to_file(bad_setting, tmp_path / "x.h5", n=5)
    no_b = PythiaConfig.from_dict({**TOP_DECAYS, "settings": ["6:onMode = off", "6:onIfMatch = 3 24"]})
    with pytest.raises(HepganError, match=r"no t → W⁺ b decay"):  # found while the file is being written
        simulate_events_to_file(no_b, tmp_path / "y.h5", n=5)
    assert list(tmp_path.iterdir()) == []


def test_missing_fastjet_gives_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastjet", None)  # import now fails
    with pytest.raises(HepganError, match=r"FastJet .*pip install 'hepgan\[pythia\]'"):
        generate_events(PythiaConfig.from_dict(JETS), 1)


def test_extras_pin_fastjet() -> None:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    for extra in ("pythia", "test"):
        line = next(line for line in text.splitlines() if line.startswith(f"{extra} = ["))
        assert '"fastjet==3.5.1.1"' in line
