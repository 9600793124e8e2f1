"""Run folders: created atomically and uniquely, the resolved config written into them, read back on resume."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import yaml

from hepgan.config import RunConfig, load_config
from hepgan.errors import InputFileError, OutputError
from hepgan.io.atomic import write_bytes_atomic

MAX_RUN_DIR_TRIES = 10_000
"""Suffixes tried for one run name and second before giving up."""


def new_run_dir(config: RunConfig) -> Path:
    """Create and return a new, empty run folder ``runs/<name>-<YYYYmmdd>-<HHMMSS>[-N]``.

    The folder is created here with ``mkdir(exist_ok=False)``, trying ``-2``, ``-3``, ...
    after the time stamp while the name is taken, so processes that start together (a
    batch-system job array) each get a folder of their own. :func:`release_run_dir`
    removes it again while it is still empty.

    Raises:
        OutputError: the runs folder cannot be created or written.
    """
    return reserve_run_dir(config)[0]


def reserve_run_dir(config: RunConfig) -> tuple[Path, list[Path]]:
    """The new run folder and the folders above it that were created for it (outermost first)."""
    base = Path(config.training.runs_dir)
    created = [folder for folder in (base, *base.parents) if not folder.exists()][::-1]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        for index in range(1, MAX_RUN_DIR_TRIES + 1):
            run_dir = base / (f"{config.name}-{stamp}" if index == 1 else f"{config.name}-{stamp}-{index}")
            for _ in range(3):  # another process may remove an empty runs folder just now
                base.mkdir(parents=True, exist_ok=True)
                try:
                    run_dir.mkdir()
                except FileNotFoundError:
                    continue
                except FileExistsError:
                    break
                return run_dir, created
    except (OSError, ValueError) as exc:
        _remove_empty(created)
        raise OutputError(f"{base}: cannot create a run folder ({getattr(exc, 'strerror', None) or exc})") from None
    _remove_empty(created)
    raise OutputError(f"{base}: cannot create a run folder ({MAX_RUN_DIR_TRIES} runs named {config.name}-{stamp})")


def release_run_dir(run_dir: Path, created: Sequence[Path] = ()) -> None:
    """Remove a run folder made by :func:`new_run_dir` if it is still empty, with the ``created`` folders above it."""
    _remove_empty([*created, run_dir])


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove the folders that are empty, innermost (last) first; others are left alone."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone
            pass


def write_config(config: RunConfig, path: Path) -> None:
    """Write the resolved configuration as YAML atomically (an earlier file stays whole if writing fails)."""
    write_bytes_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False).encode("utf-8"))


def run_config(run_dir: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """The saved configuration of a run folder, with ``key=value`` overrides (e.g. a new max_steps)."""
    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file():
        raise InputFileError(f"{run_dir}: not a run folder (config.yaml missing)")
    return load_config(saved, overrides)
