"""Snakemake pipeline: the miniature config runs for real; bad configs stop before any job."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from hepgan.generate import ShowerGenerator
from hepgan.io import read_showers

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflows" / "Snakefile"
TEST_CONFIG = ROOT / "workflows" / "config" / "test.yaml"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None, reason="snakemake not installed: pip install 'hepgan[workflow]'"
)


def snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run snakemake on the workflow in ``workdir`` with this interpreter's ``hepgan`` first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile", str(configfile)]
    command += ["--directory", str(workdir), "--cores", "2", *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)


def _tail(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr)[-4000:]


@pytest.mark.slow
def test_miniature_workflow_runs_end_to_end(tmp_path: Path) -> None:
    result = snakemake(tmp_path, TEST_CONFIG)
    assert result.returncode == 0, _tail(result)
    run = tmp_path / "results" / "mini"
    reference = read_showers(run / "reference.h5", "calochallenge_ds1_photons")
    assert reference.showers_mev.shape == (200, 368)
    assert set(reference.incident_energies_mev.tolist()) == {1024.0, 8192.0}
    generator = ShowerGenerator.from_checkpoint(run / "model.pt", device="cpu")
    assert generator.step == 6 and generator.latent_dim == 8
    (run_dir,) = [p for p in (run / "train").iterdir() if p.is_dir()]  # the run folder hepgan train made
    trained = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert trained["data"]["path"] == "results/mini/reference.h5" and trained["seed"] == 7
    with h5py.File(run / "generated.h5") as f:
        assert f["showers"].shape == (200, 368) and f.attrs["seed"] == 7
    assert (run / "validation" / "index.html").stat().st_size > 0
    assert isinstance(json.loads((run / "validation" / "metrics.json").read_text()), dict)
    for rule in ("simulate", "train", "generate", "validate"):
        assert (tmp_path / "logs" / "mini" / f"{rule}.log").is_file()
    # outputs are deterministic targets: a second invocation has nothing to do
    again = snakemake(tmp_path, TEST_CONFIG, "--dry-run")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, _tail(again)


def _bad_config(tmp_path: Path, changes: dict) -> Path:
    data = yaml.safe_load(TEST_CONFIG.read_text())
    data["runs"][0].update(changes)
    data["runs"][0] = {key: value for key, value in data["runs"][0].items() if value is not None}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"seed": "seven"}, r"'seven' is not of type 'integer'"),
        ({"n_generate": None}, r"'n_generate' is a required property"),
        ({"colour": "blue"}, r"Additional properties are not allowed \('colour' was unexpected\)"),
        ({"set": ["training.batch_size=0"]}, r"run 'mini': .*training\.batch_size: expected an integer in"),
    ],
    ids=["wrong-type", "missing-key", "unknown-key", "bad-hepgan-override"],
)
def test_bad_config_fails_at_start(tmp_path: Path, changes: dict, expected: str) -> None:
    configfile = _bad_config(tmp_path, changes)
    work = tmp_path / "work"
    work.mkdir()
    result = snakemake(work, configfile)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(expected, output), output[-3000:]
    assert not (work / "results").exists() and not (work / "logs").exists()
