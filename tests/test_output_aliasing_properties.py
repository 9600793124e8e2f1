"""Property-based tests: an output that is one of the command's own inputs is refused, and nothing is lost.

Hypothesis spells one file in many ways (absolute and relative paths, ``./``, ``x/../``,
``../folder/``, repeated slashes, ``/./``, a symbolic link to the folder, a symbolic link
to the file, a hard link) and gives one spelling as an input and another as ``-o`` to

- ``hepgan generate``: ``-o`` is the ``--checkpoint`` (a file or a run folder's newest
  checkpoint) or the ``--energies-from`` file; ``hepgan export``: ``-o`` is the checkpoint;
- ``hepgan merge`` (copy and ``--virtual``): ``-o`` is one of the shards;
- ``hepgan merge`` with the same shard twice (two spellings of one file, or a copy of a
  shard, whose ``shard`` attribute is then the same), to a new output name.

Each must exit with code 2 and one stderr line ``hepgan: error: ...`` naming both paths, no
traceback, and change nothing: the folder tree (files by SHA-256, links by target) is the
same before and after, so no input is touched and nothing new appears under the target name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.domains import generate_to_file
from hepgan.io import read_showers

from .cli_checks import assert_one_error_line, run_cli
from .helpers import TEST_DATA, case_counter

CASES = case_counter(__file__)
"""Cases tried per test (every hypothesis example, including shrinking, and every explicit case)."""

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
CHECKPOINT = TEST_DATA / "golden" / "calo_checkpoint.pt"
N_SHARDS = 3
GEOMETRY = "calochallenge_ds1_photons"


# --------------------------------------------------------------------------- files made once
@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``ck.pt`` (a valid calorimeter checkpoint), ``ref.h5`` (40 showers) and
    ``shard0.h5`` .. ``shard2.h5`` (shards 0/3 .. 2/3 of a 30-shower job)."""
    folder = tmp_path_factory.mktemp("aliasing")
    shutil.copyfile(CHECKPOINT, folder / "ck.pt")
    generate_to_file(folder / "ck.pt", 40, folder / "ref.h5", seed=3, device="cpu")
    for i in range(N_SHARDS):
        generate_to_file(folder / "ck.pt", 30, folder / f"shard{i}.h5", seed=4, device="cpu", shard=(i, N_SHARDS))
    return folder


def fresh_work(tmp_path: Path, originals: Path) -> Path:
    """A new folder per example: ``data/`` with copies of the originals, ``run/checkpoints/step_0000004.pt``,
    an empty ``other/`` and ``link`` → ``data`` (a symbolic link to the folder)."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    shutil.copytree(originals, work / "data")
    (work / "run" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(originals / "ck.pt", work / "run" / "checkpoints" / "step_0000004.pt")
    (work / "other").mkdir()
    (work / "link").symlink_to("data", target_is_directory=True)
    return work


def tree_state(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``root`` (links not followed): files by SHA-256, links by target, folders."""
    state: dict[str, tuple[str, str]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif path.is_dir():
                state[key] = ("dir", "")
            else:
                state[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return state


# --------------------------------------------------------------------------- spellings of one file
@dataclass(frozen=True)
class Spelling:
    """A way to write the path of a file under the work folder (the working folder of the command)."""

    prefix: str  # "", "./", "other/../", ".//", "<parent>" (../<work>/) or "<absolute>" (<work>/)
    folder: str  # "data", or "link" (the symbolic link to data/) for files in data/
    separator: str  # "/", "//" or "/./" after the first folder
    alias: str  # "": the file itself; "symlink" / "hardlink": a link to it made in the work folder

    def text(self, work: Path, relative: str) -> str:
        """The spelling of ``work/relative`` (e.g. "data/ck.pt"); makes the link it names (once)."""
        if self.alias:
            link = work / f"{self.alias}-{relative.replace('/', '-')}"
            if not link.is_symlink() and not link.exists():
                if self.alias == "symlink":
                    link.symlink_to(relative)
                else:
                    os.link(work / relative, link)
            return self._with_prefix(work, link.name)
        top, rest = relative.split("/", 1)
        if top == "data":
            top = self.folder
        return self._with_prefix(work, f"{top}{self.separator}{rest}")

    def _with_prefix(self, work: Path, relative: str) -> str:
        if self.prefix == "<absolute>":
            return f"{work}/{relative}"
        if self.prefix == "<parent>":
            return f"../{work.name}/{relative}"
        return f"{self.prefix}{relative}"


SPELLINGS = st.builds(
    Spelling,
    prefix=st.sampled_from(["", "./", "other/../", ".//", "<parent>", "<absolute>"]),
    folder=st.sampled_from(["data", "link"]),
    separator=st.sampled_from(["/", "//", "/./"]),
    alias=st.sampled_from(["", "", "", "symlink", "hardlink"]),
)
RUN_CHECKPOINT = "run/checkpoints/step_0000004.pt"


def names_path(line: str, spelling: str) -> bool:
    """Whether an error line names a path as given or as :class:`Path` normalises it."""
    return spelling in line or str(Path(spelling)) in line


def assert_refused_and_untouched(result, work: Path, before: dict[str, tuple[str, str]], *paths: str) -> None:
    """Exit code 2, one error line naming every path, the work folder exactly as it was."""
    line = assert_one_error_line(result)
    for path in paths:
        assert names_path(line, path), f"{path!r} not named in {line!r}"
    assert tree_state(work) == before


# --------------------------------------------------------------------------- hepgan generate
@settings(max_examples=60, **SETTINGS)
@given(
    role=st.sampled_from(["--checkpoint", "--energies-from", "run folder", "export"]),
    output=SPELLINGS,
    given_input=SPELLINGS,
    run=st.sampled_from(["run", "./run", "run/", "run//", "other/../run", "<absolute>/run", "link/../run"]),
)
def test_generate_refuses_output_onto_its_inputs(
    tmp_path: Path, originals: Path, capsys, caplog, role: str, output: Spelling, given_input: Spelling, run: str
) -> None:
    """``-o`` naming the checkpoint (or a run folder's checkpoint) or the ``--energies-from`` file is refused
    (``hepgan export -o`` onto its checkpoint as well)."""
    CASES[f"generate -o {role}" if role != "export" else "export -o --checkpoint"] += 1
    work = fresh_work(tmp_path, originals)
    with contextlib.chdir(work):
        if role == "run folder":
            out, run = output.text(work, RUN_CHECKPOINT), run.replace("<absolute>", str(work))
            argv = ["generate", "--n", "5", "-o", out, "--checkpoint", run, "--device", "cpu"]
            named = [out, "step_0000004.pt"]
        elif role == "export":
            checkpoint, out = given_input.text(work, "data/ck.pt"), output.text(work, "data/ck.pt")
            argv = ["export", "-o", out, "--checkpoint", checkpoint]
            named = [out, checkpoint]
        elif role == "--checkpoint":
            checkpoint, out = given_input.text(work, "data/ck.pt"), output.text(work, "data/ck.pt")
            argv = ["generate", "--n", "5", "-o", out, "--checkpoint", checkpoint, "--device", "cpu"]
            named = [out, checkpoint]
        else:
            reference, out = given_input.text(work, "data/ref.h5"), output.text(work, "data/ref.h5")
            argv = ["generate", "--n", "5", "-o", out, "--energies-from", reference, "--checkpoint", "data/ck.pt"]
            argv += ["--device", "cpu"]
            named = [out, reference]
        before = tree_state(work)
        result = run_cli([*argv, *(["--no-progress"] if role != "export" else [])], capsys, caplog)
        assert_refused_and_untouched(result, work, before, *named)


# --------------------------------------------------------------------------- hepgan merge
@settings(max_examples=40, **SETTINGS)
@given(
    index=st.integers(0, N_SHARDS - 1),
    virtual=st.booleans(),
    output=SPELLINGS,
    shards=st.lists(SPELLINGS, min_size=N_SHARDS, max_size=N_SHARDS),
)
def test_merge_refuses_output_onto_a_shard(
    tmp_path: Path, originals: Path, capsys, caplog, index: int, virtual: bool, output: Spelling, shards: list[Spelling]
) -> None:
    """``hepgan merge ... -o X`` where X is one of the shards (any spelling) is refused; the shard is kept."""
    CASES["merge -o shard"] += 1
    work = fresh_work(tmp_path, originals)
    with contextlib.chdir(work):
        inputs = [spelling.text(work, f"data/shard{i}.h5") for i, spelling in enumerate(shards)]
        out = output.text(work, f"data/shard{index}.h5")
        before = tree_state(work)
        result = run_cli(["merge", *inputs, "-o", out, *(["--virtual"] if virtual else [])], capsys, caplog)
        assert_refused_and_untouched(result, work, before, out, inputs[index])


@settings(max_examples=40, **SETTINGS)
@given(
    kind=st.sampled_from(["same file", "copy of a shard"]),
    virtual=st.booleans(),
    first=SPELLINGS,
    second=SPELLINGS,
    index=st.integers(0, N_SHARDS - 1),
    position=st.integers(0, N_SHARDS),
)
def test_merge_refuses_a_shard_given_twice(
    tmp_path: Path,
    originals: Path,
    capsys,
    caplog,
    kind: str,
    virtual: bool,
    first: Spelling,
    second: Spelling,
    index: int,
    position: int,
) -> None:
    """The same shard twice (two spellings of one file, or a copy with the same ``shard`` attribute) is refused."""
    CASES[f"merge {kind} twice"] += 1
    work = fresh_work(tmp_path, originals)
    with contextlib.chdir(work):
        inputs = [first.text(work, f"data/shard{i}.h5") for i in range(N_SHARDS)]
        if kind == "same file":
            again = second.text(work, f"data/shard{index}.h5")
        else:
            shutil.copyfile(work / "data" / f"shard{index}.h5", work / "other" / "copy.h5")
            again = "other/copy.h5"
        inputs.insert(position, again)
        earlier = inputs[index] if position > index else again
        later = again if position > index else inputs[index + 1]
        out = "other/merged.h5"
        before = tree_state(work)
        result = run_cli(["merge", *inputs, "-o", out, *(["--virtual"] if virtual else [])], capsys, caplog)
        assert_refused_and_untouched(result, work, before, earlier, later)
        assert not (work / out).exists()


# --------------------------------------------------------------------------- explicit cases
def test_distinct_files_still_work(tmp_path: Path, originals: Path, capsys, caplog) -> None:
    """Different outputs are written as before: generate with --energies-from, merge by copy and virtually."""
    CASES["explicit"] += 1
    work = fresh_work(tmp_path, originals)
    with contextlib.chdir(work):
        argv = ["generate", "--n", "7", "-o", "out.h5", "--checkpoint", "link/ck.pt", "--energies-from", "data/ref.h5"]
        result = run_cli([*argv, "--device", "cpu", "--no-progress"], capsys, caplog)
        assert result.code == 0, result.err
        shards = [f"data/shard{i}.h5" for i in range(N_SHARDS)]
        assert run_cli(["merge", *shards, "-o", "copy.h5"], capsys, caplog).code == 0
        assert run_cli(["merge", *shards, "-o", "virtual.h5", "--virtual"], capsys, caplog).code == 0
        assert len(read_showers("copy.h5", GEOMETRY)) == len(read_showers("virtual.h5", GEOMETRY)) == 30


def test_shard_attribute_names_both_files(tmp_path: Path, originals: Path, capsys, caplog) -> None:
    """Two files holding shard 1/3 (one copied from the other) are named with the shard in the error line."""
    CASES["explicit"] += 1
    work = fresh_work(tmp_path, originals)
    shutil.copyfile(work / "data" / "shard1.h5", work / "other" / "shard1-again.h5")
    with h5py.File(work / "other" / "shard1-again.h5", "r") as file:
        assert str(file.attrs["shard"]) == f"1/{N_SHARDS}"
    before = tree_state(work)
    with contextlib.chdir(work):
        inputs = ["data/shard0.h5", "data/shard1.h5", "other/shard1-again.h5", "data/shard2.h5"]
        result = run_cli(["merge", *inputs, "-o", "all.h5"], capsys, caplog)
    line = assert_one_error_line(result, "data/shard1.h5", "other/shard1-again.h5", f"1/{N_SHARDS}")
    assert "again" in line
    assert tree_state(work) == before


def test_new_output_beside_the_inputs_is_written(tmp_path: Path, originals: Path, capsys, caplog) -> None:
    """A new output name beside the inputs (same folder, reached through the folder link) is not an alias."""
    CASES["explicit"] += 1
    work = fresh_work(tmp_path, originals)
    with contextlib.chdir(work):
        argv = ["generate", "--n", "3", "-o", "link/new.h5", "--checkpoint", "data/ck.pt", "--device", "cpu"]
        result = run_cli([*argv, "--energies-from", "link/ref.h5", "--no-progress"], capsys, caplog)
    assert result.code == 0, result.err
    assert (work / "data" / "new.h5").is_file()
