"""Peak memory and wall time of ``hepgan validate`` on CaloChallenge dataset-3 files of growing size.

For each size N (default 1e4 and 1e5) two independent GFlash files of N dataset-3 showers
(seeds 101 and 202; 40500 voxels each) serve as "reference" and "generated". They are
simulated with ``hepgan simulate configs/calo_ds3.yaml`` once and cached (default
``/tmp/hepgan_ds3/ds3_n<N>_seed<seed>.h5``; about 5.5 ms per shower on one core, 780 MB per
1e5 showers). Each validation runs in its own subprocess; its peak resident memory (the
child's ``ru_maxrss``) and wall time are printed side by side, with the ratio of peak memory
to the smallest size's: ~1 means memory is flat in N. The classifier AUCs and the voxel
classifier's sample (the cap) are printed from each report's ``metrics.json``.

Usage::

    .venv/bin/python benchmarks/validation_memory.py                      # N = 1e4 and 1e5
    .venv/bin/python benchmarks/validation_memory.py --sizes 10000 30000
    .venv/bin/python benchmarks/validation_memory.py --reference R.h5 --generated G.h5
    .venv/bin/python benchmarks/validation_memory.py --no-classifier      # the observables alone

Prints figures only (no assertions on time or memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "calo_ds3.yaml"
SEEDS = (101, 202)
AUC_KEYS = (
    "classifier_auc_high_level",
    "classifier_auc_low_level",
    "challenge_auc_high_level",
    "challenge_auc_low_level",
)


def simulated_file(cache: Path, n: int, seed: int, config: Path) -> Path:
    """The cached GFlash file of ``n`` dataset-3 showers with ``seed`` (simulated when missing)."""
    path = cache / f"ds3_n{n}_seed{seed}.h5"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"simulating {n} showers (seed {seed}) into {path} ...", flush=True)
        command = [sys.executable, "-m", "hepgan", "simulate", str(config), "-o", str(path), "--n", str(n)]
        # the config names the 3-D 'cylinder' model; the simulation does not use the model
        command += ["--seed", str(seed), "--set", "model.architecture=mlp", "--no-progress"]
        subprocess.run(command, check=True, cwd=ROOT)
    return path


def run_validation(reference: Path, generated: Path, out_dir: Path, extra: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, wall time in s, exit status) of ``hepgan validate`` in a child process."""
    command = [sys.executable, "-m", "hepgan", "validate", "--reference", str(reference)]
    command += ["--generated", str(generated), "-o", str(out_dir), *extra]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024.0, wall, child.returncode  # ru_maxrss: kB on Linux


def auc_summary(out_dir: Path) -> list[str]:
    """The classifier AUCs (value ± error, floor) and the voxel classifier's sample from a report."""
    path = out_dir / "metrics.json"
    if not path.is_file():
        return ["  (no metrics.json)"]
    report = json.loads(path.read_text())
    low = report.get("low_level") or {}
    lines = [
        f"  voxel classifiers: {((low.get('reference') or {}).get('n_used'))} reference / "
        f"{((low.get('generated') or {}).get('n_used'))} generated showers (cap {low.get('capacity')}: "
        f"max_showers_low_level {low.get('max_showers_low_level')}, {low.get('max_voxel_values')} voxel values)"
    ]
    for key in AUC_KEYS:
        entry = report.get("global_metrics", {}).get(key)
        if entry and entry.get("value") is not None:
            lines.append(
                f"  {key:28s} {entry['value']:.4f} ± {entry.get('error') or 0:.4f}   floor {entry.get('floor')}"
                f"   {entry.get('verdict')}"
            )
    timings = report.get("timings_s", {})
    lines.append("  report timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5], help="showers per file")
    parser.add_argument("--reference", type=Path, help="use this reference file (with --generated) instead")
    parser.add_argument("--generated", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/hepgan_ds3"), help="simulated files and reports")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--no-classifier", action="store_true", help="skip the classifier tests")
    parser.add_argument("--classifier-protocol", choices=("both", "hepgan", "challenge"), default="both")
    args = parser.parse_args()
    if (args.reference is None) != (args.generated is None):
        parser.error("give both --reference and --generated, or neither")
    extra = ["--no-classifier"] if args.no_classifier else ["--classifier-protocol", args.classifier_protocol]
    if args.reference is not None:
        cases = [("files", args.reference, args.generated)]
    else:
        sizes = [int(n) for n in args.sizes]
        cases = [(str(n), *(simulated_file(args.cache, n, seed, args.config) for seed in SEEDS)) for n in sizes]
    rows = []
    for label, reference, generated in cases:
        out_dir = args.cache / f"report_{label}"
        print(f"validating {reference.name} against {generated.name} ...", flush=True)
        peak_mb, wall, status = run_validation(reference, generated, out_dir, extra)
        rows.append((label, peak_mb, wall, status))
        print(f"  N = {label}: peak RSS {peak_mb:.0f} MB, wall {wall:.0f} s, exit status {status}", flush=True)
        print("\n".join(auc_summary(out_dir)), flush=True)
    print(f"\n{'N per file':>12s} {'peak RSS [MB]':>14s} {'wall [s]':>9s} {'RSS / first':>12s} {'exit':>5s}")
    for label, peak_mb, wall, status in rows:
        print(f"{label:>12s} {peak_mb:14.0f} {wall:9.0f} {peak_mb / rows[0][1]:12.2f} {status:5d}")


if __name__ == "__main__":
    main()
