"""The command line's last safety net, and the failure cases that must never need it.

An exception that escapes a command becomes one line ``hepgan: error: <command> failed on
<main input>: <Type>: <message> (run with --debug for the traceback)`` with exit code 2;
``--debug`` or ``HEPGAN_DEBUG=1`` shows the traceback instead, and interrupts keep their codes.
The net does not replace the checks: every known case of the "nothing lost, nothing silent, no
traceback" classes (config holes, values the machine cannot hold, paths and numbers the OS or
the maths refuses) is run with the net switched off and must still give its one error line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest
import yaml

from hepgan import cli
from hepgan.io.events import write_events

from .cli_checks import assert_one_error_line, disable_safety_net, run_cli
from .helpers import ROOT, TEST_DATA, case_counter, toy_zmumu

CASES = case_counter(__file__)
CHECKPOINT = TEST_DATA / "golden" / "calo_checkpoint.pt"


def boom(args) -> int:
    raise ValueError("something unforeseen\non two lines")


# --------------------------------------------------------------------------- the net
def test_an_escaping_exception_is_one_line(monkeypatch, capsys, caplog) -> None:
    """One line naming the command, its main input, the exception type and message, and --debug."""
    CASES["net"] += 1
    monkeypatch.delenv("HEPGAN_DEBUG", raising=False)
    monkeypatch.setitem(cli.COMMANDS, "info", boom)
    line = assert_one_error_line(run_cli(["info", "some.h5"], capsys, caplog))
    assert line == (
        "hepgan: error: info failed on some.h5: ValueError: something unforeseen on two lines "
        "(run with --debug for the traceback)"
    )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train", "c.yaml"], "train failed on c.yaml"),
        (["generate", "--n", "5", "-o", "o.h5"], "generate failed on the newest checkpoint in runs"),
        (["validate", "--reference", "r.h5", "--generated", "g.h5"], "validate failed on g.h5 (reference r.h5)"),
        (["merge", "a.h5", "b.h5", "c.h5", "d.h5", "-o", "m.h5"], "merge failed on a.h5, b.h5, c.h5 and 1 more"),
    ],
)
def test_the_line_names_the_main_input(monkeypatch, capsys, caplog, argv: list[str], named: str) -> None:
    CASES["net"] += 1
    monkeypatch.delenv("HEPGAN_DEBUG", raising=False)
    monkeypatch.setitem(cli.COMMANDS, argv[0], boom)
    assert_one_error_line(run_cli(argv, capsys, caplog), named)


def test_debug_shows_the_traceback(monkeypatch) -> None:
    """``--debug`` and ``HEPGAN_DEBUG=1`` let the exception through (Python prints its traceback)."""
    CASES["net"] += 2
    monkeypatch.setitem(cli.COMMANDS, "info", boom)
    monkeypatch.delenv("HEPGAN_DEBUG", raising=False)
    with pytest.raises(ValueError, match="unforeseen"):
        cli.main(["--debug", "info", "x.h5"])
    monkeypatch.setenv("HEPGAN_DEBUG", "1")
    with pytest.raises(ValueError, match="unforeseen"):
        cli.main(["info", "x.h5"])


def test_interrupts_keep_their_exit_codes(monkeypatch, capsys) -> None:
    CASES["net"] += 1

    def interrupted(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "info", interrupted)
    assert cli.main(["info", "x.h5"]) == 130


# --------------------------------------------------------------------------- cases that must not reach it
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    """Inputs for every case: configs with holes, tiny and sparse files, a checkpoint."""
    work = tmp_path_factory.mktemp("safety_net")
    base = yaml.safe_load((ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8"))
    base["data"]["path"] = str(reference_file)
    base["training"]["runs_dir"] = str(work / "runs")
    text = yaml.safe_dump(base, sort_keys=False)
    (work / "ok.yaml").write_text(text, encoding="utf-8")
    (work / "dup.yaml").write_text(text + "training:\n  max_steps: 10\n", encoding="utf-8")
    (work / "deep.yaml").write_text(text + "extra: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    (work / "free.yaml").write_text(text.replace("spectrum:\n", "spectrum:\n    colour: red\n"), encoding="utf-8")
    with h5py.File(reference_file, "r") as ref:
        with h5py.File(work / "two.h5", "w") as out:
            for key in ("incident_energies", "showers"):
                out.create_dataset(key, data=ref[key][:2])
        with h5py.File(work / "sparse.h5", "w") as out:
            for key, width in (("incident_energies", 1), ("showers", 368)):
                dataset = out.create_dataset(key, (10**9, width), "f4", chunks=(1000, width), fillvalue=1.0)
                dataset[:400] = ref[key][:]
    write_events(work / "events.h5", toy_zmumu(300, seed=5))
    write_events(work / "few_events.h5", toy_zmumu(3, seed=6))
    shutil.copyfile(CHECKPOINT, work / "ck.pt")
    return work


CASES_WITHOUT_NET = {  # case: (argv with {w} for the folder, names the line must contain)
    "duplicate key": (["train", "{w}/dup.yaml", "--no-progress"], ["duplicate key 'training'"]),
    "deep file": (["train", "{w}/deep.yaml", "--dry-run"], ["nested deeper than 32 levels"]),
    "deep --set key": (["train", "{w}/ok.yaml", "--dry-run", "--set", "a" + ".a" * 5000 + "=1"], ["--set"]),
    "deep --set value": (
        ["train", "{w}/ok.yaml", "--dry-run", "--set", "data.selection.x=" + "[" * 5000 + "]" * 5000],
        ["nested deeper"],
    ),
    "free-form key": (["train", "{w}/free.yaml", "--dry-run"], ["simulation.spectrum.colour"]),
    "training batch": (
        ["train", "{w}/ok.yaml", "--no-progress", "--set", "training.batch_size=1000000"],
        ["training.batch_size"],
    ),
    "generate batch": (
        ["generate", "--n", "1e12", "--batch-size", "1000000000000", "-o", "{w}/o.h5", "--checkpoint", "{w}/ck.pt"],
        ["--batch-size"],
    ),
    "declared rows": (["info", "{w}/sparse.h5"], ["sparse.h5", "'incident_energies'"]),
    "long path": (["info", "{w}/" + "x" * 300], ["argument PATH", "bytes long"]),
    "long config path": (
        ["train", "{w}/ok.yaml", "--dry-run", "--set", "data.path=" + "y" * 300],
        ["data.path", "bytes long"],
    ),
    "walk energy": (
        ["validate", "--reference", "{w}/two.h5", "--generated", "{w}/two.h5", "--walk-energy", "nan"],
        ["--walk-energy"],
    ),
    "two showers": (["validate", "--reference", "{w}/two.h5", "--generated", "{w}/sparse.h5"], ["two.h5", "2 showers"]),
    "three events": (
        ["validate", "--reference", "{w}/events.h5", "--generated", "{w}/few_events.h5", "-o", "{w}/r"],
        ["few_events.h5", "3 events"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES_WITHOUT_NET))
def test_known_failures_never_reach_the_net(monkeypatch, capsys, caplog, folder: Path, case: str) -> None:
    """With the net switched off, each known case still ends in its own one-line error."""
    CASES["without the net"] += 1
    disable_safety_net(monkeypatch)
    argv, names = CASES_WITHOUT_NET[case]
    result = run_cli([arg.replace("{w}", str(folder)) for arg in argv], capsys, caplog)
    assert_one_error_line(result, *names)
    assert "failed on" not in result.err
