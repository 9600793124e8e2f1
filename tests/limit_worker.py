"""Runs hepgan jobs under a file-size limit for tests/test_interrupted_outputs.py, one JSON request per stdin line.

Started once per test module (imports cost seconds, a job under a limit a fraction of one).
For each request it lowers ``RLIMIT_FSIZE`` (soft) to the requested byte count, so every
file hepgan writes may not grow beyond it (the write fails with EFBIG, like it would with
ENOSPC on a full disk), runs the job, restores the limit and answers one JSON line:

- ``{"op": "cli", "argv": [...], "cwd": DIR, "limit": N}``: :func:`hepgan.cli.main` in
  ``cwd``; answers ``code``, ``out``, ``err`` (stdout/stderr, log records included);
- ``{"op": "checkpoint", "path": FILE, "sizes": [...], "limit": N}``: ``save_checkpoint``
  of a state with float32 tensors of those sizes; answers ``error`` (the HepganError line) or null.

An exception escaping either (a traceback for a user) is answered as ``escaped``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import hepgan.domains
import hepgan.validation.plots  # noqa: F401  (matplotlib's font cache is read or built here)
from hepgan.cli import main
from hepgan.errors import HepganError
from hepgan.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint


class _CurrentStderr(io.TextIOBase):
    """Log records go to whatever ``sys.stderr`` is at the time (the request's capture)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)


@contextlib.contextmanager
def file_size_limit(limit: int | None):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def run_cli(request: dict[str, Any]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(request["cwd"])
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with file_size_limit(request.get("limit")):
                code = main(request["argv"])
        return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "escaped": None}
    except BaseException:
        return {"code": None, "out": out.getvalue(), "err": err.getvalue(), "escaped": traceback.format_exc()}
    finally:
        os.chdir(here)


def save(request: dict[str, Any]) -> dict[str, Any]:
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": 1,
        "generator": {f"w{i}": torch.arange(size, dtype=torch.float32) for i, size in enumerate(request["sizes"])},
    }
    try:
        with file_size_limit(request.get("limit")):
            save_checkpoint(state, request["path"])
        return {"error": None, "escaped": None}
    except HepganError as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "escaped": None}
    except BaseException:
        return {"error": None, "escaped": traceback.format_exc()}


def serve() -> None:
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        answer = run_cli(request) if request["op"] == "cli" else save(request)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
