"""Events/s of Pythia 8 (hadron level and parton level) and of a trained event GAN, in one run, with ratios.

    python benchmarks/event_speed.py [--checkpoint RUN_OR_FILE] [--n-pythia 1000] [--n-gan 1e6]

Pythia runs the checkpoint's own ``simulation.pythia`` configuration (process, energy,
settings, stored objects) once with ``level: hadron`` and once with ``level: parton``
(``HadronLevel:all = off``), generating and selecting the stored objects in memory; its
initialisation is timed separately and not counted in the rate. The GAN is timed on every
device present (network + inverse preprocessing to an EventBatch in memory, batch 1e5,
after a warm-up batch), and once end to end to an HDF5 file. Ratio = GAN events/s over
Pythia events/s (the speed-up). Default checkpoint: the newest run of kind "events".
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from hepgan.cli import parse_count
from hepgan.domains import generate_to_file
from hepgan.generate import EventGenerator, events_per_second, resolve_checkpoint
from hepgan.sim.pythia import PythiaConfig, make_pythia, select_particles


def pythia_rate(config: PythiaConfig, level: str, n: int, chunk: int = 200) -> tuple[float, float]:
    """(events/s, initialisation s) of Pythia at ``level`` including the object selection, one core."""
    config = dataclasses.replace(config, level=level)
    t0 = time.perf_counter()
    pythia = make_pythia(config)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = 0
    while done < n:
        events = pythia.nextBatch(min(chunk, n - done), "skip")
        select_particles(events, config)
        done += len(events)
    return done / (time.perf_counter() - t0), init_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", help="event checkpoint or run folder (default: best of the newest finished events run)"
    )
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--n-pythia", type=parse_count, default=1000, help="events per Pythia timing")
    parser.add_argument("--n-gan", type=parse_count, default=1_000_000, help="events per GAN timing")
    args = parser.parse_args()

    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="events")
    cpu_generator = EventGenerator.from_checkpoint(checkpoint, device="cpu")
    pythia_config = PythiaConfig.from_dict(cpu_generator.config.simulation.pythia, "simulation.pythia")
    gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    print(f"checkpoint: {checkpoint}")
    print(f"process: {pythia_config.process} at {pythia_config.sqrt_s_gev:g} GeV; torch {torch.__version__}; {gpu}")
    print(f"torch CPU threads: {torch.get_num_threads()}\n")

    rates: dict[str, float] = {}
    for level in ("hadron", "parton"):
        rate, init_s = pythia_rate(pythia_config, level, args.n_pythia)
        rates[f"pythia {level}"] = rate
        print(f"Pythia 8 {level:6s} level: {rate:10.1f} events/s ({args.n_pythia} events, init {init_s:.1f} s)")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        generator = cpu_generator if device == "cpu" else EventGenerator.from_checkpoint(checkpoint, device=device)
        rates[f"GAN {device}"] = events_per_second(generator, args.n_gan)
        print(f"GAN ({device:4s}, in memory): {rates[f'GAN {device}']:12.0f} events/s ({args.n_gan:.0e} events)")
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_to_file(checkpoint, args.n_gan, Path(tmp) / "events.h5", seed=0, device=devices[-1])
        rates[f"GAN {devices[-1]} to HDF5"] = summary.n / summary.seconds
        print(f"GAN ({devices[-1]}, to HDF5):  {rates[f'GAN {devices[-1]} to HDF5']:12.0f} events/s")

    print(f"\n{'GAN':24s} {'events/s':>12s} {'/ Pythia hadron':>16s} {'/ Pythia parton':>16s}")
    for name, rate in rates.items():
        if name.startswith("GAN"):
            hadron, parton = rate / rates["pythia hadron"], rate / rates["pythia parton"]
            print(f"{name:24s} {rate:12.0f} {hadron:15.0f}x {parton:15.0f}x")


if __name__ == "__main__":
    main()
