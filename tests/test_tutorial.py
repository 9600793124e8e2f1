"""docs/tutorial.md runs as written: its bash and python blocks, in order, in a fresh folder."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def tutorial_blocks() -> list[tuple[str, str]]:
    """(language, code) of every ```bash and ```python block of the tutorial, in order."""
    return [(match.group(1), match.group(2)) for match in BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))]


def workspace(tmp: Path) -> dict[str, str]:
    """A folder laid out like a checkout (configs/ copied, data/ files linked) and the environment to run in it.

    ``hepgan`` on the PATH runs this interpreter on this checkout, whatever else is installed.
    """
    shutil.copytree(ROOT / "configs", tmp / "configs")
    (tmp / "data").mkdir()
    for path in (ROOT / "data").glob("*.h5"):
        os.symlink(path, tmp / "data" / path.name)
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    launcher = bin_dir / "hepgan"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hepgan "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }


def test_the_tutorial_has_the_whole_chain() -> None:
    blocks = tutorial_blocks()
    commands = "\n".join(code for language, code in blocks if language == "bash")
    for step in ("hepgan simulate", "hepgan train", "hepgan generate", "hepgan validate", "hepgan info"):
        assert step in commands
    assert sum(language == "python" for language, _ in blocks) >= 2


@pytest.mark.slow
def test_the_tutorial_runs(tmp_path: Path) -> None:
    env = workspace(tmp_path)
    outputs = []
    for index, (language, code) in enumerate(tutorial_blocks()):
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"block {index} ({language}) failed:\n{code}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    text = "\n".join(outputs)
    assert re.search(r"^using tutorial/runs/calo-[\d-]+/checkpoints/best\.pt \(best chi2_ndf_mean", text, re.M)
    assert re.search(r"^  chi2_ndf_mean .* (ok|tension|fail)$", text, re.M)  # the verdicts on the console
    assert (tmp_path / "tutorial" / "report" / "index.html").is_file()
    assert (tmp_path / "tutorial" / "response.png").stat().st_size > 1000
    assert "30000 events: mean m_mumu" in text
    assert not (tmp_path / "data" / "calo_ds1_photons_gflash.h5").resolve().is_relative_to(tmp_path)  # left alone
