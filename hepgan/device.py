"""Which torch device to run on: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import re

import torch

from hepgan.errors import ConfigError


def select_device(name: str, field: str = "device") -> torch.device:
    """The device named by ``name``; a ConfigError naming ``field`` for anything else or a missing GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d{1,3})?", name or ""):
        if not torch.cuda.is_available():
            raise ConfigError(f"{field}: {name!r} requested but no CUDA device is available")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"{field}: {name!r} requested but only {torch.cuda.device_count()} CUDA devices exist")
        return torch.device(name)
    raise ConfigError(f"{field}: expected auto, cpu, cuda or cuda:N, got {name!r}")
