"""Property-based tests of the command-line arguments: counts, shards, batch sizes, seeds, devices.

Bad values (``--n 0``, ``-5``, ``1.5``, ``1e20``, ``nan``, ``inf``, ``''``, ``abc``, ``1e-3``,
shards ``I/N`` with ``I >= N``, negative or fractional seeds, unknown subcommands and
options, missing required arguments, random argument lists) must give exit code 2 and
exactly one stderr line ``hepgan: error: ...`` naming the option, no traceback and nothing
written (the working folder and a pre-existing output file are unchanged). The good paths
(``--n 1e3``, ``--n 1e6 --shard 3/1000``, ``1_000``) must work with a tiny trained checkpoint.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

import h5py
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.cli import MAX_COUNT, parse_count, parse_shard
from hepgan.generate import shard_plan

from .cli_checks import assert_one_error_line, run_cli, snapshot
from .helpers import case_counter, small_config

CASES = case_counter(__file__)

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)


# --------------------------------------------------------------------------- helpers
def in_fresh_dir(parent: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = Path(tempfile.mkdtemp(dir=parent))
    monkeypatch.chdir(work)
    (work / "out.h5").write_bytes(b"earlier output")
    return work


def n_showers(path: Path) -> int:
    with h5py.File(path, "r") as file:
        return file["showers"].shape[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    """A tiny trained checkpoint (1 step) on the CaloChallenge ds1 geometry."""
    from hepgan.domains import train

    tmp = tmp_path_factory.mktemp("cli_checkpoint")
    return train(small_config(tmp, reference_file, max_steps=1, checkpoint_every=1), progress=False).checkpoint


def generate(checkpoint: Path, *args: str) -> list[str]:
    return ["generate", "-o", "out.h5", "--checkpoint", str(checkpoint), "--no-progress", *args]


# --------------------------------------------------------------------------- --n
def _count_value(text: str) -> Decimal | None:
    """The number ``text`` denotes (underscores allowed), or None."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@settings(max_examples=60, **SETTINGS)
@given(
    text=st.one_of(
        TEXT,
        st.integers(-(10**14), 10**14).map(str),
        st.floats().map(repr),
        st.builds(lambda m, e: f"{m}e{e}", st.integers(-20, 20), st.integers(-20, 20)),
    )
)
def test_parse_count_never_returns_a_wrong_count(text: str) -> None:
    """``parse_count`` either refuses (one-line ArgumentTypeError quoting the text) or returns the
    whole number the text denotes, between 1 and 1e12."""
    CASES["parse_count"] += 1
    try:
        count = parse_count(text)
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc) and repr(text) in str(exc)
        return
    assert isinstance(count, int) and 1 <= count <= MAX_COUNT
    assert _count_value(text) == count


BAD_COUNTS = st.one_of(
    st.sampled_from(["0", "-5", "1.5", "1e20", "nan", "inf", "-inf", "", " ", "abc", "1e-3", "0x10", "1,000", "1e13"]),
    st.integers(max_value=0).map(str),
    st.integers(min_value=MAX_COUNT + 1).map(str),
    st.floats(min_value=0.001, max_value=1e6).filter(lambda x: not x.is_integer()).map(repr),
    TEXT.filter(lambda s: _count_value(s) is None and not s.startswith("-")),
)


@settings(max_examples=50, **SETTINGS)
@given(text=BAD_COUNTS)
def test_bad_counts_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path, text: str) -> None:
    """``generate --n BAD``: exit 2, one line naming --n, the earlier out.h5 intact, nothing else written."""
    CASES["--n"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    assert_one_error_line(run_cli(generate(checkpoint, f"--n={text}"), capsys, caplog), "--n")
    assert snapshot(work) == before


@pytest.mark.parametrize(("args", "expected"), [(("--n", "1e3"), 1000), (("--n", "1_000", "--batch-size", "7"), 1000)])
def test_good_counts_generate(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path, args, expected) -> None:
    """``--n 1e3`` and ``--n 1_000`` write exactly 1000 showers, replacing the earlier file."""
    CASES["explicit"] += 1
    in_fresh_dir(tmp_path, monkeypatch)
    result = run_cli(generate(checkpoint, *args), capsys, caplog)
    assert result.code == 0 and result.err == "" and not result.logged, result
    assert result.out.startswith(f"wrote {expected} showers to out.h5")
    assert n_showers(Path("out.h5")) == expected


def test_one_million_parses_and_a_shard_of_it_generates(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint):
    """``--n 1e6 --shard 3/1000`` writes shard 3 of a million-shower job: 1000 showers."""
    CASES["explicit"] += 1
    in_fresh_dir(tmp_path, monkeypatch)
    assert parse_count("1e6") == 1_000_000
    result = run_cli(generate(checkpoint, "--n", "1e6", "--shard", "3/1000"), capsys, caplog)
    assert result.code == 0 and result.err == "", result
    assert n_showers(Path("out.h5")) == 1000


# --------------------------------------------------------------------------- --shard
@settings(max_examples=40, **SETTINGS)
@given(n=st.integers(1, 40), index=st.integers(0, 60), count=st.integers(0, 60))
def test_shards(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path, n: int, index: int, count: int) -> None:
    """``--n N --shard I/C``: valid shards (0 <= I < C <= N) write exactly their share of the showers;
    every other combination is one error line naming --shard and writes nothing."""
    CASES["--shard"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    result = run_cli(generate(checkpoint, "--n", str(n), "--shard", f"{index}/{count}"), capsys, caplog)
    if 0 <= index < count <= n:
        assert result.code == 0 and result.err == "", result
        assert n_showers(Path("out.h5")) == shard_plan(n, 0, index, count)[0]
    else:
        assert_one_error_line(result, "--shard")
        assert snapshot(work) == before


@settings(max_examples=30, **SETTINGS)
@given(text=st.one_of(TEXT, st.sampled_from(["1/", "/2", "1/1", "2/1", "-1/2", "1.0/2", "0/0", "a/b", "1//2"])))
def test_malformed_shards_are_refused(text: str) -> None:
    """``parse_shard`` accepts exactly ``I/N`` with 0 <= I < N; otherwise a one-line error quoting the text."""
    CASES["parse_shard"] += 1
    try:
        index, count = parse_shard(text)
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc) and repr(text) in str(exc)
        return
    left, right = (part.strip() for part in text.split("/"))
    assert (index, count) == (int(left), int(right)) and 0 <= index < count


# --------------------------------------------------------------------------- --batch-size, --seed
BAD_POSITIVE_INTS = st.one_of(
    st.integers(max_value=0).map(str),
    st.sampled_from(["1.5", "1e3", "", "abc", "nan", "inf", "0x10", "2.0"]),
    st.floats(allow_nan=True).map(repr),
    TEXT.filter(lambda s: not s.strip().lstrip("+-").isdigit() and not s.startswith("-")),
)
BAD_SEEDS = st.one_of(
    st.integers(max_value=-1).map(str),
    st.integers(min_value=2**63, max_value=10**40).map(str),
    st.floats(allow_nan=True).filter(lambda x: not (math.isfinite(x) and x.is_integer())).map(repr),
    st.sampled_from(["", "abc", "1e3", "0x10", "1.0"]),
    TEXT.filter(lambda s: not s.strip().lstrip("+-").isdigit() and not s.startswith("-")),
)


@settings(max_examples=40, **SETTINGS)
@given(option=st.sampled_from(["--batch-size", "--seed"]), data=st.data())
def test_bad_batch_sizes_and_seeds_are_refused(
    tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path, option: str, data: st.DataObject
) -> None:
    """``--batch-size`` (0, negative, fractional, text) and ``--seed`` (negative, >= 2^63, fractional,
    text): exit 2, one line naming the option, nothing written."""
    CASES[option] += 1
    text = data.draw(BAD_POSITIVE_INTS if option == "--batch-size" else BAD_SEEDS, label="value")
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    assert_one_error_line(run_cli(generate(checkpoint, "--n", "10", f"{option}={text}"), capsys, caplog), option)
    assert snapshot(work) == before


def test_largest_seed_works(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path) -> None:
    """``--seed 2^63-1`` (the largest accepted) generates."""
    CASES["explicit"] += 1
    in_fresh_dir(tmp_path, monkeypatch)
    result = run_cli(generate(checkpoint, "--n", "5", "--seed", str(2**63 - 1)), capsys, caplog)
    assert result.code == 0 and result.err == "", result


# --------------------------------------------------------------------------- arguments in general
@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([], "command"),
        (["frobnicate"], "frobnicate"),
        (["generate"], "--n"),
        (["generate", "--n", "5"], "-o/--output"),
        (["validate"], "--reference"),
        (["validate", "--reference", "a.h5"], "--generated"),
        (["train"], "config"),
        (["merge", "-o", "x.h5"], "inputs"),
        (["export"], "-o/--output"),
        (["generate", "--n", "5", "-o", "x.h5", "--frob"], "--frob"),
        (["generate", "--n", "5", "-o", "x.h5", "--compression", "lzma"], "--compression"),
        (["export", "-o", "x.onnx", "--format", "tflite"], "--format"),
        (["export", "-o", "x.onnx", "--opset", "0"], "--opset"),
        (["--n", "5"], "generate"),
        (["generate", "--n"], "--n"),
        (["generate", "--n", "5", "-o", "x.h5", "--checkpoint", "missing.pt"], "missing.pt"),
        (["generate", "--n", "5", "-o", "x.h5", "--runs-dir", "nowhere"], "nowhere"),
        (["generate", "--n", "5", "-o", "x.h5", "--energies-from", "missing.h5", "--runs-dir", "."], "."),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, monkeypatch, capsys, caplog, argv: list[str], named: str) -> None:
    """Missing required arguments, unknown subcommands/options/choices, missing files: one line, exit 2."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    assert_one_error_line(run_cli(argv, capsys, caplog), named)
    assert snapshot(work) == before


WORDS = st.sampled_from(
    [
        *("generate", "train", "validate", "merge", "export", "simulate"),
        *("--n", "-o", "--checkpoint", "--seed", "--shard", "--batch-size", "--set", "--resume", "--device"),
        *("--geometry", "--virtual", "--format", "--opset", "--runs-dir", "--dry-run", "--energies-from", "-v"),
        *("out.h5", "x.yaml", "0", "1e3", "0/2", "runs", "calogan", ""),
    ]
)


@settings(max_examples=50, **SETTINGS)
@given(argv=st.lists(st.one_of(WORDS, TEXT), max_size=7))
def test_random_argument_lists_never_crash(tmp_path: Path, monkeypatch, capsys, caplog, argv: list[str]) -> None:
    """Any argument list in an empty folder: no traceback; exit 0 (help, version) or exit 2 with one
    error line; the folder (with an earlier out.h5) unchanged."""
    CASES["random argv"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    result = run_cli(argv, capsys, caplog)
    if result.code != 0:
        assert_one_error_line(result)
    assert snapshot(work) == before


def test_existing_directory_as_output(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path) -> None:
    """``-o`` naming an existing folder: one line naming it, no temporary file left."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    (work / "folder.h5").mkdir()
    before = snapshot(work)
    result = run_cli(generate(checkpoint, "--n", "10", "-o", "folder.h5"), capsys, caplog)
    assert_one_error_line(result, "folder.h5")
    assert snapshot(work) == before


# --------------------------------------------------------------------------- explicit cases: bugs
@pytest.mark.parametrize("device", ["cuda:x", "tpu", ""])
def test_bad_devices_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path, device: str) -> None:
    """``generate --device BAD``: one line naming --device, nothing written."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    result = run_cli(generate(checkpoint, "--n", "5", "--device", device), capsys, caplog)
    assert_one_error_line(result, "--device")
    assert snapshot(work) == before


@pytest.mark.parametrize("output", ["", "."])
def test_output_without_a_file_name(tmp_path: Path, monkeypatch, capsys, caplog, checkpoint: Path, output: str):
    """``-o ''`` / ``-o .``: one error line, nothing written."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    before = snapshot(work)
    result = run_cli(generate(checkpoint, "--n", "5", "-o", output), capsys, caplog)
    assert_one_error_line(result)
    assert snapshot(work) == before
