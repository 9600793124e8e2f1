"""Generation speed in ms/shower (CaloChallenge protocol: batch sizes 1, 100, 10000), raw and with the
cell calibration, next to the GFlash reference simulator measured in the same run, the exported
ONNX graph under onnxruntime, and the end-to-end rate to an HDF5 file.

    python benchmarks/generation_speed.py [--checkpoint RUN_OR_FILE] [--n-file 1e6]
    python benchmarks/generation_speed.py --geometry calochallenge_ds3 [--checkpoint RUN] [--n-file 1e5]
    python benchmarks/generation_speed.py --compression-table [--n-table 1e5]

Prints one table: device, batch size, ms/shower of the GAN without and with the cell
calibration (network at ``generation.precision``), the calibration's share, ms/shower of the
reference simulator on the same spectrum, and the speed-up (simulator / calibrated GAN). Then
the ONNX export time and onnxruntime ms/shower (CPU, calibration inside the graph) when the
``onnx`` extra is installed, ``hepgan generate`` end to end to HDF5 with its peak memory, and
the published CaloChallenge timings of the checkpoint's dataset when ../shared/data is present.

``--geometry`` takes the newest finished run of that geometry (unless ``--checkpoint`` names
one) and skips the ONNX table for geometries above :data:`ONNX_MAX_VOXELS` voxels. Batches of
10 000 showers of dataset 3 are 1.6 GB of float32 output; on a CPU whose memory does not hold
them (:func:`hepgan.models.memory.check_batch_fits`) the row says so instead of a time.

``--compression-table`` prints instead, for each ``generation.compression`` choice (``none``,
``gzip``: h5py's gzip at its default level 4), the size of ``--n-table`` generated showers in
MB (and per million showers), the time per shower of ``hepgan generate`` to that file (CPU) and
of reading it back; then, for orientation, the same showers written with h5py filters, most of
which ``generation.compression`` does not offer (other gzip levels, shuffle, lzf), write time
only. Uncompressed, a dataset-1 shower is 368 float32 cells and one float64 energy, 1480 bytes:
1e6 showers are 1.48 GB.
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from hepgan.cli import parse_count
from hepgan.device import retain_freed_memory
from hepgan.domains import generate_to_file
from hepgan.errors import ConfigError
from hepgan.generate import ShowerGenerator, resolve_checkpoint
from hepgan.generate.stream import check_batch_memory
from hepgan.io.geometry import load_geometry
from hepgan.sim.calorimeter import CalorimeterSpec
from hepgan.sim.gflash import ShowerSimulator
from hepgan.sim.spectra import EnergySpectrum

TIMED_CELLS = 20_000_000
"""At most this many generated cells per timed row (300 showers at batch 1 up to dataset 2; 493 of dataset 3)."""
ONNX_MAX_VOXELS = 10_000
"""The ONNX table is skipped above this many voxels (the exported graph's tables grow with the cells)."""
DATASETS = {"calochallenge_ds1_photons": "ds1_photons", "calochallenge_ds2": "ds2", "calochallenge_ds3": "ds3"}
"""The published table's dataset name of each built-in geometry."""
PUBLISHED = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "calochallenge" / "final_results_scalar.csv"
)


def time_gan(generator: ShowerGenerator, spectrum: EnergySpectrum, batch: int, n_total: int) -> float:
    """ms/shower for in-memory generation (network + inverse preprocessing + the generator's calibration, if
    set) at one batch size."""
    rng = np.random.default_rng(0)
    torch_rng = torch.Generator(device=generator.device).manual_seed(0)
    batches = [torch.from_numpy(spectrum.sample(batch, rng)) for _ in range(max(1, n_total // batch))]
    generator.sample_cells(batches[0], torch_rng)  # warm-up
    if generator.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for incident in batches:
        generator.sample_cells(incident, torch_rng)
    if generator.device.type == "cuda":
        torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - t0) / (len(batches) * batch)


def time_simulator(generator: ShowerGenerator, spectrum: EnergySpectrum, n: int) -> float:
    """ms/shower of the GFlash reference simulator for the checkpoint's geometry and calorimeter."""
    sim = generator.config.simulation
    simulator = ShowerSimulator(
        load_geometry(generator.config.geometry),
        CalorimeterSpec.from_dict(sim.calorimeter, "simulation.calorimeter"),
        particle=sim.particle,
    )
    rng = np.random.default_rng(1)
    energies = spectrum.sample(n, rng)
    t0 = time.perf_counter()
    simulator.simulate(energies, rng)
    return 1e3 * (time.perf_counter() - t0) / n


COMPRESSIONS = ("none", "gzip")
"""The ``generation.compression`` choices (:class:`hepgan.config.GenerationConfig`)."""
H5PY_FILTERS = (
    ("none", {}),
    ("gzip level 4 (= gzip)", {"compression": "gzip", "compression_opts": 4}),
    ("gzip level 1", {"compression": "gzip", "compression_opts": 1}),
    ("gzip level 9", {"compression": "gzip", "compression_opts": 9}),
    ("shuffle + gzip 4", {"compression": "gzip", "compression_opts": 4, "shuffle": True}),
    ("lzf", {"compression": "lzf"}),
)
CHUNK_ROWS = 1024
"""Showers per HDF5 chunk, as hepgan's shower writer."""


def read_ms_per_shower(path: Path, n: int) -> float:
    """ms/shower to read every shower and incident energy of a file back into memory."""
    t0 = time.perf_counter()
    with h5py.File(path, "r") as f:
        for start in range(0, n, 100_000):
            f["showers"][start : start + 100_000]
        f["incident_energies"][:]
    return 1e3 * (time.perf_counter() - t0) / n


def rewrite_ms_per_shower(source: Path, target: Path, filters: dict) -> float:
    """ms/shower to write the showers of ``source`` to ``target`` with h5py ``filters`` (same chunks)."""
    with h5py.File(source, "r") as f:
        showers, energies = f["showers"][:], f["incident_energies"][:]
    t0 = time.perf_counter()
    with h5py.File(target, "w") as f:
        f.create_dataset("incident_energies", data=energies, chunks=(CHUNK_ROWS, 1), **filters)
        f.create_dataset("showers", data=showers, chunks=(CHUNK_ROWS, showers.shape[1]), **filters)
    return 1e3 * (time.perf_counter() - t0) / len(showers)


def compression_table(checkpoint: Path, n: int, repeats: int = 2) -> None:
    """Size and speed of ``n`` generated showers for each ``generation.compression`` choice (CPU).

    Times are the best of ``repeats`` runs (after a warm-up), so that another process on the
    machine distorts them less.
    """
    print(f"checkpoint: {checkpoint}")
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, h5py {h5py.__version__}")
    print(f"\n{n:.0e} showers per file, generated on the CPU in batches of 10000 (best of {repeats} runs):\n")
    print(
        f"{'generation.compression':24s} {'MB':>8s} {'MB per 1e6':>11s} {'vs none':>8s} {'ms/shower':>10s} "
        f"{'read ms/shower':>15s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        generate_to_file(checkpoint, 10_000, Path(tmp) / "warm-up.h5", seed=0, batch_size=10_000, device="cpu")
        sizes: dict[str, float] = {}
        for choice in COMPRESSIONS:
            out = Path(tmp) / f"{choice}.h5"
            ms = min(
                generate_to_file(
                    checkpoint, n, out, seed=0, batch_size=10_000, device="cpu", compression=choice
                ).ms_per_item
                for _ in range(repeats)
            )
            read_ms = min(read_ms_per_shower(out, n) for _ in range(repeats))
            sizes[choice] = out.stat().st_size / 1e6
            print(
                f"{choice:24s} {sizes[choice]:8.1f} {sizes[choice] * 1e6 / n:11.0f} "
                f"{sizes[choice] / sizes['none']:8.2f} {ms:10.4f} {read_ms:15.4f}"
            )
        print("\nthe same showers written with h5py filters, most of which generation.compression does not offer")
        print("(writing only, from memory):\n")
        print(f"{'h5py filter':24s} {'MB':>8s} {'MB per 1e6':>11s} {'vs none':>8s} {'write ms/shower':>16s}")
        for name, filters in H5PY_FILTERS:
            out = Path(tmp) / "rewritten.h5"
            ms = min(rewrite_ms_per_shower(Path(tmp) / "none.h5", out, filters) for _ in range(repeats))
            size = out.stat().st_size / 1e6
            print(f"{name:24s} {size:8.1f} {size * 1e6 / n:11.0f} {size / sizes['none']:8.2f} {ms:16.4f}")
            out.unlink()


def published_rows(dataset: str) -> list[dict[str, str]]:
    """The published entries of ``dataset`` with a timing, each model once (the file repeats some rows)."""
    if not PUBLISHED.is_file():
        return []
    with open(PUBLISHED, newline="") as handle:
        rows = [
            row
            for row in csv.DictReader(handle)
            if row["dataset"] == dataset and (row["time CPU 10000"] or row["time GPU 10000"])
        ]
    return list({row["submission name"]: row for row in rows}.values())


def newest_run_of(geometry: str, runs_dir: str) -> Path:
    """The best (else last) checkpoint of the newest run whose config names ``geometry``."""
    import yaml

    runs = sorted(Path(runs_dir).glob("*/config.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for config in runs:
        if (yaml.safe_load(config.read_text()) or {}).get("geometry") == geometry:
            return resolve_checkpoint(str(config.parent))
    raise SystemExit(f"no run of geometry {geometry} under {runs_dir}: train one (configs/calo_ds2.yaml, ...)")


def onnx_table(checkpoint: Path) -> None:
    """Export time and onnxruntime ms/shower on the CPU (needs the ``onnx`` extra and onnxruntime)."""
    try:
        from onnx_speed import onnx_timings
    except ImportError as exc:
        print(f"\nONNX: not measured ({exc})")
        return
    timings = onnx_timings(checkpoint)
    print(f"\nONNX graph (calibration inside, float32): export {timings['export_s']:.1f} s; onnxruntime CPU ms/shower:")
    for batch, ms in timings["ms_per_shower"].items():
        print(f"  batch {batch:6d}: {ms:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="checkpoint or run folder (default: newest run)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--devices", nargs="+", help="cpu and/or cuda (default: cpu, and cuda when present)")
    parser.add_argument("--geometry", help="take the newest run of this built-in geometry (e.g. calochallenge_ds3)")
    parser.add_argument("--n-sim", type=int, default=1500, help="showers for the simulator timing")
    parser.add_argument("--n-file", type=parse_count, default=1_000_000, help="showers for the end-to-end file run")
    parser.add_argument(
        "--compression-table",
        action="store_true",
        help="print only the file size and speed of each generation.compression choice",
    )
    parser.add_argument("--n-table", type=parse_count, default=100_000, help="showers per file of the table")
    parser.add_argument("--repeats", type=int, default=2, help="runs per entry of the table (the best is shown)")
    args = parser.parse_args()
    retain_freed_memory()  # as the CLI does for generate

    if args.geometry and not args.checkpoint:
        checkpoint = newest_run_of(args.geometry, args.runs_dir)
    else:
        checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="calo")
    if args.compression_table:
        compression_table(checkpoint, args.n_table, args.repeats)
        return
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"checkpoint: {checkpoint}")
    print(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
        + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU")
    )
    cpu_generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    spectrum = EnergySpectrum.from_dict(
        cpu_generator.config.generation.spectrum or cpu_generator.config.simulation.spectrum, "spectrum"
    )
    geometry = cpu_generator.geometry
    sim_ms = time_simulator(cpu_generator, spectrum, args.n_sim)
    print(
        f"\nreference simulator (GFlash, CPU, {args.n_sim} showers of the training spectrum): {sim_ms:.2f} ms/shower\n"
    )
    precision = "bf16" if cpu_generator.bfloat16 else "float32"
    print(f"network precision (generation.precision = {cpu_generator.config.generation.precision}): {precision} on CPU")
    print(
        f"{'device':6s} {'batch':>6s} {'raw ms/shower':>14s} {'calibrated':>11s} {'calib. share':>13s} "
        f"{'sim ms/shower':>14s} {'speed-up':>10s}"
    )
    for device in devices:
        generator = cpu_generator if device == "cpu" else ShowerGenerator.from_checkpoint(checkpoint, device=device)
        calibrations = generator.calibration, generator.response_calibration
        for batch in (1, 100, 10_000):
            # showers timed per batch size, fewer for large geometries (at most TIMED_CELLS cells, one batch at least)
            base = {1: 300, 100: 5_000, 10_000: 50_000}[batch]
            n_total = max(batch, min(base, TIMED_CELLS // geometry.n_voxels))
            n_cells = generator.geometry.n_voxels + generator.n_extra
            try:
                check_batch_memory(generator.config, batch, True, generator.device, (1 + n_cells, 1, n_cells))
            except ConfigError as exc:
                print(f"{device:6s} {batch:6d} does not fit: {str(exc)[:90]}")
                continue
            generator.calibration = generator.response_calibration = None
            raw = time_gan(generator, spectrum, batch, n_total)
            generator.calibration, generator.response_calibration = calibrations
            calibrated = any(calibration is not None for calibration in calibrations)
            ms = time_gan(generator, spectrum, batch, n_total) if calibrated else raw
            share = 1 - raw / ms
            print(f"{device:6s} {batch:6d} {raw:14.5f} {ms:11.5f} {share:13.0%} {sim_ms:14.2f} {sim_ms / ms:10.0f}x")

    with tempfile.TemporaryDirectory() as tmp:
        for device in devices:
            out = Path(tmp) / f"events_{device}.h5"
            summary = generate_to_file(checkpoint, args.n_file, out, seed=0, batch_size=None, device=device)
            size_mb = out.stat().st_size / 1e6
            print(
                f"\nend to end ({device}): {args.n_file:.0e} showers to HDF5 in {summary.seconds:.1f} s "
                f"= {summary.ms_per_item:.5f} ms/shower ({size_mb:.0f} MB), "
                f"speed-up over the simulator {sim_ms / summary.ms_per_item:.0f}x"
            )
            out.unlink()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mb:.0f} MB")
    if geometry.n_voxels <= ONNX_MAX_VOXELS:
        onnx_table(checkpoint)  # after the file run: onnxruntime's threads may keep spinning for a while

    dataset = DATASETS.get(geometry.name, "")
    rows = published_rows(dataset)
    if rows:
        print(f"\npublished CaloChallenge {dataset} timings (ms/shower, their hardware), for orientation:")
        print(f"{'model':24s} {'CPU 1':>10s} {'CPU 100':>10s} {'CPU 10000':>10s} {'GPU 10000':>10s}")
        for row in rows:
            print(
                f"{row['submission name']:24s} {float(row['time CPU 1'] or 'nan'):10.3f} "
                f"{float(row['time CPU 100'] or 'nan'):10.3f} {float(row['time CPU 10000'] or 'nan'):10.3f} "
                f"{float(row['time GPU 10000'] or 'nan'):10.4f}"
            )


if __name__ == "__main__":
    main()
