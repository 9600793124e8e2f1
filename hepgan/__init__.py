"""hepgan: conditional GANs that replace slow calorimeter and event simulation.

The notebook API (imported lazily, so ``import hepgan`` stays cheap)::

    from hepgan import ShowerGenerator, read_showers, write_showers, load_geometry
    from hepgan import EventGenerator, read_events, write_events
    from hepgan import load_generator, generate_to_file, train, validate_files
    from hepgan import compare                  # two samples: metrics, floor, verdict and hist.Hist histograms
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ShowerGenerator": "hepgan.generate",
    "EventGenerator": "hepgan.generate",
    "load_generator": "hepgan.domains",
    "generate_to_file": "hepgan.domains",
    "train": "hepgan.domains",
    "validate_files": "hepgan.domains",
    "ShowerBatch": "hepgan.io",
    "ShowerReader": "hepgan.io",
    "ShowerWriter": "hepgan.io",
    "read_showers": "hepgan.io",
    "write_showers": "hepgan.io",
    "load_geometry": "hepgan.io.geometry",
    "load_config": "hepgan.config",
    "read_events": "hepgan.io.events",
    "compare": "hepgan.validation",
    "write_events": "hepgan.io.events",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hepgan' has no attribute {name!r}")
