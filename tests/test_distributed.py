"""DistributedDataParallel on CPU with gloo: two processes match one process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hepgan.training.checkpoint import list_checkpoints, load_checkpoint
from hepgan.training.trainer import Trainer

from .helpers import ROOT, make_trainer, small_config, use_sgd


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_processes_match_one_process_on_the_global_batch(tmp_path: Path, reference_file: Path) -> None:
    result = _torchrun([str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path), str(reference_file)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ddp = torch.load(tmp_path / "params_ddp.pt", weights_only=True)
    ranks = [torch.load(tmp_path / f"inputs_rank{r}.pt", weights_only=True) for r in range(2)]
    # the global batch: both ranks' local batches, concatenated
    phases = {
        name: [
            {key: torch.cat([ranks[0][name][i][key], ranks[1][name][i][key]]) for key in ranks[0][name][i]}
            for i in range(len(ranks[0][name]))
        ]
        for name in ("d", "g")
    }
    assert phases["d"][0]["real"].shape[0] == 32  # the configured global batch
    single_dir = tmp_path / "single"
    config = small_config(single_dir, reference_file, mmd_weight=0.0)
    trainer = make_trainer(config, progress=False)
    use_sgd(trainer)
    assert ddp["shard_size"] in (len(trainer.features) // 2, len(trainer.features) // 2 + 1)
    trainer.apply_iteration(phases)
    for name in ("generator", "critic"):
        ours = getattr(trainer, name).state_dict()
        for key, value in ddp[name].items():
            torch.testing.assert_close(ours[key], value, rtol=1e-5, atol=1e-7, msg=f"{name}.{key}")
        assert any(not torch.equal(ours[k], v) for k, v in load_initial(trainer, name).items())


def load_initial(trainer: Trainer, name: str) -> dict[str, torch.Tensor]:
    """Freshly initialised weights with the run's seed (to show the step changed them)."""
    torch.manual_seed(trainer.config.seed)
    generator, critic = trainer.data.build_networks()
    return (generator if name == "generator" else critic).state_dict()


@pytest.mark.slow
def test_torchrun_cli_then_resume_with_another_world_size(tmp_path: Path, reference_file: Path) -> None:
    args = [
        "-m",
        "hepgan",
        "train",
        str(ROOT / "configs" / "calo.yaml"),
        "--no-progress",
        "--no-validate",
        "--set",
        f"data.path={reference_file}",
        "--set",
        "model.generator_hidden=[16]",
        "--set",
        "model.critic_hidden=[16]",
        "--set",
        "training.batch_size=32",
        "--set",
        "training.max_steps=4",
        "--set",
        "training.checkpoint_every=2",
        "--set",
        "training.log_every=1",
    ]
    result = _torchrun(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dirs = list((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 1  # one run folder, written by rank 0 alone
    lines = (run_dirs[0] / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines if '"event"' not in line] == [1, 2, 3, 4]  # rank 0 alone logs
    state = load_checkpoint(list_checkpoints(run_dirs[0])[-1])
    assert state["step"] == 4 and len(state["rng_per_rank"]) == 2
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    resumed = subprocess.run(
        [
            sys.executable,
            *args[:4],
            "--no-progress",
            "--no-validate",
            "--resume",
            str(run_dirs[0]),
            "--set",
            "training.max_steps=6",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_checkpoint(list_checkpoints(run_dirs[0])[-1])["step"] == 6
