"""Which checkpoint `generate` and `export` take without --checkpoint: the best of the newest finished run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hepgan.errors import InputFileError
from hepgan.generate import resolve_checkpoint
from hepgan.generate.checkpoint_choice import choose_checkpoint
from hepgan.training.checkpoint import checkpoint_name
from hepgan.training.run_record import write_run_record


def make_run(
    runs: Path, name: str, kind: str, steps: tuple[int, ...], *, finished: bool = True, best_step: int | None = None
) -> Path:
    """A run folder with empty checkpoint files (nothing here loads them) and, when finished, its run.json."""
    run = runs / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": name.rsplit("-", 2)[0], "kind": kind}))
    for step in steps:
        (run / "checkpoints" / checkpoint_name(step)).write_bytes(b"")
    best = None
    if best_step is not None:
        best = run / "checkpoints" / "best.pt"
        best.write_bytes(b"")
    if finished:
        write_run_record(
            run,
            {
                "kind": kind,
                "final_checkpoint": str(run / "checkpoints" / checkpoint_name(steps[-1])),
                "best_checkpoint": None if best is None else str(best),
                "best": None if best is None else {"metric": "chi2_ndf_mean", "value": 1.25, "step": best_step},
                "steps": steps[-1],
            },
        )
    return run


def test_the_best_checkpoint_of_the_newest_finished_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    good = make_run(runs, "calo-20261201-120000", "calo", (500, 1000, 4000), best_step=1000)
    make_run(runs, "calo-20261203-090000", "calo", (10, 20), finished=False)  # newer, still training (or killed)
    choice = choose_checkpoint(None, runs)
    assert choice.path == good / "checkpoints" / "best.pt"
    assert choice.line.startswith(f"using {good / 'checkpoints' / 'best.pt'} (best chi2_ndf_mean = 1.25 at step 1000")
    assert "of run calo-20261201-120000" in choice.line and "newest finished run" in choice.line
    assert "kind calo" in choice.line
    assert resolve_checkpoint(None, runs) == choice.path


def test_a_known_kind_restricts_the_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    events = make_run(runs, "zmumu-20261201-120000", "events", (100, 200), best_step=200)
    make_run(runs, "calo-20261202-120000", "calo", (100, 200), best_step=100)
    choice = choose_checkpoint(None, runs, kind="events")
    assert choice.path == events / "checkpoints" / "best.pt"
    assert "newest finished events run" in choice.line
    assert choose_checkpoint(None, runs).path.parents[1].name == "calo-20261202-120000"  # any kind: the newest
    with pytest.raises(InputFileError, match="no run of kind 'other'"):
        choose_checkpoint(None, runs, kind="other")


def test_without_a_best_checkpoint_the_final_one(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "calo-20261201-120000", "calo", (500, 1000))
    choice = choose_checkpoint(None, tmp_path / "runs")
    assert choice.path == run / "checkpoints" / checkpoint_name(1000)
    assert "final checkpoint of run calo-20261201-120000, which kept no best checkpoint" in choice.line


def test_only_unfinished_runs_give_their_newest_step_and_say_so(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "calo-20261201-120000", "calo", (5,), finished=False)
    newest = make_run(runs, "calo-20261202-120000", "calo", (5, 10), finished=False)
    choice = choose_checkpoint(None, runs)
    assert choice.path == newest / "checkpoints" / checkpoint_name(10)
    assert "has not finished (no run.json)" in choice.line and "none has finished" in choice.line


def test_an_explicit_file_as_it_is_and_a_run_folder_gives_its_best(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "calo-20261201-120000", "calo", (500, 1000), best_step=500)
    file = run / "checkpoints" / checkpoint_name(1000)
    assert choose_checkpoint(file).path == file and choose_checkpoint(file).line == ""
    folder = choose_checkpoint(run)
    assert folder.path == run / "checkpoints" / "best.pt" and "best chi2_ndf_mean" in folder.line


def test_no_runs_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no runs folder"):
        choose_checkpoint(None, tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    with pytest.raises(InputFileError, match="no run with checkpoints"):
        choose_checkpoint(None, tmp_path / "runs")
