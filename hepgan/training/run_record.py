"""``run.json``: what a run folder holds, for people and pipelines (final and best checkpoint, steps, metrics).

Written by the trainer when training ends and completed by the domain's validation with
the summary metrics; Snakemake rules and ``hepgan info`` read it. Written atomically
(temporary name, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hepgan.errors import InputFileError, OutputError

RUN_RECORD = "run.json"
RUN_RECORD_FORMAT = "hepgan-run/1"


def write_run_record(run_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``run_dir/run.json`` (replacing an earlier one whole)."""
    path = Path(run_dir) / RUN_RECORD
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"format": RUN_RECORD_FORMAT, **record}, indent=1, allow_nan=False) + "\n")
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the run record ({exc})") from None
    return path


def read_run_record(run_dir: str | Path) -> dict[str, Any]:
    """The run record of a run folder.

    Raises:
        InputFileError: no ``run.json`` (a run still training, or killed), or not readable JSON.
    """
    path = Path(run_dir) / RUN_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: no run record (the run has not finished training)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: unreadable run record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != RUN_RECORD_FORMAT:
        raise InputFileError(f"{path}: not a hepgan run record (format {RUN_RECORD_FORMAT} expected)")
    return record


def update_run_record(run_dir: str | Path, **fields: Any) -> Path:
    """Add or replace top-level fields of an existing run record."""
    record = read_run_record(run_dir)
    record.pop("format", None)
    return write_run_record(run_dir, {**record, **fields})
