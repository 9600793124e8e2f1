"""Training from a bounded buffer (``data.buffer_size``): the schedule, exact resume, bounded memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hepgan.config import config_from_dict
from hepgan.domains import train
from hepgan.training.checkpoint import load_checkpoint
from hepgan.training.sample_buffer import SampleBuffer, refresh_interval, slots_for
from hepgan.training.trainer import new_run_dir

from .helpers import make_trainer, small_config


class NumberedBlocks:
    """Block i holds samples whose single feature is 1000·i + row (the last block is short); counts reads."""

    def __init__(self, n_blocks: int, block_size: int, last: int) -> None:
        self.n_blocks, self.block_size, self.last = n_blocks, block_size, last
        self.reads: list[int] = []

    def read_block(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads.append(index)
        n = self.last if index == self.n_blocks - 1 else self.block_size
        values = 1000.0 * index + torch.arange(n, dtype=torch.float32)
        return values[:, None], torch.full((n, 1), float(index))


def _held(buffer: SampleBuffer) -> list[float]:
    assert buffer.features is not None
    return sorted(buffer.features[buffer._rows, 0].tolist())


def test_the_buffer_holds_at_each_step_what_a_fresh_fill_for_that_step_holds() -> None:
    source = NumberedBlocks(n_blocks=7, block_size=10, last=4)
    running = SampleBuffer(source, n_slots=3, block_size=10, refresh_every=2, seed=5, device=torch.device("cpu"))
    running.fill_for_step(0)
    for step in range(40):
        running.advance(step)
        fresh = SampleBuffer(
            NumberedBlocks(7, 10, 4), n_slots=3, block_size=10, refresh_every=2, seed=5, device=torch.device("cpu")
        )
        fresh.fill_for_step(step)
        assert _held(running) == _held(fresh), step
    # the first 3 reads fill it; then one block every 2 steps; every pass over the 7 blocks reads each once
    assert len(source.reads) == 3 + 39 // 2
    for start in range(0, len(source.reads) - 6, 7):
        assert sorted(source.reads[start : start + 7]) == list(range(7))
    # the blocks of the last three reads are held (the short one counts its 4 rows; a block can be held twice
    # where one pass ends and the next begins); the storage is three full blocks whatever the file
    held = source.reads[-3:]
    assert len(running) == sum(4 if block == 6 else 10 for block in held)
    assert running.memory_bytes == 3 * 10 * 2 * 4


def test_draws_are_uniform_over_the_held_samples() -> None:
    source = NumberedBlocks(n_blocks=2, block_size=50, last=50)
    buffer = SampleBuffer(source, n_slots=2, block_size=50, refresh_every=1, seed=1, device=torch.device("cpu"))
    buffer.fill_for_step(0)
    features, conditions = buffer.draw(100_000, torch.Generator().manual_seed(3))
    counts = np.bincount(features[:, 0].long().numpy() % 1000 + 50 * conditions[:, 0].long().numpy(), minlength=100)
    # 100 held samples, 1000 draws each: a chi-square test of uniformity at 99 degrees of freedom
    chi2 = float(((counts - 1000.0) ** 2 / 1000.0).sum())
    assert counts.min() > 0 and chi2 < 150.0  # P(chi2_99 > 150) ~ 6e-4
    assert len(source.reads) == 2  # everything fits: nothing is ever replaced
    buffer.advance(1000)
    assert len(source.reads) == 2


def test_refresh_interval_and_slots() -> None:
    # a block of 1000 held showers, 768 drawn per step: replaced every 3 steps for 2 draws per shower
    assert refresh_interval(1000, 768, 2.0) == 3
    assert refresh_interval(10, 10_000, 2.0) == 1
    assert slots_for(10_000, 1000) == 10 and slots_for(10, 1000) == 2


def _buffered(tmp: Path, reference_file: Path, **training: object):
    config = small_config(tmp, reference_file, **training).to_dict()
    config["data"].update(chunk_size=40, buffer_size=80)
    return config_from_dict(config, "buffered test config")


def test_buffered_training_is_bounded_and_resumes_exactly(tmp_path: Path, reference_file: Path) -> None:
    config = _buffered(tmp_path / "straight", reference_file)
    trainer = make_trainer(config, new_run_dir(config), progress=False)
    assert trainer.buffer is not None  # 360 training showers, 80 held
    n_features = trainer.buffer.features.shape[1]
    assert trainer.buffer.memory_bytes == 2 * 40 * (n_features + 1) * 4
    straight = trainer.fit()
    killed_config = _buffered(tmp_path / "killed", reference_file)
    killed = make_trainer(_buffered(tmp_path / "killed", reference_file, max_steps=3), new_run_dir(killed_config))
    killed.fit()
    resumed = train(killed_config, resume_dir=killed.run_dir, progress=False)
    assert resumed.steps == 6
    ws, wr = load_checkpoint(straight.checkpoint)["generator"], load_checkpoint(resumed.checkpoint)["generator"]
    assert all(torch.equal(ws[k], wr[k]) for k in ws)
    # the buffer changes what is trained on: an in-memory run of the same seed ends elsewhere
    in_memory = train(small_config(tmp_path / "memory", reference_file), progress=False)
    wm = load_checkpoint(in_memory.checkpoint)["generator"]
    assert not all(torch.equal(ws[k], wm[k]) for k in ws)


def test_a_buffer_larger_than_the_sample_holds_it_all(tmp_path: Path, reference_file: Path) -> None:
    config = small_config(tmp_path, reference_file).to_dict()
    config["data"]["buffer_size"] = 10_000
    trainer = make_trainer(config_from_dict(config, "test"), progress=False)
    assert trainer.buffer is None and len(trainer.features) == 360


@pytest.mark.parametrize("value", [-1, "many"])
def test_bad_buffer_size_is_named(tmp_path: Path, reference_file: Path, value: object) -> None:
    from hepgan.errors import ConfigError

    config = small_config(tmp_path, reference_file).to_dict()
    config["data"]["buffer_size"] = value
    with pytest.raises(ConfigError, match="buffer_size"):
        config_from_dict(config, "test")
