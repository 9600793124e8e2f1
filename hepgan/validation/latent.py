"""Latent-space walk: showers generated along a straight line between two latent points.

At a fixed incident energy, the generator is fed z(t) = (1 − t) z₀ + t z₁ for t from 0 to 1
(z₀, z₁ drawn from the latent prior with a seeded ``torch.Generator``). A well-behaved
generator changes the shower smoothly along the line; jumps or collapsed images point to
a badly conditioned latent space (interpolation checks as in Radford et al.,
arXiv:1511.06434, Sec. 6.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hepgan.validation.plots import plot_latent_walk

if TYPE_CHECKING:
    from hepgan.generate.showers import ShowerGenerator


def latent_line(latent_dim: int, n_steps: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """(n_steps, latent_dim) points on the segment between two seeded N(0, 1) latent points, and t."""
    if n_steps < 2:
        raise ValueError(f"a latent walk needs n_steps >= 2, got {n_steps}")
    generator = torch.Generator().manual_seed(int(seed))
    start, end = torch.randn(2, latent_dim, generator=generator, dtype=torch.float64)
    positions = np.linspace(0.0, 1.0, n_steps)
    t = torch.from_numpy(positions)[:, None]
    return ((1.0 - t) * start + t * end).float(), positions


def latent_walk(generator: ShowerGenerator, incident_mev: float, n_steps: int = 8, seed: int = 0) -> np.ndarray:
    """Showers (n_steps, n_voxels) in MeV along a latent line at a fixed incident energy (MeV).

    Deterministic for a given ``seed`` and checkpoint; the extra (overflow) cells of the
    generator's output are dropped. With a cell calibration, every step draws the same
    ranks for its empty cells, so the walk shows the network's changes only.
    """
    if not np.isfinite(incident_mev) or incident_mev <= 0:
        raise ValueError(f"incident energy must be finite and > 0 MeV, got {incident_mev}")
    noise, _ = latent_line(generator.latent_dim, n_steps, seed)
    incident = torch.full((1,), float(incident_mev), dtype=torch.float64)
    steps = [
        generator.cells_from_noise(point[None], incident, torch.Generator(generator.device).manual_seed(seed))
        for point in noise
    ]
    cells = torch.cat(steps).cpu().numpy().astype(np.float64)
    return cells[:, : generator.geometry.n_voxels]


def walk_step_sizes(showers_mev: np.ndarray) -> np.ndarray:
    """Relative change between consecutive walk showers, ‖s_{k+1} − s_k‖₁ / mean ‖s‖₁ (n_steps − 1,).

    A smooth generator gives small, similar values; one large value marks a jump.
    """
    showers = np.asarray(showers_mev, dtype=np.float64)
    scale = max(float(np.abs(showers).sum(axis=1).mean()), 1e-300)
    return np.abs(np.diff(showers, axis=0)).sum(axis=1) / scale


def latent_walk_plot(
    generator: ShowerGenerator, incident_mev: float, path: Path, n_steps: int = 8, seed: int = 0
) -> tuple[np.ndarray, Path]:
    """Run :func:`latent_walk` and draw it with :func:`hepgan.validation.plots.plot_latent_walk`."""
    showers = latent_walk(generator, incident_mev, n_steps, seed)
    positions = np.linspace(0.0, 1.0, n_steps)
    out = plot_latent_walk(showers, generator.geometry, Path(path), incident_mev=incident_mev, positions=positions)
    return showers, out
