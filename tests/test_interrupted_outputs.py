"""Property-based tests: a full disk or a signal never leaves half-written results.

Full disks are emulated with ``RLIMIT_FSIZE`` at random byte counts (files may not grow
beyond the limit; the write fails with EFBIG, like it would with ENOSPC) in a worker process
(``tests/limit_worker.py``) that runs the real command line and the checkpoint writer:

- checkpoint writes (``save_checkpoint`` of random tensor sizes): the complete checkpoint,
  or one OutputError naming the file; never a ``.tmp-*`` file, an earlier checkpoint at the
  name byte-identical;
- ``hepgan validate`` of event and shower files into a folder holding an earlier report:
  exit 0 with a complete new report in place of the whole earlier one, or exit 2 with one
  line naming the folder and the earlier report byte-identical; never a temporary sibling
  folder;
- ``hepgan train`` whose checkpoint does not fit: exit 2, one line, no temporary file.

SIGTERM and SIGINT at random times while ``hepgan generate`` writes (a real process, shower
files ``.h5`` and ``.root``): exit 143 or 130, one stderr line naming the signal, no
traceback, nothing under the target name but the earlier file, no ``.tmp-*`` file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.io import ShowerBatch, write_showers
from hepgan.io.events import write_events
from hepgan.io.geometry import geometry_from_dict
from hepgan.training.checkpoint import load_checkpoint

from .cli_checks import snapshot
from .helpers import ROOT, case_counter, small_config, toy_zmumu

CASES = case_counter(__file__)
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
TINY_GEOMETRY = {
    "name": "tiny",
    "layout": "calochallenge",
    "description": "one layer of two rings (few observables, so few plots)",
    "layers": [{"id": 0, "depth_x0": [0.0, 20.0], "r_edges": [0, 5, 20], "n_alpha": 1}],
}
LIMITS = st.one_of(st.integers(0, 4096), st.integers(4096, 200_000), st.integers(200_000, 2_000_000))
"""File-size limits in bytes: the files written here range from a few hundred bytes to a few hundred kB."""


# --------------------------------------------------------------------------- the worker
class Worker:
    """A ``tests/limit_worker.py`` process: one JSON request, one JSON answer."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "limit_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert json.loads(self._line()) == {"ready": True}

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the worker died (exit code {self.proc.poll()})"
        return line

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        assert answer["escaped"] is None, f"a traceback escaped:\n{answer['escaped']}"
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    process = Worker()
    yield process
    process.close()


def fresh_dir(parent: Path) -> Path:
    """A new empty folder per hypothesis example (function-scoped tmp_path is shared by all examples)."""
    return Path(tempfile.mkdtemp(dir=parent))


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders of hepgan's writers anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob(".*") if ".tmp" in p.name or ".old-" in p.name)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- checkpoints
@settings(max_examples=25, **SETTINGS)
@given(
    sizes=st.lists(st.integers(1, 20_000), min_size=1, max_size=4),
    limit=LIMITS,
    earlier=st.booleans(),
)
def test_checkpoint_write_at_a_file_size_limit(
    worker: Worker, tmp_path: Path, sizes: list[int], limit: int, earlier: bool
) -> None:
    """The complete checkpoint, or one OutputError naming it; no temporary file; an earlier one unchanged."""
    CASES["checkpoint write"] += 1
    folder = fresh_dir(tmp_path)
    path = folder / "checkpoints" / "step_0000002.pt"
    path.parent.mkdir()
    if earlier:
        path.write_bytes(b"earlier checkpoint")
    before = snapshot(folder)
    answer = worker.ask(op="checkpoint", path=str(path), sizes=sizes, limit=limit)
    assert leftovers(folder) == []
    if answer["error"] is None:
        state = load_checkpoint(path)
        assert [len(t) for t in state["generator"].values()] == sizes
        assert torch.equal(state["generator"]["w0"], torch.arange(sizes[0], dtype=torch.float32))
        assert path.stat().st_size <= max(limit, 1)
    else:
        CASES["checkpoint write refused"] += 1
        error = answer["error"]
        assert error.startswith("OutputError: ") and str(path) in error and "\n" not in error, error
        assert snapshot(folder) == before


def test_training_whose_checkpoint_does_not_fit(worker: Worker, tmp_path: Path, reference_file: Path) -> None:
    """``hepgan train`` with files limited to 200 kB: the held-out file fits, the checkpoint does not:
    exit 2, one line naming the checkpoint, no temporary file in the run folder."""
    CASES["train (checkpoint does not fit)"] += 1
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--no-progress", "--no-validate"]
    overrides = [
        f"data.path={reference_file}",
        f"training.runs_dir={tmp_path / 'runs'}",
        "model.latent_dim=4",
        "model.generator_hidden=[256]",
        "model.critic_hidden=[8]",
        "training.batch_size=8",
        "training.d_steps=1",
        "training.max_steps=2",
        "training.checkpoint_every=1",
        "training.threads=1",
    ]
    for override in overrides:
        argv += ["--set", override]
    answer = worker.ask(op="cli", argv=argv, cwd=str(tmp_path), limit=200_000)
    assert answer["code"] == 2, answer
    line = one_line(answer["err"])
    assert line.startswith("hepgan: error: ") and "step_0000001.pt: cannot write checkpoint" in line, line
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- validation reports
@pytest.fixture(scope="module")
def report_inputs(tmp_path_factory: pytest.TempPathFactory, worker: Worker) -> dict[str, dict[str, Any]]:
    """Reference and generated files of both kinds, and an earlier report of each (made without a limit)."""
    tmp = tmp_path_factory.mktemp("report_inputs")
    events = toy_zmumu(1200, seed=5)
    write_events(tmp / "ref_events.h5", events.subset(slice(0, 600)))
    write_events(tmp / "gen_events.h5", events.subset(slice(600, 1200)))
    geometry = geometry_from_dict(TINY_GEOMETRY)
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY_GEOMETRY), encoding="utf-8")
    rng = np.random.default_rng(2)
    for name in ("ref_showers.h5", "gen_showers.h5"):
        incident = rng.choice([1024.0, 4096.0], 150)
        cells = rng.exponential(1.0, (150, geometry.n_voxels))
        write_showers(
            tmp / name, ShowerBatch(incident, cells / cells.sum(1, keepdims=True) * 0.9 * incident[:, None]), geometry
        )
    inputs = {
        "events": {"argv": ["--reference", str(tmp / "ref_events.h5"), "--generated", str(tmp / "gen_events.h5")]},
        "showers": {
            "argv": [
                *("--reference", str(tmp / "ref_showers.h5"), "--generated", str(tmp / "gen_showers.h5")),
                *("--geometry", str(tmp / "tiny.yaml"), "--no-classifier"),
            ]
        },
    }
    for kind, entry in inputs.items():
        earlier = tmp / f"earlier_{kind}" / "report"
        answer = worker.ask(op="cli", argv=["validate", *entry["argv"], "-o", str(earlier)], cwd=str(tmp), limit=None)
        assert answer["code"] == 0, answer
        (earlier / "plots" / "only_in_the_earlier_report.png").write_bytes(b"earlier")
        entry["earlier"] = earlier
    return inputs


@settings(max_examples=8, **SETTINGS)
@given(kind=st.sampled_from(["events", "showers"]), limit=LIMITS)
def test_validate_at_a_file_size_limit(
    worker: Worker, report_inputs: dict[str, dict[str, Any]], tmp_path: Path, kind: str, limit: int
) -> None:
    """A complete new report in place of the whole earlier one, or one error line and the earlier report intact."""
    CASES[f"validate {kind}"] += 1
    folder = fresh_dir(tmp_path)
    out = folder / "report"
    shutil.copytree(report_inputs[kind]["earlier"], out)
    before = snapshot(folder)
    answer = worker.ask(
        op="cli", argv=["validate", *report_inputs[kind]["argv"], "-o", str(out)], cwd=str(folder), limit=limit
    )
    assert leftovers(folder) == [] and sorted(p.name for p in folder.iterdir()) == ["report"]
    if answer["code"] == 0:
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        assert (out / "index.html").is_file()
        assert all((out / plot).is_file() for plot in metrics["plots"].values())
        assert not (out / "plots" / "only_in_the_earlier_report.png").exists()  # replaced whole
    else:
        CASES[f"validate {kind} refused"] += 1
        assert answer["code"] == 2, answer
        line = one_line(answer["err"])
        assert line.startswith("hepgan: error: ") and str(out) in line, line
        assert ".tmp-" not in line, line  # the message names the report folder, not its temporary one
        assert snapshot(folder) == before


def test_validate_refuses_a_folder_with_other_files(worker: Worker, report_inputs: dict, tmp_path: Path) -> None:
    """A report replaces its folder whole, so a folder holding other files (or the current folder) is refused."""
    CASES["validate into a foreign folder"] += 2
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = snapshot(tmp_path)
    answer = worker.ask(
        op="cli", argv=["validate", *report_inputs["events"]["argv"], "-o", str(out)], cwd=str(tmp_path)
    )
    assert answer["code"] == 2 and "notes.txt" in one_line(answer["err"]), answer
    answer = worker.ask(op="cli", argv=["validate", *report_inputs["events"]["argv"], "-o", "."], cwd=str(out))
    assert answer["code"] == 2 and "current folder" in one_line(answer["err"]), answer
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- signals during generate
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    from hepgan.domains import train

    tmp = tmp_path_factory.mktemp("interrupt_checkpoint")
    return train(small_config(tmp, reference_file, max_steps=1, checkpoint_every=1), progress=False).checkpoint


@pytest.mark.slow
@settings(max_examples=3, **SETTINGS)
@given(
    signum=st.sampled_from([signal.SIGTERM, signal.SIGINT]),
    delay=st.floats(0.0, 1.0),
    suffix=st.sampled_from([".h5", ".root"]),
)
def test_a_signal_during_generate_removes_the_partial_file(
    checkpoint: Path, tmp_path: Path, signum: signal.Signals, delay: float, suffix: str
) -> None:
    CASES[f"generate ({signal.Signals(signum).name})"] += 1
    folder = fresh_dir(tmp_path)
    target = folder / f"out{suffix}"
    target.write_bytes(b"earlier output")
    argv = [sys.executable, "-m", "hepgan", "generate", "--n", "300000", "-o", target.name]
    argv += ["--checkpoint", str(checkpoint), "--no-progress", "--batch-size", "5000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while not list(folder.glob(f".{target.name}.tmp-*")):  # writing has begun
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == (143 if signum == signal.SIGTERM else 130), (proc.returncode, err)
    line = one_line(err)
    assert line.startswith(f"hepgan: stopped by {signal.Signals(signum).name}") and target.name in line, line
    assert out == ""
    assert sorted(p.name for p in folder.iterdir()) == [target.name]  # no temporary file
    assert target.read_bytes() == b"earlier output"
