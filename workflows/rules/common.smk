# Configuration checks and helpers shared by the rules.

import re
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

REPOSITORY = Path(workflow.basedir).parent  # the folder holding workflows/ and configs/
DEFAULT_RESOURCES = {
    "simulate": {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0},
    "train": {"threads": 4, "mem_mb": 16000, "runtime": 240, "gpu": 1},
    "generate": {"threads": 4, "mem_mb": 8000, "runtime": 60, "gpu": 0},
    "validate": {"threads": 1, "mem_mb": 8000, "runtime": 30, "gpu": 0},
}


def hepgan_config_path(path: str) -> str:
    """A run's hepgan config: as given when it exists (working dir), else relative to the repository."""
    given = Path(path)
    if given.is_absolute() or given.exists() or not (REPOSITORY / given).exists():
        return str(given)
    return str(REPOSITORY / given)


def checked_runs(runs: list[dict]) -> dict[str, dict]:
    """Runs by name, each with its resolved hepgan config path and geometry; fails on any bad run."""
    from hepgan.config import load_config
    from hepgan.errors import HepganError

    names = [run["name"] for run in runs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise WorkflowError(f"workflow config: runs: duplicate run name(s) {', '.join(duplicates)}")
    checked = {}
    for run in runs:
        path = hepgan_config_path(run["config"])
        try:
            hepgan_config = load_config(path, run["set"])
        except HepganError as exc:
            raise WorkflowError(f"workflow config: run {run['name']!r}: {exc}") from None
        checked[run["name"]] = {**run, "config": path, "geometry": hepgan_config.geometry}
    return checked


RUNS = checked_runs(config["runs"])


wildcard_constraints:
    run="|".join(re.escape(name) for name in RUNS),


def resource(rule: str, key: str):
    """A rule's resource from the workflow config's `resources` section, else the default."""
    return config.get("resources", {}).get(rule, {}).get(key, DEFAULT_RESOURCES[rule][key])


def run_value(key: str):
    """Input function/param: a field of the run named by the `run` wildcard."""
    return lambda wildcards: RUNS[wildcards.run][key]


def set_args(wildcards) -> str:
    """The run's `--set` overrides, shell-quoted."""
    return " ".join(f"--set {shlex.quote(item)}" for item in RUNS[wildcards.run]["set"])
