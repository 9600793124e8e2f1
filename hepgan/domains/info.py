"""``hepgan info PATH``: what a run folder, checkpoint or data file is, in a few lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hepgan.domains import DOMAINS, domain_for_checkpoint, domain_for_files
from hepgan.errors import InputFileError
from hepgan.training.checkpoint import list_checkpoints, load_checkpoint
from hepgan.training.run_record import RUN_RECORD, read_run_record


def describe(path: str | Path) -> list[str]:
    """Lines saying what ``path`` is: a run folder, a checkpoint (``.pt``) or a shower/event file.

    Raises:
        InputFileError: no such path, or not something hepgan reads.
    """
    path = Path(path)
    if path.is_dir():
        return describe_run(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file or folder")
    if path.suffix == ".pt":
        return describe_checkpoint(path)
    return domain_for_files(path).describe_file(path)


def run_field(path: str | Path, field: str) -> str:
    """One top-level field of a run folder's ``run.json``; for a folder of runs, of its newest finished run.

    Raises:
        InputFileError: no finished run there, or no such field.
    """
    path = Path(path)
    if not (path / RUN_RECORD).is_file() and path.is_dir():
        finished = [run for run in path.iterdir() if (run / RUN_RECORD).is_file()]
        if not finished:
            raise InputFileError(f"{path}: no finished run (no {RUN_RECORD}) here or in its subfolders")
        path = max(finished, key=lambda run: (run / RUN_RECORD).stat().st_mtime)
    record = read_run_record(path)
    if field not in record:
        raise InputFileError(f"{path / RUN_RECORD}: no field {field!r} (fields: {', '.join(record)})")
    value = record[field]
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def describe_checkpoint(path: Path) -> list[str]:
    """Kind, run name, step, seed and the domain's own entries of a checkpoint file."""
    state = load_checkpoint(path)
    domain = domain_for_checkpoint(state, str(path))
    config: dict[str, Any] = state.get("config", {})
    best = state.get("best") or {}
    lines = [
        f"{path}: hepgan checkpoint, kind {domain.kind}, run {config.get('name')!r}, step {state.get('step')}, "
        f"seed {config.get('seed')}, hepgan {state.get('hepgan_version', 'unknown')}"
    ]
    lines += domain.describe_checkpoint(state)
    if best:
        lines.append(f"  best so far: {best.get('metric')} = {best.get('value'):.4g} at step {best.get('step')}")
    return lines


def describe_run(run_dir: Path) -> list[str]:
    """What a run folder holds: from ``run.json`` when training finished, else from its checkpoints."""
    checkpoints = list_checkpoints(run_dir)
    if not (run_dir / RUN_RECORD).is_file():
        if not checkpoints and not (run_dir / "config.yaml").is_file():
            raise InputFileError(f"{run_dir}: not a hepgan run folder (no run.json, config.yaml or checkpoints)")
        state = f"{len(checkpoints)} checkpoints, newest {checkpoints[-1].name}" if checkpoints else "no checkpoint"
        return [f"{run_dir}: hepgan run folder, training not finished ({state}; no {RUN_RECORD})"]
    record = read_run_record(run_dir)
    kind = record.get("kind")
    unit = DOMAINS[kind].unit if kind in DOMAINS else "samples"
    rate = record.get(f"{unit}_per_second")
    lines = [
        f"{run_dir}: hepgan run {record.get('name')!r}, kind {kind}, {record.get('steps')} steps in "
        f"{record.get('seconds', 0):.0f} s" + (f" ({rate:.0f} {unit}/s)" if rate is not None else ""),
        f"  final checkpoint: {record.get('final_checkpoint')}",
        f"  best checkpoint: {record.get('best_checkpoint') or 'none (no evaluation steps)'}",
    ]
    validation = record.get("validation")
    if validation:
        lines.append(f"  validation: {run_dir / validation.get('report', 'validation/index.html')}")
        for name, entry in (validation.get("metrics") or {}).items():
            if entry.get("value") is not None:
                lines.append(f"    {name:28s} {entry['value']:10.4g}   {entry.get('verdict') or ''}")
        targets = validation.get("targets")
        if targets:
            lines.append(f"    all targets met: {'yes' if targets.get('all_targets_met') else 'no'}")
    return lines
