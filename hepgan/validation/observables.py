"""Per-shower physics observables computed from flat voxel energies.

Every function here is pure and vectorised over showers, so callers can process a large
file chunk by chunk and concatenate the (small) per-shower results.

Conventions (all energies in MeV, depths in radiation lengths X0, positions in mm):

- ``e_total``: sum of all voxel energies; ``e_ratio`` = ``e_total`` / incident energy.
- ``e_layer_{id}``: energy in layer ``id``; ``e_fraction_{id}`` = ``e_layer_{id}`` / ``e_total``.
- ``shower_depth``: energy-weighted mean of the layers' mid depths (longitudinal centre of
  gravity); ``shower_depth_width``: energy-weighted rms of the same.
- ``centre_x_{id}``, ``centre_y_{id}``: energy-weighted mean voxel-centre position in the
  layer (the centre of energy, as in the CaloChallenge evaluation, Krause et al.,
  arXiv:2410.21611).
- ``width_{id}``: lateral width, the energy-weighted rms transverse distance of the voxel
  centres from the layer's centre of energy, ``sqrt(sigma_x**2 + sigma_y**2)``, where
  ``sigma_x`` and ``sigma_y`` are the lateral widths in x and y (``width_x_{id}``,
  ``width_y_{id}``). It is 0 for a single hit voxel.
- ``sparsity_{id}``: fraction of the layer's voxels with energy strictly above a threshold
  (default 0 MeV), i.e. the layer occupancy (1 - the CaloChallenge "sparsity").
- ``centre_r_{id}``: energy-weighted mean distance of the voxel centres from the shower axis.
- ``width_x_{id}``, ``width_y_{id}``, ``width_r_{id}``: energy-weighted rms of x, y and r
  about their means, i.e. widths of the layer's energy distribution (the CaloChallenge
  evaluation files them as "width of the centre of energy" in η (x) and φ (y)), and the
  radial width.
- ``hottest_ratio_{id}``: (E_1st − E_2nd) / (E_1st + E_2nd) of the layer's two hottest
  voxels, the CaloGAN shower shape "E_ratio" (Paganini, de Oliveira, Nachman,
  arXiv:1705.02355); 0 for an empty layer, 1 when a single voxel is hit.

The observables follow the CaloGAN shower shapes (layer energies, total energy, layer
fractions, shower depth and its width, lateral width, E_ratio, sparsity; arXiv:1705.02355)
and the CaloChallenge 2022 high-level features (energy per layer, centre of energy and its
width per layer, E_tot/E_inc; Krause et al., arXiv:2410.21611).

Voxel positions are the geometry's voxel centres (``CaloGeometry.voxel_centres``, polar
bins at mid radius and mid azimuth). For a polar layer with a single azimuthal sector all
centres lie on one ray (the mid azimuth), so there ``|centre_x|`` is the energy-weighted
mean radius, ``centre_y`` is 0 (to rounding) and ``width`` is the rms spread in radius.

Empty denominators are defined, not NaN: a layer (or shower) with no energy has centre,
width and fraction 0; a shower with no energy has ``shower_depth`` and
``shower_depth_width`` 0; a non-positive incident energy gives ``e_ratio`` 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hepgan.io.geometry import CaloGeometry


@dataclass(frozen=True)
class ObservableInfo:
    """How to present one observable.

    Attributes:
        label: axis label for plots (mathtext only, no LaTeX needed); ``{id}`` is replaced
            by the layer id for per-layer observables.
        unit: physical unit (``""`` for dimensionless).
        log: binning hint: ``True`` for log-spaced bins (positive, wide-range quantities).
        per_layer: whether the observable exists once per layer (name ``base_{id}``).
    """

    label: str
    unit: str
    log: bool = False
    per_layer: bool = False


OBSERVABLES: dict[str, ObservableInfo] = {
    "e_total": ObservableInfo("Deposited energy $E_{tot}$ [MeV]", "MeV", log=True),
    "e_ratio": ObservableInfo("$E_{tot}/E_{inc}$", ""),
    "shower_depth": ObservableInfo("Shower depth (energy-weighted mean) [$X_0$]", "X0"),
    "shower_depth_width": ObservableInfo("Shower depth width (energy-weighted rms) [$X_0$]", "X0"),
    "e_layer": ObservableInfo("Energy in layer {id} [MeV]", "MeV", log=True, per_layer=True),
    "e_fraction": ObservableInfo("Energy fraction in layer {id}", "", per_layer=True),
    "centre_x": ObservableInfo("Centre of energy in x, layer {id} [mm]", "mm", per_layer=True),
    "centre_y": ObservableInfo("Centre of energy in y, layer {id} [mm]", "mm", per_layer=True),
    "width": ObservableInfo("Lateral width (rms distance from the centre), layer {id} [mm]", "mm", per_layer=True),
    "sparsity": ObservableInfo("Fraction of voxels above threshold, layer {id}", "", per_layer=True),
    "centre_r": ObservableInfo("Centre of energy in r, layer {id} [mm]", "mm", per_layer=True),
    "width_x": ObservableInfo("Lateral width in x ($\\sigma_x$), layer {id} [mm]", "mm", per_layer=True),
    "width_y": ObservableInfo("Lateral width in y ($\\sigma_y$), layer {id} [mm]", "mm", per_layer=True),
    "width_r": ObservableInfo("Radial width ($\\sigma_r$), layer {id} [mm]", "mm", per_layer=True),
    "hottest_ratio": ObservableInfo("$(E_{{1st}}-E_{{2nd}})/(E_{{1st}}+E_{{2nd}})$, layer {id}", "", per_layer=True),
}
"""Registry of observable base names → presentation. Look names up with :func:`describe`."""

_LAYER_NAME = re.compile(r"^(?P<base>[a-z_]+?)_(?P<id>-?\d+)$")


def describe(name: str) -> ObservableInfo:
    """Presentation info for a full observable name such as ``"e_layer_2"``.

    The returned label has the layer id filled in.

    Raises:
        KeyError: if ``name`` is not a known observable.
    """
    info = OBSERVABLES.get(name)
    if info is not None and not info.per_layer:
        return info
    match = _LAYER_NAME.match(name)
    if match is not None:
        base = OBSERVABLES.get(match["base"])
        if base is not None and base.per_layer:
            return ObservableInfo(base.label.format(id=match["id"]), base.unit, base.log, True)
    raise KeyError(f"unknown observable {name!r}")


def observable_names(geometry: CaloGeometry) -> list[str]:
    """All observable names :func:`shower_observables` returns for ``geometry``, in order."""
    names = [name for name, info in OBSERVABLES.items() if not info.per_layer]
    for base, info in OBSERVABLES.items():
        if info.per_layer:
            names.extend(f"{base}_{layer.id}" for layer in geometry.layers)
    return names


def safe_divide(numerator: np.ndarray, denominator: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Element-wise ``numerator / denominator`` with ``fill`` where the denominator is <= 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    ok = denominator > 0
    out = np.full(np.broadcast(numerator, denominator).shape, fill, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=ok)
    return out


def weighted_mean_and_rms(
    weights: np.ndarray, positions: np.ndarray, total: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and rms about the mean of ``positions`` for each row of ``weights``.

    Args:
        weights: (N, k) non-negative weights (energies).
        positions: (k,) positions shared by all rows.
        total: optional precomputed row sums of ``weights``.

    Returns:
        (mean, rms), each (N,); both 0 for rows whose weights sum to 0.
    """
    weights = np.asarray(weights, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    if total is None:
        total = weights.sum(axis=1)
    mean = safe_divide(weights @ positions, total)
    centred = positions[None, :] - mean[:, None]
    variance = safe_divide(np.einsum("nk,nk->n", weights, centred * centred), total)
    return mean, np.sqrt(np.maximum(variance, 0.0))


def _check_inputs(showers_mev: np.ndarray, incident_mev: np.ndarray, geometry: CaloGeometry) -> None:
    if showers_mev.ndim != 2 or showers_mev.shape[1] != geometry.n_voxels:
        raise ValueError(
            f"showers must have shape (N, {geometry.n_voxels}) for geometry {geometry.name!r}, got {showers_mev.shape}"
        )
    if incident_mev.shape != (showers_mev.shape[0],):
        raise ValueError(f"incident energies must have shape ({showers_mev.shape[0]},), got {incident_mev.shape}")


def longitudinal_observables(layer_energies: np.ndarray, geometry: CaloGeometry) -> dict[str, np.ndarray]:
    """``shower_depth`` and ``shower_depth_width`` (X0) from per-layer energies (N, n_layers)."""
    mid_depth = geometry.depth_edges_x0.mean(axis=1)
    depth, depth_width = weighted_mean_and_rms(layer_energies, mid_depth)
    return {"shower_depth": depth, "shower_depth_width": depth_width}


def layer_lateral_observables(
    layer_showers: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, layer_energy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre of energy (x, y) and lateral width (mm) of one layer.

    Args:
        layer_showers: (N, k) voxel energies of the layer in MeV.
        x_mm, y_mm: (k,) voxel centres in mm.
        layer_energy: (N,) row sums of ``layer_showers``.

    Returns:
        (centre_x, centre_y, width), each (N,); width = sqrt(sigma_x**2 + sigma_y**2).
    """
    lateral = layer_lateral_moments(layer_showers, x_mm, y_mm, layer_energy)
    return lateral["centre_x"], lateral["centre_y"], lateral["width"]


def layer_lateral_moments(
    layer_showers: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, layer_energy: np.ndarray
) -> dict[str, np.ndarray]:
    """Centres of energy in x, y, r and their energy-weighted rms widths (mm) for one layer.

    Returns:
        ``centre_x``, ``centre_y``, ``centre_r``, ``width_x``, ``width_y``, ``width_r`` and
        ``width`` (= hypot(width_x, width_y)), each (N,).
    """
    centre_x, width_x = weighted_mean_and_rms(layer_showers, x_mm, layer_energy)
    centre_y, width_y = weighted_mean_and_rms(layer_showers, y_mm, layer_energy)
    centre_r, width_r = weighted_mean_and_rms(layer_showers, np.hypot(x_mm, y_mm), layer_energy)
    return {
        "centre_x": centre_x,
        "centre_y": centre_y,
        "centre_r": centre_r,
        "width_x": width_x,
        "width_y": width_y,
        "width_r": width_r,
        "width": np.hypot(width_x, width_y),
    }


def hottest_cells_ratio(layer_showers: np.ndarray) -> np.ndarray:
    """(E_1st − E_2nd) / (E_1st + E_2nd) of the two hottest voxels per row (CaloGAN E_ratio).

    Args:
        layer_showers: (N, k) voxel energies in MeV.

    Returns:
        (N,) values in [0, 1]; 0 for rows without energy, 1 for a single voxel (k = 1).
    """
    block = np.asarray(layer_showers, dtype=np.float64)
    if block.shape[1] < 2:
        return (block[:, 0] > 0).astype(np.float64) if block.shape[1] else np.zeros(len(block))
    top_two = np.partition(block, -2, axis=1)[:, -2:]
    first, second = top_two[:, 1], top_two[:, 0]
    return safe_divide(first - second, first + second)


def _snap_to_zero(values: np.ndarray, scale: float) -> np.ndarray:
    """Set positions that are zero up to rounding (|v| <= 1e-9 of the layer size) to exactly 0."""
    return np.where(np.abs(values) <= 1e-9 * scale, 0.0, values)


def shower_observables(
    showers_mev: np.ndarray,
    incident_mev: np.ndarray,
    geometry: CaloGeometry,
    threshold_mev: float = 0.0,
) -> dict[str, np.ndarray]:
    """Compute every per-shower observable (see the module docstring for definitions).

    Args:
        showers_mev: (N, n_voxels) voxel energies in MeV.
        incident_mev: (N,) incident energies in MeV.
        geometry: the geometry the showers are binned in.
        threshold_mev: voxel energy (MeV) a voxel must exceed to count in ``sparsity_{id}``.

    Returns:
        name → float64 array of shape (N,), names as :func:`observable_names` lists them.
    """
    showers = np.asarray(showers_mev)
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
    _check_inputs(showers, incident, geometry)
    x_all, y_all = geometry.voxel_centres()
    scale = max(float(np.max(np.abs(x_all))), float(np.max(np.abs(y_all))), 1.0)
    x_all, y_all = _snap_to_zero(x_all, scale), _snap_to_zero(y_all, scale)
    # float64 copies one layer at a time (not of the whole (N, n_voxels) input: 40500 voxels per shower in
    # CaloChallenge dataset 3)
    layer_energies = np.zeros((len(showers), geometry.n_layers))
    for index, sl in enumerate(geometry.layer_slices):
        layer_energies[:, index] = np.asarray(showers[:, sl], dtype=np.float64).sum(axis=1)
    e_total = layer_energies.sum(axis=1)

    out: dict[str, np.ndarray] = {"e_total": e_total, "e_ratio": safe_divide(e_total, incident)}
    out.update(longitudinal_observables(layer_energies, geometry))
    per_layer: dict[str, dict[int, np.ndarray]] = {base: {} for base, info in OBSERVABLES.items() if info.per_layer}
    for index, (layer, sl) in enumerate(zip(geometry.layers, geometry.layer_slices, strict=True)):
        energy = layer_energies[:, index]
        block = np.asarray(showers[:, sl], dtype=np.float64)
        per_layer["e_layer"][layer.id] = energy
        per_layer["e_fraction"][layer.id] = safe_divide(energy, e_total)
        for base, value in layer_lateral_moments(block, x_all[sl], y_all[sl], energy).items():
            per_layer[base][layer.id] = value
        per_layer["sparsity"][layer.id] = np.count_nonzero(block > threshold_mev, axis=1) / layer.n_voxels
        per_layer["hottest_ratio"][layer.id] = hottest_cells_ratio(block)
    for base, values in per_layer.items():
        out.update({f"{base}_{layer_id}": value for layer_id, value in values.items()})
    return out


def concatenate_observables(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join per-chunk observable dicts (same keys) into one dict of arrays."""
    if not chunks:
        return {}
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}


def chunked_observables(
    showers_mev: np.ndarray,
    incident_mev: np.ndarray,
    geometry: CaloGeometry,
    chunk_size: int = 10_000,
    threshold_mev: float = 0.0,
) -> dict[str, np.ndarray]:
    """:func:`shower_observables` computed ``chunk_size`` showers at a time.

    The float64 working copies then never exceed one chunk, so in-memory arrays of 1e6+
    showers are processed with memory bounded by the chunk plus the (small) results.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
    n = len(incident)
    if n == 0:
        return shower_observables(np.zeros((0, geometry.n_voxels)), incident, geometry, threshold_mev)
    chunks = [
        shower_observables(showers_mev[i : i + chunk_size], incident[i : i + chunk_size], geometry, threshold_mev)
        for i in range(0, n, chunk_size)
    ]
    return concatenate_observables(chunks)
