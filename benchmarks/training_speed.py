"""Training speed of the default calorimeter model, and what each of its parts costs.

    python benchmarks/training_speed.py [--config configs/calo.yaml] [--steps 60] [--repeats 2] [--device cuda]

Builds the trainer of ``--config`` on its data and times ``--steps`` iterations (k critic
steps + l generator steps, after a warm-up) for the default model and for variants with one
part switched off: the critic's summary features (``model.critic_summary``), the MMD term
(``training.mmd_weight``), both (the plain conditional WGAN-GP of the same size), and with bf16
autocast on the CPU (``training.amp`` on a CPU with AVX512-BF16/AMX; hepgan uses it on GPUs
only). Each row prints iterations/s and showers/s (batch × (k + l) per iteration, the figure
``hepgan train`` logs), best of ``--repeats``, and the ratio to the default. Then the
in-training hooks, each timed on the default model: the cell-calibration fit (at every
checkpoint) and the quick metrics (every ``training.eval_every`` steps), with their share of a
default run (``training.max_steps`` iterations at the measured rate). ``--device cuda`` times
the same on the GPU, where the default trains under bf16 autocast (``training.amp``) and the last
row switches it off; the peak GPU memory of the default is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from hepgan.config import RunConfig, load_config
from hepgan.device import native_bfloat16
from hepgan.domains import domain_for_config
from hepgan.training.trainer import Trainer

VARIANTS: tuple[tuple[str, list[str], bool | None], ...] = (
    ("default", [], None),
    ("no critic summary", ["model.critic_summary=[]"], None),
    ("no MMD term", ["training.mmd_weight=0"], None),
    ("plain WGAN-GP (neither)", ["model.critic_summary=[]", "training.mmd_weight=0"], None),
    ("default, bf16 autocast on CPU", [], True),
)
"""(label, config overrides, bf16 autocast: None as training does it, else on or off)."""
GPU_LAST_VARIANT = ("default, float32 (no bf16 autocast)", [], False)
"""On a GPU the last row switches autocast off instead."""


def trainer_for(config: RunConfig, run_dir: Path) -> Trainer:
    data = domain_for_config(config).training_data(config)
    return Trainer(config, run_dir, data, progress=False)


def iterations_per_second(trainer: Trainer, steps: int, repeats: int) -> float:
    """Best of ``repeats`` timings of ``steps`` training iterations (after 5 warm-up iterations)."""
    for _ in range(5):
        trainer.train_step()
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/calo.yaml")
    parser.add_argument("--steps", type=int, default=60, help="timed iterations per repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    base = [f"training.device={args.device}", "training.eval_every=0"]
    config = load_config(args.config, base)
    tc = config.training
    per_iteration = tc.batch_size * (tc.d_steps + tc.g_steps)
    print(f"config {args.config}: batch {tc.batch_size}, {tc.d_steps} critic + {tc.g_steps} generator steps")
    bf16 = native_bfloat16(torch.device("cpu"))
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, CPU has native bf16: {bf16}")
    print(f"\n{'variant':32s} {'it/s':>7s} {'showers/s':>10s} {'vs default':>11s}")
    rates: dict[str, float] = {}
    variants = VARIANTS if args.device == "cpu" else (*VARIANTS[:-1], GPU_LAST_VARIANT)
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides, amp in variants:
            trainer = trainer_for(load_config(args.config, base + overrides), Path(tmp) / label.replace(" ", "_"))
            if amp is not None:
                trainer.amp = amp
            if trainer.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            rates[label] = iterations_per_second(trainer, args.steps, args.repeats)
            ratio = rates[label] / rates["default"]
            print(f"{label:32s} {rates[label]:7.2f} {rates[label] * per_iteration:10.0f} {ratio:11.2f}")
            if label == "default" and trainer.device.type == "cuda":
                print(f"{'':32s} peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
            del trainer

        full = load_config(args.config, [f"training.device={args.device}"])
        trainer = trainer_for(full, Path(tmp) / "hooks")
        for _ in range(3):
            trainer.train_step()
        run_seconds = full.training.max_steps / rates["default"]
        n_checkpoints = full.training.max_steps // full.training.checkpoint_every
        n_evals = full.training.max_steps // full.training.eval_every if full.training.eval_every else 0
        print(f"\nin-training hooks (default run: {full.training.max_steps} iterations ~ {run_seconds:.0f} s of steps)")
        print(f"{'hook':20s} {'s per call':>11s} {'calls/run':>10s} {'share of run':>13s}")
        for hook in trainer.hooks:
            hook.run(trainer.generator_ema, trainer.device, 1)  # the first call reads the reference once
            t0 = time.perf_counter()
            hook.run(trainer.generator_ema, trainer.device, 2)
            seconds = time.perf_counter() - t0
            # evaluation hooks run at evaluation steps; at_checkpoints hooks at evaluation and checkpoint steps
            calls = n_evals if hook.evaluation else max(n_evals, n_checkpoints)
            share = seconds * calls / (run_seconds + seconds * calls)
            print(f"{hook.name:20s} {seconds:11.2f} {calls:10d} {share:13.1%}")


if __name__ == "__main__":
    main()
