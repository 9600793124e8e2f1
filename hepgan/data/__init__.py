"""Preprocessing and data modules between reference files and the networks.

``make_data_module(config)`` returns the data module for ``config.kind``; see
:mod:`hepgan.data.showers` for what a data module provides.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from hepgan.errors import ConfigError

DATA_MODULES = {
    "calo": ("hepgan.data.showers", "ShowerData"),
    "events": ("hepgan.data.events", "EventData"),
}


def make_data_module(config: Any) -> Any:
    """The data module for the config's kind (imported lazily)."""
    if config.kind not in DATA_MODULES:
        raise ConfigError(f"kind: expected one of {', '.join(DATA_MODULES)}, got {config.kind!r}")
    module, name = DATA_MODULES[config.kind]
    return getattr(import_module(module), name)(config)
