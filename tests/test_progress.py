"""Progress in log files: a few plain lines instead of a carriage-return bar; a bar on a terminal."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from hepgan.generate.stream import stream_batches
from hepgan.progress import LineProgress, progress_bar

from .helpers import ROOT, small_config


def python_env() -> dict[str, str]:
    """This environment with the checkout first on the module path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


LOOP = """
from hepgan.progress import LineProgress, progress_bar
bar = progress_bar(1000, "train calo", "it")
assert isinstance(bar, LineProgress), type(bar)
for step in range(1000):
    bar.update(1)
    if step % 100 == 0:
        bar.set_postfix({"d_loss": f"{-0.5 * step:.3g}"})
bar.close()
"""


def test_a_log_file_gets_a_line_per_ten_percent_and_no_carriage_return(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    with open(log, "w") as handle:  # stderr is a file, not a terminal, as in a batch job
        subprocess.run([sys.executable, "-c", LOOP], stderr=handle, check=True, cwd=ROOT, env=python_env())
    text = log.read_text()
    lines = text.splitlines()
    assert "\r" not in text
    assert 10 <= len(lines) <= 11, lines
    assert lines[0].startswith("train calo: 100/1000 it (10%)")
    assert lines[-1].startswith("train calo: 1000/1000 it (100%)")
    assert "d_loss=-450" in lines[-1]


def test_a_line_every_30_seconds_when_progress_is_slow() -> None:
    clock, out = FakeClock(), io.StringIO()
    bar = LineProgress(10**6, "generate", "shower", unit_scale=True, stream=out, clock=clock)
    for _ in range(5):
        clock.now += 31.0
        bar.update(1000)  # 0.1 % per update: only the interval triggers a line
    bar.update(0)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[-1].startswith("generate: 5k/1M shower (0%), 2.6 min, 32.3 shower/s, ETA 8.6 h")


def test_close_writes_the_last_count_once() -> None:
    out = io.StringIO()
    bar = LineProgress(1000, "simulate", "shower", stream=out)
    bar.update(150)  # crosses 10 %
    bar.update(10)
    bar.close()
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "simulate: 150/1000 shower (15%)",
        "simulate: 160/1000 shower (16%)",
    ]


def test_a_resumed_run_counts_from_its_step() -> None:
    out = io.StringIO()
    bar = LineProgress(100, "train", "it", initial=50, stream=out)
    bar.update(5)  # 55 %: no new 10 % step since 50 %
    assert out.getvalue() == ""
    bar.update(5)
    assert out.getvalue().startswith("train: 60/100 it (60%)")


def test_a_terminal_gets_the_tqdm_bar() -> None:
    from tqdm import tqdm

    bar = progress_bar(10, "train", stream=TerminalStream())
    assert isinstance(bar, tqdm)
    bar.close()


class ListWriter:
    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def write(self, batch: np.ndarray) -> None:
        self.batches.append(batch)


def test_generation_progress_in_a_log_file(tmp_path: Path) -> None:
    writer, log = ListWriter(), tmp_path / "job.log"
    with open(log, "w") as handle, contextlib.redirect_stderr(handle):
        stream_batches(writer, (np.zeros(10) for _ in range(500)), 5000, "showers", progress=True)
    text = log.read_text()
    assert len(writer.batches) == 500
    assert "\r" not in text
    lines = text.splitlines()
    assert 10 <= len(lines) <= 11, lines
    assert lines[-1].startswith("generate: 5k/5k shower (100%)")


def test_training_and_simulation_progress_in_a_log_file(tmp_path: Path, reference_file: Path) -> None:
    from hepgan.config import load_config
    from hepgan.domains import train
    from hepgan.simulate import simulate_to_file

    log = tmp_path / "job.log"
    config = load_config(ROOT / "configs" / "calo.yaml", ["simulation.spectrum={kind: discrete, values_mev: [4096]}"])
    with open(log, "w") as handle, contextlib.redirect_stderr(handle):
        simulate_to_file(config, tmp_path / "sim.h5", n=300, seed=1, chunk_size=30, progress=True)
        train(small_config(tmp_path, reference_file, max_steps=20, checkpoint_every=10), progress=True)
    text = log.read_text()
    assert "\r" not in text
    simulate = [line for line in text.splitlines() if line.startswith("simulate: ")]
    training = [line for line in text.splitlines() if line.startswith("train calo: ")]
    assert len(simulate) == 10 and simulate[-1].startswith("simulate: 300/300 shower (100%)")
    assert len(training) == 10 and training[-1].startswith("train calo: 20/20 it (100%)")
    assert "d_loss=" in training[-1]
