"""Event GAN: the data module, the differentiable pair mass, and simulate → train → generate → validate."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from hepgan.cli import main
from hepgan.data.events import EventData, leading_pair_mass
from hepgan.domains import EVENTS, generate_to_file
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate import EventGenerator, ShowerGenerator
from hepgan.io.events import EventReader, read_events, write_events
from hepgan.training.checkpoint import load_checkpoint
from hepgan.validation.event_report import peak_position_width, validate_event_arrays
from hepgan.validation.kinematics import event_observables, four_momenta, pair_mass

from .helpers import EVENT_CONFIG, MUON_MASS_GEV, small_event_config, toy_zmumu, write_untrained_checkpoint

CONFIG = str(EVENT_CONFIG)
needs_pythia = pytest.mark.skipif(importlib.util.find_spec("pythia8mc") is None, reason="pythia8mc not installed")


@pytest.fixture()
def toy_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.h5"
    write_events(path, toy_zmumu(200))
    return path


def test_event_data_module(tmp_path: Path, toy_file: Path) -> None:
    data = EVENTS.training_data(small_event_config(tmp_path, toy_file))
    assert isinstance(data.events, EventData) and data.kind == "events" and data.events.cond_dim == 0
    data.fit_transform()
    features, conditions = data.training_tensors()
    assert features.shape == (180, 8) and features.dtype == torch.float32  # 10% held out
    assert conditions.shape == (180, 0)
    generator, critic = data.build_networks()
    fake = generator(torch.randn(5, 4), conditions[:5])
    assert fake.shape == (5, 8) and critic(fake, conditions[:5]).shape == (5,)
    data.write_holdout(tmp_path / "holdout.h5")
    assert len(read_events(tmp_path / "holdout.h5")) == 20
    entries = data.checkpoint_entries()
    assert entries["kind"] == "events" and entries["transform"]["n_objects"] == 2


def test_mmd_mass_matches_kinematics(tmp_path: Path, toy_file: Path) -> None:
    data = EventData(small_event_config(tmp_path, toy_file))
    data.fit_transform()
    batch = toy_zmumu(300, seed=3)
    features = data.transform.forward(batch).requires_grad_(True)
    mass = leading_pair_mass(features, data.transform)
    back = data.transform.inverse(features)
    p4 = four_momenta(back.pt, back.eta, back.phi, back.mass)
    expected = pair_mass(p4[:, 0], p4[:, 1])
    np.testing.assert_allclose(mass.detach().numpy(), expected, rtol=1e-4)
    mass.sum().backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0
    (scaled,) = data.mmd_features(features.detach().float())  # one standardised mass: m_12
    assert scaled.shape == (300, 1)
    assert abs(float(scaled.median())) < 0.5 and 0.2 < float(scaled.std()) < 20  # O(1) around the peak


def test_events_need_the_mlp(tmp_path: Path, toy_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.architecture"):
        EVENTS.training_data(small_event_config(tmp_path, toy_file, model__architecture="dcgan"))


def test_peak_estimator_on_a_breit_wigner() -> None:
    rng = np.random.default_rng(1)
    masses = 91.19 + 1.25 * rng.standard_cauchy(200_000)
    position, width = peak_position_width(masses, (80.0, 100.0))
    assert abs(position - 91.19) < 0.05
    assert 2.0 < width < 2.5  # IQR = Γ = 2.5 GeV untruncated; the ±10 GeV window narrows it a little


def test_report_of_identical_samples(tmp_path: Path) -> None:
    batch = toy_zmumu(2000, seed=5)
    report = validate_event_arrays(batch.subset(slice(0, 1000)), batch.subset(slice(1000, 2000)), tmp_path / "r")
    assert abs(report["peak"]["position_rel_diff"]) < 0.005
    assert report["summary"]["observables_compared"] == len(
        event_observables(batch.pt, batch.eta, batch.phi, batch.mass)
    )
    assert all(entry["w1_within_target"] for entry in report["observables"].values())
    html = (tmp_path / "r" / "index.html").read_text()
    assert html.count("<img") == len(report["plots"]) and "&lt;" not in html.split("<body>")[0]


@needs_pythia
def test_simulate_train_generate_validate_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    small = [
        *("--set", "data.path=zmumu.h5", "--set", "data.chunk_size=100"),
        *("--set", "model.latent_dim=4", "--set", "model.generator_hidden=[16]", "--set", "model.critic_hidden=[16]"),
        *("--set", "training.max_steps=4", "--set", "training.checkpoint_every=2", "--set", "training.log_every=1"),
        *("--set", "training.batch_size=32", "--set", "training.d_steps=2", "--set", "training.threads=1"),
        *("--set", "simulation.pythia.level=parton"),
    ]
    assert main(["simulate", CONFIG, "--n", "300", "--seed", "5", "--no-progress", *small]) == 0
    assert len(read_events("zmumu.h5")) == 300
    with_reference = [*small, "--set", "validation.reference_path=reference.h5"]
    result = main(["train", CONFIG, "--no-progress", *with_reference])
    assert result != 0 and "reference.h5: validation reference not found (validation.reference_path)" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "runs").exists()  # refused before anything was written
    assert main(["simulate", CONFIG, "--n", "200", "--seed", "6", "-o", "reference.h5", "--no-progress", *small]) == 0

    assert main(["train", CONFIG, "--no-progress", *with_reference]) == 0
    out = capsys.readouterr().out
    assert "reference reference.h5 (200 reference, 200 generated events)" in out  # as many as the reference
    assert "m_12 peak" in out and "delta_r_12" in out
    assert re.search(r"^ +m_12 +\S+ ± .*  (ok|tension|fail|no floor|n/a)$", out, re.M), out  # the verdict column
    run_dir = next((tmp_path / "runs").iterdir())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("mmd" in record for record in records)  # the MMD term on the pair mass is active
    checkpoint = sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1]
    assert load_checkpoint(checkpoint)["kind"] == "events"
    assert (run_dir / "validation" / "metrics.json").is_file()
    with pytest.raises(InputFileError, match="not calorimeter showers"):
        ShowerGenerator.from_checkpoint(checkpoint)

    assert main(["generate", "--n", "1e3", "-o", "gen.h5", "--batch-size", "300", "--seed", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"using {Path('runs') / run_dir.name / 'checkpoints' / checkpoint.name} (final checkpoint" in out
    assert "kind events" in out
    generated = read_events("gen.h5")
    assert len(generated) == 1000 and generated.mask.all()
    assert (generated.pt > 0).all() and (np.abs(generated.phi) <= np.pi).all()
    np.testing.assert_allclose(generated.mass, MUON_MASS_GEV, rtol=1e-4)
    again = EventGenerator.from_checkpoint(checkpoint, device="cpu").sample(1000, seed=3, batch_size=300)
    np.testing.assert_array_equal(again.pt, generated.pt)  # same seed and batches, same events
    with h5py.File("gen.h5") as f:
        assert f.attrs["seed"] == 3 and f.attrs["layout"] == "hepgan-events"

    assert main(["validate", "--reference", "zmumu.h5", "--generated", "gen.h5", "-o", "report"]) == 0
    assert "verdicts (W1 and chi2/ndf against their floors)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(metrics["observables"]) >= {"pt_1", "eta_2", "phi_1", "m_12", "delta_r_12", "pt_12"}
    assert metrics["peak"]["reference"]["n_in_window"] > 100
    assert (tmp_path / "report" / "plots" / "m_12.png").is_file()
    assert (tmp_path / "report" / "index.html").read_text().count("<img") == len(metrics["plots"])


def untrained_event_checkpoint(tmp_path: Path, toy_file: Path) -> Path:
    """A checkpoint of an untrained event model (fitted preprocessing, random weights)."""
    config = small_event_config(tmp_path, toy_file)
    data = EVENTS.training_data(config)
    data.fit_transform()
    generator, critic = data.build_networks()
    path = tmp_path / "step_0000000.pt"
    return write_untrained_checkpoint(path, config.to_dict(), data.checkpoint_entries(), generator, critic)


def test_sharded_event_generation(tmp_path: Path, toy_file: Path) -> None:
    checkpoint = untrained_event_checkpoint(tmp_path, toy_file)
    out = tmp_path / "part_1.root"
    summary = generate_to_file(checkpoint, 100, out, seed=4, shard=(1, 3), batch_size=7)
    assert summary.n == 33
    assert len(read_events(out)) == 33
    with EventReader(out) as reader:
        assert reader.attrs["shard"] == "1/3" and reader.attrs["n_total"] == 100 and reader.attrs["seed"] == 4
    with pytest.raises(ConfigError, match="energies-from"):
        generate_to_file(checkpoint, 10, tmp_path / "x.h5", energies_from=toy_file)
    assert not (tmp_path / "x.h5").exists()
