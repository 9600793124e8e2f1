"""Event fidelity at equal sample sizes: W1(generated, reference half A) against W1(half B, half A).

    python benchmarks/event_fidelity.py --reference data/zmumu_pythia_reference.h5 --checkpoint RUN_OR_FILE

The reference is split into halves A and B of n events each; the checkpoint generates n events.
Every observable of the event report (for the checkpoint's reconstruction) is compared: W1 of
generated vs A, and the floor W1 of B vs A, both n vs n, with bootstrap errors (20 resamples,
seeded; :func:`hepgan.validation.metrics.wasserstein_1d_with_error`). The target is
W1 ≤ 3 × floor. The floor comes from one split, so it carries its own statistical error
(printed). Observables identical in every event (floor 0) are left out.
"""

from __future__ import annotations

import argparse

from hepgan.generate import EventGenerator, resolve_checkpoint
from hepgan.io.events import read_events
from hepgan.validation.event_report import batch_observables
from hepgan.validation.metrics import wasserstein_1d_with_error

N_BOOTSTRAP = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="event file independent of the training file")
    parser.add_argument("--checkpoint", help="event checkpoint or run folder (default: the newest events run)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--seed", type=int, default=11, help="generation seed")
    args = parser.parse_args()

    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="events")
    generator = EventGenerator.from_checkpoint(checkpoint, device="cpu")
    reference = read_events(args.reference)
    n = len(reference) // 2
    half_a, half_b = reference.subset(slice(0, n)), reference.subset(slice(n, 2 * n))
    generated = generator.sample(n, seed=args.seed)
    rule = generator.reconstruction
    obs_a, obs_b, obs_gen = (batch_observables(batch, rule) for batch in (half_a, half_b, generated))
    print(f"checkpoint: {checkpoint}\nreference: {args.reference}, {n} events per side, reconstruction {rule}\n")
    print(f"{'observable':>14s} {'W1':>10s} ± {'err':<8s} {'floor':>10s} ± {'err':<8s} {'W1/floor':>8s}  target")
    met = compared = 0
    for name in obs_gen:
        w1, w1_err = wasserstein_1d_with_error(obs_gen[name], obs_a[name], N_BOOTSTRAP)
        floor, floor_err = wasserstein_1d_with_error(obs_b[name], obs_a[name], N_BOOTSTRAP)
        if floor == 0:
            continue
        compared += 1
        ok = w1 <= 3 * floor
        met += ok
        print(
            f"{name:>14s} {w1:10.4g} ± {w1_err:<8.2g} {floor:10.4g} ± {floor_err:<8.2g} {w1 / floor:8.2f}  "
            f"{'ok' if ok else 'missed'}"
        )
    print(f"\nW1 <= 3 x floor (same size, {n} per side): {met}/{compared}")


if __name__ == "__main__":
    main()
