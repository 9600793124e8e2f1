"""Sharded generation and merging: independent, reproducible shards; merges by copy or virtually."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from hepgan.cli import main
from hepgan.domains import generate_to_file, train
from hepgan.errors import ConfigError
from hepgan.generate import shard_plan
from hepgan.io import read_showers
from hepgan.io.geometry import load_geometry
from hepgan.io.merge import merge_copy, merge_virtual

from .helpers import small_config

GEOMETRY = load_geometry("calochallenge_ds1_photons")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    return train(small_config(tmp_path_factory.mktemp("shards"), reference_file), progress=False).checkpoint


def test_shard_plan_covers_the_job_once() -> None:
    plans = [shard_plan(1003, 42, i, 4) for i in range(4)]
    sizes = [p[0] for p in plans]
    assert sizes == [251, 251, 251, 250] and sum(sizes) == 1003
    assert [p[1] for p in plans] == [0, 251, 502, 753]
    seeds = [p[2] for p in plans]
    assert len(set(seeds)) == 4 and 42 not in seeds
    assert shard_plan(1003, 42, 1, 4)[2] == shard_plan(10**9, 42, 1, 8)[2]  # seed depends on (seed, index) only
    with pytest.raises(ConfigError, match="--shard"):
        shard_plan(10, 0, 4, 4)


def test_shards_are_reproducible_and_merge(tmp_path: Path, checkpoint: Path) -> None:
    parts = []
    for i in range(3):
        out = tmp_path / f"part_{i}.h5"
        generate_to_file(checkpoint, 700, out, seed=5, shard=(i, 3), batch_size=100)
        parts.append(out)
    with h5py.File(parts[1]) as f:
        assert f.attrs["shard"] == "1/3" and f.attrs["n_total"] == 700 and f.attrs["seed"] == 5
    again = tmp_path / "again_1.h5"
    generate_to_file(checkpoint, 700, again, seed=5, shard=(1, 3), batch_size=100)
    first = read_showers(parts[1], GEOMETRY)
    np.testing.assert_array_equal(first.showers_mev, read_showers(again, GEOMETRY).showers_mev)
    assert not np.array_equal(first.showers_mev[:50], read_showers(parts[0], GEOMETRY).showers_mev[:50])

    copied = tmp_path / "merged.h5"
    assert merge_copy(parts, copied, GEOMETRY, chunk_size=128) == 700
    virtual = tmp_path / "virtual.h5"
    assert merge_virtual(parts, virtual) == 700
    expected = np.concatenate([read_showers(p, GEOMETRY).showers_mev for p in parts])
    np.testing.assert_array_equal(read_showers(copied, GEOMETRY).showers_mev, expected)
    assert os.path.getsize(virtual) < os.path.getsize(copied) / 10  # no data copied
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path.parent)  # the virtual file resolves its shards relative to itself
        np.testing.assert_array_equal(read_showers(virtual, GEOMETRY).showers_mev, expected)
    finally:
        os.chdir(cwd)


def test_merge_refuses_mismatched_shards(tmp_path: Path, checkpoint: Path) -> None:
    good = tmp_path / "a.h5"
    generate_to_file(checkpoint, 20, good)
    other = tmp_path / "b.h5"
    with h5py.File(other, "w") as f:
        f["incident_energies"] = np.ones((5, 1)) * 1000.0
        f["showers"] = np.zeros((5, 533), dtype=np.float32)
    assert main(["merge", str(good), str(other), "-o", str(tmp_path / "m.h5"), "--virtual"]) == 2
    assert not (tmp_path / "m.h5").exists()


def test_cli_shard_and_merge(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        assert (
            main(
                [
                    "generate",
                    "--n",
                    "1e2",
                    "--shard",
                    f"{i}/2",
                    "-o",
                    str(tmp_path / f"p{i}.h5"),
                    "--checkpoint",
                    str(checkpoint),
                    "--no-progress",
                ]
            )
            == 0
        )
    assert main(["merge", str(tmp_path / "p0.h5"), str(tmp_path / "p1.h5"), "-o", str(tmp_path / "all.h5")]) == 0
    assert "100 showers" in capsys.readouterr().out
    assert len(read_showers(tmp_path / "all.h5", GEOMETRY)) == 100
    assert (
        main(["generate", "--n", "10", "--shard", "2/2", "-o", str(tmp_path / "x.h5"), "--checkpoint", str(checkpoint)])
        == 2
    )
