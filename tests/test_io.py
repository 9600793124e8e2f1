"""Shower file readers and writers: round trips, streaming, and clear errors on bad input."""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

import hepgan
from hepgan.errors import ConfigError, InputFileError, OutputError
from hepgan.io import (
    ShowerBatch,
    ShowerReader,
    ShowerWriter,
    detect_layout,
    load_geometry,
    read_showers,
    write_showers,
)

CC = load_geometry("calochallenge_ds1_photons")
GAN = load_geometry("calogan")
SUFFIX = {"calochallenge": ".h5", "calogan": ".hdf5", "root": ".root"}


def make_batch(n: int, geometry, seed: int = 0, overflow: bool = False) -> ShowerBatch:
    """Random showers whose voxels sum to well below the incident energy (MeV)."""
    rng = np.random.default_rng(seed)
    incident = rng.uniform(1e3, 1e5, n)
    showers = rng.exponential(1.0, (n, geometry.n_voxels)) * (rng.random((n, geometry.n_voxels)) < 0.3)
    over = rng.exponential(1.0, (n, geometry.n_layers)) if overflow else None
    return ShowerBatch(incident, showers, over)


def geometry_for(layout: str):
    return GAN if layout == "calogan" else CC


def write_file(tmp_path: Path, layout: str, n: int = 25, overflow: bool = False, **kwargs) -> tuple[Path, ShowerBatch]:
    geometry = geometry_for(layout)
    path = tmp_path / f"showers{SUFFIX[layout]}"
    batch = make_batch(n, geometry, overflow=overflow)
    write_showers(path, batch, geometry, layout=layout, **kwargs)
    return path, batch


def assert_same(got: ShowerBatch, want: ShowerBatch) -> None:
    np.testing.assert_allclose(got.incident_energies_mev, want.incident_energies_mev, rtol=1e-12)
    np.testing.assert_array_equal(got.showers_mev, want.showers_mev)
    if want.overflow_mev is None:
        assert got.overflow_mev is None
    else:
        np.testing.assert_array_equal(got.overflow_mev, want.overflow_mev)
    assert got.incident_energies_mev.dtype == np.float64
    assert got.showers_mev.dtype == np.float32


def write_cc_raw(path: Path, energies, showers) -> Path:
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.asarray(energies, dtype=np.float64).reshape(-1, 1)
        f["showers"] = np.asarray(showers, dtype=np.float32)
    return path


def write_gan_raw(path: Path, energy_gev, showers_mev, layer_shapes=None) -> Path:
    with h5py.File(path, "w") as f:
        f["energy"] = np.asarray(energy_gev, dtype=np.float64).reshape(-1, 1)
        for i, image in enumerate(GAN.layer_images(showers_mev)):
            f[f"layer_{i}"] = image if layer_shapes is None else image.reshape(len(image), *layer_shapes[i])
        f["overflow"] = np.zeros((len(showers_mev), 3), dtype=np.float32)
    return path


def write_root_raw(path: Path, branches: dict, tree: str = "showers") -> Path:
    types = {}
    for name, values in branches.items():
        if isinstance(values, ak.Array):
            types[name] = "var * " + ("int32" if "index" in name else "float32")
        else:
            values = np.asarray(values)
            types[name] = values.dtype if values.ndim == 1 else (values.dtype, values.shape[1:])
    with uproot.recreate(path) as f:
        f.mktree(tree, types)
        f[tree].extend(branches)
    return path


def raises_input_error(path: Path, *fragments: str, geometry=CC, **kwargs) -> str:
    """Read the whole file expecting one InputFileError line naming the file and ``fragments``."""
    with pytest.raises(InputFileError) as info:
        with ShowerReader(path, geometry, chunk_size=kwargs.pop("chunk_size", 10_000), **kwargs) as reader:
            reader.read()
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("layout", ["calochallenge", "calogan", "root"])
@pytest.mark.parametrize("overflow", [False, True])
def test_round_trip(tmp_path, layout, overflow):
    path, batch = write_file(tmp_path, layout, n=23, overflow=overflow, attrs={"seed": 7, "checkpoint": "g.pt"})
    assert detect_layout(path) == layout
    with ShowerReader(path, geometry_for(layout)) as reader:
        assert len(reader) == 23
        assert_same(reader.read(), batch)
        attrs = reader.attrs
    assert attrs["units"] == "MeV"
    assert attrs["geometry"] == geometry_for(layout).name
    assert attrs["layout"] == layout
    assert attrs["hepgan_version"] == hepgan.__version__
    assert attrs["seed"] == 7 and attrs["checkpoint"] == "g.pt"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_calogan_file_holds_layer_images_and_gev(tmp_path):
    path, batch = write_file(tmp_path, "calogan", n=5, overflow=True)
    with h5py.File(path, "r") as f:
        assert f["energy"].shape == (5, 1)
        np.testing.assert_allclose(f["energy"][:, 0], batch.incident_energies_mev / 1000.0)
        assert [f[f"layer_{i}"].shape for i in range(3)] == [(5, 3, 96), (5, 12, 12), (5, 12, 6)]
        np.testing.assert_array_equal(f["layer_1"][:], GAN.layer_images(batch.showers_mev)[1])
        assert f["overflow"].shape == (5, 3)
        assert f.attrs["energy_units"] == "GeV"


def test_root_file_has_fixed_size_branches_and_metadata(tmp_path):
    path, batch = write_file(tmp_path, "root", n=6, attrs={"seed": 3, "extra": {"a": [1, 2]}})
    with uproot.open(path) as f:
        tree = f["showers"]
        assert tree["showers"].interpretation.inner_shape == (CC.n_voxels,)
        arrays = tree.arrays(["incident_energy", "showers"], library="np")
        np.testing.assert_array_equal(arrays["showers"], batch.showers_mev)
        np.testing.assert_array_equal(arrays["incident_energy"], batch.incident_energies_mev)
        assert f.classnames()["hepgan_metadata;1"] == "TObjString"
    attrs = ShowerReader(path, CC).attrs
    assert attrs["seed"] == 3 and attrs["extra"] == {"a": [1, 2]} and attrs["tree"] == "showers"


def test_uncompressed_and_multiple_writes(tmp_path):
    batch = make_batch(30, CC)
    for name in ("a.h5", "a.root"):
        with ShowerWriter(tmp_path / name, CC, compression=None, chunk_rows=8) as writer:
            for first in range(0, 30, 7):
                writer.write(
                    ShowerBatch(batch.incident_energies_mev[first : first + 7], batch.showers_mev[first : first + 7])
                )
            writer.write(ShowerBatch(np.zeros(0), np.zeros((0, CC.n_voxels))))
            assert writer.n_written == 30
        assert_same(read_showers(tmp_path / name, CC), batch)


def test_read_showers_max_events_and_geometry_name(tmp_path):
    path, batch = write_file(tmp_path, "calochallenge", n=12)
    got = read_showers(path, "calochallenge_ds1_photons", max_events=5)
    assert len(got) == 5
    np.testing.assert_array_equal(got.showers_mev, batch.showers_mev[:5])


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("layout", ["calochallenge", "calogan", "root"])
def test_chunks_equal_full_read(tmp_path, layout):
    path, batch = write_file(tmp_path, layout, n=50, overflow=True)
    with ShowerReader(path, geometry_for(layout), chunk_size=7) as reader:
        chunks = list(reader.iter_chunks())
        assert [len(c) for c in chunks] == [7] * 7 + [1]
        assert_same(ShowerBatch.concatenate(chunks), batch)
        assert_same(reader.read(), batch)


@pytest.mark.parametrize("layout", ["calochallenge", "root"])
def test_chunk_boundaries_with_start_stop(tmp_path, layout):
    path, batch = write_file(tmp_path, layout, n=30)
    with ShowerReader(path, CC, chunk_size=7) as reader:
        chunks = list(reader.iter_chunks(start=5, stop=23))
        assert [len(c) for c in chunks] == [7, 7, 4]
        np.testing.assert_array_equal(chunks[1].showers_mev, batch.showers_mev[12:19])
        assert len(reader.read(25, 1000)) == 5  # stop clamped to the file length
        assert len(reader.read(20, 10)) == 0
        assert_same(reader.read(7, 8), ShowerBatch(batch.incident_energies_mev[7:8], batch.showers_mev[7:8]))
        with pytest.raises(ValueError):
            reader.read(-1)


def test_reader_over_file_larger_than_chunk_size(tmp_path):
    path, batch = tmp_path / "many.h5", make_batch(40, CC)
    with ShowerWriter(path, CC, chunk_rows=4) as writer:
        writer.write(batch)
    with ShowerReader(path, CC, chunk_size=16) as reader:
        sums = [c.showers_mev.sum(dtype=np.float64) for c in reader.iter_chunks()]
    assert len(sums) == 3
    np.testing.assert_allclose(sum(sums), batch.showers_mev.sum(dtype=np.float64), rtol=1e-10)


# --------------------------------------------------------------------------- ROOT input forms


def test_jagged_root_is_densified(tmp_path):
    index = ak.Array([[0, 5, 367], [], [10, 10, 3]])
    energy = ak.Array([[1.0, 2.0, 3.0], [], [0.5, 0.25, 4.0]])
    path = write_root_raw(
        tmp_path / "sparse.root",
        {"incident_energy": np.array([1e4, 2e4, 3e4]), "cell_index": index, "cell_energy": energy},
    )
    with ShowerReader(path, CC, chunk_size=2) as reader:
        assert len(reader) == 3
        got = reader.read()
        assert [len(c) for c in reader.iter_chunks()] == [2, 1]
    want = np.zeros((3, CC.n_voxels), dtype=np.float32)
    want[0, [0, 5, 367]] = [1, 2, 3]
    want[2, 10] = 0.75
    want[2, 3] = 4
    np.testing.assert_array_equal(got.showers_mev, want)
    np.testing.assert_array_equal(got.incident_energies_mev, [1e4, 2e4, 3e4])


def test_root_explicit_tree_and_branch_names(tmp_path):
    batch = make_batch(9, CC)
    path = write_root_raw(
        tmp_path / "named.root", {"E0": batch.incident_energies_mev, "voxels": batch.showers_mev}, tree="events"
    )
    with ShowerReader(path, CC, tree="events", branches={"incident_energy": "E0", "showers": "voxels"}) as reader:
        assert_same(reader.read(), batch)
    raises_input_error(path, "'showers'", "events")  # default tree name absent: lists the trees found
    with pytest.raises(ConfigError):
        ShowerReader(path, CC, tree="events", branches={"energy": "E0"})


def test_root_variable_length_showers_branch(tmp_path):
    batch = make_batch(4, CC)
    showers = ak.Array([list(row) for row in batch.showers_mev])
    path = write_root_raw(tmp_path / "vec.root", {"incident_energy": batch.incident_energies_mev, "showers": showers})
    np.testing.assert_array_equal(read_showers(path, CC).showers_mev, batch.showers_mev)
    short = ak.Array([list(row[:-1]) for row in batch.showers_mev])
    bad = write_root_raw(tmp_path / "short.root", {"incident_energy": batch.incident_energies_mev, "showers": short})
    raises_input_error(bad, "'showers'", "367 values at event 0", "expected 368")


def test_jagged_root_errors(tmp_path):
    e = np.array([1e4, 2e4])
    outside = write_root_raw(
        tmp_path / "outside.root",
        {"incident_energy": e, "cell_index": ak.Array([[1], [368]]), "cell_energy": ak.Array([[1.0], [1.0]])},
    )
    raises_input_error(outside, "'cell_index'", "368", "event 1")
    uneven = write_root_raw(
        tmp_path / "uneven.root",
        {"incident_energy": e, "cell_index": ak.Array([[1], [2, 3]]), "cell_energy": ak.Array([[1.0], [1.0]])},
    )
    raises_input_error(uneven, "'cell_index'", "'cell_energy'", "event 1")
    no_energy = write_root_raw(tmp_path / "noenergy.root", {"incident_energy": e, "cell_index": ak.Array([[1], [2]])})
    raises_input_error(no_energy, "'cell_energy'")


# --------------------------------------------------------------------------- bad input files


def test_missing_file(tmp_path):
    raises_input_error(tmp_path / "nothere.h5", "no such file")


def test_not_hdf5_or_root(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello, I am not a shower file\n")
    raises_input_error(text, "neither an HDF5 nor a ROOT file")
    empty = tmp_path / "zero.root"
    empty.write_bytes(b"")
    raises_input_error(empty, "0 bytes")
    raises_input_error(tmp_path, "not a regular file")


def test_hdf5_with_other_keys(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((3, 4))
    raises_input_error(path, "images", "incident_energies")


@pytest.mark.parametrize("layout", ["calochallenge", "calogan", "root"])
def test_truncated_file(tmp_path, layout):
    geometry = geometry_for(layout)
    path = tmp_path / f"big{SUFFIX[layout]}"
    write_showers(path, make_batch(3000, geometry), geometry, layout=layout)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    raises_input_error(path, geometry=geometry)


def test_missing_keys(tmp_path):
    batch = make_batch(4, CC)
    path = tmp_path / "noshowers.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = batch.incident_energies_mev[:, None]
    raises_input_error(path, "missing dataset 'showers'")
    gan = tmp_path / "nolayer2.h5"
    with h5py.File(gan, "w") as f:
        f["energy"] = np.ones((4, 1))
        f["layer_0"] = np.zeros((4, 3, 96))
        f["layer_1"] = np.zeros((4, 12, 12))
    raises_input_error(gan, "missing dataset 'layer_2'", geometry=GAN)
    root_path = write_root_raw(tmp_path / "nobranch.root", {"incident_energy": batch.incident_energies_mev})
    raises_input_error(root_path, "'showers'", "'cell_index'")
    root_path = write_root_raw(tmp_path / "noenergy.root", {"showers": batch.showers_mev})
    raises_input_error(root_path, "no branch 'incident_energy'")


def test_wrong_voxel_count(tmp_path):
    rng = np.random.default_rng(1)
    path = write_cc_raw(tmp_path / "ds2.h5", rng.uniform(1e3, 1e4, 5), rng.random((5, 533)))
    message = raises_input_error(path, "'showers' has 533 voxels per event")
    assert "calochallenge_ds1_photons expects 368" in message
    assert "533 voxels fit CaloChallenge dataset 1 pions" in message  # and the geometries that would fit
    assert all(f"{count} (" in message for count in (368, 504, 6480, 40500))
    ds3 = write_cc_raw(tmp_path / "ds3.h5", rng.uniform(1e3, 1e4, 2), rng.random((2, 40500)))
    assert "40500 voxels fit calochallenge_ds3" in raises_input_error(ds3, "'showers' has 40500 voxels per event")
    root_path = write_root_raw(
        tmp_path / "ds2.root", {"incident_energy": rng.uniform(1e3, 1e4, 5), "showers": rng.random((5, 533))}
    )
    raises_input_error(root_path, "'showers' has 533 voxels per event", "expects 368")
    gan = write_gan_raw(
        tmp_path / "gan.h5", np.ones(2), np.zeros((2, GAN.n_voxels)), layer_shapes=[(96, 3), (12, 12), (12, 6)]
    )
    raises_input_error(gan, "'layer_0' has shape (N, 96, 3), expected (N, 3, 96)", geometry=GAN)
    raises_input_error(path, "geometry calogan expects 504", geometry=GAN)


def test_wrong_energy_shape(tmp_path):
    path = tmp_path / "e2.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.ones((3, 2))
        f["showers"] = np.zeros((3, CC.n_voxels))
    raises_input_error(path, "'incident_energies' has shape (N, 2), expected (N, 1)")


def test_mismatched_event_counts(tmp_path):
    path = write_cc_raw(tmp_path / "mismatch.h5", np.full(10, 1e4), np.zeros((9, CC.n_voxels)))
    raises_input_error(path, "'showers' holds 9 events but 'incident_energies' holds 10")


def test_nan_and_inf_report_count_and_first_event(tmp_path):
    showers = np.zeros((20, CC.n_voxels))
    showers[13, 4] = np.nan
    showers[17, 0] = np.inf
    path = write_cc_raw(tmp_path / "nan.h5", np.full(20, 1e4), showers)
    raises_input_error(path, "'showers'", "NaN/inf values in 2 event(s), first at event 13")
    # chunked: the first bad chunk reports its own events with absolute indices
    raises_input_error(path, "'showers'", "in 1 event(s), first at event 13", chunk_size=5)
    energies = np.full(6, 1e4)
    energies[2] = np.nan
    raises_input_error(write_cc_raw(tmp_path / "nan_e.h5", energies, np.zeros((6, CC.n_voxels))), "'incident_energies'")
    root_path = write_root_raw(tmp_path / "inf.root", {"incident_energy": np.full(20, 1e4), "showers": showers})
    raises_input_error(root_path, "'showers'", "first at event 13")


def test_negative_energies(tmp_path):
    showers = np.zeros((8, CC.n_voxels))
    showers[3, 1] = -0.5
    showers[6, 2] = -2.0
    path = write_cc_raw(tmp_path / "neg.h5", np.full(8, 1e4), showers)
    raises_input_error(path, "'showers'", "negative energies in 2 event(s), first at event 3", "-0.5 MeV")
    showers[3, 1] = showers[6, 2] = -1e-4  # within tolerance
    assert len(read_showers(write_cc_raw(tmp_path / "tiny.h5", np.full(8, 1e4), showers), CC)) == 8
    energies = np.full(8, 1e4)
    energies[5] = -3.0
    path = write_cc_raw(tmp_path / "neg_e.h5", energies, np.zeros((8, CC.n_voxels)))
    raises_input_error(path, "'incident_energies'", "first at event 5", "expected > 0")
    gan = write_gan_raw(
        tmp_path / "neg_gan.h5", np.ones(4), np.where(np.arange(GAN.n_voxels) == 400, -1.0, 0.0)[None].repeat(4, 0)
    )
    raises_input_error(gan, "'layer_1'", "first at event 0", geometry=GAN)


def test_gev_in_mev_field(tmp_path):
    rng = np.random.default_rng(2)
    energies_gev = rng.uniform(1, 15, 10)
    showers = rng.random((10, CC.n_voxels)) * (energies_gev[:, None] * 1000 / CC.n_voxels)
    path = write_cc_raw(tmp_path / "gev.h5", energies_gev, showers)
    raises_input_error(path, "'incident_energies'", "looks like GeV, expected MeV")
    root_path = write_root_raw(tmp_path / "gev.root", {"incident_energy": energies_gev, "showers": showers})
    raises_input_error(root_path, "'incident_energy'", "looks like GeV")
    # genuinely low-energy MeV showers are fine
    low = write_cc_raw(tmp_path / "low.h5", energies_gev, showers / 1000)
    assert len(read_showers(low, CC)) == 10


def test_mev_in_gev_field(tmp_path):
    path = write_gan_raw(tmp_path / "mev.h5", np.full(4, 5e4), np.zeros((4, GAN.n_voxels)))
    raises_input_error(path, "'energy'", "looks like MeV, expected GeV", geometry=GAN)


def test_empty_files(tmp_path):
    path = write_cc_raw(tmp_path / "empty.h5", np.zeros(0), np.zeros((0, CC.n_voxels)))
    raises_input_error(path, "'incident_energies' holds 0 events")
    with ShowerWriter(tmp_path / "nothing.root", CC):
        pass
    raises_input_error(tmp_path / "nothing.root", "'incident_energy' holds 0 events")
    with ShowerWriter(tmp_path / "nothing.h5", GAN):
        pass
    raises_input_error(tmp_path / "nothing.h5", "'energy' holds 0 events", geometry=GAN)


def test_tree_option_rejected_for_hdf5(tmp_path):
    path, _ = write_file(tmp_path, "calochallenge", n=3)
    with pytest.raises(ConfigError):
        ShowerReader(path, CC, tree="showers")


# --------------------------------------------------------------------------- writer safety


@pytest.mark.parametrize("layout", ["calochallenge", "calogan", "root"])
def test_interrupted_writer_leaves_no_file(tmp_path, layout):
    geometry = geometry_for(layout)
    target = tmp_path / f"out{SUFFIX[layout]}"
    with pytest.raises(RuntimeError, match="boom"):
        with ShowerWriter(target, geometry, layout=layout) as writer:
            writer.write(make_batch(5, geometry))
            assert writer.tmp_path.exists()
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layout", ["calochallenge", "root"])
def test_interrupted_writer_keeps_existing_target(tmp_path, layout):
    target, _ = write_file(tmp_path, layout, n=4)
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with ShowerWriter(target, CC, layout=layout) as writer:
            writer.write(make_batch(9, CC, seed=5))
            raise KeyboardInterrupt
    assert target.read_bytes() == before
    writer = ShowerWriter(target, CC, layout=layout)
    writer.write(make_batch(9, CC, seed=5))
    writer.abort()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    # a successful write replaces it
    write_showers(target, make_batch(9, CC, seed=5), CC, layout=layout)
    assert len(read_showers(target, CC)) == 9


@pytest.mark.parametrize("name", ["out.h5", "out.root"])
def test_unwritable_directory(tmp_path, name):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker / name, tmp_path / "missing" / name):
        with pytest.raises(OutputError) as info:
            write_showers(target, make_batch(2, CC), CC)
        assert str(target) in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="locked"):
            write_showers(locked / "out.h5", make_batch(2, CC), CC)
    finally:
        locked.chmod(0o700)


def test_writer_rejects_bad_batches_and_options(tmp_path):
    with pytest.raises(OutputError, match="533 voxels"):
        with ShowerWriter(tmp_path / "a.h5", CC) as writer:
            writer.write(ShowerBatch(np.ones(2), np.zeros((2, 533))))
    with pytest.raises(OutputError, match="overflow"):
        with ShowerWriter(tmp_path / "a.h5", CC) as writer:
            writer.write(make_batch(2, CC, overflow=True))
            writer.write(make_batch(2, CC, overflow=False))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="units"):
        ShowerWriter(tmp_path / "a.h5", CC, attrs={"units": "GeV"})
    with pytest.raises(ConfigError):
        ShowerWriter(tmp_path / "a.h5", CC, layout="parquet")
    with pytest.raises(ConfigError):
        ShowerWriter(tmp_path / "a.h5", CC, compression="bzip2")
    with pytest.raises(ValueError):
        ShowerBatch(np.ones(3), np.zeros((2, 368)))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- regressions (bad input, outputs)


def test_absurd_energies_and_overfull_showers(tmp_path):
    batch = make_batch(6, CC)
    energies, showers = batch.incident_energies_mev.copy(), batch.showers_mev.copy()
    energies[2] = 2e7
    raises_input_error(write_cc_raw(tmp_path / "high.h5", energies, showers), "'incident_energies'", "1e+07 MeV")
    showers[4, 0] = 20 * batch.incident_energies_mev[4]
    path = write_cc_raw(tmp_path / "sum.h5", batch.incident_energies_mev, showers)
    raises_input_error(path, "'showers'", "event 4", "10x the incident energy")
    huge = showers.astype(np.float64)
    huge[1, 3] = 1e300  # beyond float32, and two of them would overflow a float64 sum
    huge[1, 4] = 1e300
    with h5py.File(tmp_path / "huge.h5", "w") as f:
        f["incident_energies"] = batch.incident_energies_mev[:, None]
        f["showers"] = huge
    raises_input_error(tmp_path / "huge.h5", "'showers'", "event 1")


def test_calogan_energy_limits_use_mev(tmp_path):
    batch = make_batch(4, GAN)
    path = write_gan_raw(tmp_path / "ok.hdf5", batch.incident_energies_mev / 1000.0, batch.showers_mev)
    assert len(read_showers(path, GAN)) == 4  # energies in GeV, compared in MeV
    showers = batch.showers_mev.copy()
    showers[0, 0] = 11 * batch.incident_energies_mev[0]
    path = write_gan_raw(tmp_path / "sum.hdf5", batch.incident_energies_mev / 1000.0, showers)
    raises_input_error(path, "'layer_0'", "event 0", geometry=GAN)


def test_hdf5_links(tmp_path):
    batch = make_batch(4, CC)
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = batch.incident_energies_mev[:, None]
        f["data"] = batch.showers_mev
        f["showers"] = h5py.SoftLink("/data")  # a soft link to a dataset in the file is fine
        f["overflow"] = h5py.SoftLink("/nowhere")
    raises_input_error(path, "'overflow'", "soft link", "'/nowhere'")
    with h5py.File(path, "a") as f:
        del f["overflow"]
    assert len(read_showers(path, CC)) == 4
    with h5py.File(path, "a") as f:
        del f["showers"]
        f["showers"] = h5py.ExternalLink("other.h5", "/showers")
    raises_input_error(path, "'showers'", "external link")
    with h5py.File(path, "a") as f:
        del f["showers"]
        f.create_group("showers")
    raises_input_error(path, "missing dataset 'showers'", "group")


def test_root_truncation_rntuple_and_index_dtype(tmp_path):
    path, _ = write_file(tmp_path, "root", n=40)
    content = path.read_bytes()
    path.write_bytes(content[:-10])
    raises_input_error(path, "truncated ROOT file", f"{len(content) - 10} bytes", f"header says {len(content)}")
    with uproot.recreate(tmp_path / "rn.root") as f:
        f["showers"] = {"incident_energy": np.ones(3)}
    if uproot.open(tmp_path / "rn.root").classname_of("showers") == "ROOT::RNTuple":
        raises_input_error(tmp_path / "rn.root", "'showers' is an RNTuple", "does not read yet")
    index = ak.values_astype(ak.Array([[0, 1]] * 3), np.float32)
    branches = {"incident_energy": np.full(3, 1e3), "cell_index": index, "cell_energy": ak.Array([[1.0, 2.0]] * 3)}
    with uproot.recreate(tmp_path / "fidx.root") as f:
        f.mktree(
            "showers", {"incident_energy": np.float64, "cell_index": "var * float32", "cell_energy": "var * float32"}
        )
        f["showers"].extend(branches)
    raises_input_error(tmp_path / "fidx.root", "'cell_index'", "float32", "integer")


def test_long_exception_texts_are_cut():
    from hepgan.io import checks

    line = checks.one_line(ValueError("x" * 5000 + "\n" + "y" * 10))
    assert len(line) <= checks.MAX_REASON_CHARS and line.endswith("...") and "\n" not in line
    assert checks.one_line(KeyError()) == "KeyError"


@pytest.mark.parametrize("name", ["", ".", "..", "sub/", "sub/.."])
def test_writer_refuses_paths_without_a_file_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(OutputError, match="names no file"):
        ShowerWriter(name, CC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_writer_refuses_non_regular_targets(tmp_path):
    (tmp_path / "dir.h5").mkdir()
    os.mkfifo(tmp_path / "pipe.h5")
    for name, kind in (("dir.h5", "a directory"), ("pipe.h5", "a FIFO")):
        with pytest.raises(OutputError, match=kind) as info:
            write_showers(tmp_path / name, make_batch(2, CC), CC)
        assert name in str(info.value)
    assert (tmp_path / "pipe.h5").is_fifo() and (tmp_path / "dir.h5").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.h5", "pipe.h5"]
    with pytest.raises(OutputError, match="a device"):
        ShowerWriter(os.devnull, CC)


@pytest.mark.parametrize("layout", ["calochallenge", "calogan"])
@pytest.mark.parametrize("fail_at", ["write", "close"])
def test_hdf5_disk_full_is_an_output_error(tmp_path, monkeypatch, layout, fail_at):
    """A failing write (ENOSPC) is never seen by HDF5: one OutputError naming the target, no file left."""
    import errno

    from hepgan.io import hdf5

    geometry = geometry_for(layout)
    target = tmp_path / f"out{SUFFIX[layout]}"
    target.write_bytes(b"earlier")
    writer = ShowerWriter(target, geometry, layout=layout, compression=None, chunk_rows=8)
    real_write = hdf5._GuardedFile.write

    def full(self, data):
        self.error = self.error or OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data)

    if fail_at == "write":  # HDF5 defers most writes; here an earlier one failed
        writer.write(make_batch(40, geometry))
        writer._sink._stream.error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with pytest.raises(OutputError, match="No space left on device") as info:
            writer.write(make_batch(40, geometry))
        writer.abort()
    else:
        writer.write(make_batch(40, geometry))
        monkeypatch.setattr(hdf5._GuardedFile, "write", full)
        with pytest.raises(OutputError, match="No space left on device") as info:
            writer.close()
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
