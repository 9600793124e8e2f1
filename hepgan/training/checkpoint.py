"""Checkpoints: plain dicts of state_dicts + config + step, written atomically, loaded safely.

A checkpoint is written to a temporary file in the same folder, flushed to disk and
renamed onto its final name, so a killed run never leaves a half-written checkpoint
under a real name. Loading uses ``torch.load(weights_only=True)``: a checkpoint
crafted to execute code on load is refused.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from hepgan.errors import InputFileError, OutputError

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
_STEP_FILE = re.compile(r"^step_(\d{7,})\.pt$")


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint taken after ``step`` generator iterations."""
    return f"step_{step:07d}.pt"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` atomically to ``path`` (temporary file + fsync + rename).

    Raises:
        OutputError: the checkpoint could not be written (disk full, file-size limit, ...);
            the temporary file is removed and an earlier file at ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | RuntimeError):  # torch's zip writer reports a failed write as RuntimeError
            raise OutputError(f"{path}: cannot write checkpoint ({_write_failure(exc)})") from None
        raise
    return path


def _write_failure(exc: BaseException) -> str:
    """The operating system's reason behind a failed write (torch wraps it in its own errors), on one line."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return " ".join(str(seen.strerror or seen).split())
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing code from it.

    Raises:
        InputFileError: missing, truncated/corrupt, not a hepgan checkpoint, or holding
            objects other than tensors and plain containers (possible code injection).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the refusal below says it all
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported object"
        raise InputFileError(
            f"{path}: refused to load checkpoint: it holds objects other than tensors and plain data ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputFileError(f"{path}: checkpoint is truncated or corrupt ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "generator" not in state:
        raise InputFileError(f"{path}: not a hepgan checkpoint (format {CHECKPOINT_FORMAT} expected)")
    return state


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoints of a run folder, oldest step first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def load_latest_valid(run_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of a run that loads; corrupt ones are skipped with a warning."""
    candidates = list_checkpoints(run_dir)
    for path in reversed(candidates):
        try:
            return path, load_checkpoint(path, map_location)
        except InputFileError as exc:
            log.warning("skipping unusable checkpoint: %s", exc)
    raise InputFileError(f"{run_dir}: no usable checkpoint in {Path(run_dir) / 'checkpoints'}")


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)


RUN_DIR_NAME = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}-\d{6})(?:-(?P<index>\d+))?$")
"""Run folder names: ``<name>-<YYYYmmdd>-<HHMMSS>``, with ``-N`` (N >= 2) when several runs start in one second."""


def run_dir_order(path: Path) -> tuple[str, int, float]:
    """Sort key of run folders, oldest first: (time stamp, suffix, modification time).

    Folders named otherwise sort before stamped ones, by modification time.
    """
    match = RUN_DIR_NAME.match(path.name)
    mtime = path.stat().st_mtime
    if match is None:
        return ("", 0, mtime)
    return (match["stamp"], int(match["index"] or 1), mtime)


def latest_run(runs_dir: str | Path, name: str | None = None) -> Path:
    """Newest run folder under ``runs_dir`` (optionally of the given run name) that has checkpoints."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise InputFileError(f"{runs_dir}: no runs folder (train a model first: hepgan train configs/calo.yaml)")
    runs = [
        p for p in runs_dir.iterdir() if p.is_dir() and list_checkpoints(p) and (name is None or _run_name(p) == name)
    ]
    if not runs:
        raise InputFileError(f"{runs_dir}: no run with checkpoints found" + (f" for run name {name!r}" if name else ""))
    return max(runs, key=run_dir_order)


def _run_name(path: Path) -> str | None:
    match = RUN_DIR_NAME.match(path.name)
    return match["name"] if match else None
