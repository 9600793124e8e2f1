"""``hepgan simulate``: run the reference simulator and stream its output to a file.

``kind: calo`` runs hepgan's GFlash shower simulator; ``kind: events`` runs Pythia 8
(:mod:`hepgan.sim.pythia`, settings from ``simulation.pythia``) and writes an event table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepgan.config import RunConfig
from hepgan.io import ShowerBatch, ShowerWriter
from hepgan.io.geometry import load_geometry
from hepgan.progress import progress_bar
from hepgan.sim.calorimeter import CalorimeterSpec
from hepgan.sim.gflash import ShowerSimulator
from hepgan.sim.spectra import EnergySpectrum


@dataclass
class SimulationSummary:
    """What ``simulate_to_file`` wrote, and how fast."""

    path: Path
    n: int
    seconds: float
    unit: str = "showers"  # or "events"

    @property
    def per_second(self) -> float:
        return self.n / max(self.seconds, 1e-9)


def simulate_to_file(
    config: RunConfig,
    output: str | Path,
    n: int | None = None,
    seed: int | None = None,
    chunk_size: int = 500,
    progress: bool = False,
) -> SimulationSummary:
    """Simulate ``n`` showers (default ``simulation.n_showers``) for the config's geometry and spectrum.

    Showers are simulated and written in chunks (flat memory); the file appears under
    its name only when complete. Seeded: the same seed gives the same file content.
    For ``kind: events`` this runs Pythia instead (:func:`simulate_events`).
    """
    if config.kind == "events":
        return simulate_events(config, output, n=n, seed=seed, progress=progress)
    sim = config.simulation
    n = sim.n_showers if n is None else n
    seed = sim.seed if seed is None else seed
    geometry = load_geometry(config.geometry)
    calorimeter = CalorimeterSpec.from_dict(sim.calorimeter, "simulation.calorimeter")
    spectrum = EnergySpectrum.from_dict(sim.spectrum, "simulation.spectrum")
    simulator = ShowerSimulator(geometry, calorimeter, particle=sim.particle)
    rng = np.random.default_rng(seed)
    energies = spectrum.sample(n, rng)
    attrs = {
        "seed": int(seed),
        "generator": "hepgan GFlash reference simulator",
        "particle": sim.particle,
        "calorimeter": repr(calorimeter.to_dict()),
        "spectrum": repr(spectrum.to_dict()),
    }
    bar = progress_bar(n, "simulate", "shower") if progress else None
    t0 = time.perf_counter()
    with ShowerWriter(output, geometry, attrs=attrs, compression="gzip") as writer:
        for start in range(0, n, chunk_size):
            chunk = energies[start : start + chunk_size]
            result = simulator.simulate(chunk, rng)
            writer.write(
                ShowerBatch(
                    incident_energies_mev=chunk,
                    showers_mev=result.showers,
                    overflow_mev=result.overflow if geometry.layout == "calogan" else None,
                )
            )
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return SimulationSummary(Path(output), n, time.perf_counter() - t0)


def simulate_events(
    config: RunConfig, output: str | Path, n: int | None = None, seed: int | None = None, progress: bool = False
) -> SimulationSummary:
    """Generate ``n`` Pythia events (default ``simulation.pythia.n_events``) into an event table (GeV).

    ``n`` and ``seed`` override the config's ``n_events`` and Pythia ``seed``.

    Raises:
        ConfigError: invalid ``simulation.pythia`` section (or seed outside Pythia's 1..9e8);
        HepganError: pythia8mc missing or Pythia fails; OutputError: the file cannot be written.
    """
    from hepgan.sim.pythia import PythiaConfig, simulate_events_to_file

    pythia = PythiaConfig.from_dict(config.simulation.pythia, "simulation.pythia")
    summary = simulate_events_to_file(pythia, output, n=n, seed=seed, progress=progress)
    return SimulationSummary(summary.path, summary.n, summary.seconds, unit="events")
