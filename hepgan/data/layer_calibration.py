"""Per-energy Gaussian-copula calibration of the layer energies of generated showers onto the reference.

A shower's longitudinal profile, the energy x_l = E_l/E_inc of each layer l, is what a
high-level classifier separates generated from reference showers on first: the cell
calibration (:mod:`hepgan.data.calibration`) fixes every cell's marginal but keeps the
generator's total, so the layer energies and, above all, their correlations stay the
generator's. This calibration fixes their joint distribution per incident-energy bin in a
Gaussian copula: each layer energy becomes a Gaussian score z_l = Φ⁻¹(F_gen,l(x_l)), the
scores are decorrelated with the generated showers' covariance and recorrelated with the
reference's, z' = m_ref + L_ref L_gen⁻¹ (z − m_gen) (L: Cholesky factors of the score
covariances, m: score means), and each layer energy is read back through the reference's
quantiles, x'_l = F_ref,l⁻¹(Φ(z'_l)). Every cell of layer l is scaled by x'_l/x_l, so the
shape within a layer (what the cell calibration set) is kept. A Gaussian copula with the
exact marginals reproduces layer-energy distributions whose dependence is Gaussian after the
marginal maps exactly, and the marginals and linear score correlations of any other.

Empty layers (x_l = 0) take the mean score of the empty share p₀ of the sample,
E[Z | Z < Φ⁻¹(p₀)] = −φ(Φ⁻¹(p₀))/p₀, in the covariances as in the map, and stay empty; a
layer whose mapped score falls in the reference's empty share is emptied.

Tables per energy bin b (bins as the cell and response calibrations',
:func:`~hepgan.data.calibration.inner_log_edges`) and layer l, for the reference (training
showers, fitted once) and for the generator (refitted at each checkpoint from showers with the
cell calibration applied): the quantiles of x_l at :data:`N_LEVELS` levels Φ(z_k), z_k evenly
spaced in [−Z_MAX, Z_MAX], the empty share, and the scores' mean (L,) and covariance (L, L).
Derived (not stored): the generated score z(x) at :data:`N_NODES` nodes evenly spaced in ln x
from the smallest to the largest positive generated quantile (values and slopes), and the
matrix L_ref L_gen⁻¹. Applying it needs no search (one gather per table and a batched
matrix product; the same operations on CPU, GPU and in the ONNX graph of
:mod:`hepgan.export`); since the levels are evenly spaced in z, F_ref⁻¹(Φ(z')) is read
directly on z'. Memory: 2·B·L·(N_LEVELS + L + 2) float32 stored, 2·B·L·N_NODES derived:
0.9 MB and 1.2 MB for the dataset-1 photons (B = 15, L = 5), 7.9 and 15 MB for datasets 2 and
3 (B = 20, L = 45).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from hepgan.data.calibration import energy_bin_of, inner_log_edges
from hepgan.data.response_calibration import generation_energies
from hepgan.data.state_checks import check_non_decreasing, check_range, check_shape

Z_MAX = 4.5
"""The quantile levels span Gaussian scores −Z_MAX … Z_MAX (u from 3.4e-6 to 1 − 3.4e-6)."""
N_LEVELS = 1025
"""Quantile levels per layer and energy bin, evenly spaced in the Gaussian score."""
N_NODES = 2048
"""Nodes of the tabulated generated score z(x) per layer and bin, evenly spaced in ln x."""
JITTER = 1e-4
"""Added to the score covariances' diagonals before the Cholesky factorisation (a layer with one value in a bin)."""
_MIN_LOG_SPAN = 1e-6
"""A generated range of ln x narrower than this (a layer with one value) is widened to it."""
_TINY = 1e-30
"""Shares are floored here before the logarithm (empty layers take their own score)."""


def score_levels() -> np.ndarray:
    """The Gaussian scores z_k (N_LEVELS,) of the quantile levels Φ(z_k)."""
    return np.linspace(-Z_MAX, Z_MAX, N_LEVELS)


def layer_energies(cells: np.ndarray, layer_slices: Iterable[slice]) -> np.ndarray:
    """(N, L) float64: each layer's energy in MeV, from cells (N, n_cells) in MeV."""
    cells = np.asarray(cells, dtype=np.float64)
    return np.stack([cells[:, part].sum(axis=1) for part in layer_slices], axis=1)


def layer_shares(cells: np.ndarray, incident_mev: np.ndarray, layer_slices: Iterable[slice]) -> np.ndarray:
    """(N, L) float64: each layer's energy over the incident energy, from cells (N, n_cells) in MeV."""
    return layer_energies(cells, layer_slices) / np.asarray(incident_mev, dtype=np.float64).reshape(-1, 1)


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
    """Gaussian scores (N, L) of layer shares (N, L) under one bin's quantile tables (L, N_LEVELS) and empty
    shares (L,): z(x) interpolated between the quantiles for x > 0, the empty share's mean score for x = 0."""
    out = np.empty_like(np.asarray(shares, np.float64))
    zero = empty_score(zero_share)
    for layer in range(shares.shape[1]):
        x, z = _positive_knots(quantiles[layer])
        out[:, layer] = np.where(shares[:, layer] > 0, np.interp(shares[:, layer], x, z), zero[layer])
    return out


def _tables(shares: np.ndarray, bins: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """(quantiles (B, L, N_LEVELS), zero share (B, L), score mean (B, L), score covariance (B, L, L)) float64."""
    levels = ndtr(score_levels())
    n_layers = shares.shape[1]
    quantiles = np.empty((n_bins, n_layers, N_LEVELS))
    zero = np.empty((n_bins, n_layers))
    mean = np.empty((n_bins, n_layers))
    covariance = np.empty((n_bins, n_layers, n_layers))
    for b in range(n_bins):
        part = shares[bins == b]
        if len(part) < 2:
            raise ValueError(f"layer calibration: {len(part)} showers in energy bin {b}, need at least 2")
        quantiles[b] = np.quantile(part, levels, axis=0).T
        zero[b] = (part <= 0).mean(axis=0)
        z = scores(part, quantiles[b], zero[b])
        mean[b] = z.mean(axis=0)
        covariance[b] = np.atleast_2d(np.cov(z, rowvar=False))
    return quantiles, zero, mean, covariance


def map_layers(
    shares: torch.Tensor,
    bins: torch.Tensor,
    tables: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """Calibrated layer shares (N, L) from shares (N, L) ≥ 0 and their energy bins (N,) int64, by the tables of
    :meth:`LayerCalibration.tables` (flat per bin and layer). Only elementwise ops, gathers and one batched
    matrix product, so the ONNX export uses this function as it is. Empty layers come back 0."""
    log_low, log_scale, node_values, node_slopes, zero_score, gen_mean, ref_mean, matrix, ref_values, ref_slopes = (
        tables
    )
    n_layers = shares.shape[1]
    cell = bins.unsqueeze(1) * n_layers + torch.arange(n_layers, device=shares.device).unsqueeze(0)  # (N, L)
    flat = cell.reshape(-1)
    position = (torch.log(torch.clamp_min(shares, _TINY)).reshape(-1) - log_low.index_select(0, flat)) * (
        log_scale.index_select(0, flat)
    )
    inside = torch.clamp(position, 0.0, float(N_NODES - 1) * (1.0 - 1e-6))
    node = inside.to(torch.int64)
    index = flat * N_NODES + node
    z = node_values.index_select(0, index) + (inside - node.to(inside.dtype)) * node_slopes.index_select(0, index)
    z = torch.where(shares.reshape(-1) > 0, z, zero_score.index_select(0, flat)).reshape(shares.shape)
    centred = z - gen_mean.index_select(0, flat).reshape(shares.shape)
    rows = matrix.index_select(0, bins)  # (N, L, L)
    mapped = ref_mean.index_select(0, flat).reshape(shares.shape) + torch.matmul(rows, centred.unsqueeze(2)).squeeze(2)
    level = (mapped.reshape(-1) + Z_MAX) * ((N_LEVELS - 1) / (2.0 * Z_MAX))
    inside = torch.clamp(level, 0.0, float(N_LEVELS - 1) * (1.0 - 1e-6))
    node = inside.to(torch.int64)
    index = flat * N_LEVELS + node
    values = ref_values.index_select(0, index) + (inside - node.to(inside.dtype)) * ref_slopes.index_select(0, index)
    return torch.where(shares > 0, values.reshape(shares.shape), torch.zeros_like(shares))


class LayerCalibration:
    """Gaussian-copula map of the layer energies per incident-energy bin; see the module docstring."""

    TABLES = ("quantiles", "zero_share", "mean", "covariance")

    def __init__(
        self,
        log_edges: np.ndarray,
        reference: dict[str, np.ndarray],
        generated: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``log_edges``: (B − 1,) inner bin edges in ln(E/MeV); ``reference``/``generated``: the tables
        ``quantiles`` (B, L, N_LEVELS) of E_l/E_inc, ``zero_share`` (B, L), ``mean`` (B, L), ``covariance``
        (B, L, L) of the Gaussian scores."""
        self.log_edges = np.asarray(log_edges, dtype=np.float64)
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
    def n_layers(self) -> int:
        return self.reference["quantiles"].shape[1]

    @property
    def fitted(self) -> bool:
        return self.generated is not None

    @classmethod
    def from_reference(
        cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]], layer_slices: tuple[slice, ...]
    ) -> tuple[LayerCalibration, np.ndarray]:
        """Reference tables from ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks (read once).

        Returns the calibration (not yet :attr:`fitted`) and the incident energies (MeV) at which
        :meth:`fit_generated` should generate (:func:`~hepgan.data.response_calibration.generation_energies`).
        """
        shares, energies, n_cells = [], [], 1
        for cells, incident in chunks:
            n_cells = np.shape(cells)[1]
            incident = np.asarray(incident, np.float64).reshape(-1)
            shares.append(layer_shares(cells, incident, layer_slices))
            energies.append(incident)
        if not energies:
            raise ValueError("layer calibration: no reference showers")
        share, incident = np.concatenate(shares), np.concatenate(energies)
        log_edges = inner_log_edges(np.log(incident))
        bins = energy_bin_of(log_edges, incident)
        reference = dict(zip(cls.TABLES, _tables(share, bins, len(log_edges) + 1), strict=True))
        return cls(log_edges, reference), generation_energies(incident, bins, len(log_edges) + 1, n_cells)

    def fit_generated(self, shares: np.ndarray, incident_mev: np.ndarray) -> None:
        """Generated tables from the layer shares E_l/E_inc (N, L) of generated showers at ``incident_mev``."""
        shares = np.asarray(shares, np.float64)
        if not np.isfinite(shares).all():
            n_bad = int((~np.isfinite(shares)).any(axis=1).sum())
            raise ValueError(f"layer calibration: {n_bad} generated showers have a NaN/inf layer energy")
        generated = _tables(shares, energy_bin_of(self.log_edges, incident_mev), self.n_bins)
        self.generated = self._float32(dict(zip(self.TABLES, generated, strict=True)))
        self._tables.clear()

    def tables(self) -> tuple[np.ndarray, ...]:
        """The float32 tables of :func:`map_layers`, flat per (bin, layer): ln x of the first node and nodes per
        unit ln x (B·L), the generated score at the nodes and its slopes (B·L·N_NODES), the empty layers' score,
        the generated and reference score means (B·L), L_ref L_gen⁻¹ (B, L, L), and the reference quantiles and
        their slopes (B·L·N_LEVELS)."""
        if self.generated is None:
            raise RuntimeError("layer calibration: fit_generated has not been run")
        gen = {key: value.astype(np.float64) for key, value in self.generated.items()}
        ref = {key: value.astype(np.float64) for key, value in self.reference.items()}
        n_bins, n_layers = self.n_bins, self.n_layers
        log_low, log_scale = np.zeros((n_bins, n_layers)), np.ones((n_bins, n_layers))
        values = np.zeros((n_bins, n_layers, N_NODES))
        matrix = np.empty((n_bins, n_layers, n_layers))
        eye = JITTER * np.eye(n_layers)
        for b in range(n_bins):
            for layer in range(n_layers):
                x, z = _positive_knots(gen["quantiles"][b, layer])
                low, high = np.log(x[0]), np.log(x[-1])
                span = max(high - low, _MIN_LOG_SPAN)
                log_low[b, layer], log_scale[b, layer] = low, (N_NODES - 1) / span
                values[b, layer] = np.interp(np.exp(low + span * np.linspace(0.0, 1.0, N_NODES)), x, z)
            matrix[b] = np.linalg.cholesky(ref["covariance"][b] + eye) @ np.linalg.inv(
                np.linalg.cholesky(gen["covariance"][b] + eye)
            )
        slopes = np.diff(values, axis=2, append=values[:, :, -1:])
        reference = ref["quantiles"]
        reference_slopes = np.diff(reference, axis=2, append=reference[:, :, -1:])
        flat = [
            log_low,
            log_scale,
            values,
            slopes,
            empty_score(gen["zero_share"]),
            gen["mean"],
            ref["mean"],
        ]
        out: list[np.ndarray] = [table.reshape(-1).astype(np.float32) for table in flat]
        out.append(matrix.astype(np.float32))
        out += [reference.reshape(-1).astype(np.float32), reference_slopes.reshape(-1).astype(np.float32)]
        return tuple(out)

    def device_tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(inner bin edges in ln(E/MeV) float64, then the tables of :func:`map_layers`) on ``device``, cached."""
        if device not in self._tables:
            self._tables[device] = (
                torch.from_numpy(self.log_edges).to(device),
                *(torch.from_numpy(table).to(device) for table in self.tables()),
            )
        return self._tables[device]

    def apply(self, cells_mev: torch.Tensor, incident_mev: torch.Tensor, layer_index: torch.Tensor) -> torch.Tensor:
        """Cells (N, n_cells) in MeV with every cell of layer l scaled by x'_l/x_l; ``layer_index`` (n_cells,) int64
        gives each cell's layer, L for cells outside the layers (CaloGAN's overflow: not scaled).

        Empty layers stay empty, NaN/inf showers stay NaN/inf; the input is not changed.
        """
        log_edges, *tables = self.device_tables(cells_mev.device)
        incident = incident_mev.to(cells_mev.device, torch.float64).reshape(-1)
        bins = torch.searchsorted(log_edges, torch.log(incident))
        index = layer_index.to(cells_mev.device)
        sums = torch.zeros(len(cells_mev), self.n_layers + 1, dtype=torch.float64, device=cells_mev.device)
        sums.index_add_(1, index, cells_mev.to(torch.float64))
        shares = (sums[:, : self.n_layers] / incident.unsqueeze(1)).float()
        safe = torch.where(torch.isfinite(shares), shares, torch.zeros_like(shares))
        mapped = map_layers(safe, bins, tuple(tables))
        factor = torch.where(shares > 0, mapped / torch.clamp_min(shares, _TINY), torch.ones_like(mapped))
        factor = torch.cat([factor, torch.ones_like(factor[:, :1])], dim=1)
        return cells_mev * factor.index_select(1, index).to(cells_mev.dtype)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors, loadable with ``torch.load(weights_only=True)``."""
        if self.generated is None:
            raise RuntimeError("layer calibration: fit_generated has not been run")
        state = {"log_edges": torch.from_numpy(self.log_edges)}
        for prefix, tables in (("reference", self.reference), ("generated", self.generated)):
            state |= {f"{prefix}_{key}": torch.from_numpy(value) for key, value in tables.items()}
        return state

    def check(self, n_layers: int, where: str = "layer_calibration") -> None:
        """ValueError (one line naming the table) unless the tables have the documented shapes for ``n_layers``
        layers and make sense: non-decreasing shares in [0, 10], empty shares in [0, 1], B − 1 increasing edges."""
        quantiles = torch.from_numpy(self.reference["quantiles"])
        if quantiles.dim() != 3 or quantiles.shape[0] < 1:
            raise ValueError(
                f"{where}.reference_quantiles has shape {tuple(quantiles.shape)}, "
                f"expected (bins, {n_layers}, {N_LEVELS})"
            )
        n_bins = quantiles.shape[0]
        shapes = {
            "quantiles": (n_bins, n_layers, N_LEVELS),
            "zero_share": (n_bins, n_layers),
            "mean": (n_bins, n_layers),
            "covariance": (n_bins, n_layers, n_layers),
        }
        sides = [("reference", self.reference)] + ([("generated", self.generated)] if self.generated else [])
        for prefix, tables in sides:
            for key, shape in shapes.items():
                name = f"{where}.{prefix}_{key}"
                table = torch.from_numpy(tables[key])
                check_shape(table, shape, name, f"{n_bins} energy bins, {n_layers} layers")
                if key == "quantiles":
                    check_range(table, 0.0, 10.0, name, "layer energies E_l/E_inc")
                    check_non_decreasing(table, name)
                elif key == "zero_share":
                    check_range(table, 0.0, 1.0, name, "empty shares")
                elif key == "covariance":
                    diagonal = torch.diagonal(table, dim1=1, dim2=2)
                    check_range(diagonal, 0.0, 100.0, name, "score variances")
        edges = torch.from_numpy(self.log_edges)
        check_shape(edges, (n_bins - 1,), f"{where}.log_edges", f"inner edges of {n_bins} energy bins")
        check_non_decreasing(edges, f"{where}.log_edges", strict=True)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> LayerCalibration:
        """From :meth:`state_dict` (check with :meth:`check` before use)."""
        tables = {key: value.cpu().numpy() for key, value in state.items()}
        reference = {key: tables[f"reference_{key}"] for key in cls.TABLES}
        generated = None
        if all(f"generated_{key}" in tables for key in cls.TABLES):
            generated = {key: tables[f"generated_{key}"] for key in cls.TABLES}
        return cls(tables["log_edges"], reference, generated)
