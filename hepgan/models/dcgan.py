"""Conditional DCGAN: per-layer transposed-convolution image heads and a convolutional critic.

The feature vector is ``[response, layer_0 image (flat), layer_1 image, ..., extra cells]``
(see :mod:`hepgan.data.transforms`); each calorimeter layer is an image of its own shape
(polar: alpha x r, cartesian: y x x), as in CaloGAN's per-layer streams.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _LayerImageHead(nn.Module):
    """Latent code → one layer image (rows, cols) via two stride-2 transposed convolutions."""

    def __init__(self, code_dim: int, shape: tuple[int, int], channels: int) -> None:
        super().__init__()
        self.shape = shape
        self.start = (math.ceil(shape[0] / 4), math.ceil(shape[1] / 4))
        self.channels = channels
        self.project = nn.Linear(code_dim, channels * self.start[0] * self.start[1])
        self.up = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(),
            nn.ConvTranspose2d(channels // 2, 1, 4, stride=2, padding=1),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.project(code).view(code.shape[0], self.channels, *self.start)
        image = self.up(x)[:, 0, : self.shape[0], : self.shape[1]]
        return image.reshape(code.shape[0], -1)


class DCGANGenerator(nn.Module):
    """G(z, c) with one transposed-convolution head per calorimeter layer."""

    def __init__(
        self, latent_dim: int, cond_dim: int, layer_shapes: list[tuple[int, int]], n_extra: int, channels: int
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        code_dim = 256
        channels = max(2, channels)
        self.trunk = nn.Sequential(
            nn.Linear(latent_dim + cond_dim, code_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(code_dim, code_dim),
            nn.LeakyReLU(0.2),
        )
        self.heads = nn.ModuleList(_LayerImageHead(code_dim, shape, channels) for shape in layer_shapes)
        self.scalars = nn.Linear(code_dim, 1 + n_extra)  # response and extra (overflow) cells
        self.n_extra = n_extra

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        code = self.trunk(torch.cat([noise, cond], dim=1))
        scalars = self.scalars(code)
        images = [head(code) for head in self.heads]
        return torch.cat([scalars[:, :1], *images, scalars[:, 1:]], dim=1)


class _LayerImageEncoder(nn.Module):
    """One layer image → a fixed-size feature vector (no batch norm: safe for gradient penalty)."""

    def __init__(self, shape: tuple[int, int], channels: int) -> None:
        super().__init__()
        self.shape = shape
        stride = (2 if shape[0] >= 4 else 1, 2 if shape[1] >= 4 else 1)
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 3, stride=stride, padding=1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d((2, 2)),
            nn.Flatten(),
        )
        self.n_out = 2 * channels * 4

    def forward(self, flat_image: torch.Tensor) -> torch.Tensor:
        return self.net(flat_image.view(len(flat_image), 1, *self.shape))


class DCGANCritic(nn.Module):
    """D(x, c): convolutional encoders per layer, then an MLP on codes, scalars and condition."""

    def __init__(self, cond_dim: int, layer_shapes: list[tuple[int, int]], n_extra: int, channels: int) -> None:
        super().__init__()
        self.sizes = [r * c for r, c in layer_shapes]
        encoders = [_LayerImageEncoder(shape, channels) for shape in layer_shapes]
        self.encoders = nn.ModuleList(encoders)
        n_code = sum(e.n_out for e in encoders) + 1 + n_extra + cond_dim
        self.head = nn.Sequential(nn.Linear(n_code, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        pieces = [features[:, :1]]
        start = 1
        for size, encoder in zip(self.sizes, self.encoders, strict=True):
            pieces.append(encoder(features[:, start : start + size]))
            start += size
        pieces.append(features[:, start:])
        pieces.append(cond)
        return self.head(torch.cat(pieces, dim=1)).squeeze(1)
