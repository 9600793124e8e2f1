"""The command line: counts like 1e6, and one clear error line (exit 2, no traceback) for bad input."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from hepgan.cli import main, parse_count

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "value"), [("1e6", 1_000_000), ("1000", 1000), ("1_000", 1000), ("2.5e3", 2500), ("1E2", 100)]
)
def test_counts(text: str, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "1e20", "abc", "", "nan", "inf", "1e-3"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_count(text)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hepgan", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--n", "0", "-o", "x.h5"], "--n"),
        (["generate", "--n", "1.5", "-o", "x.h5"], "--n"),
        (["generate", "--n", "10", "-o", "x.h5", "--checkpoint", "missing.pt"], "missing.pt"),
        (["generate", "--n", "10", "-o", "x.h5"], "runs"),
        (["train", "missing.yaml"], "missing.yaml"),
        (["train", str(ROOT / "configs" / "calo.yaml"), "--set", "training.batch_size=-1"], "training.batch_size"),
        (["train", str(ROOT / "configs" / "calo.yaml"), "--set", "data.path=nowhere.h5"], "nowhere.h5"),
        (["validate", "--reference", "a.h5", "--generated", "b.h5"], "a.h5"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hepgan: error:") and message in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


def test_dry_run_prints_the_resolved_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(ROOT / "configs" / "calo.yaml"), "--dry-run", "--set", "training.max_steps=5"]) == 0
    assert "max_steps: 5" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["\x1e", "a\nb", "x\u2028y", "tab\there"])
def test_control_characters_in_a_name_keep_the_error_on_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("hepgan: error: "), repr(err)
    assert all(repr(char)[1:-1] in err for char in name if not char.isprintable())  # shown as escapes
