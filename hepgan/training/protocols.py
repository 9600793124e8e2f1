"""What the trainer needs from a kind of data, and the domain steps it runs without knowing them.

The trainer is handed a :class:`TrainingData` by the domain that the config names
(:mod:`hepgan.domains`); the domain adds its own steps (the calorimeter's cell calibration,
the in-training evaluator) as :class:`StepHook` objects, run on the EMA generator at
checkpoint and evaluation steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from hepgan.losses import MMDInputs
from hepgan.models.memory import SampleSize
from hepgan.training.sample_buffer import BlockSource

HookFunction = Callable[[nn.Module, torch.device, int], Mapping[str, float]]
"""(EMA generator, device, seed) → metrics to log (may be empty)."""


@dataclass(frozen=True)
class StepHook:
    """A domain step that the trainer runs on the EMA generator at evaluation steps.

    Attributes:
        name: what it does, for logs.
        run: the step; the metrics it returns go into ``metrics.jsonl``.
        at_checkpoints: run it at every checkpoint step too (e.g. a fit stored in the checkpoint).
        evaluation: it computes the quick metrics: evaluation steps (``training.eval_every``) exist
            only when such a hook does.
    """

    name: str
    run: HookFunction
    at_checkpoints: bool = False
    evaluation: bool = False


class TrainingData(Protocol):
    """The data side of one run: preprocessing, training tensors, held-out sample, networks, checkpoint entries."""

    kind: str
    unit: str  # "showers" or "events", for logs and progress

    def fit_transform(self) -> None:
        """Fit the preprocessing on the training sample (deterministic: the same on every rank)."""

    def load_transform(self, state: Mapping[str, Any]) -> None:
        """Use the preprocessing stored in a checkpoint (resume)."""

    def sample_size(self) -> SampleSize:
        """Features, conditions and summary numbers per sample, known before the preprocessing is fitted
        (an upper bound where fitting may drop features): what the batch-memory estimate counts."""
        ...

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, n_features) and conditions (N, cond_dim), float32."""
        ...

    def training_blocks(self, rank: int, world_size: int) -> BlockSource | None:
        """This process's training samples as blocks for a bounded buffer (``data.buffer_size``), or None
        when they are all held in memory (:meth:`training_tensors`)."""
        ...

    def write_holdout(self, path: Path) -> None:
        """Write the held-out reference sample."""

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """Generator and critic for this data's features (call after :meth:`training_tensors`)."""
        ...

    def mmd_features(self, features: torch.Tensor, cond: torch.Tensor) -> MMDInputs:
        """What the optional MMD term compares, (N, d) or several (N, d_i), differentiable in ``features``."""
        ...

    def checkpoint_entries(self) -> dict[str, Any]:
        """What generation needs besides the weights and the config."""
        ...

    def step_hooks(self, is_main: bool) -> Sequence[StepHook]:
        """The domain's steps, in the order they run (``is_main``: this process logs and checkpoints)."""
        ...
