"""The user's path through the command line: simulate → train → generate → validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from hepgan.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "calo.yaml")


def test_simulate_train_generate_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    small = [
        "--set",
        "data.path=ref.h5",
        "--set",
        "simulation.spectrum={kind: discrete, values_mev: [2048, 8192]}",
        "--set",
        "model.generator_hidden=[32]",
        "--set",
        "model.critic_hidden=[32]",
        "--set",
        "training.max_steps=4",
        "--set",
        "training.checkpoint_every=2",
        "--set",
        "training.batch_size=32",
        "--set",
        "validation.n_showers=100",
    ]
    assert main(["simulate", CONFIG, "--n", "200", "--no-progress", *small]) == 0
    assert "showers/s" in capsys.readouterr().out
    with h5py.File("ref.h5") as f:
        assert f["showers"].shape == (200, 368)
        assert sorted(np.unique(f["incident_energies"][:, 0])) == [2048.0, 8192.0]

    assert main(["train", CONFIG, "--no-progress", *small]) == 0
    out = capsys.readouterr().out
    # against a fresh reference of twice the generated showers, simulated with the validation seed
    assert "validation, 100 generated against 200 reference showers (fresh simulated reference, seed 20231)" in out
    assert "2.048 GeV" in out and re.search(r"\(([+-]\d+\.\d+) ± (\d+\.\d+)%\)", out), out
    # the summary table with the report's verdicts, not only the response table
    assert re.search(r"^  chi2_ndf_mean +\S+ ± \S+ +\S+   (ok|tension|fail|no floor)$", out, re.M), out
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "validation" / "index.html").is_file()
    response = json.loads((run_dir / "validation" / "response.json").read_text())
    assert [row["e_inc_mev"] for row in response] == [2048.0, 8192.0]
    assert all(row["std_rel_diff_err"] > 0 and row["std_status"] for row in response)
    with h5py.File(run_dir / "validation_reference.h5") as f, h5py.File("ref.h5") as training:
        assert f["showers"].shape == (200, 368) and f.attrs["seed"] == 20231
        # no training shower reappears in the validation reference
        assert not {row.tobytes() for row in f["showers"][:]} & {row.tobytes() for row in training["showers"][:]}
    metrics = json.loads((run_dir / "validation" / "metrics.json").read_text())
    challenge = metrics["global_metrics"]["challenge_auc_high_level"]
    assert 0 <= challenge["value"] <= 1 and "jsd" in challenge and challenge["n_test"] == 40  # 20 % of 2 x 100
    record = json.loads((run_dir / "run.json").read_text())["validation"]
    assert record["n_generated"] == 100 and record["n_reference"] == 200

    assert main(["generate", "--n", "3e2", "-o", "events.h5", "--batch-size", "128", "--no-progress"]) == 0
    best = Path("runs") / run_dir.name / "checkpoints" / "best.pt"
    assert f"using {best} (best chi2_ndf_mean" in capsys.readouterr().out  # which checkpoint, and why
    with h5py.File("events.h5") as f:
        assert f["showers"].shape == (300, 368)
        assert np.all(f["showers"][:] >= 0)

    assert (
        main(
            [
                "validate",
                "--reference",
                "ref.h5",
                "--generated",
                "events.h5",
                "-o",
                "report",
                "--checkpoint",
                str(run_dir),
                "--walk-energy",
                "8192",
            ]
        )
        == 0
    )
    assert (tmp_path / "report" / "latent_walk.png").is_file()
    assert "classifier_auc_high_level" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert "e_ratio" in json.dumps(metrics)
    assert (tmp_path / "report" / "index.html").read_text().count("<img") >= 5
