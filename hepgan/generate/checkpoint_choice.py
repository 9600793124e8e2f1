"""Which checkpoint a command uses when it is given a run folder, a folder of runs, or nothing.

A run's model is its best checkpoint: ``run.json``'s ``best_checkpoint`` (the lowest
``training.select_by`` metric on held-out samples, ``checkpoints/best.pt``), else its final
checkpoint, else its newest step. Without a run named, the newest *finished* run (one with a
``run.json``) under the runs folder is taken, restricted to one kind ("calo", "events") when the
caller knows it; only when no run has finished is the newest unfinished run's newest step used.
:class:`CheckpointChoice` carries the file and one line saying which and why, for the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hepgan.errors import InputFileError
from hepgan.training.checkpoint import list_checkpoints
from hepgan.training.run_record import RUN_RECORD, read_run_record

DEFAULT_KIND = "calo"
"""The kind of a run whose config names none."""


@dataclass(frozen=True)
class CheckpointChoice:
    """A checkpoint file and why it was taken (``line``, one console line; empty for an explicit file)."""

    path: Path
    line: str = ""


def run_kind(run_dir: Path) -> str:
    """The kind of a run folder: from ``run.json``, else from its ``config.yaml`` (default "calo")."""
    try:
        kind = read_run_record(run_dir).get("kind")
        if kind:
            return str(kind)
    except InputFileError:
        pass
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return DEFAULT_KIND
    return str(config.get("kind", DEFAULT_KIND)) if isinstance(config, dict) else DEFAULT_KIND


def _run_order(run_dir: Path) -> tuple[list[str], float]:
    """Newest last: the ``YYYYmmdd-HHMMSS`` stamp of ``<name>-<stamp>``, then the modification time."""
    return run_dir.name.rsplit("-", 2)[-2:], run_dir.stat().st_mtime


def _in_run(run_dir: Path, recorded: Any) -> Path | None:
    """A checkpoint named in ``run.json``, looked for in the run's own ``checkpoints/`` (the run may have moved)."""
    if not recorded:
        return None
    path = run_dir / "checkpoints" / Path(str(recorded)).name
    return path if path.is_file() else None


def checkpoint_of_run(run_dir: str | Path) -> tuple[Path, str]:
    """The model of a run folder and why: (best checkpoint, else final, else newest step; reason).

    Raises:
        InputFileError: the folder has no checkpoints.
    """
    run_dir = Path(run_dir)
    record: dict[str, Any] = {}
    if (run_dir / RUN_RECORD).is_file():
        record = read_run_record(run_dir)
        best = _in_run(run_dir, record.get("best_checkpoint"))
        if best is not None:
            info = record.get("best") or {}
            value = info.get("value")
            score = f" = {value:.4g}" if isinstance(value, int | float) else ""
            step = f" at step {info['step']}" if "step" in info else ""
            return best, f"best {info.get('metric', 'metric')}{score}{step} of run {run_dir.name}"
        final = _in_run(run_dir, record.get("final_checkpoint"))
        if final is not None:
            return final, f"final checkpoint of run {run_dir.name}, which kept no best checkpoint"
    found = list_checkpoints(run_dir)
    if not found:
        raise InputFileError(f"{run_dir}: run folder has no checkpoints")
    if record:
        return found[-1], f"newest step of run {run_dir.name}, which kept no best checkpoint"
    return found[-1], f"newest step of run {run_dir.name}, which has not finished (no {RUN_RECORD})"


def newest_run(runs_dir: str | Path, kind: str | None = None) -> tuple[Path, bool]:
    """The newest finished run under ``runs_dir`` (of ``kind`` if given), else the newest unfinished one.

    Returns:
        (run folder, whether it finished).

    Raises:
        InputFileError: no runs folder, or no run (of that kind) with checkpoints.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise InputFileError(f"{runs_dir}: no runs folder (train a model first: hepgan train configs/calo.yaml)")
    runs = [
        run
        for run in runs_dir.iterdir()
        if run.is_dir()
        and ((run / RUN_RECORD).is_file() or list_checkpoints(run))
        and (kind is None or run_kind(run) == kind)
    ]
    finished = [run for run in runs if (run / RUN_RECORD).is_file()]
    if finished:
        return max(finished, key=_run_order), True
    unfinished = [run for run in runs if list_checkpoints(run)]
    if not unfinished:
        of_kind = f" of kind {kind!r}" if kind else ""
        raise InputFileError(f"{runs_dir}: no run{of_kind} with checkpoints found")
    return max(unfinished, key=_run_order), False


def choose_checkpoint(
    checkpoint: str | Path | None, runs_dir: str | Path = "runs", kind: str | None = None
) -> CheckpointChoice:
    """The checkpoint to use: an explicit file as it is; a run folder's model; else the newest run's model.

    Args:
        checkpoint: a checkpoint file, a run folder, or None.
        runs_dir: where runs are looked for when ``checkpoint`` is None.
        kind: only runs of this kind ("calo", "events") when looking under ``runs_dir``.
    """
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_dir():
            return CheckpointChoice(path)
        chosen, why = checkpoint_of_run(path)
        return CheckpointChoice(chosen, f"using {chosen} ({why})")
    run, finished = newest_run(runs_dir, kind)
    chosen, why = checkpoint_of_run(run)
    run_kind_name = kind or run_kind(run)
    which = "newest finished" if finished else "newest (none has finished)"
    where = f"{which} {run_kind_name} run in {runs_dir}" if kind else f"{which} run in {runs_dir}, kind {run_kind_name}"
    return CheckpointChoice(chosen, f"using {chosen} ({why}, the {where}; choose another with --checkpoint)")
