"""A critic that also scores a few physics summaries of each shower (layer energies, widths)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hepgan.models.mlp import LeakyReLU02, _mlp


class SummaryCritic(nn.Module):
    """D(x, c) = D_cells(x, c) + H(s(x, c), c): the cell critic plus a small MLP on summaries.

    ``summary`` maps features (N, n_features) and conditions (N, cond_dim) to (N, n_summary)
    standardised shower summaries, differentiably, so the gradient penalty and the
    generator's loss see them. Quantities such as a layer's transverse width are non-linear
    in all of the layer's cells at once; given directly, the head can score them from the
    first step instead of the cell critic having to learn them.
    """

    def __init__(
        self,
        critic: nn.Module,
        summary: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        n_summary: int,
        cond_dim: int,
        hidden: tuple[int, ...],
    ) -> None:
        super().__init__()
        self.critic = critic
        self.summary = summary
        self.head = _mlp([n_summary + cond_dim, *hidden, 1], LeakyReLU02)

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        summary = self.summary(features, cond).to(features.dtype)
        return self.critic(features, cond) + self.head(torch.cat([summary, cond.to(features.dtype)], dim=1)).squeeze(1)
