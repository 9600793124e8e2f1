"""What every trained generator holds: the network on its device, the model state, the config, the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn
from typing_extensions import Self

from hepgan.config import RunConfig
from hepgan.device import select_device, use_bfloat16
from hepgan.training.checkpoint import load_checkpoint

ModelT = TypeVar("ModelT")


class TrainedGenerator(Generic[ModelT]):
    """A generator network in eval mode on its device, with its domain's model state (preprocessing, ...).

    Subclasses (:class:`~hepgan.generate.ShowerGenerator`, :class:`~hepgan.generate.EventGenerator`)
    read their checkpoint entries in :meth:`from_state` and sample.
    """

    def __init__(
        self,
        network: nn.Module,
        model: ModelT,
        config: RunConfig,
        step: int = 0,
        device: str | torch.device = "auto",
        source: str = "<checkpoint>",
    ) -> None:
        self.device = device if isinstance(device, torch.device) else select_device(device, "--device")
        self.network = network.to(self.device).eval()
        self.model = model
        self.config = config
        self.step = int(step)
        self.source = source
        self.latent_dim = config.model.latent_dim
        self.bfloat16 = use_bfloat16(config.generation.precision, self.device)
        """The network runs under bf16 autocast (``generation.precision``; auto: where the hardware has bf16)."""

    def autocast(self) -> torch.autocast:
        """The generation precision's autocast context for the network's forward pass."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bfloat16)

    @classmethod
    def from_state(
        cls, state: dict[str, Any], device: str | torch.device = "auto", use_ema: bool = True, source: str = ""
    ) -> Self:
        """From a loaded checkpoint dict; InputFileError naming ``source`` if it is not usable."""
        raise NotImplementedError

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto", use_ema: bool = True) -> Self:
        """Load a checkpoint file (safely: tensors and plain data only)."""
        return cls.from_state(load_checkpoint(path), device=device, use_ema=use_ema, source=str(path))
