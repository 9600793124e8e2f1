"""Report output files: the output folder, strict JSON and text written atomically.

Both the shower and the event report write ``metrics.json`` with :func:`write_json` (strict
JSON: NaN/inf become ``null``, numpy values become Python ones, ``allow_nan=False``) and
``index.html`` with :func:`write_text`. Each file is written under a temporary name in the
same folder and then renamed over the target (``os.replace``), so a reader never sees a
half-written file and an earlier report stays intact when writing fails.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.errors import OutputError


def json_ready(value: Any) -> Any:
    """Recursively: mappings → dicts with str keys, sequences and arrays → lists, numpy → Python, NaN/inf → None."""
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    The file gets the usual permissions (0666 less the umask).

    Raises:
        OutputError: naming ``path`` when it cannot be written (no temporary file is left behind).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temporary.open("x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_json(path: Path, report: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``report`` as strict, indented JSON (see :func:`json_ready`) atomically; return what was written."""
    ready = json_ready(report)
    write_text(path, json.dumps(ready, indent=1, allow_nan=False))
    return ready


def prepare_out_dir(out_dir: Path, *subfolders: str) -> Path:
    """Create ``out_dir`` and its ``subfolders`` (e.g. ``"plots"``).

    Raises:
        OutputError: naming ``out_dir`` when it cannot be created.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for sub in subfolders:
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create output directory ({exc.strerror or exc})") from None
    return out_dir
