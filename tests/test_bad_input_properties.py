"""Property-based tests: malformed shower files at every entry point give one clear error line.

Hypothesis builds broken CaloChallenge HDF5, CaloGAN HDF5 and ROOT shower files in a
temporary folder (missing datasets/branches, wrong voxel counts, wrong ndim, string/complex/
compound dtypes, NaN/inf at random positions, negative energies, GeV stored as MeV and MeV
as GeV, empty files, files truncated at a random byte, random bytes) and feeds them to

- the library readers (``read_showers``): :class:`InputFileError` naming the file and key;
- ``hepgan validate`` (the file as reference or as generated sample),
- ``hepgan generate --energies-from``,
- ``hepgan train --set data.path=...`` (tiny ``--set`` overrides, so a case that wrongly
  passes still finishes in a second),

run in-process through :func:`hepgan.cli.main`. Each must exit with code 2 and print exactly
one stderr line ``hepgan: error: ...`` naming the file (and the dataset/branch where there is
one), no traceback, no logged warnings (they would be extra stderr lines), and write nothing:
the folder listing is the same before and after, and a pre-existing output file is
byte-identical.

Regression cases for defects these properties found are at the end of the file. The
number of cases tried (hypothesis examples and explicit cases) is printed by the last test.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.errors import InputFileError
from hepgan.io import ShowerBatch, load_geometry, read_showers, write_showers

from .cli_checks import assert_one_error_line, run_cli, snapshot
from .helpers import ROOT, case_counter, small_config

CC = load_geometry("calochallenge_ds1_photons")
GAN = load_geometry("calogan")
CASES = case_counter(__file__)

"""Cases tried per test (every hypothesis example, including shrinking, and every explicit case)."""

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}
TINY_TRAINING = [
    "model.latent_dim=4",
    "model.generator_hidden=[8]",
    "model.critic_hidden=[8]",
    "training.batch_size=8",
    "training.d_steps=1",
    "training.max_steps=2",
    "training.checkpoint_every=2",
    "training.threads=1",
    "data.chunk_size=64",
]


# --------------------------------------------------------------------------- helpers
def fresh_dir(parent: Path) -> Path:
    """A new empty folder per hypothesis example (function-scoped tmp_path is shared by all examples)."""
    return Path(tempfile.mkdtemp(dir=parent))


def good_arrays(geometry, n: int, seed: int, energies=(1024.0, 4096.0, 16384.0)) -> tuple[np.ndarray, np.ndarray]:
    """Plausible showers: incident energies (n,) MeV, voxels (n, n_voxels) MeV summing to 0.9 x incident."""
    rng = np.random.default_rng(seed)
    incident = rng.choice(np.asarray(energies), n)
    showers = rng.exponential(1.0, (n, geometry.n_voxels))
    showers = (showers / showers.sum(axis=1, keepdims=True) * 0.9 * incident[:, None]).astype(np.float32)
    return incident, showers


def write_hdf5(path: Path, datasets: dict[str, np.ndarray]) -> None:
    with h5py.File(path, "w") as file:
        for key, value in datasets.items():
            file[key] = value


def write_root(path: Path, branches: dict[str, object], tree: str = "showers") -> None:
    """A TTree (not an RNTuple) with fixed-size or jagged branches."""
    types = {}
    for key, value in branches.items():
        if isinstance(value, ak.Array):
            types[key] = value.type.content
        else:
            value = np.asarray(value)
            types[key] = value.dtype if value.ndim == 1 else (value.dtype, value.shape[1:])
    with uproot.recreate(path) as file:
        out = file.mktree(tree, types)
        if len(next(iter(branches.values()))):
            out.extend(branches)


def good_file(path: Path, layout: str, n: int = 12, seed: int = 0) -> Path:
    """A valid shower file in ``layout`` (written by hepgan itself)."""
    geometry = GAN if layout == "calogan" else CC
    energies = (16384.0, 32768.0, 65536.0) if layout == "calogan" else (1024.0, 4096.0, 16384.0)
    incident, showers = good_arrays(geometry, n, seed, energies)
    write_showers(path, ShowerBatch(incident, showers), geometry, layout=layout)
    return path


@dataclass
class Case:
    """One malformed file: how to write it and what the error must name."""

    label: str
    layout: str  # calochallenge | calogan | root
    key: str | None  # dataset/branch the message must name (None: only the file)
    chunk_level: bool  # found while reading the data (not when opening the file)
    write: Callable[[Path], None] = field(repr=False)

    @property
    def suffix(self) -> str:
        return ".root" if self.layout == "root" else ".h5"

    @property
    def geometry(self) -> str:
        return "calogan" if self.layout == "calogan" else "calochallenge_ds1_photons"


# --------------------------------------------------------------------------- strategies
N_EVENTS = st.integers(10, 16)  # at least 10: hepgan train needs 10 showers
SEEDS = st.integers(0, 2**32 - 1)
NON_FINITE = st.sampled_from([np.nan, np.inf, -np.inf])
NEGATIVE = st.floats(-1e30, -0.01)


@st.composite
def calochallenge_cases(draw: st.DrawFn) -> Case:
    n, seed = draw(N_EVENTS), draw(SEEDS)
    incident, showers = good_arrays(CC, n, seed)
    data: dict[str, np.ndarray] = {"incident_energies": incident[:, None], "showers": showers}
    kind = draw(
        st.sampled_from(
            [
                "missing",
                "voxels",
                "ndim",
                "dtype",
                "non-finite",
                "negative voxel",
                "non-positive incident",
                "GeV as MeV",
                "empty",
                "lengths",
                "overflow",
                "truncated",
                "random bytes",
            ]
        )
    )
    key: str | None
    chunk = False
    if kind == "missing":
        gone = draw(st.sampled_from(["showers", "incident_energies", "both"]))
        key = None if gone == "both" else gone
        data = {k: v for k, v in data.items() if gone not in (k, "both")}
        if gone == "both" and draw(st.booleans()):
            data["something_else"] = showers
        label = f"missing {gone}"
    elif kind == "voxels":
        k = draw(st.integers(1, 1000).filter(lambda v: v != CC.n_voxels))
        data["showers"] = np.resize(showers, (n, k))
        key, label = "showers", f"{k} voxels"
    elif kind == "ndim":
        key = draw(st.sampled_from(["showers", "incident_energies"]))
        if key == "showers":
            shape = draw(st.sampled_from([(n,), (n, CC.n_voxels, 1), (n, 1, CC.n_voxels), ()]))
            data["showers"] = np.resize(showers, shape) if shape else np.float32(1.0)
        else:
            shape = draw(st.sampled_from([(n, 2), (n, 1, 1), ()]))
            data["incident_energies"] = np.resize(incident, shape) if shape else np.float64(1024.0)
        label = f"{key} shape {shape}"
    elif kind == "dtype":
        key = draw(st.sampled_from(["showers", "incident_energies"]))
        dtype = draw(st.sampled_from(["bytes", "str", "complex64", "complex128", "compound"]))
        values = data[key]
        if dtype == "bytes":
            data[key] = np.char.encode(values.astype(str), "ascii")
        elif dtype == "str":
            data[key] = np.asarray(values.astype(str), dtype=h5py.string_dtype())
        elif dtype == "compound":
            structured = np.zeros(values.shape, dtype=[("energy", "f8"), ("flag", "i1")])
            structured["energy"] = values
            data[key] = structured
        else:
            data[key] = values.astype(dtype)
        label = f"{key} as {dtype}"
    elif kind == "non-finite":
        key = draw(st.sampled_from(["showers", "incident_energies"]))
        value = draw(NON_FINITE)
        event = draw(st.integers(0, n - 1))
        if key == "showers":
            data[key][event, draw(st.integers(0, CC.n_voxels - 1))] = value
        else:
            data[key][event, 0] = value
        key, chunk, label = key, True, f"{value} in {key} at event {event}"
    elif kind == "negative voxel":
        value = draw(NEGATIVE)
        data["showers"][draw(st.integers(0, n - 1)), draw(st.integers(0, CC.n_voxels - 1))] = value
        key, chunk, label = "showers", True, f"voxel energy {value}"
    elif kind == "non-positive incident":
        value = draw(st.one_of(st.just(0.0), NEGATIVE))
        data["incident_energies"][draw(st.integers(0, n - 1)), 0] = value
        key, chunk, label = "incident_energies", True, f"incident energy {value}"
    elif kind == "GeV as MeV":
        data["incident_energies"] = incident[:, None] / 1000.0
        key, chunk, label = "incident_energies", True, "incident energies in GeV"
    elif kind == "empty":
        data = {"incident_energies": np.zeros((0, 1)), "showers": np.zeros((0, CC.n_voxels), np.float32)}
        key, label = "incident_energies", "0 events"
    elif kind == "lengths":
        m = draw(st.integers(0, 20).filter(lambda v: v != n))
        data["showers"] = np.resize(showers, (m, CC.n_voxels))
        key, label = "showers", f"{m} showers for {n} energies"
    elif kind == "overflow":
        bad = draw(st.sampled_from(["width", "nan", "negative", "length"]))
        overflow = np.ones((n, CC.n_layers), np.float32)
        if bad == "width":
            overflow = np.ones((n, draw(st.integers(1, 12).filter(lambda v: v != CC.n_layers))), np.float32)
        elif bad == "length":
            overflow = np.ones((n + draw(st.integers(1, 5)), CC.n_layers), np.float32)
        else:
            overflow[draw(st.integers(0, n - 1)), 0] = np.nan if bad == "nan" else draw(NEGATIVE)
            chunk = True
        data["overflow"] = overflow
        key, label = "overflow", f"overflow {bad}"
    elif kind == "truncated":
        fraction = draw(st.floats(0.0, 1.0, exclude_max=True))

        def write(path: Path) -> None:
            good_file(path, "calochallenge", n, seed)
            content = path.read_bytes()
            path.write_bytes(content[: int(fraction * len(content))])

        return Case(f"truncated at {fraction:.4f} of the file", "calochallenge", None, False, write)
    else:  # random bytes, with or without an HDF5 signature
        payload = draw(st.binary(min_size=1, max_size=4096))
        if draw(st.booleans()):
            payload = b"\x89HDF\r\n\x1a\n" + payload
        return Case(f"{len(payload)} random bytes", "calochallenge", None, False, lambda p: p.write_bytes(payload))
    return Case(label, "calochallenge", key, chunk, lambda p: write_hdf5(p, data))


@st.composite
def calogan_cases(draw: st.DrawFn) -> Case:
    n, seed = draw(N_EVENTS), draw(SEEDS)
    incident, showers = good_arrays(GAN, n, seed, (16384.0, 32768.0, 65536.0))
    data: dict[str, np.ndarray] = {"energy": incident[:, None] / 1000.0}
    for i, image in enumerate(GAN.layer_images(showers)):
        data[f"layer_{i}"] = image.copy()
    kind = draw(st.sampled_from(["missing", "layer shape", "non-finite", "negative", "MeV as GeV", "overflow"]))
    layer = f"layer_{draw(st.integers(0, GAN.n_layers - 1))}"
    chunk = kind in ("non-finite", "negative", "MeV as GeV")
    if kind == "missing":
        key = draw(st.sampled_from(["energy", layer]))
        del data[key]
        label = f"missing {key}"
    elif kind == "layer shape":
        rows, cols = data[layer].shape[1:]
        shape = draw(st.sampled_from([(n, cols, rows + 1), (n, rows * cols), (n, rows, cols, 1)]))
        data[layer] = np.resize(data[layer], shape)
        key, label = layer, f"{layer} shape {shape}"
    elif kind == "non-finite":
        value = draw(NON_FINITE)
        key = draw(st.sampled_from(["energy", layer]))
        data[key].reshape(n, -1)[draw(st.integers(0, n - 1)), 0] = value
        label = f"{value} in {key}"
    elif kind == "negative":
        value = draw(NEGATIVE)
        data[layer].reshape(n, -1)[draw(st.integers(0, n - 1)), 0] = value
        key, label = layer, f"{value} in {layer}"
    elif kind == "MeV as GeV":
        data["energy"] = incident[:, None]
        key, label = "energy", "energy in MeV"
    else:
        data["overflow"] = np.ones((n, draw(st.integers(1, 8).filter(lambda v: v != GAN.n_layers))), np.float32)
        key, label = "overflow", "overflow width"
    return Case(label, "calogan", key, chunk, lambda p: write_hdf5(p, data))


@st.composite
def root_cases(draw: st.DrawFn) -> Case:
    n, seed = draw(N_EVENTS), draw(SEEDS)
    incident, showers = good_arrays(CC, n, seed)
    branches: dict[str, object] = {"incident_energy": incident, "showers": showers}
    kind = draw(
        st.sampled_from(
            ["missing", "voxels", "jagged", "non-finite", "non-positive", "empty", "tree", "sparse", "truncated"]
        )
    )
    tree, chunk = "showers", False
    if kind == "missing":
        key = draw(st.sampled_from(["showers", "incident_energy"]))
        del branches[key]
        label = f"missing {key}"
    elif kind == "voxels":
        k = draw(st.integers(1, 600).filter(lambda v: v != CC.n_voxels))
        branches["showers"] = np.resize(showers, (n, k))
        key, label = "showers", f"{k} voxels"
    elif kind == "jagged":
        event = draw(st.integers(0, n - 1))
        width = draw(st.integers(0, 500).filter(lambda v: v != CC.n_voxels))
        rows = [list(row) for row in showers]
        rows[event] = rows[event][:width] + [1.0] * max(0, width - CC.n_voxels)
        branches["showers"] = ak.Array(rows)
        key, chunk, label = "showers", True, f"{width} values at event {event}"
    elif kind == "non-finite":
        key = draw(st.sampled_from(["showers", "incident_energy"]))
        event = draw(st.integers(0, n - 1))
        value = draw(NON_FINITE)
        if key == "showers":
            showers[event, draw(st.integers(0, CC.n_voxels - 1))] = value
        else:
            incident[event] = value
        chunk, label = True, f"{value} in {key}"
    elif kind == "non-positive":
        incident[draw(st.integers(0, n - 1))] = draw(st.one_of(st.just(0.0), NEGATIVE))
        key, chunk, label = "incident_energy", True, "non-positive incident energy"
    elif kind == "empty":
        branches = {"incident_energy": incident[:0], "showers": showers[:0]}
        key, label = "incident_energy", "0 entries"
    elif kind == "tree":
        tree = draw(st.sampled_from(["events", "Showers", "t"]))
        key, label = "showers", f"tree named {tree}"
    elif kind == "sparse":
        index = [[0, 5, 9]] * n
        energy = [[1.0, 2.0, 3.0]] * n
        event = draw(st.integers(0, n - 1))
        if draw(st.booleans()):
            index[event] = [0, draw(st.one_of(st.integers(-1000, -1), st.integers(CC.n_voxels, 10**6))), 9]
            label = "voxel index outside the geometry"
        else:
            energy[event] = [1.0]
            label = "cell_index and cell_energy of different lengths"
        branches = {"incident_energy": incident, "cell_index": ak.Array(index), "cell_energy": ak.Array(energy)}
        key, chunk = "cell_index", True
    else:
        fraction = draw(st.floats(0.0, 0.6))

        def write(path: Path) -> None:
            good_file(path, "root", n, seed)
            content = path.read_bytes()
            # cuts after the streamer record (the last ~35% of the file) are test_root_cut_at_the_tail_is_refused
            path.write_bytes(content[: int(fraction * len(content))])

        return Case(f"truncated at {fraction:.4f} of the file", "root", None, True, write)
    return Case(label, "root", key, chunk, lambda p: write_root(p, branches, tree))


ANY_CASE = st.one_of(calochallenge_cases(), calogan_cases(), root_cases())


def _make(parent: Path, case: Case, name: str = "input") -> Path:
    path = parent / f"{name}{case.suffix}"
    case.write(path)
    return path


# --------------------------------------------------------------------------- library readers
@settings(max_examples=60, **SETTINGS)
@given(case=ANY_CASE)
def test_readers_refuse_malformed_files(tmp_path: Path, case: Case) -> None:
    """``read_showers`` raises one-line InputFileError naming the file and the dataset/branch."""
    CASES["readers"] += 1
    work = fresh_dir(tmp_path)
    path = _make(work, case)
    before = snapshot(work)
    with pytest.raises(InputFileError) as info:
        read_showers(path, case.geometry)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    if case.key is not None:
        assert f"'{case.key}'" in message, message
    assert snapshot(work) == before


# --------------------------------------------------------------------------- hepgan validate
@pytest.fixture
def _no_report(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the 40-second report stage by a stub: a malformed file that slips through the
    readers then fails in milliseconds (exit code 0) instead of producing a report."""
    calls: list[str] = []

    def stub(*args, **kwargs):
        calls.append("report")
        return {}

    monkeypatch.setattr("hepgan.validation.report.validate_observables", stub)
    return calls


@settings(max_examples=40, **SETTINGS)
@given(case=ANY_CASE, side=st.sampled_from(["--reference", "--generated"]))
def test_validate_refuses_malformed_files(
    tmp_path: Path, capsys, caplog, _no_report: list[str], case: Case, side: str
) -> None:
    """``hepgan validate``: one error line naming the bad file, the report folder untouched."""
    CASES["validate"] += 1
    work = fresh_dir(tmp_path)
    bad = _make(work, case, "bad")
    good = good_file(work / f"good{case.suffix}", case.layout)
    out = work / "report"
    out.mkdir()
    (out / "index.html").write_text("<p>earlier report</p>")
    before = snapshot(work)
    files = {"--reference": good, "--generated": good, side: bad}
    argv = ["validate", "--reference", str(files["--reference"]), "--generated", str(files["--generated"])]
    result = run_cli([*argv, "-o", str(out), "--geometry", case.geometry], capsys, caplog)
    assert_one_error_line(result, str(bad), *([f"'{case.key}'"] if case.key else []))
    assert not _no_report, "the malformed file reached the report stage"
    assert snapshot(work) == before


# --------------------------------------------------------------------------- hepgan generate
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    """A tiny trained checkpoint (1 step) on the CaloChallenge ds1 geometry."""
    from hepgan.domains import train

    tmp = tmp_path_factory.mktemp("bad_input_checkpoint")
    return train(small_config(tmp, reference_file, max_steps=1, checkpoint_every=1), progress=False).checkpoint


@settings(max_examples=30, **SETTINGS)
@given(case=st.one_of(calochallenge_cases(), root_cases()))
def test_generate_energies_from_refuses_malformed_files(
    tmp_path: Path, capsys, caplog, checkpoint: Path, case: Case
) -> None:
    """``hepgan generate --energies-from BAD``: one error line naming BAD; the earlier output is intact."""
    CASES["generate --energies-from"] += 1
    work = fresh_dir(tmp_path)
    bad = _make(work, case)
    target = work / "generated.h5"
    target.write_bytes(b"earlier output")
    before = snapshot(work)
    argv = ["generate", "--n", "20", "-o", str(target), "--checkpoint", str(checkpoint), "--no-progress"]
    result = run_cli([*argv, "--energies-from", str(bad)], capsys, caplog)
    assert_one_error_line(result, str(bad), *([f"'{case.key}'"] if case.key else []))
    assert snapshot(work) == before


# --------------------------------------------------------------------------- hepgan train
def train_argv(data: Path, runs: Path, geometry: str) -> list[str]:
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--no-progress", "--no-validate"]
    for override in [f"data.path={data}", f"training.runs_dir={runs}", f"geometry={geometry}", *TINY_TRAINING]:
        argv += ["--set", override]
    return argv


@settings(max_examples=30, **SETTINGS)
@given(case=ANY_CASE.filter(lambda c: not c.chunk_level))
def test_train_refuses_malformed_files(tmp_path: Path, capsys, caplog, case: Case) -> None:
    """``hepgan train`` on a file whose header is wrong: one error line, no run folder.

    Defects found only while reading the data (NaN, negative energies, units) are
    ``test_train_leaves_no_run_folder_for_bad_data`` below (a bug today)."""
    CASES["train"] += 1
    work = fresh_dir(tmp_path)
    bad = _make(work, case)
    before = snapshot(work)
    result = run_cli(train_argv(bad, work / "runs", case.geometry), capsys, caplog)
    assert_one_error_line(result, str(bad), *([f"'{case.key}'"] if case.key else []))
    assert snapshot(work) == before


# --------------------------------------------------------------------------- explicit cases: bugs
def _counted(name: str) -> None:
    CASES[name] += 1


@pytest.mark.parametrize("defect", ["nan voxel"])
def test_train_leaves_no_run_folder_for_bad_data(tmp_path: Path, capsys, caplog, defect: str) -> None:
    """``hepgan train`` on a file with a NaN voxel: one error line naming the file and 'showers', no run folder."""
    _counted("explicit")
    incident, showers = good_arrays(CC, 12, 0)
    showers[3, 17] = np.nan
    bad = tmp_path / "nan.h5"
    write_hdf5(bad, {"incident_energies": incident[:, None], "showers": showers})
    result = run_cli(train_argv(bad, tmp_path / "runs", CC.name), capsys, caplog)
    assert_one_error_line(result, str(bad), "'showers'")
    assert not (tmp_path / "runs").exists(), sorted(str(p) for p in (tmp_path / "runs").rglob("*"))


@pytest.mark.parametrize("layout", ["calochallenge", "root"])
def test_absurd_incident_energies_are_refused(tmp_path: Path, layout: str) -> None:
    """An incident energy of 1e30 MeV (1e24 TeV) is refused naming the file and the energy key."""
    _counted("explicit")
    incident, showers = good_arrays(CC, 12, 0)
    incident[4] = 1e30
    if layout == "root":
        path, key = tmp_path / "absurd.root", "incident_energy"
        write_root(path, {"incident_energy": incident, "showers": showers})
    else:
        path, key = tmp_path / "absurd.h5", "incident_energies"
        write_hdf5(path, {"incident_energies": incident[:, None], "showers": showers})
    with pytest.raises(InputFileError, match=key):
        read_showers(path, CC)


def test_voxels_beyond_float32_are_refused(tmp_path: Path) -> None:
    """float64 voxel energies of 1e39 MeV (inf as float32) are refused naming 'showers', without a warning."""
    _counted("explicit")
    incident, showers = good_arrays(CC, 12, 0)
    showers64 = showers.astype(np.float64)
    showers64[2, 5] = 1e39
    path = tmp_path / "huge.h5"
    write_hdf5(path, {"incident_energies": incident[:, None], "showers": showers64})
    with pytest.raises(InputFileError, match="'showers'"):
        read_showers(path, CC)


def test_boolean_showers_are_refused(tmp_path: Path) -> None:
    """A boolean 'showers' dataset is refused like strings and complex numbers are."""
    _counted("explicit")
    incident, showers = good_arrays(CC, 12, 0)
    path = tmp_path / "bool.h5"
    write_hdf5(path, {"incident_energies": incident[:, None], "showers": showers > 1.0})
    with pytest.raises(InputFileError, match="'showers'"):
        read_showers(path, CC)


@pytest.mark.parametrize("link", ["soft", "external"])
def test_dangling_links_are_refused(tmp_path: Path, capsys, caplog, link: str) -> None:
    """'showers' as a dangling soft link or an external link to /etc/hostname: one error line, no traceback."""
    _counted("explicit")
    incident, _ = good_arrays(CC, 12, 0)
    path = tmp_path / f"{link}.h5"
    with h5py.File(path, "w") as file:
        file["incident_energies"] = incident[:, None]
        file["showers"] = h5py.SoftLink("/nowhere") if link == "soft" else h5py.ExternalLink("/etc/hostname", "/x")
    out = tmp_path / "report"
    result = run_cli(["validate", "--reference", str(path), "--generated", str(path), "-o", str(out)], capsys, caplog)
    assert_one_error_line(result, str(path), "'showers'")
    assert not out.exists()


def test_root_cut_at_the_tail_is_refused(tmp_path: Path) -> None:
    """A ROOT shower file cut at 80% of its length is refused as truncated."""
    _counted("explicit")
    path = good_file(tmp_path / "cut.root", "root")
    content = path.read_bytes()
    path.write_bytes(content[: int(0.8 * len(content))])
    with pytest.raises(InputFileError, match="truncated"):
        read_showers(path, CC)


def test_float_cell_indices_are_refused(tmp_path: Path) -> None:
    """Sparse ROOT showers whose 'cell_index' holds floats (0.5, 4.7) are refused naming 'cell_index'."""
    _counted("explicit")
    incident, _ = good_arrays(CC, 12, 0)
    path = tmp_path / "float_index.root"
    branches = {
        "incident_energy": incident,
        "cell_index": ak.Array([[0.5, 4.7]] * 12),
        "cell_energy": ak.Array([[1.0, 2.0]] * 12),
    }
    write_root(path, branches)
    with pytest.raises(InputFileError, match="cell_index"):
        read_showers(path, CC)


def test_malformed_geometry_file_is_one_line(tmp_path: Path, capsys, caplog) -> None:
    """``hepgan validate --geometry bad.yaml`` with a non-numeric depth: one line naming the file and field."""
    _counted("explicit")
    geometry = tmp_path / "bad_geometry.yaml"
    geometry.write_text("name: g\nlayout: calochallenge\nlayers:\n  - {depth_x0: [a, 1], r_edges: [0, 1]}\n")
    good = good_file(tmp_path / "good.h5", "calochallenge")
    argv = ["validate", "--reference", str(good), "--generated", str(good), "-o", str(tmp_path / "out")]
    result = run_cli([*argv, "--geometry", str(geometry)], capsys, caplog)
    assert_one_error_line(result, str(geometry), "depth_x0")
    assert not (tmp_path / "out").exists()
