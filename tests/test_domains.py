"""Domains: the kind decided once (config, checkpoint, file), run.json, ``hepgan info``, a domain-free trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hepgan.cli import main
from hepgan.config import load_config
from hepgan.domains import (
    DOMAINS,
    domain_for_checkpoint,
    domain_for_config,
    domain_for_files,
    domain_named,
    load_generator,
    train,
)
from hepgan.domains.info import describe
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate import EventGenerator, ShowerGenerator
from hepgan.training.checkpoint import load_checkpoint
from hepgan.training.run_record import read_run_record
from tests.helpers import ROOT, small_config

GOLDEN = ROOT / "tests" / "data" / "golden"


def test_registry_and_kind_from_config() -> None:
    assert set(DOMAINS) == {"calo", "events"}
    assert domain_for_config(load_config(ROOT / "configs" / "calo.yaml")).kind == "calo"
    assert domain_for_config(load_config(ROOT / "configs" / "events.yaml")).kind == "events"
    with pytest.raises(ConfigError, match=r"kind: expected one of calo, events, got 'jets'"):
        domain_named("jets", "kind")


def test_kind_from_checkpoint_and_file() -> None:
    calo_state = load_checkpoint(GOLDEN / "calo_checkpoint.pt")
    events_state = load_checkpoint(GOLDEN / "events_checkpoint.pt")
    assert domain_for_checkpoint(calo_state).kind == "calo"
    assert domain_for_checkpoint(events_state).kind == "events"
    legacy = {key: value for key, value in calo_state.items() if key != "kind"}  # before checkpoints named a kind
    assert domain_for_checkpoint(legacy).kind == "calo"
    with pytest.raises(InputFileError, match="unknown kind 'jets'"):
        domain_for_checkpoint({**calo_state, "kind": "jets"}, "x.pt")
    assert isinstance(load_generator(GOLDEN / "calo_checkpoint.pt", device="cpu"), ShowerGenerator)
    assert isinstance(load_generator(GOLDEN / "events_checkpoint.pt", device="cpu"), EventGenerator)
    assert domain_for_files(ROOT / "data" / "zmumu_pythia.h5").kind == "events"
    assert domain_for_files(ROOT / "data" / "calo_ds1_photons_gflash.h5").kind == "calo"
    assert domain_for_files(ROOT / "data" / "zmumu_pythia.h5", ROOT / "data" / "calo_ds1_photons_gflash.h5").kind == (
        "calo"
    )


def test_the_trainer_does_not_know_the_domains() -> None:
    """Calibration, showers and events are the domains' words: the loop names none of them."""
    source = (ROOT / "hepgan" / "training" / "trainer.py").read_text(encoding="utf-8").lower()
    for word in ("calibration", "shower", "evaluator", "geometry", "events"):
        assert word not in source, word


def test_info_on_files_and_checkpoints() -> None:
    calo = describe(GOLDEN / "calo_checkpoint.pt")
    assert "kind calo" in calo[0] and "step 4" in calo[0]
    assert any("calochallenge_ds1_photons" in line and "368 voxels" in line for line in calo)
    assert any("cell calibration fitted" in line for line in calo)
    events = describe(GOLDEN / "events_checkpoint.pt")
    assert "kind events" in events[0] and any("representation pair" in line for line in events)
    showers = describe(ROOT / "data" / "calo_ds1_photons_gflash.h5")
    assert "15000 calorimeter showers" in showers[0]
    assert any("256 - 4.194e+06 MeV (15 distinct" in line for line in showers)
    assert "30000 events, 2 objects per event" in describe(ROOT / "data" / "zmumu_pythia.h5")[0]
    with pytest.raises(InputFileError, match="no such file or folder"):
        describe(ROOT / "nothing-here.h5")


def test_run_record_and_info_of_a_run(tmp_path: Path, reference_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = small_config(tmp_path, reference_file, max_steps=4, checkpoint_every=2, eval_every=2)
    result = train(config, progress=False)
    record = read_run_record(result.run_dir)
    assert record["kind"] == "calo" and record["steps"] == 4 and record["name"] == config.name
    assert Path(record["final_checkpoint"]) == result.checkpoint and result.checkpoint.is_file()
    assert Path(record["best_checkpoint"]).name == "best.pt" and Path(record["best_checkpoint"]).is_file()
    assert record["showers_per_second"] > 0
    assert (result.run_dir / "training_history.png").is_file()
    lines = describe(result.run_dir)
    assert "4 steps" in lines[0] and f"final checkpoint: {result.checkpoint}" in lines[1]

    capsys.readouterr()
    runs_dir = result.run_dir.parent
    assert main(["info", "--field", "final_checkpoint", str(runs_dir)]) == 0  # a folder of runs: the newest
    assert capsys.readouterr().out.strip() == str(result.checkpoint)
    assert main(["info", "--field", "no_such_field", str(result.run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no field 'no_such_field'" in err[0]
    json.loads((result.run_dir / "run.json").read_text())  # strict JSON
