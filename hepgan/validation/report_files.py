"""Report output files: the report folder, swapped in whole, and strict JSON and text written atomically.

Both the shower and the event report are written inside :func:`report_folder`: into a new
hidden folder beside the target (``.{name}.tmp-{pid}-{token}``), which replaces the target
only once every file and plot is complete (the earlier folder is renamed away, the new one
renamed into place, the earlier one removed). A report that fails half-way (a full disk, an
error) leaves no trace and an earlier report stays intact; a reader never sees a mixture of
an old ``index.html`` and new plots. Only a folder that holds nothing but report output is
replaced: a folder with other files in it (or the current folder) is refused.

``metrics.json`` is written with :func:`write_json` (strict JSON: NaN/inf become ``null``,
numpy values become Python ones, ``allow_nan=False``) and ``index.html`` with
:func:`write_text`, each under a temporary name and then renamed over the target.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.errors import OutputError
from hepgan.io.atomic import hidden_sibling


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
    temporary = hidden_sibling(path, f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
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


REPORT_ENTRIES = frozenset({"metrics.json", "index.html", "response.json", "plots"})
"""Names a report folder holds, besides ``*.png`` figures and hidden temporary files of its writers."""


def is_report_entry(name: str) -> bool:
    """Whether a file or folder named ``name`` inside a report folder is report output."""
    return name in REPORT_ENTRIES or name.endswith(".png") or (name.startswith(".") and ".tmp" in name)


def _replaceable_target(out_dir: Path) -> Path:
    """The folder a new report will replace (a symbolic link's target); OutputError when it may not be replaced."""
    target = Path(os.path.realpath(out_dir)) if out_dir.is_symlink() else out_dir
    try:
        holds_cwd = Path.cwd().is_relative_to(target.resolve())
    except OSError:  # the current folder was removed: it is not the target
        holds_cwd = False
    if out_dir.name in ("", ".", "..") or holds_cwd:
        raise OutputError(
            f"{out_dir}: a report replaces its folder whole, and this is the current folder or one above it; "
            "choose a new folder name such as validation"
        )
    if not target.exists():
        return target
    if not target.is_dir():
        raise OutputError(f"{out_dir}: output exists and is not a folder; expected a report folder or a new name")
    try:
        foreign = sorted(entry.name for entry in target.iterdir() if not is_report_entry(entry.name))
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot read the output folder ({exc.strerror or exc})") from None
    if foreign:
        raise OutputError(
            f"{out_dir}: the folder holds files that are not part of a report ({foreign[0]!r}"
            f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}) and a report replaces its folder "
            "whole; choose an empty folder, an earlier report's folder or a new name"
        )
    return target


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and the folders above it that do not exist yet, outermost first."""
    return [path for path in (folder, *folder.parents) if not path.exists()][::-1]


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone
            pass


def _swap_in(staging: Path, target: Path, token: str) -> None:
    """Put the complete ``staging`` folder at ``target``; an earlier folder there is renamed away, then removed."""
    earlier: Path | None = None
    if os.path.lexists(target):
        _replaceable_target(target)  # nothing but report output was put there meanwhile
        earlier = hidden_sibling(target, f".old-{token}")
        os.rename(target, earlier)
    try:
        os.rename(staging, target)
    except OSError:
        if earlier is not None:
            try:
                os.rename(earlier, target)  # the earlier report goes back
            except OSError:
                pass
        raise
    if earlier is not None:
        shutil.rmtree(earlier, ignore_errors=True)


@contextmanager
def report_folder(out_dir: str | os.PathLike[str], *subfolders: str) -> Iterator[Path]:
    """An empty folder to write a report into, which replaces ``out_dir`` whole when the block ends normally.

    Yields a new hidden folder beside ``out_dir`` (with ``subfolders``, e.g. ``"plots"``).
    When the block ends normally it is renamed onto ``out_dir``; an earlier report there is
    renamed away first and removed after. When the block raises, the new folder is removed
    and an earlier report stays as it was. Paths in error messages name ``out_dir``.

    Raises:
        OutputError: ``out_dir`` cannot be created or replaced (it is a file, it holds files
            that are not report output, it is the current folder) or writing failed; also for
            an OSError raised in the block.
    """
    out_dir = Path(out_dir)
    target = _replaceable_target(out_dir)
    created = _missing_folders(target.parent)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = hidden_sibling(target, f".tmp-{token}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        for sub in subfolders:
            (staging / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise OutputError(f"{out_dir}: cannot create output directory ({exc.strerror or exc})") from None
    try:
        yield staging
        _swap_in(staging, target, token)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        if isinstance(exc, OutputError):
            raise OutputError(str(exc).replace(str(staging), str(out_dir))) from None
        if isinstance(exc, OSError):
            raise OutputError(f"{out_dir}: cannot write the report ({exc.strerror or exc})") from None
        raise
