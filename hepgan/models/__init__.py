"""Networks only: shower networks from the config's architecture name (an explicit registry), event networks."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hepgan.config import ModelConfig
from hepgan.models.cylinder import CylinderCritic, CylinderGenerator, cylinder_shape
from hepgan.models.dcgan import DCGANCritic, DCGANGenerator
from hepgan.models.events import EVENT_CONDITION_DIM, build_event_networks, check_event_architecture
from hepgan.models.mlp import MLPCritic, MLPGenerator

CONDITION_DIM = 1  # log-scaled incident energy


def _mlp_pair(cfg: ModelConfig, layer_shapes: list[tuple[int, int]], n_extra: int) -> tuple[nn.Module, nn.Module]:
    n_features = 1 + sum(r * c for r, c in layer_shapes) + n_extra
    return (
        MLPGenerator(cfg.latent_dim, CONDITION_DIM, n_features, cfg.generator_hidden),
        MLPCritic(CONDITION_DIM, n_features, cfg.critic_hidden),
    )


def _dcgan_pair(cfg: ModelConfig, layer_shapes: list[tuple[int, int]], n_extra: int) -> tuple[nn.Module, nn.Module]:
    return (
        DCGANGenerator(cfg.latent_dim, CONDITION_DIM, layer_shapes, n_extra, cfg.dcgan_channels),
        DCGANCritic(CONDITION_DIM, layer_shapes, n_extra, cfg.dcgan_channels),
    )


def _cylinder_pair(cfg: ModelConfig, layer_shapes: list[tuple[int, int]], n_extra: int) -> tuple[nn.Module, nn.Module]:
    shape = cylinder_shape(layer_shapes, n_extra)  # ConfigError unless all layers share one shape
    return (
        CylinderGenerator(cfg.latent_dim, CONDITION_DIM, shape, cfg.cylinder_channels),
        CylinderCritic(CONDITION_DIM, shape, cfg.cylinder_channels),
    )


ARCHITECTURES: dict[str, Callable[[ModelConfig, list[tuple[int, int]], int], tuple[nn.Module, nn.Module]]] = {
    "mlp": _mlp_pair,
    "dcgan": _dcgan_pair,
    "cylinder": _cylinder_pair,
}


def build_networks(cfg: ModelConfig, layer_shapes: list[tuple[int, int]], n_extra: int) -> tuple[nn.Module, nn.Module]:
    """Generator and critic for showers with the given layer image shapes and extra cells."""
    return ARCHITECTURES[cfg.architecture](cfg, layer_shapes, n_extra)


__all__ = [
    "ARCHITECTURES",
    "CONDITION_DIM",
    "EVENT_CONDITION_DIM",
    "build_event_networks",
    "build_networks",
    "check_event_architecture",
]
