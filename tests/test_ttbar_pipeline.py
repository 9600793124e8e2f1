"""pp → tt̄ at parton and jet level: the default configs train, generate and validate on the shipped samples."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from hepgan.generate import EventGenerator
from hepgan.io.events import EventBatch, read_events, write_events
from hepgan.training.checkpoint import load_checkpoint

from .cli_checks import assert_one_error_line, run_cli

ROOT = Path(__file__).resolve().parents[1]
PARTONS = ROOT / "data" / "ttbar_partons_pythia_small.h5"
JETS = ROOT / "data" / "ttbar_jets_pythia_small.h5"
ZMUMU = ROOT / "data" / "zmumu_pythia.h5"


def _small(tmp_path: Path, data: Path) -> list[str]:
    settings = [
        f"data.path={data}",
        "validation.reference_path=''",
        "model.latent_dim=4",
        "model.generator_hidden=[16]",
        "model.critic_hidden=[16]",
        "training.max_steps=4",
        "training.checkpoint_every=2",
        "training.log_every=1",
        "training.batch_size=64",
        "training.d_steps=2",
        "training.threads=1",
        f"training.runs_dir={tmp_path / 'runs'}",
    ]
    return [*(part for setting in settings for part in ("--set", setting)), "--no-progress"]


@pytest.mark.parametrize(
    ("config", "data", "reconstruction", "n_objects"),
    [("ttbar_partons", PARTONS, "ttbar_partons", 6), ("ttbar_jets", JETS, "ttbar_jets", 8)],
)
def test_ttbar_configs_train_generate_and_validate(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    config: str,
    data: Path,
    reconstruction: str,
    n_objects: int,
) -> None:
    with h5py.File(data) as file:
        assert file.attrs["reconstruction"] == reconstruction  # stated by hepgan simulate
    argv = ["train", str(ROOT / "configs" / f"{config}.yaml"), *_small(tmp_path, data), "--no-validate"]
    result = run_cli(argv, capsys, caplog)
    assert result.code == 0, result.err
    run_dir = next((tmp_path / "runs").iterdir())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(record["mmd"] > 0 for record in records if "mmd" in record) and any("mmd" in r for r in records)
    checkpoint = sorted((run_dir / "checkpoints").glob("step_*.pt"))[-1]
    state = load_checkpoint(checkpoint)
    assert state["reconstruction"] == reconstruction and len(state["mmd_mass_scales_gev"]) == 4

    generator = EventGenerator.from_checkpoint(checkpoint, device="cpu")
    assert generator.reconstruction == reconstruction and generator.n_objects == n_objects
    calibration = generator.model.feature_calibration
    if config == "ttbar_partons":  # the decay chain with the feature calibration fitted at every checkpoint
        assert generator.transform.representation == "ttbar_decays" and generator.transform.n_features == 28
        assert calibration is not None and calibration.fitted and len(calibration.columns) == 16
        noise = torch.randn(200, generator.latent_dim, generator=torch.Generator().manual_seed(3))
        features = generator.transform.apply_symmetries(
            generator.features_from_noise(noise), torch.Generator().manual_seed(0)
        )
        expected = generator.transform.inverse(calibration.apply(features))  # what generation must do
        np.testing.assert_allclose(generator.events_from_noise(noise).pt, expected.pt, rtol=1e-6)
        assert not np.allclose(generator.transform.inverse(features).pt, expected.pt, rtol=1e-3)
    else:
        assert calibration is None and "feature_calibration" not in state
    if config == "ttbar_jets":
        assert generator.transform.with_presence  # 6, 7 or 8 jets per event
    output = tmp_path / "gen.root"
    result = run_cli(["generate", "--n", "300", "-o", str(output), "--checkpoint", str(checkpoint)], capsys, caplog)
    assert result.code == 0, result.err
    generated = read_events(output)
    assert len(generated) == 300 and generated.n_objects == n_objects
    result = run_cli(
        ["validate", "--reference", str(data), "--generated", str(output), "-o", str(tmp_path / "report")],
        capsys,
        caplog,
    )
    assert result.code == 0, result.err
    for line in ("m_w peak", "m_t peak", "corr(pt_t1, pt_t2)", "m_w1", "m_t2", "delta_r_56"):
        assert line in result.out, line
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["reconstruction"] == reconstruction  # stated by the reference file
    assert [peak["name"] for peak in report["peaks"]] == ["m_w", "m_t"]
    assert {"m_w1", "m_t1", "pt_t1", "delta_r_12"} <= set(report["observables"])


def test_mmd_terms_are_the_mass_features_of_the_decay_chain(tmp_path: Path) -> None:
    """The four standardised mass terms of the parton rule ("ttbar_decays") are O(1) and each depends on its own
    ln m feature only: W1, t1, W2, t2 on columns 12, 8, 22, 18."""
    from hepgan.config import load_config
    from hepgan.data.events import EventData

    config = load_config(
        ROOT / "configs" / "ttbar_partons.yaml", [f"data.path={PARTONS}", "validation.reference_path=''"]
    )
    data = EventData(config)
    data.fit_transform()
    assert data.transform is not None
    features = data.transform.forward(read_events(PARTONS).subset(slice(0, 500))).float().requires_grad_(True)
    parts = data.mmd_features(features)
    assert isinstance(parts, list) and len(parts) == 4
    for part in parts:  # each mass O(1) around its peak: median ~0, robust width ~1
        values = part.detach().squeeze(1).numpy()
        q25, q50, q75 = np.quantile(values, (0.25, 0.5, 0.75))
        assert abs(q50) < 0.2 and 0.7 < (q75 - q25) / 1.349 < 1.4
    for part, column in zip(parts, (12, 8, 22, 18), strict=True):
        (grad,) = torch.autograd.grad(part.sum(), features, retain_graph=True)
        used = grad.abs().sum(dim=0) > 0
        assert used.nonzero().flatten().tolist() == [column], data.transform.feature_names()[column]


def test_ttbar_rules_need_their_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A dimuon file cannot form tops: one line naming data.reconstruction, nothing written."""
    argv = ["train", str(ROOT / "configs" / "ttbar_jets.yaml"), *_small(tmp_path, ZMUMU)]
    line = assert_one_error_line(run_cli(argv, capsys, caplog), "data.reconstruction", "ttbar_jets")
    assert "at least 6 objects per event, the events have 2" in line
    assert not (tmp_path / "runs").exists()


def test_events_without_objects_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    jets = read_events(JETS).subset(slice(0, 200))
    mask = jets.mask.copy()
    mask[[17, 40]] = False  # two events without jets
    path = tmp_path / "no_jets.h5"
    write_events(path, EventBatch(*(np.where(mask, a, 0.0) for a in (jets.pt, jets.eta, jets.phi, jets.mass)), mask))
    argv = ["train", str(ROOT / "configs" / "ttbar_jets.yaml"), *_small(tmp_path, path)]
    line = assert_one_error_line(run_cli(argv, capsys, caplog), str(path), "event 17 has no objects")
    assert "min_objects" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("setting", "names"),
    [
        ("preprocessing.events.sort=true", ("preprocessing.events.sort", "truth slots")),
        ("preprocessing.events.presence=off", ("preprocessing.events.presence", "got False", "quote it")),
        ("validation.reference_path=" + str(ZMUMU), (str(ZMUMU), "2 objects per event", "validation.reference_path")),
        ("data.selection={collection: Jet, n_objects: 6}", ("data.selection", "re-orders objects by pT")),
    ],
)
def test_parton_slots_and_reference_are_checked_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, setting: str, names: tuple
) -> None:
    argv = ["train", str(ROOT / "configs" / "ttbar_partons.yaml"), *_small(tmp_path, PARTONS), "--set", setting]
    assert_one_error_line(run_cli(argv, capsys, caplog), *names)
    assert not (tmp_path / "runs").exists()


def test_unknown_reconstruction_statement_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "stated.h5"
    write_events(path, read_events(PARTONS).subset(slice(0, 100)), attrs={"reconstruction": "ttbar_leptons"})
    argv = [
        "train",
        str(ROOT / "configs" / "events.yaml"),
        *_small(tmp_path, path),
        "--set",
        "data.reconstruction=auto",
    ]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(path), "'ttbar_leptons'", "expected one of")
