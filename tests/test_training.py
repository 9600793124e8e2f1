"""Training: reproducibility, exact resume, divergence detection, checkpoint safety."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from hepgan.domains import train
from hepgan.errors import InputFileError, TrainingError
from hepgan.training.checkpoint import list_checkpoints, load_checkpoint, load_latest_valid
from hepgan.training.trainer import HOLDOUT_FILE, new_run_dir

from .helpers import make_trainer, small_config


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["generator"]


def test_run_folder_contents(tmp_path: Path, reference_file: Path) -> None:
    result = train(small_config(tmp_path, reference_file), progress=False)
    assert (result.run_dir / "config.yaml").is_file()
    assert (result.run_dir / HOLDOUT_FILE).is_file()
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "event" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert "wasserstein" in steps[0] and "gradient_penalty" in steps[0] and "diversity" in steps[0]
    assert "chi2_ndf_mean" in steps[-1] and "fpd" in steps[-1]  # quick metrics at the last step
    best = [r for r in records if r.get("event") == "best"]
    assert best and best[-1]["metric"] == "chi2_ndf_mean"
    assert [p.name for p in list_checkpoints(result.run_dir)] == ["step_0000003.pt", "step_0000006.pt"]
    assert (result.run_dir / "checkpoints" / "best.pt").is_file()
    assert (result.run_dir / "training_history.png").read_bytes()[:4] == b"\x89PNG"
    state = load_checkpoint(result.checkpoint)
    assert state["step"] == 6 and state["config"]["data"]["path"] == str(reference_file)


def test_two_seeded_runs_give_identical_weights(tmp_path: Path, reference_file: Path) -> None:
    a = train(small_config(tmp_path / "a", reference_file), progress=False)
    b = train(small_config(tmp_path / "b", reference_file), progress=False)
    wa, wb = _weights(a.checkpoint), _weights(b.checkpoint)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(small_config(tmp_path / "c", reference_file, lr_generator=3e-4), progress=False)
    assert not all(torch.equal(wa[k], _weights(c.checkpoint)[k]) for k in wa)


def test_resume_reproduces_an_uninterrupted_run(tmp_path: Path, reference_file: Path) -> None:
    straight = train(small_config(tmp_path / "straight", reference_file), progress=False)
    config = small_config(tmp_path / "killed", reference_file)
    trainer = make_trainer(
        small_config(tmp_path / "killed", reference_file, max_steps=3), new_run_dir(config), progress=False
    )
    trainer.fit()  # "killed" after the checkpoint at step 3
    resumed = train(config, resume_dir=trainer.run_dir, progress=False)
    assert resumed.steps == 6
    ws, wr = _weights(straight.checkpoint), _weights(resumed.checkpoint)
    assert all(torch.equal(ws[k], wr[k]) for k in ws)


def test_nan_losses_stop_training_without_a_checkpoint(tmp_path: Path, reference_file: Path) -> None:
    trainer = make_trainer(small_config(tmp_path, reference_file), progress=False)
    with torch.no_grad():
        next(trainer.generator.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingError, match=r"diverged at step 1: .*NaN/inf"):
        trainer.fit()
    assert list_checkpoints(trainer.run_dir) == []


# The diagnostics each loss logs (hepgan.losses.GANObjective): both networks' losses, then V(D, G) and the mean
# D(x), D(G(z)) for the two classic games, or the Wasserstein estimate and the gradient penalty for WGAN-GP.
LOSS_DIAGNOSTICS = {
    "minimax": {"d_loss", "g_loss", "value", "d_real", "d_fake"},
    "non-saturating": {"d_loss", "g_loss", "value", "d_real", "d_fake"},
    "wgan-gp": {"d_loss", "g_loss", "wasserstein", "gradient_penalty"},
}
ALL_LOSS_DIAGNOSTICS = set().union(*LOSS_DIAGNOSTICS.values())


@pytest.mark.parametrize(
    ("loss", "architecture"), [("minimax", "mlp"), ("non-saturating", "dcgan"), ("wgan-gp", "dcgan")]
)
def test_every_loss_and_architecture_trains(tmp_path: Path, reference_file: Path, loss: str, architecture: str) -> None:
    config = small_config(tmp_path, reference_file, loss=loss, max_steps=2, checkpoint_every=2)
    config = type(config)(
        **{
            **config.__dict__,
            "model": type(config.model)(**{**config.model.__dict__, "architecture": architecture, "dcgan_channels": 4}),
        }
    )
    result = train(config, progress=False)
    lines = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    records = [record for record in map(json.loads, lines) if "event" not in record]  # not "best"/"rollback" notes
    assert [record["step"] for record in records] == [1, 2]
    for record in records:
        assert set(record) & ALL_LOSS_DIAGNOSTICS == LOSS_DIAGNOSTICS[loss], record
        assert all(math.isfinite(record[key]) for key in LOSS_DIAGNOSTICS[loss])


def test_corrupt_and_malicious_checkpoints_are_refused(tmp_path: Path, reference_file: Path) -> None:
    result = train(small_config(tmp_path, reference_file), progress=False)
    newest = result.checkpoint
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # truncated, as by a kill mid-copy
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        load_checkpoint(newest)
    path, state = load_latest_valid(result.run_dir)  # falls back to the previous checkpoint
    assert path.name == "step_0000003.pt" and state["step"] == 3

    class Exploit:
        def __reduce__(self):
            return (print, ("code ran on load",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "generator": Exploit()}, evil)
    with pytest.raises(InputFileError, match="refused"):
        load_checkpoint(evil)
