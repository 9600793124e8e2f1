"""Events/s of Pythia 8 (+ FastJet) and of a trained event GAN, in one run, with ratios.

    python benchmarks/event_speed.py [--checkpoint RUN_OR_FILE] [--n-pythia 2000] [--n-gan 1e6] [--levels hadron parton]

Pythia runs the checkpoint's own ``simulation.pythia`` configuration (process, energy,
settings, stored objects: particles, the six top-decay quarks, or FastJet jets with their
cuts and ``min_objects``), by default at its configured level (``--levels`` adds others). Its
rate counts *stored* events (those passing ``min_objects``) per second of one core, object
selection and clustering included, initialisation excluded; it is measured once in memory
and once end to end to an HDF5 file (``hepgan simulate``'s writer). The GAN is timed on every
device present (network + inverse preprocessing, batch 1e5, after a warm-up batch) and
end to end to an HDF5 file (``hepgan generate``'s writer) on the same machine, with the torch
threads of ``--threads`` (default: torch's, all cores). Ratio = GAN
events/s over Pythia events/s (the speed-up per event). Default checkpoint: the newest run of
kind "events".
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
from hepgan.sim.pythia import GenerationCounts, PythiaConfig, iter_events, simulate_events_to_file


def pythia_rate(config: PythiaConfig, n: int) -> tuple[float, float]:
    """(stored events/s in memory, acceptance) of Pythia with its object selection, one core, after initialisation.

    The first stored batch (which includes Pythia's initialisation) is not timed.
    """
    counts = GenerationCounts()
    events = iter_events(config, n + 200, chunk_size=200, counts=counts)
    next(events)  # initialisation and a first batch, untimed
    start_accepted = counts.accepted
    t0 = time.perf_counter()
    for _ in events:
        pass
    seconds = time.perf_counter() - t0
    return (counts.accepted - start_accepted) / seconds, counts.acceptance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", help="event checkpoint or run folder (default: best of the newest finished events run)"
    )
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--n-pythia", type=parse_count, default=2000, help="stored events per Pythia timing")
    parser.add_argument("--n-gan", type=parse_count, default=1_000_000, help="events per GAN timing")
    parser.add_argument("--levels", nargs="*", default=None, help="Pythia levels (default: the configured one)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for the GAN (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="events")
    cpu_generator = EventGenerator.from_checkpoint(checkpoint, device="cpu")
    pythia_config = PythiaConfig.from_dict(cpu_generator.config.simulation.pythia, "simulation.pythia")
    gpu = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    print(f"checkpoint: {checkpoint}")
    print(
        f"process: {pythia_config.process} at {pythia_config.sqrt_s_gev:g} GeV, objects {pythia_config.objects} "
        f"(n_objects {pythia_config.n_objects}, min_objects {pythia_config.min_objects}); "
        f"torch {torch.__version__}; {gpu}"
    )
    print(f"torch CPU threads: {torch.get_num_threads()}\n")

    rates: dict[str, float] = {}
    for level in args.levels or [pythia_config.level]:
        config = dataclasses.replace(pythia_config, level=level)
        rate, acceptance = pythia_rate(config, args.n_pythia)
        rates[f"Pythia {level}"] = rate
        print(f"Pythia 8 {level:6s} level, in memory: {rate:10.1f} stored events/s (acceptance {acceptance:.3f})")
        with tempfile.TemporaryDirectory() as tmp:
            summary = simulate_events_to_file(config, Path(tmp) / "pythia.h5", n=args.n_pythia)
        rates[f"Pythia {level} to HDF5"] = summary.events_per_second
        to_file = summary.events_per_second
        print(f"Pythia 8 {level:6s} level, to HDF5:   {to_file:10.1f} stored events/s (init included)")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        generator = cpu_generator if device == "cpu" else EventGenerator.from_checkpoint(checkpoint, device=device)
        rates[f"GAN {device}"] = events_per_second(generator, args.n_gan)
        print(f"GAN ({device:4s}, in memory): {rates[f'GAN {device}']:12.0f} events/s ({args.n_gan:.0e} events)")
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_to_file(checkpoint, args.n_gan, Path(tmp) / "events.h5", seed=0, device=devices[-1])
        rates[f"GAN {devices[-1]} to HDF5"] = summary.n / summary.seconds
        print(f"GAN ({devices[-1]}, to HDF5):  {rates[f'GAN {devices[-1]} to HDF5']:12.0f} events/s")

    pythia_names = [name for name in rates if name.startswith("Pythia")]
    print(f"\n{'GAN':24s} {'events/s':>12s} " + " ".join(f"{'/ ' + name:>22s}" for name in pythia_names))
    for name, rate in rates.items():
        if name.startswith("GAN"):
            ratios = " ".join(f"{rate / rates[other]:21.0f}x" for other in pythia_names)
            print(f"{name:24s} {rate:12.0f} {ratios}")


if __name__ == "__main__":
    main()
