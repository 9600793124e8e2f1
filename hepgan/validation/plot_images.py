"""Layer images in the calorimeter's own geometry (mm): average showers, their ratio, the latent walk."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.patches
import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from hepgan.io.geometry import CaloGeometry, Layer
from hepgan.validation.observables import safe_divide
from hepgan.validation.plot_style import (
    COLOUR_BAR_WIDTH,
    IMAGE_STYLE,
    experiment_label,
    header_axes,
    new_figure,
    save_figure,
    wrap_label,
)

log = logging.getLogger(__name__)


def layer_cell_areas(layer: Layer) -> np.ndarray:
    """Transverse area (mm²) of each cell of ``layer``, shaped like its image (:attr:`Layer.shape`)."""
    if layer.kind == "polar":
        r_edges = np.asarray(layer.r_edges, dtype=np.float64)
        rings = np.pi * np.diff(r_edges**2) / layer.n_alpha
        return np.broadcast_to(rings, layer.shape).copy()
    widths, heights = np.diff(np.asarray(layer.x_edges)), np.diff(np.asarray(layer.y_edges))
    return np.outer(heights, widths)


def _display_radius(layer: Layer, image: np.ndarray, containment: float = 0.98) -> float:
    """Smallest r edge holding ``containment`` of a polar layer's energy (at least its second edge)."""
    r_edges = np.asarray(layer.r_edges, dtype=np.float64)
    per_ring = np.asarray(image, dtype=np.float64).sum(axis=0)
    total = per_ring.sum()
    if total <= 0:
        return float(r_edges[-1])
    inside = np.cumsum(per_ring) / total
    index = int(np.searchsorted(inside, containment - 1e-12)) + 1
    return float(r_edges[min(max(index, 2), len(r_edges) - 1)])


def draw_layer(
    ax: Axes, layer: Layer, values: np.ndarray, *, norm: Normalize | None, cmap: Any, radius: float | None = None
) -> QuadMesh:
    """Draw one layer's per-cell ``values`` (image shape) in mm in its own geometry; returns the mesh.

    Polar layers: ``pcolormesh`` on an x–y grid of wedges (each azimuthal sector subdivided so
    that arcs look round), shown out to ``radius``; Cartesian layers: their x–y grid.
    Masked values show in the colour map's "bad" colour.
    """
    values = np.ma.asarray(values)
    if layer.kind == "polar":
        r_edges = np.asarray(layer.r_edges, dtype=np.float64)
        steps = max(1, math.ceil(96 / layer.n_alpha))
        theta = np.linspace(0.0, 2.0 * np.pi, layer.n_alpha * steps + 1)
        tt, rr = np.meshgrid(theta, r_edges, indexing="ij")
        mesh = ax.pcolormesh(
            rr * np.cos(tt), rr * np.sin(tt), np.ma.repeat(values, steps, axis=0), norm=norm, cmap=cmap, shading="flat"
        )
        limit = float(r_edges[-1] if radius is None else radius)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    else:
        mesh = ax.pcolormesh(np.asarray(layer.x_edges), np.asarray(layer.y_edges), values, norm=norm, cmap=cmap)
    ax.set_aspect("equal")
    return mesh


def _log_norm(*images: np.ndarray, dynamic_range: float = 1e5) -> LogNorm | Normalize:
    """Log colour scale over the positive values (at most ``dynamic_range``); linear when they span < 10×."""
    positive = np.concatenate([np.ma.compressed(np.ma.masked_less_equal(image, 0)) for image in images])
    if positive.size == 0:
        return Normalize(0.0, 1.0)
    high = float(positive.max())
    low = max(float(positive.min()), high / dynamic_range)
    if high < 10.0 * low:
        return Normalize(0.0, high)
    return LogNorm(vmin=low, vmax=high)


def _ratio_range(ratio: np.ndarray) -> float:
    """Half-width of the ratio colour scale around 1: a round value covering 95 % of the cells."""
    deviations = np.abs(np.ma.compressed(ratio) - 1.0)
    deviations = deviations[np.isfinite(deviations)]
    spread = float(np.quantile(deviations, 0.95)) if deviations.size else 0.0
    for step in (0.02, 0.05, 0.1, 0.2, 0.5):
        if spread <= step:
            return step
    return 1.0


def _cells_shown(layer: Layer, radius: float | None) -> np.ndarray:
    """Cells of ``layer`` inside the displayed radius (all cells of a Cartesian layer)."""
    if layer.kind != "polar" or radius is None:
        return np.ones(layer.shape, dtype=bool)
    inner = np.asarray(layer.r_edges[:-1], dtype=np.float64)
    return np.broadcast_to(inner < radius, layer.shape)


def average_layer_images_figure(
    reference_mean: np.ndarray,
    generated_mean: np.ndarray,
    geometry: CaloGeometry,
    labels: Sequence[str] = ("Reference", "Generated"),
    title: str | None = None,
) -> Figure:
    """The figure of :func:`plot_average_layer_images` (see there), not yet saved."""
    ref_images = geometry.layer_images(np.asarray(reference_mean, dtype=np.float64)[None, :])
    gen_images = geometry.layer_images(np.asarray(generated_mean, dtype=np.float64)[None, :])
    energy_cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.9")
    ratio_cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.8")
    with matplotlib.style.context(IMAGE_STYLE):
        figure = new_figure(10.2, 2.9 * geometry.n_layers + 0.7, IMAGE_STYLE)
        grid = figure.add_gridspec(
            geometry.n_layers + 1,
            5,
            height_ratios=[0.01] + [1.0] * geometry.n_layers,
            width_ratios=[1.0, 1.0, COLOUR_BAR_WIDTH, 1.0, COLOUR_BAR_WIDTH],
        )
        header = header_axes(figure, grid[0, :])
        for row, layer in enumerate(geometry.layers):
            areas = layer_cell_areas(layer)
            ref_density = ref_images[row][0] / areas
            gen_density = gen_images[row][0] / areas
            radius = _display_radius(layer, ref_images[row][0]) if layer.kind == "polar" else None
            shown = _cells_shown(layer, radius)
            norm = _log_norm(np.where(shown, ref_density, 0.0), np.where(shown, gen_density, 0.0))
            ratio = np.ma.masked_where(ref_density <= 0, safe_divide(gen_density, ref_density, fill=np.nan))
            half = _ratio_range(ratio[shown])
            axes = [figure.add_subplot(grid[row + 1, column]) for column in (0, 1, 3)]
            energy_meshes = [
                draw_layer(
                    ax,
                    layer,
                    np.ma.masked_less_equal(density, 0) if isinstance(norm, LogNorm) else density,
                    norm=norm,
                    cmap=energy_cmap,
                    radius=radius,
                )
                for ax, density in zip(axes[:2], (ref_density, gen_density), strict=True)
            ]
            ratio_mesh = draw_layer(
                axes[2], layer, ratio, norm=Normalize(1.0 - half, 1.0 + half), cmap=ratio_cmap, radius=radius
            )
            figure.colorbar(energy_meshes[0], cax=figure.add_subplot(grid[row + 1, 2]), label="MeV/mm$^2$")
            figure.colorbar(ratio_mesh, cax=figure.add_subplot(grid[row + 1, 4]), label="Gen./Ref.", extend="both")
            name = f"layer {layer.id}: {layer.role}" if layer.role else f"layer {layer.id}"
            axes[0].set_ylabel(f"{wrap_label(name, 22)}\ny [mm]")
            for ax in axes[1:]:
                ax.tick_params(labelleft=False)  # same y range as the reference image on the left
            for ax in axes:
                ax.set_anchor("E")  # square images next to their colour bars
            for ax, column_title in zip(axes, (*labels, f"{labels[1]} / {labels[0]}"), strict=True):
                ax.set_xlabel("x [mm]")
                if row == 0:
                    ax.set_title(column_title)
        experiment_label(header, title or geometry.name, fontsize=13)
    return figure


def plot_average_layer_images(
    reference_mean: np.ndarray,
    generated_mean: np.ndarray,
    geometry: CaloGeometry,
    path: Path,
    labels: Sequence[str] = ("Reference", "Generated"),
    title: str | None = None,
) -> Path:
    """Mean energy density per layer in mm: reference, generated and their ratio, one row per layer.

    Each layer is drawn in its own transverse geometry (:func:`draw_layer`): polar layers as
    rings and wedges out to the radius holding 98 % of the reference energy, Cartesian ones on
    their x–y grid. Reference and generated share a colour scale (MeV/mm², log when the
    densities span more than a decade); the ratio generated/reference uses a diverging colour
    map centred on 1, grey where the reference is empty.

    Args:
        reference_mean, generated_mean: (n_voxels,) mean showers in MeV.
        title: the experiment label's right-hand text (default: the geometry's name).
    """
    return save_figure(average_layer_images_figure(reference_mean, generated_mean, geometry, labels, title), path)


def latent_walk_figure(
    showers_mev: np.ndarray,
    geometry: CaloGeometry,
    *,
    incident_mev: float | None = None,
    positions: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """The figure of :func:`plot_latent_walk` (see there), not yet saved."""
    showers = np.asarray(showers_mev, dtype=np.float64)
    n_steps = len(showers)
    images = geometry.layer_images(showers)
    positions = np.linspace(0.0, 1.0, n_steps) if positions is None else np.asarray(positions)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.9")
    if title is None:
        title = geometry.name
        if incident_mev is not None:
            title += f"\n$E_{{inc}}$ = {incident_mev / 1000:.4g} GeV"
    with matplotlib.style.context(IMAGE_STYLE):
        figure = new_figure(1.9 * n_steps + 1.6, 2.1 * geometry.n_layers + 0.8, IMAGE_STYLE)
        grid = figure.add_gridspec(
            geometry.n_layers + 1,
            n_steps + 1,
            height_ratios=[0.01] + [1.0] * geometry.n_layers,
            width_ratios=[1.0] * n_steps + [COLOUR_BAR_WIDTH],
        )
        header = header_axes(figure, grid[0, :])
        for row, layer in enumerate(geometry.layers):
            densities = images[row] / layer_cell_areas(layer)[None]
            radius = _display_radius(layer, images[row].mean(axis=0)) if layer.kind == "polar" else None
            shown = _cells_shown(layer, radius)
            norm = _log_norm(*(np.where(shown, density, 0.0) for density in densities))
            axes = [figure.add_subplot(grid[row + 1, column]) for column in range(n_steps)]
            meshes = []
            for column, (ax, density) in enumerate(zip(axes, densities, strict=True)):
                masked = np.ma.masked_less_equal(density, 0) if isinstance(norm, LogNorm) else density
                meshes.append(draw_layer(ax, layer, masked, norm=norm, cmap=cmap, radius=radius))
                ax.tick_params(labelsize="x-small")
                if column > 0:
                    ax.tick_params(labelleft=False)
                if row == 0:
                    ax.set_title(f"t = {positions[column]:.2f}", fontsize="small")
            axes[0].set_ylabel(f"layer {layer.id}\ny [mm]", fontsize="small")
            bar = figure.colorbar(meshes[0], cax=figure.add_subplot(grid[row + 1, n_steps]))
            bar.set_label("MeV/mm$^2$", fontsize="small")
        for ax in axes:
            ax.set_xlabel("x [mm]", fontsize="small")
        experiment_label(header, title, fontsize=13)
    return figure


def plot_latent_walk(
    showers_mev: np.ndarray,
    geometry: CaloGeometry,
    path: Path,
    *,
    incident_mev: float | None = None,
    positions: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """Layer images (rows) of showers generated along a latent-space line (columns), in mm.

    Each layer is drawn in its own transverse geometry (:func:`draw_layer`) with one colour
    scale per layer (energy density, log when it spans more than a decade) so that changes
    from step to step are visible; smooth variation along a row means the generator maps
    nearby latent points to similar showers.

    Args:
        showers_mev: (n_steps, n_voxels) showers in MeV, in walk order.
        incident_mev: the fixed incident energy, for the label.
        positions: (n_steps,) position t ∈ [0, 1] of each step along the line, for the titles.
        title: the experiment label's right-hand text (default: geometry name and incident energy).
    """
    figure = latent_walk_figure(showers_mev, geometry, incident_mev=incident_mev, positions=positions, title=title)
    return save_figure(figure, path)


# ----------------------------------------------------------------------------- training history
