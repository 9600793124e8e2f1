"""Property-based tests: ``train --resume RUN --set ...`` with configs that differ from the checkpoint's.

One tiny run is trained once (2 steps, a checkpoint after each). Hypothesis then resumes
copies of it through the real command line (in-process, :func:`hepgan.cli.main`) with
random overrides:

- changes to fields that fix the networks, the preprocessing or the data (model.*,
  preprocessing.*, data.* but chunk_size, kind, seed, geometry, name, training.loss,
  training.select_by), alone or mixed with allowed changes: exit code 2, exactly one
  stderr line ``hepgan: error: ...`` naming every such field (and none of the allowed
  ones), no traceback, and the run folder byte-identical (sha256 of every file:
  ``config.yaml`` and the checkpoints);
- changes to fields that may change on resume (:data:`hepgan.training.resume.RESUME_ADJUSTABLE`):
  the run continues to the new ``training.max_steps`` and ``config.yaml`` holds the new values.

Explicit cases: every config field is either adjustable or fixed on resume (the list is
complete and documented), a refused resume leaves later plain ``--resume`` working, and a
run whose ``config.yaml`` already disagrees with its checkpoint is refused with the way back.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.config import QUICK_METRICS, RunConfig, load_config
from hepgan.training.checkpoint import list_checkpoints, load_checkpoint
from hepgan.training.resume import RESUME_ADJUSTABLE, adjustable_on_resume, config_fields

from .cli_checks import assert_one_error_line
from .cli_checks import run_cli as _run_cli
from .helpers import ROOT, case_counter

CASES = case_counter(__file__)
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
TINY = [
    "model.latent_dim=4",
    "model.generator_hidden=[8]",
    "model.critic_hidden=[8]",
    "model.critic_summary=[]",
    "training.mmd_weight=0",
    "training.batch_size=8",
    "training.d_steps=1",
    "training.max_steps=2",
    "training.checkpoint_every=1",
    "training.threads=1",
    "data.chunk_size=64",
]

FIXED_ON_RESUME = {
    "name",
    "kind",
    "seed",
    "geometry",
    "data.path",
    "data.validation_fraction",
    "data.max_showers",
    "data.buffer_size",
    "data.selection",
    "data.reconstruction",
    *(f"preprocessing.{name}" for name in RunConfig().preprocessing.__dataclass_fields__),
    *(f"model.{name}" for name in RunConfig().model.__dataclass_fields__),
    "training.loss",
    "training.select_by",
}
"""What must keep the checkpoint's value: the networks, the preprocessing, the data and the run's identity."""

# new values for fields that must not change (each valid for the config checks)
FORBIDDEN: dict[str, st.SearchStrategy[Any]] = {
    "name": st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    "kind": st.just("events"),
    "seed": st.integers(0, 2**62),
    "geometry": st.just("calogan"),
    "data.path": st.just("COPY"),  # replaced by a copy of the reference file: the same showers, another file
    "data.validation_fraction": st.floats(0.0, 0.85),
    "data.max_showers": st.integers(0, 10_000),
    "data.buffer_size": st.integers(1, 100_000),
    "data.selection": st.just({"pt_min_gev": 5.0}),  # valid for the config checks, different from the run's
    "data.reconstruction": st.just("none"),
    "preprocessing.fraction_epsilon": st.floats(1e-9, 1e-3),
    "preprocessing.response_bins": st.integers(1, 1000),
    "preprocessing.response_scale": st.floats(0.01, 100.0),
    "preprocessing.cell_standardisation": st.sampled_from(["per_energy", "global"]),
    "preprocessing.empty_cell_cut": st.booleans(),
    "preprocessing.cell_calibration": st.booleans(),
    "preprocessing.profile_calibration": st.sampled_from(["none", "layers", "rings"]),
    "preprocessing.response_calibration": st.booleans(),
    "preprocessing.feature_calibration": st.booleans(),
    "preprocessing.events": st.just({"representation": "pair"}),
    "model.architecture": st.sampled_from(["mlp", "dcgan"]),
    "model.latent_dim": st.integers(1, 64),
    "model.generator_hidden": st.lists(st.integers(1, 64), min_size=1, max_size=3),
    "model.critic_hidden": st.lists(st.integers(1, 64), min_size=1, max_size=3),
    "model.dcgan_channels": st.integers(1, 64),
    "model.cylinder_channels": st.integers(1, 64),
    "model.critic_summary": st.sampled_from([["layer_energies"], ["layer_widths", "layer_energies"]]),
    "model.summary_hidden": st.lists(st.integers(1, 64), min_size=1, max_size=2),
    "training.loss": st.sampled_from(["minimax", "non-saturating"]),
    "training.select_by": st.sampled_from(QUICK_METRICS[1:]),
}
# new values for fields that may change (each keeps the resumed run quick)
ALLOWED: dict[str, st.SearchStrategy[Any]] = {
    "training.lr_generator": st.floats(1e-6, 1e-3),
    "training.lr_discriminator": st.floats(1e-6, 1e-3),
    "training.betas": st.tuples(st.floats(0.0, 0.9), st.floats(0.5, 0.99)).map(list),
    "training.batch_size": st.integers(4, 16),
    "training.d_steps": st.integers(1, 2),
    "training.gp_lambda": st.floats(0.0, 20.0),
    "training.ema_decay": st.floats(0.0, 0.99),
    "training.mmd_weight": st.floats(0.0, 2.0),
    "training.log_every": st.integers(1, 5),
    "training.checkpoint_every": st.integers(1, 5),
    "training.keep_checkpoints": st.integers(1, 5),
    "training.eval_every": st.integers(0, 5),
    "training.on_divergence": st.sampled_from(["stop", "rollback"]),
    "training.max_rollbacks": st.integers(0, 5),
    "training.critic_runaway": st.floats(1e3, 1e6),
    "training.collapse_check_after": st.integers(100, 1000),
    "training.device": st.sampled_from(["cpu", "auto"]),
    "training.amp": st.booleans(),
    "training.threads": st.just(1),
    "data.chunk_size": st.integers(16, 1000),
    "generation.batch_size": st.integers(1, 1000),
    "generation.compression": st.sampled_from(["none", "gzip"]),
    "simulation.n_showers": st.integers(1, 1000),
    "validation.n_showers": st.integers(100, 1000),
}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
    CASES[argv[0]] += 1
    return _run_cli(argv, capsys, caplog)


def as_yaml(value: Any) -> str:
    """A ``--set`` value (JSON is YAML; hepgan reads 1e-05 as a number)."""
    return json.dumps(value)


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (folders as '-')."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "-"
        for p in sorted(folder.rglob("*"))
    }


def resume_argv(run_dir: Path, reference: Path, overrides: dict[str, Any]) -> list[str]:
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--resume", str(run_dir), "--no-progress", "--no-validate"]
    for key, value in {"data.path": str(reference), **overrides}.items():
        argv += ["--set", f"{key}={as_yaml(value)}"]
    return argv


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    """A 2-step run of the tiny config, with checkpoints after steps 1 and 2."""
    from hepgan.cli import main

    tmp = tmp_path_factory.mktemp("resume_run")
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--no-progress", "--no-validate"]
    for override in [f"data.path={reference_file}", f"training.runs_dir={tmp / 'runs'}", *TINY]:
        argv += ["--set", override]
    assert main(argv) == 0
    (run_dir,) = (tmp / "runs").iterdir()
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_0000001.pt", "step_0000002.pt"]
    return run_dir


def copy_run(run_dir: Path, parent: Path) -> Path:
    """A fresh copy of the trained run for one example (resuming changes its folder)."""
    target = Path(tempfile.mkdtemp(dir=parent)) / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def saved_fields(run_dir: Path) -> dict[str, Any]:
    return config_fields(load_config(run_dir / "config.yaml").to_dict())


# --------------------------------------------------------------------------- the list itself
def test_every_field_is_adjustable_or_fixed_on_resume() -> None:
    """The documented list is complete: each config field is in exactly one of the two groups."""
    CASES["field classification"] += 1
    fields = set(config_fields(RunConfig().to_dict()))
    adjustable = {name for name in fields if adjustable_on_resume(name)}
    assert adjustable.isdisjoint(FIXED_ON_RESUME)
    assert adjustable | FIXED_ON_RESUME == fields, sorted(fields - adjustable - FIXED_ON_RESUME)
    assert set(FORBIDDEN) == FIXED_ON_RESUME  # the properties below try every fixed field
    assert all(adjustable_on_resume(name) for name in ALLOWED)
    for entry in RESUME_ADJUSTABLE:  # no stale names in the list
        assert entry in fields or any(name.startswith(entry + ".") for name in fields), entry


# --------------------------------------------------------------------------- properties
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_changing_a_fixed_field_is_refused_and_changes_nothing(
    data: st.DataObject, trained_run: Path, reference_file: Path, tmp_path: Path, capsys, caplog
) -> None:
    """Forbidden changes (with or without allowed ones): exit 2, one line naming each, the run folder unchanged."""
    saved = saved_fields(trained_run)
    fixed = data.draw(st.lists(st.sampled_from(sorted(FORBIDDEN)), min_size=1, max_size=3, unique=True), "fixed")
    overrides: dict[str, Any] = {}
    for name in fixed:
        value = data.draw(FORBIDDEN[name], name)
        if value == "COPY":
            value = str(shutil.copy(reference_file, tmp_path / "same_showers.h5"))
        if value == saved[name]:
            continue
        overrides[name] = value
    allowed = data.draw(st.lists(st.sampled_from(sorted(ALLOWED)), max_size=2, unique=True), "allowed")
    for name in allowed:
        overrides[name] = data.draw(ALLOWED[name], name)
    changed = [name for name in fixed if name in overrides]
    if not changed:
        return
    before = digest(trained_run)
    argv = resume_argv(trained_run, reference_file, overrides)
    result = run_cli(argv, capsys, caplog)
    CASES["refused resume"] += 1
    line = assert_one_error_line(result, *changed)
    for name in allowed:
        assert f"{name} (" not in line, line
    assert digest(trained_run) == before


@settings(max_examples=6, **SETTINGS)
@given(data=st.data())
def test_changing_adjustable_fields_resumes(
    data: st.DataObject, trained_run: Path, reference_file: Path, tmp_path: Path, capsys, caplog
) -> None:
    """Allowed changes: the run continues to the new max_steps; config.yaml holds the new values."""
    run_dir = copy_run(trained_run, tmp_path)
    names = data.draw(st.lists(st.sampled_from(sorted(ALLOWED)), min_size=1, max_size=4, unique=True), "allowed")
    overrides = {name: data.draw(ALLOWED[name], name) for name in names}
    overrides["training.max_steps"] = data.draw(st.integers(3, 4), "max_steps")
    result = run_cli(resume_argv(run_dir, reference_file, overrides), capsys, caplog)
    CASES["allowed resume"] += 1
    assert result.code == 0, (result.err, result.logged)
    assert "Traceback" not in result.err
    assert f"trained {overrides['training.max_steps']} steps" in result.out
    saved = saved_fields(run_dir)
    for name, value in overrides.items():
        assert saved[name] == value, name
    state = load_checkpoint(list_checkpoints(run_dir)[-1])
    assert state["step"] == overrides["training.max_steps"]
    assert config_fields(state["config"])["model.latent_dim"] == 4


# --------------------------------------------------------------------------- regressions
def test_a_refused_resume_leaves_later_resumes_working(
    trained_run: Path, reference_file: Path, tmp_path: Path, capsys, caplog
) -> None:
    """``--resume --set model.latent_dim=5`` is refused without touching config.yaml; a plain resume then works."""
    run_dir = copy_run(trained_run, tmp_path)
    before = digest(run_dir)
    result = run_cli(resume_argv(run_dir, reference_file, {"model.latent_dim": 5}), capsys, caplog)
    line = assert_one_error_line(result, "model.latent_dim", str(run_dir))
    assert "size mismatch" not in line
    assert digest(run_dir) == before
    result = run_cli(resume_argv(run_dir, reference_file, {"training.max_steps": 3}), capsys, caplog)
    assert result.code == 0, result.err
    assert "trained 3 steps" in result.out


def test_a_config_that_disagrees_with_its_checkpoint_is_refused(
    trained_run: Path, reference_file: Path, tmp_path: Path, capsys, caplog
) -> None:
    """A config.yaml rewritten by an older hepgan (latent_dim 5 against a checkpoint of 4): refused with both
    values; ``--set model.latent_dim=4`` (the checkpoint's) resumes."""
    run_dir = copy_run(trained_run, tmp_path)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("latent_dim: 4", "latent_dim: 5"))
    before = digest(run_dir)
    line = assert_one_error_line(run_cli(resume_argv(run_dir, reference_file, {}), capsys, caplog), "model.latent_dim")
    assert "4 in step_0000002.pt" in line and "5 now" in line
    assert digest(run_dir) == before
    result = run_cli(
        resume_argv(run_dir, reference_file, {"model.latent_dim": 4, "training.max_steps": 3}), capsys, caplog
    )
    assert result.code == 0, result.err
    assert load_config(config).model.latent_dim == 4
