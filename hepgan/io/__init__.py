"""Shower file I/O (CaloChallenge HDF5, CaloGAN HDF5, ROOT) and calorimeter geometries."""

from __future__ import annotations

from hepgan.io.geometry import (
    BUILTIN_GEOMETRIES,
    CaloGeometry,
    Layer,
    geometry_from_dict,
    load_calochallenge_xml,
    load_geometry,
)
from hepgan.io.showers import (
    LAYOUTS,
    RESERVED_ATTRS,
    ShowerBatch,
    ShowerReader,
    ShowerWriter,
    detect_layout,
    read_showers,
    write_showers,
)

__all__ = [
    "BUILTIN_GEOMETRIES",
    "LAYOUTS",
    "RESERVED_ATTRS",
    "CaloGeometry",
    "Layer",
    "ShowerBatch",
    "ShowerReader",
    "ShowerWriter",
    "detect_layout",
    "geometry_from_dict",
    "load_calochallenge_xml",
    "load_geometry",
    "read_showers",
    "write_showers",
]
