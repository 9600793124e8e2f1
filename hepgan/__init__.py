"""hepgan: conditional GANs that replace slow calorimeter and event simulation.

The notebook API (imported lazily, so ``import hepgan`` stays cheap)::

    from hepgan import ShowerGenerator, read_showers, write_showers, load_geometry
    from hepgan import EventGenerator, read_events, write_events
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ShowerGenerator": "hepgan.generate",
    "generate_to_file": "hepgan.generate",
    "ShowerBatch": "hepgan.io",
    "ShowerReader": "hepgan.io",
    "ShowerWriter": "hepgan.io",
    "read_showers": "hepgan.io",
    "write_showers": "hepgan.io",
    "load_geometry": "hepgan.io.geometry",
    "load_config": "hepgan.config",
    "EventGenerator": "hepgan.generate_events",
    "read_events": "hepgan.io.events",
    "write_events": "hepgan.io.events",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hepgan' has no attribute {name!r}")
