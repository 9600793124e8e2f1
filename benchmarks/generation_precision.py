"""bf16 against float32 generation: the same noise, energies and calibration ranks through both precisions.

    python benchmarks/generation_precision.py [--checkpoint RUN_OR_FILE] [--n 1e5]

``generation.precision: auto`` runs the generator network under bf16 autocast where the
hardware multiplies bf16 natively. This prints how much the showers move for it, per shower
and per cell, on ``--n`` showers of the checkpoint's spectrum (CPU): the relative difference
of the total energies (mean, rms, largest), the share of cells empty in one and hit in the
other, the relative difference of cells hit in both (median, 99th percentile), and the
response mean and width per incident energy in both precisions.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hepgan.cli import parse_count
from hepgan.generate import ShowerGenerator, resolve_checkpoint
from hepgan.sim.spectra import EnergySpectrum

BATCH = 10_000


def generate(generator: ShowerGenerator, noise: torch.Tensor, energies: np.ndarray, ranks: torch.Tensor) -> np.ndarray:
    """Cells (N, n_cells) in MeV for given noise, incident energies (MeV) and calibration ranks."""
    parts = [
        generator.cells_from_noise(
            noise[i : i + BATCH], torch.from_numpy(energies[i : i + BATCH]), ranks=ranks[i : i + BATCH]
        ).numpy()
        for i in range(0, len(energies), BATCH)
    ]
    return np.concatenate(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="checkpoint or run folder (default: newest run)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--n", type=parse_count, default=100_000)
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="calo")
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    config = generator.config
    spectrum = EnergySpectrum.from_dict(config.generation.spectrum or config.simulation.spectrum, "spectrum")
    energies = spectrum.sample(args.n, np.random.default_rng(0))
    noise = torch.randn(args.n, generator.latent_dim, generator=torch.Generator().manual_seed(1))
    n_cells = generator.geometry.n_voxels + generator.n_extra
    ranks = torch.rand(args.n, n_cells, generator=torch.Generator().manual_seed(2))
    showers = {}
    for bf16 in (False, True):
        generator.bfloat16 = bf16
        showers[bf16] = generate(generator, noise, energies, ranks)
    single, half = showers[False], showers[True]
    print(f"checkpoint: {checkpoint}; {args.n} showers; the CPU's network in float32 and in bf16 autocast")
    totals_single, totals_half = single.sum(axis=1), half.sum(axis=1)
    relative = totals_half / totals_single - 1
    print(
        f"total energy: mean rel. diff {relative.mean():+.2e}, rms {relative.std():.2e}, "
        f"largest {np.abs(relative).max():.2e}"
    )
    flips = np.mean((single > 0) != (half > 0))
    print(
        f"cells empty in one, hit in the other: {flips:.4%}; occupancy {np.mean(single > 0):.4f} (float32), "
        f"{np.mean(half > 0):.4f} (bf16)"
    )
    both = (single > 0) & (half > 0)
    cells = np.abs(half[both] / single[both] - 1)
    print(
        f"cells hit in both: median |rel. diff| {np.median(cells):.2e}, 99th percentile {np.quantile(cells, 0.99):.2e}"
    )
    print(f"\n{'E_inc GeV':>10s} {'n':>6s} {'mean f32':>9s} {'mean bf16':>9s} {'width f32':>9s} {'width bf16':>10s}")
    distinct = np.unique(energies)
    if len(distinct) <= 20:  # a discrete spectrum: every third energy or so
        groups = [(e, energies == e) for e in distinct[:: max(1, len(distinct) // 6)]]
    else:  # a continuous one: six bins in ln E
        edges = np.quantile(np.log(energies), np.linspace(0, 1, 7))
        labels = np.clip(np.searchsorted(edges, np.log(energies), side="right") - 1, 0, 5)
        groups = [(float(np.exp(np.log(energies[labels == k]).mean())), labels == k) for k in range(6)]
    for energy, rows in groups:
        a, b = totals_single[rows] / energies[rows], totals_half[rows] / energies[rows]
        print(f"{energy / 1000:10.3f} {rows.sum():6d} {a.mean():9.5f} {b.mean():9.5f} {a.std():9.5f} {b.std():10.5f}")


if __name__ == "__main__":
    main()
