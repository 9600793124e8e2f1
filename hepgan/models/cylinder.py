"""Cylinder networks: showers as one volume (layer, alpha, r), for geometries whose layers share one polar shape.

The CaloChallenge datasets 2 and 3 (6 480 and 40 500 voxels) bin every layer alike, so a shower is
a 3-D volume. Dense heads do not scale to it (an MLP's last layer alone would need 512 x 40 500
weights); convolutions over the volume do, with weights independent of the number of voxels.

- Alpha is periodic: every convolution pads it circularly; layer and r are padded with zeros.
- :class:`CylinderGenerator`: G(z, c) projects (z, c) to a coarse seed volume, then upsamples
  (nearest, to exact sizes: no cropping, so alpha stays periodic) with 3-D convolutions; the
  condition and the (layer, r) position enter every scale as constant channels; a learned bias
  per (layer, r) sets each cell's typical value. The response comes from a small head on the code.
- :class:`CylinderCritic`: D(x, c) with 3-D convolutions strided in layer and r only, a mean over
  alpha (exactly invariant under rotations by whole sectors) and an MLP on the pooled code, the
  response feature and the condition. LeakyReLU(0.2), no batch norm (WGAN-GP needs double backward).

The feature vector is ``[response, cells in (layer, alpha, r) order]``, as in :mod:`hepgan.data.transforms`.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from hepgan.errors import ConfigError

Shape3 = tuple[int, int, int]
SLOPE = 0.2  # LeakyReLU
CODE_DIM = 256  # the generator's code for (z, c)
SCALES = 2  # the generator's seed is 2**SCALES times coarser than the volume in each direction
POSITION_CHANNELS = 3  # condition, layer position, radial position


def cylinder_shape(layer_shapes: list[tuple[int, int]], n_extra: int) -> Shape3:
    """(n_layers, n_alpha, n_r) of a geometry whose layers share one shape; ConfigError otherwise."""
    distinct = list(dict.fromkeys(layer_shapes))
    if len(distinct) != 1 or n_extra != 0:
        shapes = ", ".join(f"{a}x{b}" for a, b in distinct) or "none"
        extra = f" and {n_extra} extra cells" if n_extra else ""
        raise ConfigError(
            f"model.architecture 'cylinder' needs layers of one shape (layer x alpha x r); geometry has shapes "
            f"{shapes}{extra}; use mlp or dcgan"
        )
    n_alpha, n_r = distinct[0]
    return len(layer_shapes), n_alpha, n_r


def pad_cylinder(x: torch.Tensor, pad: Shape3) -> torch.Tensor:
    """Pad a (N, C, layer, alpha, r) volume: circularly in alpha, with zeros in layer and r."""
    p_layer, p_alpha, p_r = pad
    if p_alpha:
        x = torch.cat([x[:, :, :, -p_alpha:], x, x[:, :, :, :p_alpha]], dim=3)
    return F.pad(x, (p_r, p_r, 0, 0, p_layer, p_layer))


class CylinderConv(nn.Module):
    """Convolution over (layer, alpha, r), circular in alpha, size-preserving at stride 1 (odd kernel sizes)."""

    def __init__(self, n_in: int, n_out: int, stride: Shape3 = (1, 1, 1), kernel: Shape3 = (3, 3, 3)) -> None:
        super().__init__()
        self.pad = (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
        self.conv = nn.Conv3d(n_in, n_out, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(pad_cylinder(x, self.pad))


def _positions(size: Shape3) -> torch.Tensor:
    """(1, 2, layer, alpha, r): layer and radial position in [-1, 1] (none in alpha: it is periodic)."""
    n_layer, _, n_r = size
    layer = torch.linspace(-1.0, 1.0, n_layer).view(n_layer, 1, 1).expand(size)
    radius = torch.linspace(-1.0, 1.0, n_r).view(1, 1, n_r).expand(size)
    return torch.stack([layer, radius]).unsqueeze(0).contiguous()


def _scale_sizes(shape: Shape3, scales: int) -> list[Shape3]:
    """Volume sizes from the coarsest seed (each direction halved ``scales`` times, rounded up) to ``shape``."""
    return [
        (math.ceil(shape[0] / 2**k), math.ceil(shape[1] / 2**k), math.ceil(shape[2] / 2**k))
        for k in range(scales, -1, -1)
    ]


class _Stage(nn.Module):
    """Resize to ``size`` (nearest), add the condition and position channels, convolve, LeakyReLU."""

    positions: torch.Tensor

    def __init__(self, n_in: int, n_out: int, size: Shape3, kernel: Shape3) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("positions", _positions(size), persistent=False)
        self.conv = CylinderConv(n_in + POSITION_CHANNELS, n_out, kernel=kernel)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="nearest")
        n = x.shape[0]
        condition = cond[:, :1].to(x.dtype).view(n, 1, 1, 1, 1).expand(n, 1, *self.size)
        positions = self.positions.to(x.dtype).expand(n, -1, -1, -1, -1)
        return F.leaky_relu(self.conv(torch.cat([x, condition, positions], dim=1)), SLOPE)


class CylinderGenerator(nn.Module):
    """G(z, c) -> [response, cells (layer, alpha, r)]: a seed volume upsampled by circular 3-D convolutions.

    ``2 * channels`` channels at the coarser scales (3x3x3 kernels), ``channels`` at full resolution,
    where the kernel is 1x3x3 (alpha, r only: the costliest scale; depth structure comes from the
    coarser ones), then a per-cell linear map to one channel.
    """

    def __init__(self, latent_dim: int, cond_dim: int, shape: Shape3, channels: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.shape = shape
        sizes = _scale_sizes(shape, SCALES)
        widths = [2 * channels] * SCALES + [channels]
        kernels: list[Shape3] = [(3, 3, 3)] * SCALES + [(1, 3, 3)]
        self.seed_size, self.seed_width = sizes[0], widths[0]
        self.trunk = nn.Sequential(
            nn.Linear(latent_dim + cond_dim, CODE_DIM),
            nn.LeakyReLU(SLOPE),
            nn.Linear(CODE_DIM, CODE_DIM),
            nn.LeakyReLU(SLOPE),
        )
        self.response = nn.Sequential(nn.Linear(CODE_DIM, 64), nn.LeakyReLU(SLOPE), nn.Linear(64, 1))
        self.seed = nn.Linear(CODE_DIM, widths[0] * math.prod(sizes[0]))
        n_in = [widths[0], *widths[:-1]]
        self.stages = nn.ModuleList(_Stage(*args) for args in zip(n_in, widths, sizes, kernels, strict=True))
        self.out = nn.Linear(widths[-1], 1)  # per cell, over channels
        self.cell_bias = nn.Parameter(torch.zeros(1, shape[0], 1, shape[2]))  # per (layer, r)

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        code = self.trunk(torch.cat([noise, cond], dim=1))
        n = code.shape[0]
        x = F.leaky_relu(self.seed(code), SLOPE).view(n, self.seed_width, *self.seed_size)
        for stage in self.stages:
            x = stage(x, cond)
        cells = torch.einsum("nclar,c->nlar", x, self.out.weight[0]) + self.out.bias + self.cell_bias
        cells = cells.flatten(1)
        return torch.cat([self.response(code), cells], dim=1)


class CylinderCritic(nn.Module):
    """D(x, c): circular 3-D convolutions strided in layer and r, a mean over alpha, then an MLP.

    Strides never touch alpha and the pooling averages over it, so the score is invariant under
    rotating every layer of a shower by the same whole number of sectors.
    """

    def __init__(self, cond_dim: int, shape: Shape3, channels: int, hidden: int = 256) -> None:
        super().__init__()
        self.shape = shape
        widths = [1 + cond_dim, channels, 2 * channels, 2 * channels]
        size = (shape[0], shape[2])
        convs = []
        for n_in, n_out in itertools.pairwise(widths):
            stride = (2 if size[0] > 2 else 1, 1, 2 if size[1] > 2 else 1)
            convs.append(CylinderConv(n_in, n_out, stride))
            size = (math.ceil(size[0] / stride[0]), math.ceil(size[1] / stride[2]))
        self.convs = nn.ModuleList(convs)
        n_code = widths[-1] * size[0] * size[1] + 1 + cond_dim
        self.head = nn.Sequential(nn.Linear(n_code, hidden), nn.LeakyReLU(SLOPE), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        n = features.shape[0]
        x = features[:, 1:].reshape(n, 1, *self.shape)
        condition = cond.to(x.dtype).view(n, -1, 1, 1, 1).expand(n, cond.shape[1], *self.shape)
        x = torch.cat([x, condition], dim=1)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), SLOPE)
        pooled = x.mean(dim=3).flatten(1)  # over alpha
        return self.head(torch.cat([pooled, features[:, :1], cond.to(x.dtype)], dim=1)).squeeze(1)
