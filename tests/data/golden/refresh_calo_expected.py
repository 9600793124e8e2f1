"""Refresh calo_expected.npz from the unchanged calo_checkpoint.pt (run from the repository root).

The expected showers were refreshed once, when the cell calibration moved from searched
quantile tables to its fixed node grid (the checkpoint's generated quantiles are converted to
the grid when read, so the same old file now gives slightly different showers). The network
runs in float32 here, as in the test, whatever the machine's bf16 support.
"""

from pathlib import Path

import numpy as np
from hepgan.generate import ShowerGenerator

out = Path("tests/data/golden")
gen = ShowerGenerator.from_checkpoint(out / "calo_checkpoint.pt", device="cpu")
gen.bfloat16 = False
energies = np.array([1024.0, 3000.0, 16384.0, 1024.0, 16384.0] * 4)
batch = gen.sample(energies, seed=5)
np.savez(out / "calo_expected.npz", incident_mev=energies, showers_mev=batch.showers_mev)
