"""Property-based tests: values the machine cannot hold are refused up front, with one line.

- ``training.batch_size`` (up to its allowed 10⁶) and ``generate --batch-size`` (unbounded)
  against the memory of the machine the tests run on: hypothesis draws network widths and the
  MMD switch, the largest batch the estimate of :mod:`hepgan.models.memory` accepts is derived
  from the live free memory (so the test is valid anywhere), and batches of at least twice
  that must be refused with one line naming the field and what would fit, no run folder and no
  output file; a batch the estimate accepts trains and generates. Allocation failures that
  still happen (torch's out-of-memory errors) become one line naming the field.
- HDF5 files that declare far more rows than they hold (10⁹ showers in a few kB: unwritten
  chunks with a fill value, unwritten contiguous storage, external raw files, virtual
  datasets with unmapped rows or missing sources), as shower and event files given to
  ``validate``, ``info``, ``generate --energies-from`` and ``train``: one line naming the file
  and the dataset, at once.

Every case: exit code 2, one stderr line ``hepgan: error: ...``, no traceback, nothing new
under the target name and every earlier file unchanged (SHA-256); the CLI's safety net is
disabled, so only a real check can pass a case.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hepgan.config import config_from_dict
from hepgan.device import MEMORY_HEADROOM, available_memory
from hepgan.domains import domain_for_config, load_generator
from hepgan.io.events import write_events
from hepgan.models.memory import generation_bytes, largest_fitting, training_bytes
from hepgan.training.checkpoint import load_checkpoint, save_checkpoint

from .cli_checks import assert_one_error_line, digest, disable_safety_net, run_cli
from .helpers import ROOT, TEST_DATA, case_counter, small_config, toy_zmumu

CASES = case_counter(__file__)

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}
CPU = torch.device("cpu")
CALO_CHECKPOINT = TEST_DATA / "golden" / "calo_checkpoint.pt"
EVENT_CHECKPOINT = TEST_DATA / "golden" / "events_checkpoint.pt"
MAX_TRAINING_BATCH = 1_000_000
MAX_COUNT = 10**12


@pytest.fixture(autouse=True)
def _no_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    disable_safety_net(monkeypatch)


@functools.cache
def budget() -> int:
    """What a batch may use on this machine (the estimate's own budget), read once: the cases draw batches
    of at least twice the largest that fits it, so memory that comes and goes while the tests run does not
    change what they expect."""
    free = available_memory(CPU)
    assert free is not None, "no way to read the free memory on this machine"
    return int(free * MEMORY_HEADROOM)


def in_fresh_dir(parent: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder per example with an earlier output (``out.h5``) and an earlier run."""
    work = Path(tempfile.mkdtemp(dir=parent))
    monkeypatch.chdir(work)
    (work / "out.h5").write_bytes(b"earlier output")
    (work / "runs" / "calo-20250101-000000").mkdir(parents=True)
    (work / "runs" / "calo-20250101-000000" / "run.json").write_text("{}\n", encoding="utf-8")
    return work


def refuses(work: Path, argv: list[str], capsys, caplog, *names: str) -> str:
    before = digest(work)
    line = assert_one_error_line(run_cli(argv, capsys, caplog), *names)
    assert digest(work) == before, "something was written or changed"
    return line


# --------------------------------------------------------------------------- training batches
@settings(max_examples=12, **SETTINGS)
@given(
    width=st.sampled_from([64, 512, 2048, 8192, 65536]),
    depth=st.integers(1, 3),
    mmd=st.booleans(),
    data=st.data(),
)
def test_training_batches_beyond_memory_are_refused(
    tmp_path: Path, monkeypatch, capsys, caplog, reference_file: Path, width: int, depth: int, mmd: bool, data
) -> None:
    """A training.batch_size of at least twice the largest the estimate accepts on this machine:
    one line naming training.batch_size and what would fit; no run folder, earlier files kept."""
    CASES["training batch"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    config = small_config(work, reference_file, mmd_weight=20.0 if mmd else 0.0).to_dict()
    config["model"].update(generator_hidden=[width] * depth, critic_hidden=[width] * depth)
    config["training"].update(runs_dir="runs", device="cpu")  # the budget is the host's
    cfg = config_from_dict(config, "test")
    size = domain_for_config(cfg).training_data(cfg).sample_size()

    def need(b: int) -> int:
        return training_bytes(b, cfg.model, cfg.training, size)

    largest = largest_fitting(need, budget(), MAX_TRAINING_BATCH)
    assume(2 * largest + 1 <= MAX_TRAINING_BATCH)
    batch = data.draw(st.integers(2 * largest + 1, MAX_TRAINING_BATCH), label="batch")
    config["training"]["batch_size"] = batch
    path = work / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    line = refuses(work, ["train", str(path), "--no-progress"], capsys, caplog, "training.batch_size", str(batch))
    assert "would fit" in line
    assert sorted(p.name for p in (work / "runs").iterdir()) == ["calo-20250101-000000"]


def test_largest_allowed_training_batch_of_the_default_config(
    tmp_path: Path, monkeypatch, capsys, caplog, reference_file: Path
) -> None:
    """The reported case: the default config at training.batch_size 1000000 (its MMD alone needs
    terabytes) is refused before anything is written."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    config = yaml.safe_load((ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = str(reference_file)
    config["training"].update(batch_size=MAX_TRAINING_BATCH, runs_dir="runs")
    path = work / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    refuses(work, ["train", str(path), "--no-progress"], capsys, caplog, "training.batch_size", "would fit")


def test_a_batch_the_estimate_accepts_trains(tmp_path: Path, monkeypatch, capsys, caplog, reference_file: Path):
    """The estimate does not refuse ordinary batches: a batch of 512 trains."""
    CASES["explicit"] += 1
    monkeypatch.chdir(tmp_path)
    config = small_config(tmp_path, reference_file, batch_size=512, max_steps=1, checkpoint_every=1).to_dict()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_cli(["train", str(path), "--no-progress", "--no-validate"], capsys, caplog)
    assert result.code == 0, result.err


MEASURE = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.helpers import small_config
from hepgan.domains import domain_for_config, train
from hepgan.models.memory import training_bytes
options = dict(batch_size={batch}, max_steps=2, checkpoint_every=2, mmd_weight={mmd_weight}, device="cpu")
cfg = small_config(Path({tmp!r}), Path({reference!r}), **options)
size = domain_for_config(cfg).training_data(cfg).sample_size()
# resident memory before training, not the high-water mark: reading the data may have set that already
before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
train(cfg, progress=False)
# the peak of this process's own memory map: ru_maxrss would also count the parent's resident set at the fork
# (Linux keeps it across exec), which a test run that trained a large model before this one makes gigabytes
after = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) * 1024
print(json.dumps({{"grew": after - before, "estimate": training_bytes({batch}, cfg.model, cfg.training, size)}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("batch", "mmd_weight"), [(20_000, 0.0), (4_000, 20.0), (8_000, 0.0)])
def test_the_training_estimate_covers_what_training_uses(
    tmp_path: Path, reference_file: Path, batch: int, mmd_weight: float
) -> None:
    """Peak memory of a real training run (a fresh process; the config's layer-summary critic, with and
    without the MMD term) stays within the estimate."""
    CASES["explicit"] += 1
    cfg = small_config(tmp_path, reference_file, batch_size=batch, mmd_weight=mmd_weight, device="cpu")
    size = domain_for_config(cfg).training_data(cfg).sample_size()
    if training_bytes(batch, cfg.model, cfg.training, size) > budget() / 4:
        pytest.skip("not enough free memory for the measurement")
    script = MEASURE.format(
        root=str(ROOT), tmp=str(tmp_path), reference=str(reference_file), batch=batch, mmd_weight=mmd_weight
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0 < measured["grew"] <= measured["estimate"], measured


def test_training_out_of_memory_is_one_line(tmp_path: Path, monkeypatch, capsys, caplog, reference_file: Path):
    """An allocation that fails during training anyway: one line naming training.batch_size."""
    CASES["explicit"] += 1
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(small_config(tmp_path, reference_file).to_dict()), encoding="utf-8")

    def no_memory(self) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("hepgan.training.trainer.Trainer.train_step", no_memory)
    result = run_cli(["train", str(path), "--no-progress"], capsys, caplog)
    assert_one_error_line(result, "training.batch_size", "out of memory")


# --------------------------------------------------------------------------- generation batches
@settings(max_examples=20, **SETTINGS)
@given(events=st.booleans(), data=st.data())
def test_generation_batches_beyond_memory_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, events, data):
    """``generate --batch-size B --n N`` (N >= B) with B at least twice the largest the estimate
    accepts: one line naming --batch-size; no output, the earlier out.h5 unchanged."""
    CASES["generate --batch-size"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    checkpoint = EVENT_CHECKPOINT if events else CALO_CHECKPOINT
    generator = load_generator(checkpoint, device="cpu")
    if events:  # features, no condition, (pT, η, φ, m, mask) per object
        sample = (generator.transform.n_features, 0, 5 * generator.n_objects)
    else:  # response and cells, the incident energy, cells
        n_cells = generator.geometry.n_voxels + generator.n_extra
        sample = (1 + n_cells, 1, n_cells)

    def need(b: int) -> int:
        return generation_bytes(b, generator.config.model, *sample)

    largest = largest_fitting(need, budget(), MAX_COUNT)
    assume(2 * largest + 1 <= MAX_COUNT)
    batch = data.draw(st.one_of(st.integers(2 * largest + 1, MAX_COUNT), st.just(MAX_COUNT)), label="batch")
    n = data.draw(st.integers(batch, MAX_COUNT), label="n")
    argv = ["generate", "--n", str(n), "--batch-size", str(batch), "-o", "out.h5", "--checkpoint", str(checkpoint)]
    line = refuses(work, [*argv, "--no-progress", "--device", "cpu"], capsys, caplog, "--batch-size")
    assert "would fit" in line


@settings(max_examples=10, **SETTINGS)
@given(batch=st.integers(10**7, 10**40), n=st.integers(1, 60))
def test_huge_batch_sizes_for_small_jobs_generate(tmp_path: Path, monkeypatch, capsys, caplog, batch: int, n: int):
    """A huge --batch-size for a small --n generates (one batch of n): only what is made is counted."""
    CASES["generate --batch-size (fits)"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    argv = ["generate", "--n", str(n), "--batch-size", str(batch), "-o", "new.h5", "--checkpoint", str(CALO_CHECKPOINT)]
    result = run_cli([*argv, "--no-progress", "--device", "cpu"], capsys, caplog)
    assert result.code == 0, result.err
    with h5py.File(work / "new.h5", "r") as file:
        assert file["showers"].shape[0] == n


def test_checkpoint_generation_batch_beyond_memory(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    """A checkpoint whose generation.batch_size (up to 10⁷) does not fit: one line naming
    generation.batch_size and --batch-size."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    state = load_checkpoint(CALO_CHECKPOINT)
    state["config"]["generation"]["batch_size"] = 10_000_000
    model = config_from_dict(state["config"], "ckpt").model
    if generation_bytes(10_000_000, model, 369, 1, 368) <= budget():
        pytest.skip("this machine holds 10⁷ generated showers at once")
    save_checkpoint(state, work / "big.pt")
    argv = ["generate", "--n", "1e7", "-o", "out.h5", "--checkpoint", "big.pt", "--no-progress", "--device", "cpu"]
    refuses(work, argv, capsys, caplog, "generation.batch_size", "--batch-size")


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried "
                     "to allocate 1472000000000 bytes. Error code 12 (Cannot allocate memory)"),
        MemoryError(),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 512.00 GiB"),
    ],
)  # fmt: skip
def test_generation_out_of_memory_is_one_line(tmp_path: Path, monkeypatch, capsys, caplog, error: Exception):
    """An allocation that fails while generating anyway: one line naming --batch-size; nothing written."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)

    def no_memory(*args, **kwargs):
        raise error

    monkeypatch.setattr("hepgan.generate.showers.ShowerGenerator.sample_cells", no_memory)
    argv = ["generate", "--n", "50", "--batch-size", "10", "-o", "out.h5", "--checkpoint", str(CALO_CHECKPOINT)]
    refuses(work, [*argv, "--no-progress", "--device", "cpu"], capsys, caplog, "--batch-size", "out of memory")


# --------------------------------------------------------------------------- declared dataset sizes
KINDS = ("chunked", "contiguous", "external", "virtual-unmapped", "virtual-missing")


def sparse_shower_file(path: Path, reference: Path, kind: str, declared: int, written: int) -> None:
    """A CaloChallenge file whose datasets declare ``declared`` rows but hold ``written`` (or none)."""
    with h5py.File(reference, "r") as ref:
        energies, showers = ref["incident_energies"][:written], ref["showers"][:written]
    with h5py.File(path, "w") as file:
        file.attrs["geometry"] = "calochallenge_ds1_photons"
        for key, values, fill in (("incident_energies", energies, 1024.0), ("showers", showers, 0.5)):
            shape = (declared, values.shape[1])
            if kind == "chunked":
                dataset = file.create_dataset(key, shape, "f4", chunks=(64, shape[1]), fillvalue=fill)
                dataset[:written] = values
            elif kind == "contiguous":
                file.create_dataset(key, shape, "f4", fillvalue=fill)
            elif kind == "external":
                file.create_dataset(key, shape, "f4", external=[("/dev/zero", 0, h5py.h5f.UNLIMITED)])
            else:
                layout = h5py.VirtualLayout(shape=shape, dtype="f4")
                source = reference if kind == "virtual-unmapped" else path.with_name("gone.h5")
                rows = min(written, 400) if kind == "virtual-unmapped" else declared
                if rows:
                    source_rows = 400 if kind == "virtual-unmapped" else declared
                    layout[:rows] = h5py.VirtualSource(str(source), key, shape=(source_rows, shape[1]))[:rows]
                file.create_virtual_dataset(key, layout, fillvalue=fill)


@settings(max_examples=30, **SETTINGS)
@given(
    kind=st.sampled_from(KINDS),
    declared=st.one_of(st.integers(401, 10**4), st.integers(10**4, 10**9)),
    written=st.integers(1, 400),
    command=st.sampled_from(["validate-ref", "validate-gen", "info", "energies-from", "train"]),
)
def test_declared_rows_beyond_the_stored_ones_are_refused(
    tmp_path: Path, monkeypatch, capsys, caplog, reference_file: Path, kind, declared, written, command
) -> None:
    """A shower file declaring up to 10⁹ rows that it does not hold: one line naming the file and
    the dataset, at once (no minutes of reading fill values)."""
    CASES[f"declared rows ({kind})"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    bad = work / "declared.h5"
    sparse_shower_file(bad, reference_file, kind, declared, written)
    good = str(reference_file)
    argv = {
        "validate-ref": ["validate", "--reference", str(bad), "--generated", good, "-o", "report"],
        "validate-gen": ["validate", "--reference", good, "--generated", str(bad), "-o", "report"],
        "info": ["info", str(bad)],
        "energies-from": ["generate", "--n", "20", "-o", "out.h5", "--checkpoint", str(CALO_CHECKPOINT),
                          "--energies-from", str(bad), "--no-progress", "--device", "cpu"],
        "train": ["train", "run.yaml", "--no-progress"],
    }[command]  # fmt: skip
    if command == "train":
        config = small_config(work, bad).to_dict()
        config["training"]["runs_dir"] = "runs"
        (work / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    line = refuses(work, argv, capsys, caplog, str(bad), f"declares {declared} rows")
    assert "'incident_energies'" in line or "'showers'" in line
    assert not (work / "report").exists()


@settings(max_examples=10, **SETTINGS)
@given(declared=st.integers(300, 10**9), side=st.sampled_from(["reference", "generated"]))
def test_event_tables_declaring_more_rows_are_refused(
    tmp_path: Path, monkeypatch, capsys, caplog, declared: int, side: str
) -> None:
    """An event table whose datasets declare up to 10⁹ events but hold 200: one line naming the
    file and the dataset."""
    CASES["declared rows (events)"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    good, bad = work / "good.h5", work / "declared.h5"
    write_events(good, toy_zmumu(300, seed=2))
    with h5py.File(good, "r") as src, h5py.File(bad, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for key, dataset in src.items():
            out = dst.create_dataset(key, (declared, dataset.shape[1]), dataset.dtype, chunks=(64, dataset.shape[1]))
            out[:200] = dataset[:200]
    reference, generated = (bad, good) if side == "reference" else (good, bad)
    argv = ["validate", "--reference", str(reference), "--generated", str(generated), "-o", "report"]
    refuses(work, argv, capsys, caplog, str(bad), f"declares {declared} rows")
    assert not (work / "report").exists()


def test_fully_written_files_pass_the_storage_check(tmp_path: Path, reference_file: Path) -> None:
    """Written files pass: chunked with gzip, contiguous, and a virtual merge of shards."""
    from hepgan.io import read_showers
    from hepgan.io.geometry import load_geometry
    from hepgan.io.merge import merge_virtual

    CASES["explicit"] += 3
    geometry = load_geometry("calochallenge_ds1_photons")
    with h5py.File(reference_file, "r") as ref:
        energies, showers = ref["incident_energies"][:], ref["showers"][:]
    for name, options in (("gzip.h5", {"chunks": True, "compression": "gzip"}), ("plain.h5", {})):
        with h5py.File(tmp_path / name, "w") as file:
            file.create_dataset("incident_energies", data=energies, **options)
            file.create_dataset("showers", data=showers, **options)
        assert len(read_showers(tmp_path / name, geometry)) == 400
    for name, rows in (("a.h5", slice(0, 150)), ("b.h5", slice(150, 400))):
        with h5py.File(tmp_path / name, "w") as file:
            file.create_dataset("incident_energies", data=energies[rows], chunks=True)
            file.create_dataset("showers", data=showers[rows], chunks=True)
    assert merge_virtual([tmp_path / "a.h5", tmp_path / "b.h5"], tmp_path / "virtual.h5") == 400
    np.testing.assert_array_equal(read_showers(tmp_path / "virtual.h5", geometry).showers_mev, showers)
