"""Concurrency: runs started together (a batch-system job array) each get a run folder of their own.

- Property (hypothesis): several processes call :func:`~hepgan.training.trainer.new_run_dir`
  for the same run name many times at once (all within a second or two, so the time stamps
  collide): every call returns a distinct, existing, empty folder named
  ``<name>-<YYYYmmdd>-<HHMMSS>[-N]``, and :func:`~hepgan.training.checkpoint.latest_run`
  picks the newest of them (stamp, then suffix).
- Property: ``latest_run`` orders folder names with and without suffixes by stamp, then suffix.
- Bad input still leaves no run folder (the folder reserved before the data are read is
  removed again, and so is a runs folder made for it).
- Three real ``hepgan train`` processes started at once with the same tiny config all
  succeed, each in its own folder.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.config import RunConfig, TrainingConfig
from hepgan.io import ShowerBatch, load_geometry, write_showers
from hepgan.training.checkpoint import RUN_DIR_NAME, checkpoint_name, latest_run, list_checkpoints
from hepgan.training.run_folder import new_run_dir

from .cli_checks import assert_one_error_line, run_cli
from .helpers import ROOT, case_counter

CASES = case_counter(__file__)
SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
NAME_FORMAT = re.compile(r"^(?P<name>.+)-\d{8}-\d{6}(-(?P<index>\d+))?$")
TINY = [
    "model.latent_dim=4",
    "model.generator_hidden=[8]",
    "model.critic_hidden=[8]",
    "training.batch_size=8",
    "training.d_steps=1",
    "training.max_steps=2",
    "training.checkpoint_every=1",
    "training.threads=1",
]


def _reserve_many(runs_dir: str, name: str, count: int, start_at: float) -> list[str]:
    """In a child process: wait for the common start time, then create ``count`` run folders."""
    config = RunConfig(name=name, training=TrainingConfig(runs_dir=runs_dir))
    while time.time() < start_at:
        time.sleep(0.001)
    return [str(new_run_dir(config)) for _ in range(count)]


def _stamp_and_suffix(folder: Path) -> tuple[str, int]:
    match = RUN_DIR_NAME.match(folder.name)
    assert match is not None
    return match["stamp"], int(match["index"] or 1)


@settings(max_examples=4, **SETTINGS)
@given(
    processes=st.integers(2, 6),
    per_process=st.integers(1, 25),
    name=st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True),
)
def test_new_run_dir_never_hands_out_a_folder_twice(
    tmp_path: Path, processes: int, per_process: int, name: str
) -> None:
    runs = Path(tempfile.mkdtemp(dir=tmp_path)) / "runs"  # not there yet: made by the first process
    start_at = time.time() + 0.3
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.starmap(_reserve_many, [(str(runs), name, per_process, start_at)] * processes)
    CASES["new_run_dir calls"] += processes * per_process
    folders = [Path(p) for chunk in results for p in chunk]
    assert len(set(folders)) == len(folders) == processes * per_process
    assert sorted(folders) == sorted(runs.iterdir())
    for folder in folders:
        assert folder.is_dir() and not any(folder.iterdir())
        match = NAME_FORMAT.match(folder.name)
        assert match is not None and match["name"] == name, folder.name
        assert match["index"] is None or int(match["index"]) >= 2
    newest = max(folders, key=_stamp_and_suffix)
    for folder in folders:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / checkpoint_name(1)).write_bytes(b"")
    assert latest_run(runs, name) == newest
    assert latest_run(runs) == newest


@settings(max_examples=40, **SETTINGS)
@given(
    names=st.lists(
        st.tuples(
            st.sampled_from(["calo", "calo-2", "ev"]),
            st.integers(20240101, 20241231),
            st.integers(0, 235959),
            st.integers(1, 12),
        ),
        min_size=1,
        max_size=8,
        unique=True,
    ),
    wanted=st.sampled_from(["calo", "calo-2", "ev"]),
)
def test_latest_run_orders_by_stamp_then_suffix(tmp_path: Path, names: list, wanted: str) -> None:
    runs = Path(tempfile.mkdtemp(dir=tmp_path))
    for run_name, date, clock, index in reversed(names):  # modification times do not follow the names
        folder = runs / (f"{run_name}-{date}-{clock:06d}" + (f"-{index}" if index > 1 else ""))
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "checkpoints" / checkpoint_name(1)).write_bytes(b"")
    CASES["latest_run"] += 1
    mine = [entry for entry in names if entry[0] == wanted]
    if not mine:
        with pytest.raises(Exception, match="no run with checkpoints"):
            latest_run(runs, wanted)
        return
    run_name, date, clock, index = max(mine, key=lambda entry: (entry[1], entry[2], entry[3]))
    expected = f"{run_name}-{date}-{clock:06d}" + (f"-{index}" if index > 1 else "")
    assert latest_run(runs, wanted).name == expected


def test_bad_input_leaves_no_run_folder(tmp_path: Path, capsys, caplog) -> None:
    """Showers with NaN deep in the file (found while the data are read, after the run folder is reserved):
    one error line, and neither a run folder nor the runs folder made for it remains."""
    CASES["bad input"] += 1
    geometry = load_geometry("calochallenge_ds1_photons")
    rng = np.random.default_rng(3)
    incident = rng.choice([1024.0, 4096.0], 200)
    voxels = rng.exponential(1.0, (200, geometry.n_voxels))
    showers = voxels / voxels.sum(axis=1, keepdims=True) * 0.9 * incident[:, None]
    data = tmp_path / "data.h5"
    write_showers(data, ShowerBatch(incident, showers), geometry)
    with h5py.File(data, "a") as file:  # the writer refuses NaN: put it in afterwards
        file["showers"][150, 7] = np.nan
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--no-progress", "--no-validate"]
    runs = f"training.runs_dir={tmp_path / 'deep' / 'runs'}"
    for override in [f"data.path={data}", runs, "data.chunk_size=64", *TINY]:
        argv += ["--set", override]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(data))
    assert not (tmp_path / "deep").exists()


@pytest.mark.slow
def test_trainings_started_together_each_get_their_own_folder(tmp_path: Path, reference_file: Path) -> None:
    """A job array of three ``hepgan train`` with one config: all succeed, in three distinct run folders."""
    CASES["hepgan train at once"] += 3
    argv = [sys.executable, "-m", "hepgan", "train", str(ROOT / "configs" / "calo.yaml"), "--no-progress"]
    for override in [f"data.path={reference_file}", f"training.runs_dir={tmp_path / 'runs'}", *TINY]:
        argv += ["--set", override]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [*argv, "--no-validate"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=240) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    folders = sorted((tmp_path / "runs").iterdir())
    reported = sorted(Path(out.split("run folder ")[1].splitlines()[0]).name for out, _ in outputs)
    assert [p.name for p in folders] == reported and len(set(reported)) == 3
    for folder in folders:
        assert [p.name for p in list_checkpoints(folder)] == ["step_0000001.pt", "step_0000002.pt"]
        assert (folder / "run.json").is_file() and (folder / "holdout_reference.h5").is_file()
