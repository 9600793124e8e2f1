"""Conditional multilayer-perceptron generator and critic/discriminator."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _mlp(sizes: list[int], activation: type[nn.Module], final_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or final_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


class LeakyReLU02(nn.LeakyReLU):
    """LeakyReLU with slope 0.2, the usual GAN choice."""

    def __init__(self) -> None:
        super().__init__(0.2)


class MLPGenerator(nn.Module):
    """G(z, c): latent noise (N, latent_dim) and condition (N, cond_dim) → features (N, n_features)."""

    def __init__(self, latent_dim: int, cond_dim: int, n_features: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp([latent_dim + cond_dim, *hidden, n_features], LeakyReLU02)

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noise, cond], dim=1))


class MLPCritic(nn.Module):
    """D(x, c): features and condition → one score per shower (a logit, or a Wasserstein critic value)."""

    def __init__(self, cond_dim: int, n_features: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = _mlp([n_features + cond_dim, *hidden, 1], LeakyReLU02)

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, cond], dim=1)).squeeze(1)
