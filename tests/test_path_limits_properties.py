"""Property-based tests: paths and numbers that the operating system or the maths refuses.

- Every path option of every command (the config, ``-o``, ``--checkpoint``, ``--resume``,
  ``--runs-dir``, ``--energies-from``, ``--reference``, ``--generated``, ``--geometry``, merge
  inputs, info paths) and the config's own paths (``data.path``, ``training.runs_dir``,
  ``geometry``) get a file or folder name of random length around the file system's NAME_MAX
  (255 bytes), in ASCII or multi-byte UTF-8, as the last or a middle component: beyond the
  limit, one line naming the option (never ``OSError: [Errno 36] File name too long``); within
  it, the argument is accepted, and an output named so is written.
- ``--walk-energy`` NaN, ±inf, zero, negative, beyond 10 TeV or not a number: one line naming it.
- References and generated samples too small to validate (0-9 showers, 0-19 events), on either
  side: one line naming the file and its count, before any report is written.

Every refusal: exit code 2, one stderr line ``hepgan: error: ...``, no traceback, nothing under
the target name and every earlier file unchanged (SHA-256); the CLI's safety net is disabled,
so only a real check can pass a case.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.cli import MAX_WALK_ENERGY_MEV, build_parser
from hepgan.io.events import write_events

from .cli_checks import assert_one_error_line, digest, disable_safety_net, run_cli
from .helpers import ROOT, TEST_DATA, case_counter, toy_zmumu

CASES = case_counter(__file__)

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}
CALO_CHECKPOINT = TEST_DATA / "golden" / "calo_checkpoint.pt"


@pytest.fixture(autouse=True)
def _no_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    disable_safety_net(monkeypatch)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    """``ref.h5`` (400 showers), ``a.h5``/``b.h5`` (two halves of it), ``ck.pt``, ``run.yaml``,
    ``events.h5`` (300 toy Z → μμ events), and a run folder ``runs/calo-20250101-000000``."""
    folder = tmp_path_factory.mktemp("path_limits")
    shutil.copyfile(reference_file, folder / "ref.h5")
    with h5py.File(reference_file, "r") as ref:
        for name, rows in (("a.h5", slice(0, 200)), ("b.h5", slice(200, 400))):
            with h5py.File(folder / name, "w") as out:
                for key in ("incident_energies", "showers"):
                    out.create_dataset(key, data=ref[key][rows])
    shutil.copyfile(CALO_CHECKPOINT, folder / "ck.pt")
    config = yaml.safe_load((ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = "ref.h5"
    (folder / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    write_events(folder / "events.h5", toy_zmumu(300, seed=4))
    run = folder / "runs" / "calo-20250101-000000" / "checkpoints"
    run.mkdir(parents=True)
    shutil.copyfile(CALO_CHECKPOINT, run / "step_0000001.pt")
    return folder


def in_fresh_dir(parent: Path, files: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = Path(tempfile.mkdtemp(dir=parent))
    shutil.copytree(files, work, dirs_exist_ok=True)
    monkeypatch.chdir(work)
    return work


def name_max() -> int:
    return os.pathconf(".", "PC_NAME_MAX")


# --------------------------------------------------------------------------- path options
BASE = {  # a valid command line per command; {P} is replaced by the path under test
    "simulate": ["simulate", "run.yaml", "-o", "sim.h5", "--n", "10", "--no-progress"],
    "train": ["train", "run.yaml", "--dry-run"],
    "generate": ["generate", "--n", "10", "-o", "gen.h5", "--checkpoint", "ck.pt", "--no-progress", "--device", "cpu"],
    "merge": ["merge", "a.h5", "b.h5", "-o", "merged.h5"],
    "export": ["export", "-o", "g.onnx", "--checkpoint", "ck.pt"],
    "validate": ["validate", "--reference", "ref.h5", "--generated", "a.h5", "-o", "report", "--no-classifier"],
    "info": ["info", "ref.h5"],
}
SLOTS = [  # (command, option as argparse names it, how to put the path in)
    ("simulate", "argument config", ("replace", "run.yaml")),
    ("simulate", "argument -o/--output", ("replace", "sim.h5")),
    ("train", "argument config", ("replace", "run.yaml")),
    ("train", "argument --resume", ("add", "--resume")),
    ("generate", "argument -o/--output", ("replace", "gen.h5")),
    ("generate", "argument --checkpoint", ("replace", "ck.pt")),
    ("generate", "argument --energies-from", ("add", "--energies-from")),
    ("generate", "argument --runs-dir", ("add", "--runs-dir")),
    ("merge", "argument inputs", ("replace", "b.h5")),
    ("merge", "argument -o/--output", ("replace", "merged.h5")),
    ("merge", "argument --geometry", ("add", "--geometry")),
    ("export", "argument -o/--output", ("replace", "g.onnx")),
    ("export", "argument --checkpoint", ("replace", "ck.pt")),
    ("export", "argument --runs-dir", ("add", "--runs-dir")),
    ("validate", "argument --reference", ("replace", "ref.h5")),
    ("validate", "argument --generated", ("replace", "a.h5")),
    ("validate", "argument -o/--output", ("replace", "report")),
    ("validate", "argument --geometry", ("add", "--geometry")),
    ("validate", "argument --checkpoint", ("add", "--checkpoint")),
    ("info", "argument PATH", ("replace", "ref.h5")),
]


def argv_with(command: str, how: tuple[str, str], path: str) -> list[str]:
    argv = list(BASE[command])
    mode, target = how
    if mode == "replace":
        argv[argv.index(target)] = path
    else:
        argv += [target, path]
    return argv


def long_name(length: int, alphabet: str) -> str:
    """A name of exactly ``length`` bytes in UTF-8 (multi-byte letters, then ASCII padding)."""
    unit = len(alphabet.encode("utf-8"))
    name = alphabet * (length // unit)
    return name + "x" * (length - len(name.encode("utf-8")))


@settings(max_examples=80, **SETTINGS)
@given(
    slot=st.sampled_from(SLOTS),
    length=st.one_of(st.integers(-8, 3), st.integers(4, 600)),
    alphabet=st.sampled_from(["x", "é", "語", "🜁"]),
    middle=st.booleans(),
)
def test_over_long_names_in_path_options(
    tmp_path: Path, monkeypatch, capsys, caplog, files: Path, slot, length: int, alphabet: str, middle: bool
) -> None:
    """A name of NAME_MAX + ``length`` bytes in any path option (as the file or as a folder above it):
    beyond the limit one line naming the option; within it the argument parses."""
    command, option, how = slot
    limit = name_max()
    size = max(1, limit + length)
    name = long_name(size, alphabet)
    path = f"{name}/x.h5" if middle else name
    argv = argv_with(command, how, path)
    if size <= limit:
        CASES["name within NAME_MAX"] += 1
        build_parser().parse_args(argv)  # accepted (what the command then does is tested elsewhere)
        return
    CASES["name beyond NAME_MAX"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    before = digest(work)
    line = assert_one_error_line(run_cli(argv, capsys, caplog), option, "bytes long")
    assert digest(work) == before
    assert "Errno" not in line


@settings(max_examples=20, **SETTINGS)
@given(
    field=st.sampled_from(["data.path", "training.runs_dir", "geometry"]),
    length=st.integers(1, 400),
    alphabet=st.sampled_from(["x", "é"]),
)
def test_over_long_names_in_config_paths(
    tmp_path: Path, monkeypatch, capsys, caplog, files: Path, field: str, length: int, alphabet: str
) -> None:
    """``--set data.path=<NAME_MAX + n bytes>`` (and runs_dir, geometry): one line naming the field."""
    CASES["config path beyond NAME_MAX"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    name = long_name(name_max() + length, alphabet)
    before = digest(work)
    result = run_cli(["train", "run.yaml", "--no-progress", "--set", f"{field}=d/{name}"], capsys, caplog)
    assert_one_error_line(result, f"{field}:", "bytes long")
    assert digest(work) == before


@pytest.mark.parametrize("command", ["generate", "export", "merge", "validate"])
def test_outputs_named_up_to_name_max_are_written(tmp_path: Path, monkeypatch, capsys, caplog, files, command):
    """An output name of exactly NAME_MAX bytes is written (its temporary name is shortened to fit)."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    target = {"generate": "gen.h5", "export": "g.onnx", "merge": "merged.h5", "validate": "report"}[command]
    name = long_name(name_max() - len(Path(target).suffix), "é") + Path(target).suffix
    result = run_cli(argv_with(command, ("replace", target), name), capsys, caplog)
    assert result.code == 0, result.err
    assert (work / name).exists()
    assert not [p for p in work.iterdir() if ".tmp" in p.name]


# --------------------------------------------------------------------------- --walk-energy
BAD_ENERGIES = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "+inf", "Infinity", "0", "-0", "0.0", "-1e-300", "1e400", "", "abc"]),
    st.floats(max_value=0.0).map(repr),
    st.floats(min_value=MAX_WALK_ENERGY_MEV, exclude_min=True).map(repr),
    st.text(max_size=8).filter(lambda t: not _is_good_energy(t)),
)


def _is_good_energy(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and 0.0 < value <= MAX_WALK_ENERGY_MEV


@settings(max_examples=40, **SETTINGS)
@given(text=BAD_ENERGIES)
def test_bad_walk_energies_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, files: Path, text: str) -> None:
    """``--walk-energy`` NaN, ±inf, <= 0, beyond 10 TeV or not a number: one line naming the option,
    no report folder."""
    CASES["bad --walk-energy"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    before = digest(work)
    argv = ["validate", "--reference", "ref.h5", "--generated", "a.h5", "-o", "report", "--checkpoint", "ck.pt"]
    result = run_cli([*argv, f"--walk-energy={text}"], capsys, caplog)
    assert_one_error_line(result, "--walk-energy")
    assert digest(work) == before


@settings(max_examples=20, **SETTINGS)
@given(value=st.floats(min_value=1e-6, max_value=MAX_WALK_ENERGY_MEV))
def test_good_walk_energies_parse(value: float) -> None:
    """Finite energies in (0, 1e7] MeV are accepted as they are."""
    CASES["good --walk-energy"] += 1
    args = build_parser().parse_args(["validate", "--reference", "r", "--generated", "g", f"--walk-energy={value!r}"])
    assert args.walk_energy == value


# --------------------------------------------------------------------------- samples too small
@settings(max_examples=20, **SETTINGS)
@given(n=st.integers(0, 9), side=st.sampled_from(["reference", "generated"]), rows=st.randoms(use_true_random=False))
def test_too_few_showers_to_validate(tmp_path: Path, monkeypatch, capsys, caplog, files: Path, n, side, rows) -> None:
    """A reference or generated file of 0-9 showers (any of them): one line naming the file and its
    count; no report folder."""
    CASES["too few showers"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    picked = sorted(rows.sample(range(400), n))
    with h5py.File(work / "ref.h5", "r") as ref, h5py.File(work / "small.h5", "w") as out:
        for key in ("incident_energies", "showers"):
            out.create_dataset(key, data=ref[key][picked], maxshape=(None, ref[key].shape[1]))
    pair = ["small.h5", "ref.h5"] if side == "reference" else ["ref.h5", "small.h5"]
    before = digest(work)
    argv = ["validate", "--reference", pair[0], "--generated", pair[1], "-o", "report"]
    line = assert_one_error_line(run_cli(argv, capsys, caplog), "small.h5")
    assert f"{n} showers" in line or (n == 0 and "0 events" in line)
    assert digest(work) == before


@settings(max_examples=20, **SETTINGS)
@given(n=st.integers(0, 19), side=st.sampled_from(["reference", "generated"]), seed=st.integers(0, 1000))
def test_too_few_events_to_validate(tmp_path: Path, monkeypatch, capsys, caplog, files: Path, n, side, seed) -> None:
    """A reference or generated event table of 0-19 events: one line naming the file and its count."""
    CASES["too few events"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    write_events(work / "small.h5", toy_zmumu(n, seed=seed))
    pair = ["small.h5", "events.h5"] if side == "reference" else ["events.h5", "small.h5"]
    before = digest(work)
    argv = ["validate", "--reference", pair[0], "--generated", pair[1], "-o", "report"]
    line = assert_one_error_line(run_cli(argv, capsys, caplog), "small.h5")
    assert f"{n} events" in line
    assert digest(work) == before


@pytest.mark.parametrize("n", [20, 25])
def test_events_with_an_empty_peak_window_validate(tmp_path: Path, monkeypatch, capsys, caplog, files, n) -> None:
    """Enough events but (almost) none in the resonance window: the report is written and the console
    line says n/a for the peak instead of failing."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, files, monkeypatch)
    events = toy_zmumu(n, seed=1)
    events.mass[:] = 0.10566
    events.pt[:] *= 0.1  # pairs far below the Z window
    write_events(work / "low.h5", events)
    result = run_cli(["validate", "--reference", "events.h5", "--generated", "low.h5", "-o", "report"], capsys, caplog)
    assert result.code == 0, result.err
    assert "n/a" in result.out
    assert (work / "report" / "index.html").is_file()
