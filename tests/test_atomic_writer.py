"""The atomic-writer guarantees, the same for shower files, event tables and plain byte files, on real files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from hepgan.errors import OutputError
from hepgan.io.atomic import AtomicWriter, atomic_output, write_bytes_atomic
from hepgan.io.event_batch import EventBatch
from hepgan.io.event_readers import read_events
from hepgan.io.event_writers import EventWriter
from hepgan.io.geometry import load_geometry
from hepgan.io.showers import ShowerBatch, ShowerWriter, read_showers

CC = load_geometry("calochallenge_ds1_photons")
N_OBJECTS = 3

# (writer kind, file name): shower files in both HDF5 layouts and ROOT, event tables in HDF5 and ROOT
OUTPUTS = [
    ("showers", "showers.h5"),
    ("showers", "showers.root"),
    ("events", "events.h5"),
    ("events", "events.root"),
]
OUTPUT_IDS = [name for _, name in OUTPUTS]


def shower_batch(n: int, seed: int = 0) -> ShowerBatch:
    """Random showers (MeV) whose voxels sum to well below the incident energy."""
    rng = np.random.default_rng(seed)
    incident = rng.uniform(1e3, 1e5, n)
    showers = rng.exponential(1.0, (n, CC.n_voxels)) * (rng.random((n, CC.n_voxels)) < 0.3)
    return ShowerBatch(incident, showers)


def event_batch(n: int, seed: int = 0) -> EventBatch:
    """Random pT-ordered events (GeV) with the last object missing in every fourth event."""
    rng = np.random.default_rng(seed)
    pt = -np.sort(-rng.exponential(30.0, (n, N_OBJECTS)) - 1.0, axis=1)
    mask = np.ones((n, N_OBJECTS), dtype=bool)
    mask[::4, -1] = False
    masked = lambda values: np.where(mask, values, 0.0)  # noqa: E731
    eta = rng.normal(0.0, 2.0, pt.shape)
    phi = rng.uniform(-np.pi, np.pi, pt.shape)
    mass = rng.uniform(0.0, 5.0, pt.shape)
    return EventBatch(masked(pt), masked(eta), masked(phi), masked(mass), mask)


def open_writer(kind: str, path: Path | str) -> AtomicWriter[Any]:
    return ShowerWriter(path, CC) if kind == "showers" else EventWriter(path, N_OBJECTS)


def batch_for(kind: str, n: int, seed: int = 0) -> ShowerBatch | EventBatch:
    return shower_batch(n, seed) if kind == "showers" else event_batch(n, seed)


def stored_count(kind: str, path: Path) -> int:
    """Events in the file at ``path``, read back with hepgan's readers."""
    return len(read_showers(path, CC) if kind == "showers" else read_events(path))


def write_complete(kind: str, path: Path, n: int, seed: int = 0) -> None:
    with open_writer(kind, path) as writer:
        writer.write(batch_for(kind, n, seed))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temporary_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def one_line_naming(error: pytest.ExceptionInfo[OutputError], path: Path, *words: str) -> None:
    text = str(error.value)
    assert "\n" not in text
    assert str(path) in text
    for word in words:
        assert word in text


# ------------------------------------------------------------------ failures inside the with block
@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_exception_in_with_block_leaves_nothing(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    with pytest.raises(RuntimeError, match="interrupted"), open_writer(kind, target) as writer:
        writer.write(batch_for(kind, 7))
        assert writer.tmp_path.exists() and writer.tmp_path.parent == tmp_path
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_exception_in_with_block_keeps_earlier_file(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    write_complete(kind, target, 5, seed=1)
    checksum = sha256(target)
    with pytest.raises(KeyboardInterrupt), open_writer(kind, target) as writer:
        writer.write(batch_for(kind, 9, seed=2))
        raise KeyboardInterrupt
    assert sha256(target) == checksum
    assert stored_count(kind, target) == 5
    assert temporary_files(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_abort_keeps_earlier_file_and_closes_the_writer(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    write_complete(kind, target, 4, seed=1)
    checksum = sha256(target)
    writer = open_writer(kind, target)
    writer.write(batch_for(kind, 6, seed=3))
    writer.abort()
    writer.abort()  # a second abort does nothing
    writer.close()  # nor does a close after an abort
    assert sha256(target) == checksum
    assert temporary_files(tmp_path) == []
    with pytest.raises(OutputError, match="already closed"):
        writer.write(batch_for(kind, 1))


# ------------------------------------------------------------------ bad targets
@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_existing_directory_target_is_one_output_error(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    target.mkdir()
    (target / "inside.txt").write_text("kept")
    with pytest.raises(OutputError) as error:
        open_writer(kind, target)
    one_line_naming(error, target, "a directory")
    assert [p.name for p in target.iterdir()] == ["inside.txt"]
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_missing_parent_is_one_output_error(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / "missing" / name
    with pytest.raises(OutputError) as error:
        open_writer(kind, target)
    one_line_naming(error, target, "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_parent_that_is_a_file_is_one_output_error(tmp_path: Path, kind: str, name: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    target = blocker / name
    with pytest.raises(OutputError) as error:
        open_writer(kind, target)
    one_line_naming(error, target, "is not a directory")
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]


@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_target_that_became_a_directory_is_checked_again_on_close(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    writer = open_writer(kind, target)
    writer.write(batch_for(kind, 3))
    target.mkdir()
    with pytest.raises(OutputError) as error:
        writer.close()
    one_line_naming(error, target, "a directory")
    assert target.is_dir() and list(target.iterdir()) == []
    assert temporary_files(tmp_path) == []


@pytest.mark.parametrize("kind", ["showers", "events"])
@pytest.mark.parametrize("name", ["", ".", "..", "sub/"])
def test_paths_naming_no_file_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, name: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="names no file"):
        open_writer(kind, name)  # a string: a Path would drop the trailing '/'
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]


# ------------------------------------------------------------------ successful writes
@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_successful_write_replaces_earlier_file_atomically(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    write_complete(kind, target, 4, seed=1)
    earlier = target.read_bytes()
    earlier_inode = target.stat().st_ino
    with open_writer(kind, target) as writer:
        writer.write(batch_for(kind, 6, seed=2))
        writer.write(batch_for(kind, 5, seed=3))
        assert target.read_bytes() == earlier  # untouched while the new file is written
        assert temporary_files(tmp_path) == [writer.tmp_path.name]
    assert writer.n_written == 11
    assert stored_count(kind, target) == 11
    assert target.stat().st_ino != earlier_inode  # a new file renamed onto the name, not a rewrite
    assert temporary_files(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize(("kind", "name"), OUTPUTS, ids=OUTPUT_IDS)
def test_open_reader_of_earlier_file_keeps_its_content(tmp_path: Path, kind: str, name: str) -> None:
    target = tmp_path / name
    write_complete(kind, target, 4, seed=1)
    earlier = target.read_bytes()
    with target.open("rb") as reader_of_earlier:
        write_complete(kind, target, 8, seed=2)
        assert reader_of_earlier.read() == earlier
    assert target.read_bytes() != earlier
    assert stored_count(kind, target) == 8


def test_event_writer_logs_the_written_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "events.h5"
    with caplog.at_level("INFO", logger="hepgan.io.event_writers"):
        write_complete("events", target, 3)
    assert f"wrote 3 events to {target}" in caplog.text


# ------------------------------------------------------------------ plain bytes and caller-written files
def test_write_bytes_atomic_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    assert write_bytes_atomic(target, b"first") == target
    inode = target.stat().st_ino
    write_bytes_atomic(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert target.stat().st_ino != inode
    write_bytes_atomic(target, b"")
    assert target.read_bytes() == b""
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_write_bytes_atomic_refuses_bad_targets(tmp_path: Path) -> None:
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    missing = tmp_path / "missing" / "model.onnx"
    for target, words in ((folder, ("a directory",)), (missing, ("does not exist",))):
        with pytest.raises(OutputError) as error:
            write_bytes_atomic(target, b"data")
        one_line_naming(error, target, *words)
    with pytest.raises(OutputError, match="names no file"):
        write_bytes_atomic(f"{tmp_path}/", b"data")
    assert list(folder.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_atomic_output_keeps_earlier_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "merged.h5"
    with h5py.File(target, "w") as out:
        out["x"] = np.arange(4)
    checksum = sha256(target)
    with pytest.raises(ValueError, match="stopped"), atomic_output(target) as tmp, h5py.File(tmp, "w") as out:
        out["x"] = np.arange(9)
        raise ValueError("stopped")
    assert sha256(target) == checksum
    with pytest.raises(OutputError) as error, atomic_output(target) as tmp:
        (tmp.parent / "missing" / "file").write_bytes(b"never")  # an OSError inside the block
    one_line_naming(error, target, "writing failed")
    assert sha256(target) == checksum
    with atomic_output(target) as tmp, h5py.File(tmp, "w") as out:
        out["x"] = np.arange(9)
    with h5py.File(target, "r") as stored:
        np.testing.assert_array_equal(stored["x"][:], np.arange(9))
    assert [p.name for p in tmp_path.iterdir()] == ["merged.h5"]


def test_atomic_output_without_a_file_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "never.h5"
    with pytest.raises(OutputError) as error, atomic_output(target):
        pass  # the caller created no file
    one_line_naming(error, target, "cannot finish output file")
    assert list(tmp_path.iterdir()) == []


WRITER_FACTORIES: list[Callable[[Path], AtomicWriter[Any]]] = [
    lambda path: ShowerWriter(path, CC),
    lambda path: EventWriter(path, N_OBJECTS),
]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
@pytest.mark.parametrize("factory", WRITER_FACTORIES, ids=["showers", "events"])
def test_read_only_folder_is_one_output_error(tmp_path: Path, factory: Callable[[Path], AtomicWriter[Any]]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError) as error:
            factory(locked / "out.h5")
        one_line_naming(error, locked / "out.h5", "cannot create output file")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
