"""Running the real command line in-process and checking what a user would see (shared by the test suites)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hepgan.cli import main


@dataclass
class CliResult:
    """What a user of the real command line would see."""

    code: int
    out: str
    err: str
    logged: list[str] = field(default_factory=list)  # WARNING+ log records: extra stderr lines in a terminal

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines() + self.logged


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> CliResult:
    """``hepgan ARGV`` in-process; an exception escaping ``main`` is what the user sees as a traceback."""
    capsys.readouterr()
    caplog.clear()
    try:
        code = main(argv)
    except Exception as exc:
        raise AssertionError(
            f"hepgan {' '.join(argv[:1])} let {type(exc).__name__} escape (a traceback): {exc}"
        ) from exc
    captured = capsys.readouterr()
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return CliResult(code, captured.out, captured.err, logged)


def assert_one_error_line(result: CliResult, *names: str) -> str:
    """Exit code 2, exactly one stderr line ``hepgan: error: ...`` that contains every name in ``names``."""
    assert result.code == 2, (result.code, result.out[-500:], result.err)
    assert "Traceback" not in result.err
    assert len(result.lines) == 1, result.lines
    line = result.lines[0]
    assert line.startswith("hepgan: error: "), line
    for name in names:
        assert name in line, f"{name!r} not named in {line!r}"
    return line


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def digest(root: Path) -> dict[str, str | None]:
    """Every path under ``root`` with the SHA-256 of its content (None for folders)."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def disable_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exceptions escaping a command propagate (``run_cli`` then fails the test) instead of the CLI's
    last safety net turning them into one line: a case passes only when a real check refuses it."""
    monkeypatch.setattr("hepgan.cli.SAFETY_NET", False)
    monkeypatch.delenv("HEPGAN_DEBUG", raising=False)
