"""Calorimeter voxel geometries: CaloChallenge polar binning and CaloGAN Cartesian grids.

A geometry is a stack of layers along the shower axis. Each layer covers a depth range
(in radiation lengths X0 of the calorimeter's effective medium, measured from the front
of the material in front of the calorimeter) and bins the transverse plane either

- in polar bins (CaloChallenge): radial edges in mm times ``n_alpha`` equal azimuthal
  sectors, flattened in (alpha, r) order, or
- in a Cartesian grid (CaloGAN): x and y edges in mm, flattened as (y, x) row-major.

Showers are flattened layer after layer, so a shower is a vector of ``n_voxels``
energies in MeV. Built-in geometries live in ``hepgan/geometries/*.yaml``; the official
CaloChallenge binning XML files are read by :func:`load_calochallenge_xml`.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hepgan.errors import ConfigError, InputFileError

BUILTIN_GEOMETRIES = ("calochallenge_ds1_photons", "calochallenge_ds2", "calochallenge_ds3", "calogan")
KNOWN_VOXEL_COUNTS: dict[int, str] = {
    368: "calochallenge_ds1_photons",
    504: "calogan",
    533: "CaloChallenge dataset 1 pions (binning_dataset_1_pions.xml; not built in: give a geometry YAML)",
    6480: "calochallenge_ds2",
    40500: "calochallenge_ds3",
}
"""Voxels per shower of the layouts physicists have, and the geometry that reads them."""


def geometry_for_voxel_count(n_voxels: int) -> str | None:
    """The built-in geometry whose showers have ``n_voxels`` voxels, or None."""
    name = KNOWN_VOXEL_COUNTS.get(int(n_voxels))
    return name if name in BUILTIN_GEOMETRIES else None


def voxel_count_hint(n_voxels: int) -> str:
    """What a file with ``n_voxels`` voxels per shower fits, for error messages."""
    known = ", ".join(f"{count} ({name.split(' (')[0]})" for count, name in sorted(KNOWN_VOXEL_COUNTS.items()))
    fits = KNOWN_VOXEL_COUNTS.get(int(n_voxels))
    where = f"{n_voxels} voxels fit {fits}" if fits else f"no built-in geometry has {n_voxels} voxels"
    return f"{where}; known layouts: {known}"


@dataclass(frozen=True)
class Layer:
    """One calorimeter layer.

    Attributes:
        id: layer number as the file layout names it (CaloChallenge layer id, CaloGAN index).
        depth_x0: (start, end) of the layer in X0 from the front of the upstream material.
        kind: ``"polar"`` or ``"cartesian"``.
        r_edges: radial bin edges in mm (polar).
        n_alpha: number of azimuthal sectors (polar).
        x_edges: bin edges along x (columns) in mm (cartesian).
        y_edges: bin edges along y (rows) in mm (cartesian).
        role: free text for documentation (``"presampler"``, ``"strips"``, ...).
    """

    id: int
    depth_x0: tuple[float, float]
    kind: str = "polar"
    r_edges: tuple[float, ...] = ()
    n_alpha: int = 1
    x_edges: tuple[float, ...] = ()
    y_edges: tuple[float, ...] = ()
    role: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape of the layer: (n_alpha, n_r) for polar, (n_y, n_x) for cartesian."""
        if self.kind == "polar":
            return (self.n_alpha, len(self.r_edges) - 1)
        return (len(self.y_edges) - 1, len(self.x_edges) - 1)

    @property
    def n_voxels(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def voxel_index(self, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
        """Flat voxel index inside this layer for transverse positions; -1 outside.

        Args:
            x_mm, y_mm: transverse positions relative to the shower axis, in mm.
        """
        x_mm = np.asarray(x_mm, dtype=np.float64)
        y_mm = np.asarray(y_mm, dtype=np.float64)
        if self.kind == "polar":
            r_edges = np.asarray(self.r_edges)
            r = np.hypot(x_mm, y_mm)
            ir = np.searchsorted(r_edges, r, side="right") - 1
            alpha = np.mod(np.arctan2(y_mm, x_mm), 2.0 * np.pi)
            ia = np.minimum((alpha / (2.0 * np.pi) * self.n_alpha).astype(np.int64), self.n_alpha - 1)
            n_r = len(r_edges) - 1
            inside = (ir >= 0) & (ir < n_r)
            return np.where(inside, ia * n_r + ir, -1)
        x_edges = np.asarray(self.x_edges)
        y_edges = np.asarray(self.y_edges)
        ix = np.searchsorted(x_edges, x_mm, side="right") - 1
        iy = np.searchsorted(y_edges, y_mm, side="right") - 1
        n_x = len(x_edges) - 1
        n_y = len(y_edges) - 1
        inside = (ix >= 0) & (ix < n_x) & (iy >= 0) & (iy < n_y)
        return np.where(inside, iy * n_x + ix, -1)


@dataclass(frozen=True)
class CaloGeometry:
    """A stack of layers; a shower is a flat vector of ``n_voxels`` energies (MeV)."""

    name: str
    layout: str  # "calochallenge" or "calogan": the HDF5 layout this geometry is written in
    layers: tuple[Layer, ...]
    description: str = ""
    particle: str = "photon"

    @property
    def n_voxels(self) -> int:
        return sum(layer.n_voxels for layer in self.layers)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def layer_slices(self) -> tuple[slice, ...]:
        """Slice of the flat shower vector that holds each layer."""
        out, start = [], 0
        for layer in self.layers:
            out.append(slice(start, start + layer.n_voxels))
            start += layer.n_voxels
        return tuple(out)

    @property
    def layer_of_voxel(self) -> np.ndarray:
        """Index (0..n_layers-1) of the layer each voxel belongs to, shape (n_voxels,)."""
        return np.repeat(np.arange(self.n_layers), [layer.n_voxels for layer in self.layers])

    @property
    def depth_edges_x0(self) -> np.ndarray:
        """(n_layers, 2) array of layer start/end depths in X0."""
        return np.array([layer.depth_x0 for layer in self.layers], dtype=np.float64)

    def layer_images(self, showers: np.ndarray) -> list[np.ndarray]:
        """Split flat showers (N, n_voxels) into per-layer images (N, rows, cols)."""
        showers = np.asarray(showers)
        return [
            showers[:, sl].reshape(len(showers), *layer.shape)
            for sl, layer in zip(self.layer_slices, self.layers, strict=True)
        ]

    def voxel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Transverse voxel centres (x, y) in mm, each of shape (n_voxels,).

        Polar voxels use the mid radius and mid azimuth of the bin (x = r cos alpha); a
        single-sector layer's bins therefore sit at azimuth pi (along -x).
        """
        xs, ys = [], []
        for layer in self.layers:
            if layer.kind == "polar":
                r_edges = np.asarray(layer.r_edges)
                r_mid = 0.5 * (r_edges[1:] + r_edges[:-1])
                a_mid = (np.arange(layer.n_alpha) + 0.5) * 2.0 * np.pi / layer.n_alpha
                aa, rr = np.meshgrid(a_mid, r_mid, indexing="ij")
                xs.append((rr * np.cos(aa)).ravel())
                ys.append((rr * np.sin(aa)).ravel())
            else:
                x_edges, y_edges = np.asarray(layer.x_edges), np.asarray(layer.y_edges)
                x_mid = 0.5 * (x_edges[1:] + x_edges[:-1])
                y_mid = 0.5 * (y_edges[1:] + y_edges[:-1])
                yy, xx = np.meshgrid(y_mid, x_mid, indexing="ij")
                xs.append(xx.ravel())
                ys.append(yy.ravel())
        return np.concatenate(xs), np.concatenate(ys)

    def voxel_radius(self) -> np.ndarray:
        """Distance of each voxel centre from the shower axis in mm (polar: mid radius)."""
        out = []
        for layer in self.layers:
            if layer.kind == "polar":
                r_edges = np.asarray(layer.r_edges)
                r_mid = 0.5 * (r_edges[1:] + r_edges[:-1])
                out.append(np.tile(r_mid, layer.n_alpha))
            else:
                x, y = CaloGeometry(self.name, self.layout, (layer,)).voxel_centres()
                out.append(np.hypot(x, y))
        return np.concatenate(out)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in hepgan geometry YAML files and checkpoints."""
        layers = []
        for layer in self.layers:
            entry: dict[str, Any] = {"id": layer.id, "depth_x0": list(layer.depth_x0), "role": layer.role}
            if layer.kind == "polar":
                entry.update(r_edges=list(layer.r_edges), n_alpha=layer.n_alpha)
            else:
                entry.update(x_edges=list(layer.x_edges), y_edges=list(layer.y_edges))
            layers.append(entry)
        return {
            "name": self.name,
            "layout": self.layout,
            "particle": self.particle,
            "description": self.description,
            "layers": layers,
        }


def geometry_from_dict(data: dict[str, Any], source: str = "<geometry>") -> CaloGeometry:
    """Build a geometry from its plain-data form, checking every field.

    Raises:
        ConfigError: naming ``source`` and the offending field.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a geometry must be a mapping, got {type(data).__name__}")
    for key in ("name", "layout", "layers"):
        if key not in data:
            raise ConfigError(f"{source}: geometry field '{key}' is missing")
    layout = data["layout"]
    if layout not in ("calochallenge", "calogan"):
        raise ConfigError(f"{source}: geometry field 'layout' must be 'calochallenge' or 'calogan', got {layout!r}")
    if not isinstance(data["layers"], list) or not data["layers"]:
        raise ConfigError(f"{source}: geometry field 'layers' must be a non-empty list")
    layers = []
    previous_end = -np.inf
    for i, entry in enumerate(data["layers"]):
        where = f"{source}: layers[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping")
        layer = _layer_from_dict(entry, i, where, previous_end)
        previous_end = layer.depth_x0[1]
        layers.append(layer)
    return CaloGeometry(
        name=str(data["name"]),
        layout=layout,
        layers=tuple(layers),
        description=str(data.get("description", "")),
        particle=str(data.get("particle", "photon")),
    )


def _numbers(values: Any, where: str, kind: type = float) -> tuple[Any, ...]:
    """A list of numbers (``float`` or ``int``), or a ConfigError naming ``where``."""
    if not isinstance(values, list | tuple):
        values = [values]
    try:
        return tuple(kind(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where} must hold {'integers' if kind is int else 'numbers'}, got {values!r}") from None


def _layer_from_dict(entry: dict[str, Any], i: int, where: str, previous_end: float) -> Layer:
    """One layer from its plain-data form (``where`` names it in errors)."""
    depth = entry.get("depth_x0")
    if not (isinstance(depth, list | tuple) and len(depth) == 2):
        raise ConfigError(f"{where}.depth_x0 must be [start, end] in X0")
    start, end = _numbers(depth, f"{where}.depth_x0")
    if not (0.0 <= start < end) or start < previous_end:
        raise ConfigError(f"{where}.depth_x0 must satisfy 0 <= start < end and follow the previous layer")
    common = {
        "id": _numbers(entry.get("id", i), f"{where}.id", int)[0],
        "depth_x0": (start, end),
        "role": str(entry.get("role", "")),
    }
    if "r_edges" in entry:
        r_edges = _numbers(entry["r_edges"], f"{where}.r_edges")
        n_alpha = _numbers(entry.get("n_alpha", 1), f"{where}.n_alpha", int)[0]
        if len(r_edges) < 2 or any(b <= a for a, b in itertools.pairwise(r_edges)) or r_edges[0] < 0:
            raise ConfigError(f"{where}.r_edges must be at least two increasing radii >= 0 in mm")
        if not 1 <= n_alpha <= 100_000:
            raise ConfigError(f"{where}.n_alpha must be in [1, 100000]")
        return Layer(kind="polar", r_edges=r_edges, n_alpha=n_alpha, **common)
    if "x_edges" in entry and "y_edges" in entry:
        x_edges = _numbers(entry["x_edges"], f"{where}.x_edges")
        y_edges = _numbers(entry["y_edges"], f"{where}.y_edges")
        for name, edges in (("x_edges", x_edges), ("y_edges", y_edges)):
            if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
                raise ConfigError(f"{where}.{name} must be at least two increasing positions in mm")
        return Layer(kind="cartesian", x_edges=x_edges, y_edges=y_edges, **common)
    raise ConfigError(f"{where} needs either r_edges (+ n_alpha) or x_edges and y_edges")


def load_geometry(name_or_path: str | Path) -> CaloGeometry:
    """Load a built-in geometry by name or a hepgan geometry YAML file by path."""
    text: str
    source = str(name_or_path)
    if str(name_or_path) in BUILTIN_GEOMETRIES:
        text = resources.files("hepgan.geometries").joinpath(f"{name_or_path}.yaml").read_text()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(
                f"geometry {source!r}: no such file and not a built-in geometry "
                f"(built-in: {', '.join(BUILTIN_GEOMETRIES)})"
            )
        text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc.__class__.__name__})") from None
    return geometry_from_dict(data, source)


def load_calochallenge_xml(
    path: str | Path, depths_x0: list[tuple[float, float]] | None = None
) -> list[dict[str, Any]]:
    """Read an official CaloChallenge binning XML file.

    Layers whose ``r_edges`` is ``"0"`` hold no voxels and are dropped, as in the
    challenge's own code.

    Args:
        path: the XML file.
        depths_x0: optional depth range per kept layer, attached as ``depth_x0``.

    Returns:
        One dict per kept layer: ``id``, ``r_edges`` (mm), ``n_alpha`` (and ``depth_x0``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such binning file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputFileError(f"{path}: not a valid binning XML ({exc})") from None
    layers = []
    seen: set[int] = set()
    for number, element in enumerate(root.iter("Layer")):
        entry = _xml_layer(element, f"{path}: <Layer> number {number}")
        if entry["id"] in seen:
            raise InputFileError(f'{path}: <Layer id="{entry["id"]}"> appears twice; expected each layer id once')
        seen.add(entry["id"])
        if len(entry["r_edges"]) >= 2:
            layers.append(entry)
    if not layers:
        raise InputFileError(f"{path}: no <Layer> with voxels found")
    if depths_x0 is not None:
        if len(depths_x0) != len(layers):
            raise ConfigError(f"{path}: {len(layers)} layers with voxels, but {len(depths_x0)} depth ranges given")
        for entry, depth in zip(layers, depths_x0, strict=True):
            entry["depth_x0"] = list(depth)
    return layers


def _xml_layer(element: ET.Element, where: str) -> dict[str, Any]:
    """One <Layer> of a binning XML: id, radial edges (mm, increasing from >= 0; "0" for none) and sectors."""
    missing = [key for key in ("id", "r_edges", "n_bin_alpha") if key not in element.attrib]
    if missing:
        raise InputFileError(f"{where} lacks the attribute(s) {', '.join(missing)}; expected id, r_edges, n_bin_alpha")
    try:
        layer_id = int(element.attrib["id"])
        n_alpha = int(element.attrib["n_bin_alpha"])
        edges = [float(v) for v in element.attrib["r_edges"].split(",")]
    except ValueError:
        raise InputFileError(
            f"{where}: id and n_bin_alpha must be integers and r_edges comma-separated numbers (mm), got "
            f"id={element.attrib['id']!r}, n_bin_alpha={element.attrib['n_bin_alpha']!r}"
        ) from None
    where = f"{where} (id {layer_id})"
    if n_alpha < 1:
        raise InputFileError(f"{where}: n_bin_alpha is {n_alpha}; expected at least 1 angular sector")
    if len(edges) >= 2 and (edges[0] < 0 or any(b <= a for a, b in itertools.pairwise(edges))):
        raise InputFileError(f"{where}: r_edges must increase from a radius >= 0 mm, got {element.attrib['r_edges']}")
    return {"id": layer_id, "r_edges": edges, "n_alpha": n_alpha}
