"""Flat memory under load: peak memory of ``hepgan generate`` for 1e6 and 1e7 showers, and a full
read-back check of the large file (count, finite, non-negative, incident energies as requested).

    python benchmarks/generation_memory.py [--checkpoint RUN_OR_FILE] [--large 1e7] [--keep]

Each generation runs as its own process (``hepgan generate``), timed, with its peak
resident memory taken from the operating system (``resource.getrusage`` of the child).
Needs about 1.5 GB of disk per million ds1 showers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hepgan.cli import parse_count
from hepgan.generate import ShowerGenerator, resolve_checkpoint
from hepgan.io import ShowerReader
from hepgan.sim.spectra import EnergySpectrum

_MEASURE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run_generate(checkpoint: Path, n: int, output: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one ``hepgan generate`` process.

    The generation runs under a fresh wrapper process, so its peak is not mixed with another run's.
    """
    command = [
        sys.executable,
        "-m",
        "hepgan",
        "generate",
        "--n",
        str(n),
        "-o",
        str(output),
        "--checkpoint",
        str(checkpoint),
        "--seed",
        "1",
        "--no-progress",
    ]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024.0


def read_back(path: Path, checkpoint: Path, n: int) -> dict[str, object]:
    """Stream the whole file: count, finiteness, non-negativity, incident-energy spectrum."""
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    config = generator.config
    spectrum = EnergySpectrum.from_dict(config.generation.spectrum or config.simulation.spectrum, "spectrum")
    count, negative, non_finite = 0, 0, 0
    energies: dict[float, int] = {}
    with ShowerReader(path, generator.geometry, chunk_size=200_000) as reader:
        for batch in reader.iter_chunks():  # the reader itself refuses NaN/inf and negative energies
            count += len(batch)
            non_finite += int((~np.isfinite(batch.showers_mev)).sum())
            negative += int((batch.showers_mev < 0).sum())
            values, counts = np.unique(batch.incident_energies_mev, return_counts=True)
            for value, c in zip(values, counts, strict=True):
                energies[float(value)] = energies.get(float(value), 0) + int(c)
    result: dict[str, object] = {"count": count, "count_ok": count == n, "non_finite": non_finite, "negative": negative}
    if spectrum.kind == "discrete":
        allowed = {float(v) for v in spectrum.values_mev}
        counts = np.array(list(energies.values()))
        result["energies_in_spectrum"] = set(energies) <= allowed
        result["per_energy_min_max"] = (int(counts.min()), int(counts.max()))
    else:
        result["energy_range_mev"] = (min(energies), max(energies))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="checkpoint or run folder (default: newest run)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--small", type=parse_count, default=1_000_000)
    parser.add_argument("--large", type=parse_count, default=10_000_000)
    parser.add_argument("--dir", help="where to write the files (default: a temporary folder)")
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="calo")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = []
        for n in (args.small, args.large):
            out = Path(tmp) / f"events_{n}.h5"
            seconds, peak_mb = run_generate(checkpoint, n, out)
            rows.append((n, seconds, peak_mb, out.stat().st_size / 1e9))
            print(
                f"generate {n:.0e}: {seconds:7.1f} s, {1e3 * seconds / n:.4f} ms/shower, peak RSS {peak_mb:7.0f} MB, "
                f"file {rows[-1][3]:.2f} GB",
                flush=True,
            )
        print(
            f"peak memory ratio {args.large:.0e} / {args.small:.0e}: {rows[1][2] / rows[0][2]:.3f} "
            f"(flat memory: within 1.10)"
        )
        t0 = time.perf_counter()
        check = read_back(Path(tmp) / f"events_{args.large}.h5", checkpoint, args.large)
        print(f"read-back of {args.large:.0e} showers in {time.perf_counter() - t0:.0f} s: {check}")


if __name__ == "__main__":
    main()
