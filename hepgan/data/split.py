"""The training / held-out split of a reference sample, the same for showers and events."""

from __future__ import annotations

import numpy as np


def holdout_mask(n: int, validation_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out entries (fixed by the seed, so resuming sees the same split)."""
    n_val = round(n * validation_fraction)
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:n_val]] = True
    return mask
