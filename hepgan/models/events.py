"""Networks of the event GAN: an unconditional MLP generator and critic (optionally symmetrised)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hepgan.config import ModelConfig
from hepgan.errors import ConfigError
from hepgan.models.mlp import MLPCritic, MLPGenerator

EVENT_CONDITION_DIM = 0
"""The event model is unconditional: a whole event is one sample of the process."""


def check_event_architecture(model: ModelConfig) -> None:
    """Raise ConfigError unless ``model.architecture`` is "mlp" and ``model.critic_summary`` is empty (shower-only)."""
    if model.architecture != "mlp":
        raise ConfigError(f"model.architecture: kind 'events' needs 'mlp', got {model.architecture!r}")
    if model.critic_summary:
        raise ConfigError(f"model.critic_summary: kind 'events' needs [], got {list(model.critic_summary)}")


class SymmetrisedCritic(MLPCritic):
    """The MLP critic behind a random symmetry transform of every input event (the same weights and state dict).

    ``symmetrise`` maps features (N, n_features) to randomly transformed features, drawing
    from torch's global CPU generator (saved in checkpoints), independently per event: the
    real events of a batch are augmented, the generated ones symmetrised, and the gradient
    penalty's interpolates lie between the two (the transforms are linear isometries).
    """

    def __init__(
        self,
        cond_dim: int,
        n_features: int,
        hidden: tuple[int, ...],
        symmetrise: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__(cond_dim, n_features, hidden)
        self.symmetrise = symmetrise

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return super().forward(self.symmetrise(features), cond)


def build_event_networks(
    model: ModelConfig, n_features: int, symmetrise: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> tuple[nn.Module, nn.Module]:
    """Unconditional MLP generator and critic for ``n_features`` event features.

    With ``symmetrise`` the critic is a :class:`SymmetrisedCritic`.

    Raises:
        ConfigError: ``model.architecture`` is not "mlp".
    """
    check_event_architecture(model)
    generator = MLPGenerator(model.latent_dim, EVENT_CONDITION_DIM, n_features, model.generator_hidden)
    if symmetrise is not None:
        return generator, SymmetrisedCritic(EVENT_CONDITION_DIM, n_features, model.critic_hidden, symmetrise)
    return generator, MLPCritic(EVENT_CONDITION_DIM, n_features, model.critic_hidden)
