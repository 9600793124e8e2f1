"""Untrusted files and hostile outputs: crafted checkpoints, hostile strings, path escapes, full disks.

- A checkpoint whose pickle runs code on load (``__reduce__`` -> ``os.system``) is refused by
  ``torch.load(weights_only=True)`` with one error line; the marker file it would create never
  appears. Checkpoints with hostile or malformed contents give one line, no traceback.
- Hostile strings in HDF5 attributes, in file names and in a geometry file never reach the
  HTML report unescaped (no ``<script``, no ``<img src=x onerror=...>``).
- Names taken from files or configs (``../x`` run names, ``../../evil`` geometry names) never
  put files outside the output folder.
- Unwritable output folders (a path under a regular file: tests run as root, so permissions
  do not bite) and full disks (emulated with ``RLIMIT_FSIZE``, in a subprocess: the write fails
  with EFBIG like it would with ENOSPC) give one OutputError line, no partial files, and earlier
  outputs stay byte-identical.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from hepgan.io import ShowerBatch, load_geometry, write_showers
from hepgan.training.checkpoint import load_checkpoint

from .cli_checks import CliResult, assert_one_error_line, snapshot
from .cli_checks import run_cli as _run_cli
from .helpers import ROOT, case_counter, small_config

CASES = case_counter(__file__)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> CliResult:
    """The shared runner, counting the cases by command."""
    CASES[argv[0] if argv else "hepgan"] += 1
    return _run_cli(argv, capsys, caplog)


CC = load_geometry("calochallenge_ds1_photons")
HOSTILE_FILE = "<img src=x onerror=alert(1)>.h5"
HOSTILE_ATTR = "<script>alert('attr')</script>"
TINY_TRAINING = [
    "model.latent_dim=4",
    "model.generator_hidden=[8]",
    "model.critic_hidden=[8]",
    "training.batch_size=8",
    "training.d_steps=1",
    "training.max_steps=2",
    "training.checkpoint_every=1",
    "training.threads=1",
]


# --------------------------------------------------------------------------- helpers
def showers(n: int, seed: int = 0) -> ShowerBatch:
    rng = np.random.default_rng(seed)
    incident = rng.choice([1024.0, 4096.0, 16384.0], n)
    voxels = rng.exponential(1.0, (n, CC.n_voxels))
    return ShowerBatch(incident, voxels / voxels.sum(axis=1, keepdims=True) * 0.9 * incident[:, None])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    """A tiny trained checkpoint (1 step) on the CaloChallenge ds1 geometry."""
    from hepgan.domains import train

    tmp = tmp_path_factory.mktemp("untrusted_checkpoint")
    return train(small_config(tmp, reference_file, max_steps=1, checkpoint_every=1), progress=False).checkpoint


def train_argv(data: Path, *overrides: str) -> list[str]:
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--no-progress", "--no-validate"]
    for override in [f"data.path={data}", *TINY_TRAINING, *overrides]:
        argv += ["--set", override]
    return argv


# --------------------------------------------------------------------------- crafted checkpoints
class _RunsCode:
    """Pickles to ``os.system("touch MARKER")``: executed by any unpickler that allows globals."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpensFile:
    """Pickles to ``builtins.open(MARKER, "w")``: creates the marker when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _evil_state(trained: Path, marker: Path, where: str, payload: str) -> object:
    evil = _RunsCode(marker) if payload == "os.system" else _OpensFile(marker)
    if where == "whole file":
        return evil
    state = load_checkpoint(trained)
    if where == "top level":
        state["generator"] = evil
    else:  # nested deep in the config
        state["config"]["training"]["device"] = evil
    return state


@pytest.mark.parametrize("payload", ["os.system", "open"])
@pytest.mark.parametrize("where", ["whole file", "top level", "nested"])
@pytest.mark.parametrize("command", ["generate", "generate (run folder)", "export"])
def test_code_running_checkpoints_are_refused(
    tmp_path: Path, capsys, caplog, trained: Path, payload: str, where: str, command: str
) -> None:
    """``generate``/``export`` with a checkpoint whose pickle would run code: one error line naming the
    checkpoint and saying it was refused; the payload's marker file never appears; nothing written."""
    marker = tmp_path / "pwned"
    run = tmp_path / "runs" / "evil-20260101-000000"
    (run / "checkpoints").mkdir(parents=True)
    evil = run / "checkpoints" / "step_0000001.pt"
    torch.save(_evil_state(trained, marker, where, payload), evil)
    assert not marker.exists()
    before = snapshot(tmp_path)
    source = str(run) if "run folder" in command else str(evil)
    if command == "export":
        argv = ["export", "-o", str(tmp_path / "g.onnx"), "--checkpoint", source]
    else:
        argv = ["generate", "--n", "10", "-o", str(tmp_path / "out.h5"), "--checkpoint", source, "--no-progress"]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(evil), "refused")
    assert not marker.exists(), "the checkpoint's payload was executed"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "protocol",
    [
        2,
        4,
    ],
)
def test_plain_pickle_file_is_refused(tmp_path: Path, capsys, caplog, protocol: int) -> None:
    """A non-torch pickle (``pickle.dumps`` of a payload) passed as checkpoint: one line, not executed."""
    import pickle

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_RunsCode(marker), protocol=protocol))
    argv = ["generate", "--n", "10", "-o", str(tmp_path / "out.h5"), "--checkpoint", str(evil)]
    try:
        assert_one_error_line(run_cli(argv, capsys, caplog), str(evil))
    finally:
        assert not marker.exists(), "the pickle's payload was executed"
    assert not (tmp_path / "out.h5").exists()


def test_hostile_run_name_in_checkpoint_is_refused(tmp_path: Path, capsys, caplog, trained: Path) -> None:
    """A checkpoint whose config names the run ``<script>alert(1)</script>`` is refused by the
    configuration checks (one line naming the checkpoint and config.name)."""
    state = load_checkpoint(trained)
    state["config"]["name"] = "<script>alert(1)</script>"
    hostile = tmp_path / "hostile.pt"
    torch.save(state, hostile)
    argv = ["generate", "--n", "10", "-o", str(tmp_path / "out.h5"), "--checkpoint", str(hostile)]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(hostile), "config.name")
    assert not (tmp_path / "out.h5").exists()


def test_geometry_name_from_checkpoint_is_not_a_path(tmp_path: Path, capsys, caplog, trained: Path) -> None:
    """A checkpoint whose geometry is named ``../../evil``: generation writes only the -o file."""
    state = load_checkpoint(trained)
    state["geometry"]["name"] = "../../evil"
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    checkpoint = tmp_path / "named.pt"
    torch.save(state, checkpoint)
    result = run_cli(
        ["generate", "--n", "10", "-o", str(work / "out.h5"), "--checkpoint", str(checkpoint)], capsys, caplog
    )
    assert result.code == 0, result
    assert sorted(snapshot(tmp_path)) == ["a", "a/b", "a/b/out.h5", "named.pt"]


def _broken(state: dict, defect: str) -> dict:
    if defect == "no config":
        del state["config"]
    elif defect == "non-numeric geometry depth":
        state["geometry"]["layers"][0]["depth_x0"] = ["a", 1]
    elif defect == "weights of another network":
        state["generator_ema"] = {"x": torch.zeros(1)}
    elif defect == "empty transform":
        state["transform"] = {}
    elif defect == "step is text":
        state["step"] = "x"
    return state


@pytest.mark.parametrize(
    "defect",
    ["no config", "non-numeric geometry depth", "weights of another network", "empty transform", "step is text"],
)
def test_malformed_checkpoints_are_one_line(tmp_path: Path, capsys, caplog, trained: Path, defect: str) -> None:
    """A checkpoint that loads safely but holds malformed entries: one line naming it, nothing written."""
    broken = tmp_path / "broken.pt"
    torch.save(_broken(load_checkpoint(trained), defect), broken)
    before = snapshot(tmp_path)
    argv = ["generate", "--n", "10", "-o", str(tmp_path / "out.h5"), "--checkpoint", str(broken), "--no-progress"]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(broken))
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- the HTML report
@pytest.mark.slow
def test_hostile_strings_are_escaped_in_the_report(tmp_path: Path, capsys, caplog) -> None:
    """Hostile HDF5 attributes, file names and geometry name/description: ``hepgan validate`` writes
    only inside -o, and index.html holds them (if at all) escaped: no ``<script``, no ``<img src=x``."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    reference = inputs / HOSTILE_FILE
    generated = inputs / "generated.h5"
    attrs = {"generator": HOSTILE_ATTR, "source": "../../evil", "description": "<img src=x onerror=alert(2)>"}
    write_showers(reference, showers(30, 1), CC, attrs=attrs)
    write_showers(generated, showers(30, 2), CC, attrs=attrs)
    geometry = CC.to_dict()
    geometry.update(name="../../evil<script>alert('name')</script>", description="<script>alert('desc')</script>")
    geometry_file = inputs / "geometry.yaml"
    geometry_file.write_text(yaml.safe_dump(geometry), encoding="utf-8")
    out = tmp_path / "deep" / "report"
    before = snapshot(inputs)
    argv = ["validate", "--reference", str(reference), "--generated", str(generated), "-o", str(out)]
    result = run_cli([*argv, "--geometry", str(geometry_file), "--classifier-protocol", "hepgan"], capsys, caplog)
    assert result.code == 0, result
    page = (out / "index.html").read_text(encoding="utf-8").lower()
    assert "<script" not in page and "<img src=x" not in page and "onerror=alert" not in page.replace("&gt;", "")
    assert "&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;" in page  # the description, escaped
    assert snapshot(inputs) == before
    outside = [p for p in tmp_path.rglob("*") if not (p.is_relative_to(out) or p.is_relative_to(inputs))]
    assert sorted(str(p.relative_to(tmp_path)) for p in outside) == ["deep"]


@pytest.mark.slow
def test_mathtext_in_a_geometry_name_is_harmless(tmp_path: Path, capsys, caplog) -> None:
    """A geometry file named ``$\\undefinedcommand{$``: the report is written (the name shown literally)."""
    reference, generated = tmp_path / "ref.h5", tmp_path / "gen.h5"
    write_showers(reference, showers(30, 1), CC)
    write_showers(generated, showers(30, 2), CC)
    geometry = CC.to_dict()
    geometry["name"] = "$\\undefinedcommand{$"
    geometry_file = tmp_path / "geometry.yaml"
    geometry_file.write_text(yaml.safe_dump(geometry), encoding="utf-8")
    argv = ["validate", "--reference", str(reference), "--generated", str(generated), "-o", str(tmp_path / "out")]
    result = run_cli([*argv, "--geometry", str(geometry_file), "--classifier-protocol", "hepgan"], capsys, caplog)
    assert result.code == 0 and (tmp_path / "out" / "index.html").is_file(), result


# --------------------------------------------------------------------------- names from configs
@pytest.mark.parametrize("name", ["../x", "..", "a/../../b", "/abs", ".hidden", "<script>alert(1)</script>"])
def test_run_names_cannot_leave_the_runs_folder(tmp_path: Path, capsys, caplog, name: str) -> None:
    """``train --set name=...`` with a path-like run name is refused by the config checks; nothing
    is created anywhere under the test folder."""
    data = tmp_path / "data.h5"
    write_showers(data, showers(12), CC)
    work = tmp_path / "work"
    work.mkdir()
    before = snapshot(tmp_path)
    argv = train_argv(data, f"training.runs_dir={work / 'runs'}", f"name={yaml.safe_dump(name).splitlines()[0]}")
    assert_one_error_line(run_cli(argv, capsys, caplog), "name")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- unwritable outputs
def test_unwritable_generate_output(tmp_path: Path, capsys, caplog, trained: Path) -> None:
    """``generate -o FILE/sub/out.h5`` (a folder under a regular file): one OutputError line."""
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file")
    before = snapshot(tmp_path)
    target = blocker / "sub" / "out.h5"
    argv = ["generate", "--n", "10", "-o", str(target), "--checkpoint", str(trained), "--no-progress"]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(target))
    assert snapshot(tmp_path) == before


def test_unwritable_generate_output_with_progress_bar(tmp_path: Path, capsys, caplog, trained: Path) -> None:
    """The same with the default progress bar: still exactly one stderr line."""
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file")
    target = blocker / "sub" / "out.h5"
    result = run_cli(["generate", "--n", "10", "-o", str(target), "--checkpoint", str(trained)], capsys, caplog)
    assert_one_error_line(result, str(target))


def test_unwritable_validate_output(tmp_path: Path, capsys, caplog) -> None:
    """``validate -o FILE/report``: one OutputError line naming it; nothing written."""
    reference = tmp_path / "ref.h5"
    write_showers(reference, showers(12), CC)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file")
    before = snapshot(tmp_path)
    out = blocker / "report"
    argv = ["validate", "--reference", str(reference), "--generated", str(reference), "-o", str(out)]
    assert_one_error_line(run_cli(argv, capsys, caplog), str(out))
    assert snapshot(tmp_path) == before


def test_unwritable_runs_folder(tmp_path: Path, capsys, caplog) -> None:
    """``train`` with training.runs_dir under a regular file: one OutputError line naming the folder."""
    data = tmp_path / "data.h5"
    write_showers(data, showers(12), CC)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file")
    before = snapshot(tmp_path)
    argv = train_argv(data, f"training.runs_dir={blocker / 'runs'}")
    assert_one_error_line(run_cli(argv, capsys, caplog), str(blocker))
    assert snapshot(tmp_path) == before


def test_non_regular_output_is_not_replaced(tmp_path: Path, capsys, caplog, trained: Path) -> None:
    """``generate -o FIFO``: refused with one line; the FIFO is still a FIFO."""
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    result = run_cli(["generate", "--n", "10", "-o", str(fifo), "--checkpoint", str(trained)], capsys, caplog)
    assert fifo.is_fifo()
    assert_one_error_line(result, str(fifo))


# --------------------------------------------------------------------------- full disks
def _limit_file_size(limit: int):
    def preexec() -> None:  # in the child: files may not grow beyond `limit` bytes (EFBIG, like ENOSPC)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return preexec


def _hepgan_with_small_disk(args: list[str], cwd: Path, limit: int = 64 * 1024) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "hepgan", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_limit_file_size(limit),
    )


@pytest.mark.parametrize(
    "suffix",
    [
        ".h5",
        ".root",
    ],
)
def test_full_disk_during_generation(tmp_path: Path, trained: Path, suffix: str) -> None:
    """``generate`` of ~2.9 MB while files may not exceed 64 KiB: exit 2, one OutputError line naming
    the output, the earlier output byte-identical, no temporary file left. (A real ENOSPC takes the
    same code path; mounting a tiny filesystem would need root-only mounts.)"""
    CASES["generate (full disk)"] += 1
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"earlier output")
    before = snapshot(tmp_path)
    args = ["generate", "--n", "2000", "-o", target.name, "--checkpoint", str(trained), "--no-progress"]
    result = _hepgan_with_small_disk([*args, "--compression", "none"], tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hepgan: error:") and target.name in lines[0], result.stderr
    assert snapshot(tmp_path) == before


def test_full_disk_keeps_earlier_runs(tmp_path: Path) -> None:
    """``train`` while files may not exceed 32 KiB (the held-out file does not fit): exit 2, one line;
    an earlier run folder is untouched."""
    CASES["train (full disk)"] += 1
    data = tmp_path / "data.h5"
    write_showers(data, showers(200), CC)
    earlier = tmp_path / "runs" / "calo-20250101-000000"
    (earlier / "checkpoints").mkdir(parents=True)
    (earlier / "config.yaml").write_text("name: calo\n")
    before = snapshot(earlier)
    result = _hepgan_with_small_disk([*train_argv(data, f"training.runs_dir={tmp_path / 'runs'}")], tmp_path, 32 * 1024)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hepgan: error:"), result.stderr
    assert snapshot(earlier) == before
    with h5py.File(data, "r") as file:  # the input is untouched too
        assert file["showers"].shape == (200, CC.n_voxels)
