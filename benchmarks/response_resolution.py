"""Energy response and resolution per incident energy at 10⁴ showers per energy, with errors and floors.

A trained model generates ``--per-energy`` showers at each incident energy of its config's
spectrum; a fresh reference of as many is simulated with the config's simulation settings
and a seed of its own (``validation.seed`` + 1, in ``--workers`` processes). Printed per
energy: the mean (scale) and the standard deviation (resolution) of E_tot/E_inc, generated
against reference, with their statistical errors and the goal's status (1 % in mean, 5 % in
width); beside them the same differences for the training file against the reference, the
floor that any model trained on that file inherits.

    python benchmarks/response_resolution.py --checkpoint runs/calo-.../ [--per-energy 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from hepgan.config import config_from_dict
from hepgan.generate import ShowerGenerator
from hepgan.generate.stream import resolve_checkpoint
from hepgan.io import ShowerBatch, read_showers
from hepgan.simulate import simulate_to_file
from hepgan.validation.response import response_per_energy


def _simulate(args: tuple[dict, str, int, int]) -> str:
    config, path, n, seed = args
    simulate_to_file(config_from_dict(config), path, n=n, seed=seed)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint file or run folder")
    parser.add_argument("--per-energy", type=int, default=10_000, help="showers per incident energy on each side")
    parser.add_argument("--workers", type=int, default=2, help="processes simulating the reference")
    parser.add_argument("--out", default="response_resolution", help="folder for the reference file")
    parser.add_argument("--training-file", default=None, help="the model's training file (default: its data.path)")
    args = parser.parse_args()
    generator = ShowerGenerator.from_checkpoint(resolve_checkpoint(args.checkpoint), device="cpu")
    config = generator.config
    training = read_showers(args.training_file or config.data.path, generator.geometry)  # before the long part
    energies = np.asarray(config.simulation.spectrum.get("values_mev") or 2.0 ** np.arange(8, 23), np.float64)
    n = args.per_energy * len(energies)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seed = config.validation.seed + 1
    clock = time.perf_counter()
    sizes = [n // args.workers + (i < n % args.workers) for i in range(args.workers)]
    jobs = [
        (config.to_dict(), str(out / f"reference_seed{seed}_{i}.h5"), size, seed * 100 + i)
        for i, size in enumerate(sizes)
    ]
    missing = [job for job in jobs if not Path(job[1]).is_file()]
    if missing:
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(_simulate, missing))
    how = f"simulated in {time.perf_counter() - clock:.0f} s" if missing else "read from an earlier run"
    parts = [read_showers(job[1], generator.geometry) for job in jobs]
    reference = ShowerBatch(
        incident_energies_mev=np.concatenate([part.incident_energies_mev for part in parts]),
        showers_mev=np.concatenate([part.showers_mev for part in parts]),
    )
    clock = time.perf_counter()
    generated = generator.sample(reference.incident_energies_mev, seed=7)
    generation = time.perf_counter() - clock

    def ratio(batch: ShowerBatch) -> np.ndarray:
        return batch.showers_mev.sum(axis=1) / batch.incident_energies_mev

    ref_e = reference.incident_energies_mev
    rows = response_per_energy(ratio(reference), ref_e, ratio(generated), generated.incident_energies_mev)
    raw_rows = None
    if generator.response_calibration is not None:
        generator.response_calibration = None  # the same noise: the network's own response
        raw = generator.sample(reference.incident_energies_mev, seed=7)
        raw_rows = response_per_energy(ratio(reference), ref_e, ratio(raw), raw.incident_energies_mev)
    floor = response_per_energy(ratio(reference), ref_e, ratio(training), training.incident_energies_mev)
    print(
        f"{len(reference)} reference showers (seed {seed}, {how}), {len(generated)} generated "
        f"({generation:.1f} s) with {generator.source}; training file {config.data.path} ({len(training)} showers)"
    )
    print(
        f"{'E_inc':>10s} {'n ref':>6s} {'n gen':>6s} {'mean: gen/ref - 1':>20s} {'':>4s} {'width: gen/ref - 1':>19s} "
        f"{'':>4s} {'training/ref mean':>18s} {'training/ref width':>19s}"
    )
    marks = {"ok": "ok", "limited by statistics": "stat", "outside goal": "OUT", "n/a": ""}
    for row, base in zip(rows, floor, strict=True):
        mean_mark, std_mark = marks[row["mean_status"]], marks[row["std_status"]]
        print(
            f"{row['label']:>10s} {row['n_reference']:6d} {row['n_generated']:6d} "
            f"{100 * row['mean_rel_diff']:+8.3f} ± {100 * row['mean_rel_diff_err']:5.3f} % {mean_mark:>4s} "
            f"{100 * row['std_rel_diff']:+7.2f} ± {100 * row['std_rel_diff_err']:4.2f} % {std_mark:>4s} "
            f"{100 * base['mean_rel_diff']:+8.3f} ± {100 * base['mean_rel_diff_err']:5.3f} % "
            f"{100 * base['std_rel_diff']:+7.2f} ± {100 * base['std_rel_diff_err']:4.2f} %"
        )
    within = sum(row["mean_status"] == "ok" and row["std_status"] == "ok" for row in rows)
    print(f"energies within both goals (1 % mean, 5 % width): {within} of {len(rows)}")
    if raw_rows is not None:
        print("without the response calibration (same model, same noise): gen/ref - 1 per energy")
        for row in raw_rows:
            print(
                f"{row['label']:>10s} mean {100 * row['mean_rel_diff']:+7.3f} ± {100 * row['mean_rel_diff_err']:5.3f} %"
                f"   width {100 * row['std_rel_diff']:+7.2f} ± {100 * row['std_rel_diff_err']:4.2f} %"
            )
        within = sum(row["mean_status"] == "ok" and row["std_status"] == "ok" for row in raw_rows)
        print(f"energies within both goals without it: {within} of {len(raw_rows)}")


if __name__ == "__main__":
    main()
