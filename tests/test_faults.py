"""Faults: divergence handling, preemption (SIGTERM), kills (SIGKILL) of training and generation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hepgan.domains import train
from hepgan.errors import TrainingError
from hepgan.training.checkpoint import list_checkpoints, load_checkpoint
from hepgan.training.trainer import Trainer

from .helpers import ROOT, make_trainer, small_config


def _trainer(tmp_path: Path, reference_file: Path, **training) -> Trainer:
    config = small_config(tmp_path, reference_file, **training)
    return make_trainer(config, progress=False)


def test_nan_rolls_back_to_the_last_checkpoint_with_lower_learning_rates(tmp_path: Path, reference_file: Path) -> None:
    trainer = _trainer(tmp_path, reference_file, on_divergence="rollback", max_steps=3, checkpoint_every=3)
    trainer.fit()
    trainer.config = small_config(tmp_path, reference_file, on_divergence="rollback", max_steps=6, checkpoint_every=3)
    with torch.no_grad():
        next(trainer.generator.parameters()).fill_(float("nan"))  # weights blow up after step 3
    result = trainer.fit()
    assert result.steps == 6 and trainer.rollbacks == 1
    events = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    rollbacks = [e for e in events if e.get("event") == "rollback"]
    assert (
        len(rollbacks) == 1 and "NaN/inf" in rollbacks[0]["reason"] and rollbacks[0]["checkpoint"] == "step_0000003.pt"
    )
    state = load_checkpoint(result.checkpoint)
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(0.5e-4)
    assert all(torch.isfinite(t).all() for t in state["generator"].values())


def test_rollback_gives_up_after_max_rollbacks(tmp_path: Path, reference_file: Path) -> None:
    trainer = _trainer(tmp_path, reference_file, on_divergence="rollback", max_rollbacks=0)
    with torch.no_grad():
        next(trainer.generator.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingError, match="gave up after 0 rollbacks"):
        trainer.fit()


def test_mode_collapse_is_detected(tmp_path: Path, reference_file: Path) -> None:
    trainer = _trainer(tmp_path, reference_file, collapse_check_after=0, lr_generator=1e-12)
    with torch.no_grad():  # a generator that ignores its noise: every shower the same per energy
        first = trainer.generator.net[0]
        first.weight[:, : trainer.config.model.latent_dim] = 0.0
    assert trainer.diversity() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(TrainingError, match="mode collapse"):
        trainer.fit()


def test_runaway_critic_is_detected(tmp_path: Path, reference_file: Path) -> None:
    trainer = _trainer(tmp_path, reference_file, critic_runaway=1e-9)
    with pytest.raises(TrainingError, match="critic ran away"):
        trainer.fit()


PROCESSES: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_stray_processes():
    yield
    while PROCESSES:
        proc = PROCESSES.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _hepgan(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hepgan", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    PROCESSES.append(proc)
    return proc


def _wait_for(predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _train_args(reference_file: Path) -> list[str]:
    return [
        "train",
        str(ROOT / "configs" / "calo.yaml"),
        "--no-progress",
        "--no-validate",
        "--set",
        f"data.path={reference_file}",
        "--set",
        "model.generator_hidden=[32]",
        "--set",
        "model.critic_hidden=[32]",
        "--set",
        "training.batch_size=32",
        "--set",
        "training.d_steps=1",
        "--set",
        "training.max_steps=100000",
        "--set",
        "training.checkpoint_every=50",
        "--set",
        "training.log_every=10",
        "--set",
        "training.threads=1",
    ]


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_resume_continues(tmp_path: Path, reference_file: Path) -> None:
    proc = _hepgan(_train_args(reference_file), tmp_path)
    metrics = lambda: list(tmp_path.glob("runs/*/metrics.jsonl"))  # noqa: E731
    _wait_for(lambda: metrics() and metrics()[0].read_text().count("\n") >= 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM at step" in err and "--resume" in err and "Traceback" not in err
    run_dir = metrics()[0].parent
    step = int(err.split("at step ")[1].split(";")[0])
    assert list_checkpoints(run_dir)[-1].name == f"step_{step:07d}.pt"  # the final checkpoint, off-interval
    resumed = _hepgan([*_train_args(reference_file), "--set", f"training.max_steps={step + 20}", "--resume"], tmp_path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"trained {step + 20} steps" in out


@pytest.mark.slow
def test_sigkill_during_training_loses_at_most_one_interval(tmp_path: Path, reference_file: Path) -> None:
    proc = _hepgan(_train_args(reference_file), tmp_path)
    _wait_for(lambda: len(list(tmp_path.glob("runs/*/checkpoints/step_*.pt"))) >= 2)
    proc.kill()
    proc.communicate(timeout=30)
    run_dir = next(tmp_path.glob("runs/*"))
    newest = list_checkpoints(run_dir)[-1]
    assert load_checkpoint(newest)["step"] >= 100  # complete and loadable
    resumed = _hepgan([*_train_args(reference_file), "--set", "training.max_steps=160", "--resume"], tmp_path)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert load_checkpoint(list_checkpoints(run_dir)[-1])["step"] == 160


@pytest.mark.slow
def test_killed_generation_leaves_no_file_under_the_target_name(tmp_path: Path, reference_file: Path) -> None:
    checkpoint = train(small_config(tmp_path, reference_file), progress=False).checkpoint
    target = tmp_path / "events.h5"
    target.write_bytes(b"earlier output")
    proc = _hepgan(
        [
            "generate",
            "--n",
            "1e7",
            "-o",
            str(target),
            "--checkpoint",
            str(checkpoint),
            "--batch-size",
            "1000",
            "--no-progress",
        ],
        tmp_path,
    )
    _wait_for(lambda: any(p.name.startswith(".events.h5.tmp-") for p in tmp_path.iterdir()))
    time.sleep(1.0)
    proc.kill()
    proc.communicate(timeout=30)
    assert target.read_bytes() == b"earlier output"
