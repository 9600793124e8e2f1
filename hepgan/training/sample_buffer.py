"""A bounded buffer of training samples, refilled from the file as training proceeds.

A training file larger than memory (CaloChallenge dataset 3: 40 500 voxels per shower,
16 GB of float32 for 100 000 showers) is read in blocks of consecutive samples. The
buffer holds ``n_slots`` blocks; every ``refresh_every`` steps the oldest block is
replaced by the next one in a seeded random order of this process's blocks (a new order
each pass over them). Batches are drawn uniformly from the samples held. Memory is
``n_slots × block size × numbers per sample`` whatever the number of samples in the file.

What the buffer holds is a function of the seed and the step alone, so a resumed run
rebuilds the same content (:meth:`SampleBuffer.fill_for_step`) and continues as if
uninterrupted.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch


class BlockSource(Protocol):
    """Blocks of preprocessed training samples of one process (features and conditions, float32, CPU)."""

    n_blocks: int

    def read_block(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (n, n_features) and conditions (n, cond_dim) of block ``index`` (0 ≤ index < n_blocks)."""
        ...


def refresh_interval(block_size: int, samples_per_step: int, reuse: float) -> int:
    """Steps between block replacements such that a held sample is drawn ``reuse`` times on average.

    A block stays ``n_slots × interval`` steps; a step draws ``samples_per_step`` of the
    ``n_slots × block_size`` held samples, so each is drawn ``interval × samples_per_step / block_size``
    times while held.
    """
    return max(1, round(reuse * block_size / max(1, samples_per_step)))


class SampleBuffer:
    """``n_slots`` blocks of a :class:`BlockSource` on ``device``, refreshed on a schedule fixed by the seed."""

    def __init__(
        self,
        source: BlockSource,
        n_slots: int,
        block_size: int,
        refresh_every: int,
        seed: int,
        device: torch.device,
    ) -> None:
        if source.n_blocks < 1:
            raise ValueError("sample buffer: the source has no blocks")
        self.source = source
        self.n_slots = min(n_slots, source.n_blocks)
        self.block_size = block_size
        self.refresh_every = max(1, refresh_every)
        self.seed = seed
        self.device = device
        self.features: torch.Tensor | None = None
        self.conditions: torch.Tensor | None = None
        self._lengths = np.zeros(self.n_slots, dtype=np.int64)
        self._rows = torch.zeros(0, dtype=torch.long)
        self._refreshes = 0  # blocks read into the buffer so far (the first n_slots fill it)
        self._order: tuple[int, np.ndarray] | None = None  # (pass, its block order): only the current pass

    # ------------------------------------------------------------------ schedule
    def block_of_refresh(self, refresh: int) -> int:
        """The block that refresh number ``refresh`` reads: pass ``refresh // n_blocks``, seeded order."""
        n_blocks = self.source.n_blocks
        epoch, position = divmod(refresh, n_blocks)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(n_blocks))
        return int(self._order[1][position])

    def refreshes_at(self, step: int) -> int:
        """Blocks read by the start of ``step``: the initial fill plus one per ``refresh_every`` steps."""
        if self.n_slots == self.source.n_blocks:
            return self.n_slots  # everything is held: nothing to refresh
        return self.n_slots + step // self.refresh_every

    # ------------------------------------------------------------------ content
    def fill_for_step(self, step: int) -> None:
        """Hold exactly what an uninterrupted run holds at the start of ``step`` (a start or a resume)."""
        self._refreshes = 0
        self.advance(step)

    def advance(self, step: int) -> None:
        """Read the blocks due by the start of ``step`` (steps in order); of those that would replace one
        another within this call, only the last ``n_slots`` are read."""
        due = self.refreshes_at(step)
        if due == self._refreshes:
            return
        for refresh in range(max(self._refreshes, due - self.n_slots), due):
            self._load(refresh)
        self._refreshes = due
        self._update_rows()

    def _load(self, refresh: int) -> None:
        features, conditions = self.source.read_block(self.block_of_refresh(refresh))
        slot = refresh % self.n_slots
        if self.features is None or self.conditions is None:
            rows = self.n_slots * self.block_size
            self.features = torch.zeros(rows, features.shape[1], dtype=torch.float32, device=self.device)
            self.conditions = torch.zeros(rows, conditions.shape[1], dtype=torch.float32, device=self.device)
        n = min(len(features), self.block_size)
        start = slot * self.block_size
        self.features[start : start + n] = features[:n].to(self.device, torch.float32)
        self.conditions[start : start + n] = conditions[:n].to(self.device, torch.float32)
        self._lengths[slot] = n

    def _update_rows(self) -> None:
        """Indices of the rows that hold samples (blocks may be shorter than ``block_size``)."""
        parts = [np.arange(n) + slot * self.block_size for slot, n in enumerate(self._lengths)]
        self._rows = torch.from_numpy(np.concatenate(parts)).to(self.device)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def memory_bytes(self) -> int:
        """Bytes the buffer's tensors take."""
        if self.features is None or self.conditions is None:
            return 0
        return (self.features.numel() + self.conditions.numel()) * 4

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples drawn uniformly (with replacement) from those held."""
        assert self.features is not None and self.conditions is not None, "fill the buffer first"
        pick = torch.randint(len(self._rows), (n,), device=self.device, generator=generator)
        rows = self._rows[pick]
        return self.features[rows], self.conditions[rows]


def slots_for(buffer_samples: int, block_size: int) -> int:
    """Blocks the buffer holds for a budget of ``buffer_samples`` samples (at least 2, so one can be replaced)."""
    return max(2, math.ceil(buffer_samples / max(1, block_size)))
