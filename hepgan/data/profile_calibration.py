"""Per-energy Gaussian-copula calibration of the energy profile of generated showers onto the reference.

A shower's profile, the energy x_g = E_g/E_inc in each group g of cells (each layer, or each
ring of one radial bin in one layer), is what a classifier separates generated from
reference showers on first: the cell calibration (:mod:`hepgan.data.calibration`) fixes
every cell's marginal but keeps the generator's total, so the layer and ring energies and,
above all, their correlations stay the generator's. This calibration fixes their joint
distribution per incident-energy bin in a Gaussian copula: each group energy becomes a
Gaussian score z_g = Φ⁻¹(F_gen,g(x_g)), the scores are decorrelated with the generated
showers' covariance and recorrelated with the reference's, z' = m_ref + L_ref L_gen⁻¹ (z −
m_gen) (L: Cholesky factors of the score covariances, m: score means), and each group energy
is read back through the reference's quantiles, x'_g = F_ref,g⁻¹(Φ(z'_g)). Every cell of
group g is scaled by x'_g/x_g, so the shape within a group (what the cell calibration set)
is kept. A Gaussian copula with the exact marginals reproduces group-energy distributions
whose dependence is Gaussian after the marginal maps exactly, and the marginals and linear
score correlations of any other. The total E_tot = Σ x_g E_inc is not kept: the response
calibration (:mod:`hepgan.data.response_calibration`) that follows sets its distribution.

Groups (``preprocessing.profile_calibration``, :func:`profile_groups`): ``layers``, one per
layer; ``rings``, one per (layer, radial bin) of polar layers, all alpha sectors together
(53 for the dataset-1 photons, 405 and 810 for datasets 2 and 3), so the radial profile of
every layer, its widths with it, follows the reference too (a cartesian layer is one group).

Empty groups (x_g = 0) take the mean score of the empty share p₀ of the sample,
E[Z | Z < Φ⁻¹(p₀)] = −φ(Φ⁻¹(p₀))/p₀, in the covariances as in the map, and stay empty; a
group whose mapped score falls in the reference's empty share is emptied.

Tables per energy bin b (bins as the cell and response calibrations',
:func:`~hepgan.data.calibration.inner_log_edges`) and group g, for the reference (training
showers, fitted once) and for the generator (refitted at each checkpoint from showers with the
cell calibration applied): the quantiles of x_g at :data:`N_LEVELS` levels Φ(z_k), z_k evenly
spaced in [−Z_MAX, Z_MAX], the empty share, and the scores' mean (G,) and covariance (G, G);
and each cell's group. Derived (not stored): the generated score z(x) at :data:`N_NODES`
nodes evenly spaced in ln x from the smallest to the largest positive generated quantile
(values and slopes), and the matrix L_ref L_gen⁻¹. Applying it needs no search (one gather
per table and a batched matrix product; the same operations on CPU, GPU and in the ONNX
graph of :mod:`hepgan.export`); since the levels are evenly spaced in z, F_ref⁻¹(Φ(z')) is
read directly on z'. Memory: 2·B·G·(N_LEVELS + G + 2) float32 stored, B·G·(2·N_NODES +
N_LEVELS + G) derived: 7.0 MB and 5.9 MB for the dataset-1 photons' rings (B = 15, G = 53).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy import sparse
from scipy.special import ndtr, ndtri

from hepgan.data.calibration import energy_bin_of
from hepgan.data.response_calibration import generation_energies, reference_values
from hepgan.data.state_checks import check_non_decreasing, check_range, check_shape
from hepgan.io.geometry import CaloGeometry

Z_MAX = 4.5
"""The quantile levels span Gaussian scores −Z_MAX … Z_MAX (u from 3.4e-6 to 1 − 3.4e-6)."""
N_LEVELS = 1025
"""Quantile levels per group and energy bin, evenly spaced in the Gaussian score."""
N_NODES = 1024
"""Nodes of the tabulated generated score z(x) per group and bin, evenly spaced in ln x."""
JITTER = 1e-4
"""Added to the score covariances' diagonals before the Cholesky factorisation (a group with one value in a bin)."""
_MIN_LOG_SPAN = 1e-6
"""A generated range of ln x narrower than this (a group with one value) is widened to it."""
_TINY = 1e-30
"""Shares are floored here before the logarithm (empty groups take their own score)."""


def score_levels() -> np.ndarray:
    """The Gaussian scores z_k (N_LEVELS,) of the quantile levels Φ(z_k)."""
    return np.linspace(-Z_MAX, Z_MAX, N_LEVELS)


def profile_groups(geometry: CaloGeometry, kind: str, n_extra: int = 0) -> tuple[np.ndarray, int]:
    """(each cell's group (n_voxels + n_extra,) int64, the number of groups G) for ``layers`` or ``rings`` (see the
    module docstring); the ``n_extra`` cells outside the voxels (CaloGAN's overflow) get G (not scaled).

    A cartesian layer (CaloGAN's) has no radial bins: with ``rings`` it is one group, as with ``layers``.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == "layers":
        groups, n_groups = geometry.layer_of_voxel, geometry.n_layers
    elif kind == "rings":
        parts, n_groups = [], 0
        for layer in geometry.layers:
            if layer.kind != "polar":
                parts.append(np.full(layer.n_voxels, n_groups))
                n_groups += 1
                continue
            n_alpha, n_r = layer.shape
            parts.append(n_groups + np.tile(np.arange(n_r), n_alpha))  # voxels run (alpha, r), r fastest
            n_groups += n_r
        groups = np.concatenate(parts)
    else:
        raise ValueError(f"profile groups {kind!r}: expected layers or rings")
    return np.concatenate([groups, np.full(n_extra, n_groups)]).astype(np.int64), n_groups


def group_energies(cells: np.ndarray, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    """(N, G) float64: each group's energy in MeV from cells (N, n_cells) in MeV; ``group_index`` (n_cells,) as
    :func:`profile_groups` (cells with index ``n_groups`` are left out)."""
    inside = np.flatnonzero(group_index < n_groups)
    onehot = sparse.csr_matrix(
        (np.ones(len(inside)), (group_index[inside], inside)), shape=(n_groups, len(group_index))
    )
    return np.asarray(onehot @ np.asarray(cells, dtype=np.float64).T).T


def empty_score(zero_share: np.ndarray) -> np.ndarray:
    """E[Z | Z < Φ⁻¹(p₀)] = −φ(Φ⁻¹(p₀))/p₀, the mean Gaussian score of an empty share p₀ (−Z_MAX where p₀ = 0)."""
    p0 = np.clip(np.asarray(zero_share, np.float64), 1e-12, 1.0 - 1e-12)
    edge = ndtri(p0)
    score = -np.exp(-0.5 * edge**2) / np.sqrt(2.0 * np.pi) / p0
    return np.where(np.asarray(zero_share) > 0, score, -Z_MAX)


def _positive_knots(quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, z) knots of the score z(x) for x > 0 from one quantile table: its positive quantiles with their levels'
    scores, repeated values collapsed (the middle score of each run)."""
    z = score_levels()
    keep = quantiles > 0
    if not keep.any():
        return np.array([1.0]), np.array([Z_MAX])
    x, z = quantiles[keep].astype(np.float64), z[keep]
    values, first, counts = np.unique(x, return_index=True, return_counts=True)
    middle = 0.5 * (z[first] + z[first + counts - 1])
    return values, middle


def scores(shares: np.ndarray, quantiles: np.ndarray, zero_share: np.ndarray) -> np.ndarray:
    """Gaussian scores (N, G) of group shares (N, G) under one bin's quantile tables (G, N_LEVELS) and empty
    shares (G,): z(x) interpolated between the quantiles for x > 0, the empty share's mean score for x = 0."""
    out = np.empty_like(np.asarray(shares, np.float64))
    zero = empty_score(zero_share)
    for group in range(shares.shape[1]):
        x, z = _positive_knots(quantiles[group])
        out[:, group] = np.where(shares[:, group] > 0, np.interp(shares[:, group], x, z), zero[group])
    return out


def _tables(shares: np.ndarray, bins: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """(quantiles (B, G, N_LEVELS), zero share (B, G), score mean (B, G), score covariance (B, G, G)) float64."""
    levels = ndtr(score_levels())
    n_groups = shares.shape[1]
    quantiles = np.empty((n_bins, n_groups, N_LEVELS))
    zero = np.empty((n_bins, n_groups))
    mean = np.empty((n_bins, n_groups))
    covariance = np.empty((n_bins, n_groups, n_groups))
    for b in range(n_bins):
        part = shares[bins == b]
        if len(part) < 2:
            raise ValueError(f"profile calibration: {len(part)} showers in energy bin {b}, need at least 2")
        quantiles[b] = np.quantile(part, levels, axis=0).T
        zero[b] = (part <= 0).mean(axis=0)
        z = scores(part, quantiles[b], zero[b])
        mean[b] = z.mean(axis=0)
        covariance[b] = np.atleast_2d(np.cov(z, rowvar=False))
    return quantiles, zero, mean, covariance


def _read(
    table: torch.Tensor, index: torch.Tensor, slopes: torch.Tensor, position: torch.Tensor, n: int
) -> torch.Tensor:
    """Piecewise-linear read of flat tables of ``n`` nodes per row at ``position`` (clamped to [0, n − 1])."""
    inside = torch.clamp(position, 0.0, float(n - 1) * (1.0 - 1e-6))
    node = inside.to(torch.int64)
    at = index * n + node
    return table.index_select(0, at) + (inside - node.to(inside.dtype)) * slopes.index_select(0, at)


def map_profile(shares: torch.Tensor, bins: torch.Tensor, tables: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Calibrated group shares (N, G) from shares (N, G) ≥ 0 and their energy bins (N,) int64, by the tables of
    :meth:`ProfileCalibration.tables` (flat per bin and group). Only elementwise ops, gathers and one batched
    matrix product, so the ONNX export uses this function as it is. Empty groups come back 0."""
    log_low, log_scale, node_values, node_slopes, zero_score, gen_mean, ref_mean, matrix, ref_values, ref_slopes = (
        tables
    )
    n_groups = shares.shape[1]
    flat = (bins.unsqueeze(1) * n_groups + torch.arange(n_groups, device=shares.device).unsqueeze(0)).reshape(-1)
    log_x = torch.log(torch.clamp_min(shares, _TINY)).reshape(-1)
    position = (log_x - log_low.index_select(0, flat)) * log_scale.index_select(0, flat)
    z = _read(node_values, flat, node_slopes, position, N_NODES)
    z = torch.where(shares.reshape(-1) > 0, z, zero_score.index_select(0, flat))
    centred = (z - gen_mean.index_select(0, flat)).reshape(shares.shape)
    mapped = ref_mean.index_select(0, flat) + torch.matmul(matrix.index_select(0, bins), centred.unsqueeze(2)).reshape(
        -1
    )
    values = _read(ref_values, flat, ref_slopes, (mapped + Z_MAX) * ((N_LEVELS - 1) / (2.0 * Z_MAX)), N_LEVELS)
    return torch.where(shares > 0, values.reshape(shares.shape), torch.zeros_like(shares))


def scale_groups(
    cells: torch.Tensor, shares: torch.Tensor, bins: torch.Tensor, tables: tuple[torch.Tensor, ...], index: torch.Tensor
) -> torch.Tensor:
    """Cells (N, n_cells) with every cell of group g scaled by x'_g/x_g, from their group shares (N, G) float32, energy
    bins (N,), the tables of :func:`map_profile` and each cell's group ``index`` (n_cells,), G for cells outside
    the groups (not scaled). Empty groups stay empty; NaN/inf shares leave NaN/inf. The torch and ONNX paths."""
    safe = torch.where(torch.isfinite(shares), shares, torch.zeros_like(shares))
    mapped = map_profile(safe, bins, tables)
    factor = torch.where(shares > 0, mapped / torch.clamp_min(shares, _TINY), torch.ones_like(mapped))
    factor = torch.cat([factor, torch.ones_like(factor[:, :1])], dim=1)
    return cells * factor.index_select(1, index).to(cells.dtype)


class ProfileCalibration:
    """Gaussian-copula map of the group energies per incident-energy bin; see the module docstring."""

    TABLES = ("quantiles", "zero_share", "mean", "covariance")

    def __init__(
        self,
        log_edges: np.ndarray,
        group_index: np.ndarray,
        reference: dict[str, np.ndarray],
        generated: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``log_edges``: (B − 1,) inner bin edges in ln(E/MeV); ``group_index`` (n_cells,): each cell's group
        (G for cells outside the groups); ``reference``/``generated``: the tables ``quantiles`` (B, G, N_LEVELS)
        of E_g/E_inc, ``zero_share`` (B, G), ``mean`` (B, G), ``covariance`` (B, G, G) of the Gaussian scores."""
        self.log_edges = np.asarray(log_edges, dtype=np.float64)
        self.group_index = np.asarray(group_index, dtype=np.int64)
        self.reference = self._float32(reference)
        self.generated = None if generated is None else self._float32(generated)
        self._tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @classmethod
    def _float32(cls, tables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: np.ascontiguousarray(tables[key], np.float32) for key in cls.TABLES}

    @property
    def n_bins(self) -> int:
        return self.reference["quantiles"].shape[0]

    @property
    def n_groups(self) -> int:
        return self.reference["quantiles"].shape[1]

    @property
    def fitted(self) -> bool:
        return self.generated is not None

    def shares(self, cells: np.ndarray, incident_mev: np.ndarray) -> np.ndarray:
        """(N, G) float64: each group's energy over the incident energy, from cells (N, n_cells) in MeV."""
        energies = group_energies(cells, self.group_index, self.n_groups)
        return energies / np.asarray(incident_mev, dtype=np.float64).reshape(-1, 1)

    @classmethod
    def from_reference(
        cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]], group_index: np.ndarray, n_groups: int
    ) -> tuple[ProfileCalibration, np.ndarray]:
        """Reference tables from ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks (read once), for the
        ``n_groups`` groups ``group_index`` (n_cells,) of :func:`profile_groups`.

        Returns the calibration (not yet :attr:`fitted`) and the incident energies (MeV) at which
        :meth:`fit_generated` should generate (:func:`~hepgan.data.response_calibration.generation_energies`).
        """
        group_index = np.asarray(group_index, np.int64)
        share, incident, log_edges, bins, _ = reference_values(
            chunks,
            lambda cells, incident: group_energies(cells, group_index, n_groups) / incident[:, None],
            "profile calibration",
        )
        reference = dict(zip(cls.TABLES, _tables(share, bins, len(log_edges) + 1), strict=True))
        at = generation_energies(incident, bins, len(log_edges) + 1, len(group_index))
        return cls(log_edges, group_index, reference), at

    def fit_generated(self, shares: np.ndarray, incident_mev: np.ndarray) -> None:
        """Generated tables from the group shares E_g/E_inc (N, G) of generated showers at ``incident_mev``."""
        shares = np.asarray(shares, np.float64)
        if not np.isfinite(shares).all():
            n_bad = int((~np.isfinite(shares)).any(axis=1).sum())
            raise ValueError(f"profile calibration: {n_bad} generated showers have a NaN/inf group energy")
        generated = _tables(shares, energy_bin_of(self.log_edges, incident_mev), self.n_bins)
        self.generated = self._float32(dict(zip(self.TABLES, generated, strict=True)))
        self._tables.clear()

    def tables(self) -> tuple[np.ndarray, ...]:
        """The float32 tables of :func:`map_profile`, flat per (bin, group): ln x of the first node and nodes per
        unit ln x (B·G), the generated score at the nodes and its slopes (B·G·N_NODES), the empty groups' score,
        the generated and reference score means (B·G), L_ref L_gen⁻¹ (B, G, G), and the reference quantiles and
        their slopes (B·G·N_LEVELS)."""
        if self.generated is None:
            raise RuntimeError("profile calibration: fit_generated has not been run")
        gen = {key: value.astype(np.float64) for key, value in self.generated.items()}
        ref = {key: value.astype(np.float64) for key, value in self.reference.items()}
        n_bins, n_groups = self.n_bins, self.n_groups
        log_low, log_scale = np.zeros((n_bins, n_groups)), np.ones((n_bins, n_groups))
        values = np.zeros((n_bins, n_groups, N_NODES))
        matrix = np.empty((n_bins, n_groups, n_groups))
        eye = JITTER * np.eye(n_groups)
        for b in range(n_bins):
            for group in range(n_groups):
                x, z = _positive_knots(gen["quantiles"][b, group])
                low, high = np.log(x[0]), np.log(x[-1])
                span = max(high - low, _MIN_LOG_SPAN)
                log_low[b, group], log_scale[b, group] = low, (N_NODES - 1) / span
                values[b, group] = np.interp(np.exp(low + span * np.linspace(0.0, 1.0, N_NODES)), x, z)
            matrix[b] = np.linalg.cholesky(ref["covariance"][b] + eye) @ np.linalg.inv(
                np.linalg.cholesky(gen["covariance"][b] + eye)
            )
        slopes = np.diff(values, axis=2, append=values[:, :, -1:])
        reference = ref["quantiles"]
        reference_slopes = np.diff(reference, axis=2, append=reference[:, :, -1:])
        flat = [log_low, log_scale, values, slopes, empty_score(gen["zero_share"]), gen["mean"], ref["mean"]]
        out: list[np.ndarray] = [table.reshape(-1).astype(np.float32) for table in flat]
        out.append(matrix.astype(np.float32))
        out += [reference.reshape(-1).astype(np.float32), reference_slopes.reshape(-1).astype(np.float32)]
        return tuple(out)

    def device_tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(inner bin edges in ln(E/MeV) float64, each cell's group int64, then the tables of :func:`map_profile`)
        on ``device``, cached."""
        if device not in self._tables:
            self._tables[device] = (
                torch.from_numpy(self.log_edges).to(device),
                torch.from_numpy(self.group_index).to(device),
                *(torch.from_numpy(table).to(device) for table in self.tables()),
            )
        return self._tables[device]

    def apply(self, cells_mev: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Cells (N, n_cells) in MeV with every cell of group g scaled by x'_g/x_g (cells outside the groups, e.g.
        CaloGAN's overflow, unchanged).

        Empty groups stay empty, NaN/inf showers stay NaN/inf; the input is not changed.
        """
        log_edges, index, *tables = self.device_tables(cells_mev.device)
        incident = incident_mev.to(cells_mev.device, torch.float64).reshape(-1)
        bins = torch.searchsorted(log_edges, torch.log(incident))
        sums = torch.zeros(len(cells_mev), self.n_groups + 1, dtype=torch.float64, device=cells_mev.device)
        sums.index_add_(1, index, cells_mev.to(torch.float64))
        shares = (sums[:, : self.n_groups] / incident.unsqueeze(1)).float()
        return scale_groups(cells_mev, shares, bins, tuple(tables), index)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors, loadable with ``torch.load(weights_only=True)``."""
        if self.generated is None:
            raise RuntimeError("profile calibration: fit_generated has not been run")
        # float32 like every checkpoint table (exact for group numbers below 2²⁴)
        state = {
            "log_edges": torch.from_numpy(self.log_edges),
            "group_index": torch.from_numpy(self.group_index).float(),
        }
        for prefix, tables in (("reference", self.reference), ("generated", self.generated)):
            state |= {f"{prefix}_{key}": torch.from_numpy(value) for key, value in tables.items()}
        return state

    def check(self, n_cells: int, where: str = "profile_calibration") -> None:
        """ValueError (one line naming the table) unless the tables have the documented shapes for ``n_cells`` cells
        and make sense: groups 0..G of every cell, non-decreasing shares in [0, 10], empty shares in [0, 1], score
        variances in [0, 100], B − 1 increasing edges."""
        quantiles = torch.from_numpy(self.reference["quantiles"])
        if quantiles.dim() != 3 or quantiles.shape[0] < 1:
            raise ValueError(
                f"{where}.reference_quantiles has shape {tuple(quantiles.shape)}, expected (bins, groups, {N_LEVELS})"
            )
        n_bins, n_groups = quantiles.shape[:2]
        index = torch.from_numpy(self.group_index)
        check_shape(index, (n_cells,), f"{where}.group_index", "one group per cell")
        check_range(index, 0, n_groups, f"{where}.group_index", "groups")
        shapes = {
            "quantiles": (n_bins, n_groups, N_LEVELS),
            "zero_share": (n_bins, n_groups),
            "mean": (n_bins, n_groups),
            "covariance": (n_bins, n_groups, n_groups),
        }
        sides = [("reference", self.reference)] + ([("generated", self.generated)] if self.generated else [])
        for prefix, tables in sides:
            for key, shape in shapes.items():
                name = f"{where}.{prefix}_{key}"
                table = torch.from_numpy(tables[key])
                check_shape(table, shape, name, f"{n_bins} energy bins, {n_groups} groups")
                if key == "quantiles":
                    check_range(table, 0.0, 10.0, name, "group energies E_g/E_inc")
                    check_non_decreasing(table, name)
                elif key == "zero_share":
                    check_range(table, 0.0, 1.0, name, "empty shares")
                elif key == "covariance":
                    check_range(torch.diagonal(table, dim1=1, dim2=2), 0.0, 100.0, name, "score variances")
        edges = torch.from_numpy(self.log_edges)
        check_shape(edges, (n_bins - 1,), f"{where}.log_edges", f"inner edges of {n_bins} energy bins")
        check_non_decreasing(edges, f"{where}.log_edges", strict=True)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> ProfileCalibration:
        """From :meth:`state_dict` (check with :meth:`check` before use); ValueError for a group index that is not
        whole numbers."""
        tables = {key: value.cpu().numpy() for key, value in state.items()}
        if not np.array_equal(tables["group_index"], np.round(tables["group_index"])):
            raise ValueError("profile_calibration.group_index holds non-integer values, expected group numbers")
        reference = {key: tables[f"reference_{key}"] for key in cls.TABLES}
        generated = None
        if all(f"generated_{key}" in tables for key in cls.TABLES):
            generated = {key: tables[f"generated_{key}"] for key in cls.TABLES}
        return cls(tables["log_edges"], tables["group_index"], reference, generated)
