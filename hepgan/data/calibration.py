"""Per-cell quantile calibration of generated showers onto the reference, per incident-energy bin.

A generator can get the correlations between cells right and still miss each cell's own
distribution: at low energies a GAN with log-fraction outputs makes too few sizeable
deposits far from the shower axis (too narrow showers) and too many tiny ones. The
calibration fixes every cell's marginal: within an incident-energy bin, a generated energy
fraction f of cell i becomes F_ref,i⁻¹(F_gen,i(f)), where F_gen,i and F_ref,i are the
cell's cumulative distributions in generated and reference (training) showers. This is
quantile mapping (empirical CDF matching); it is monotone per cell, so the generator's
ordering of showers, and with it the dependence between cells, is kept. Empty cells (ties
at f = 0) get uniform random ranks within the generated zero mass, so a generator with
more empty cells than the reference still has its largest empty-cell "draws" turned into
hits; ranks within the reference's own empty share stay empty, and a hit is never smaller
than the reference's smallest hit in that cell (no sub-threshold hits appear). The mapped
fractions are renormalised to 1 and scaled back to the generated total energy, so
E_tot/E_inc stays the generator's.

Tables: K quantile levels in [0, 1]; per bin b and cell i the reference quantiles, empty
share and smallest hit (fitted once from training showers), and the generated quantiles and
empty share (refitted for each checkpoint from the generator). Bins are incident-energy
ranges in ln E: one per distinct energy for discrete spectra, else quantile bins.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from hepgan.data.state_checks import check_non_decreasing, check_range, check_shape
from hepgan.data.transforms import energy_bins

N_LEVELS = 101
"""Quantile levels per cell and bin (0, 1 %, …, 100 %)."""
MAX_ENERGY_BINS = 20
"""At most this many distinct incident energies: one bin per energy; more: this many quantile bins
(:func:`hepgan.data.transforms.energy_bins`)."""
MAX_SHOWERS_PER_BIN = 2000
"""Reference showers kept per energy bin for the reference quantiles (the first met in the file)."""
MAX_KEPT_VALUES = 50_000_000
"""Cap on kept reference fractions (showers × cells, all bins): fewer showers per bin for large geometries."""
FRACTION_ATOL = 1e-5
"""Energy fractions read from a checkpoint may exceed 1 by this much (float32 rounding of a ratio)."""


def _fractions(cells: np.ndarray) -> np.ndarray:
    totals = cells.sum(axis=1, keepdims=True)
    return (cells / np.where(totals > 0, totals, 1.0)).astype(np.float32)


def _contiguous_or_none(table: np.ndarray | None) -> np.ndarray | None:
    return None if table is None else np.ascontiguousarray(table, dtype=np.float32)


class CellCalibration:
    """Quantile maps per (incident-energy bin, cell); see the module docstring."""

    def __init__(
        self,
        log_edges: np.ndarray,
        reference_quantiles: np.ndarray,
        reference_zero: np.ndarray,
        reference_floor: np.ndarray,
        generated_quantiles: np.ndarray | None = None,
        generated_zero: np.ndarray | None = None,
    ) -> None:
        """``log_edges``: (B − 1,) inner bin edges in ln(E/MeV); quantile tables (B, n_cells, K);
        ``*_zero``: (B, n_cells) share of empty cells; ``reference_floor``: (B, n_cells) smallest
        non-zero reference fraction (0 where the cell is always empty)."""
        self.log_edges = np.asarray(log_edges, dtype=np.float64)
        self.reference_quantiles = np.ascontiguousarray(reference_quantiles, dtype=np.float32)
        self.reference_zero = np.ascontiguousarray(reference_zero, dtype=np.float32)
        self.reference_floor = np.ascontiguousarray(reference_floor, dtype=np.float32)
        self.generated_quantiles = _contiguous_or_none(generated_quantiles)
        self.generated_zero = _contiguous_or_none(generated_zero)
        self._device_tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @property
    def n_bins(self) -> int:
        return self.reference_quantiles.shape[0]

    @property
    def fitted(self) -> bool:
        return self.generated_quantiles is not None

    def bin_of(self, incident_mev: np.ndarray) -> np.ndarray:
        """Energy-bin index of each incident energy (MeV)."""
        return np.searchsorted(self.log_edges, np.log(np.asarray(incident_mev, np.float64).reshape(-1)))

    # ------------------------------------------------------------------ fitting
    @classmethod
    def from_reference(
        cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]], max_per_bin: int = MAX_SHOWERS_PER_BIN
    ) -> tuple[CellCalibration, np.ndarray]:
        """Reference quantiles from ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks.

        ``chunks`` is read twice, so it must be re-iterable (a list, or an object whose
        ``__iter__`` re-reads a file), not a one-shot generator. Returns the calibration (not
        yet :attr:`fitted`) and the incident energies (MeV) of the reference showers it
        kept, at which :meth:`fit_generated` should generate.
        """
        if iter(chunks) is chunks:
            raise TypeError(
                "cell calibration: the reference chunks are read twice; pass a re-iterable, not an iterator"
            )
        energies, n_cells = [], 0
        for cells, incident in chunks:
            energies.append(np.asarray(incident, np.float64).reshape(-1))
            n_cells = np.shape(cells)[1]
        log_e = np.log(np.concatenate(energies)) if energies else np.zeros(0)
        if log_e.size == 0:
            raise ValueError("cell calibration: no reference showers")
        labels, n_bins = energy_bins(log_e, MAX_ENERGY_BINS)
        # bins are consecutive ranges of ln E: edges half-way between neighbouring bins
        lows = np.array([log_e[labels == b].min() for b in range(n_bins)])
        highs = np.array([log_e[labels == b].max() for b in range(n_bins)])
        log_edges = 0.5 * (highs[:-1] + lows[1:])
        max_per_bin = max(N_LEVELS, min(max_per_bin, MAX_KEPT_VALUES // max(1, n_cells * n_bins)))
        kept: list[list[np.ndarray]] = [[] for _ in range(n_bins)]
        kept_energy: list[list[np.ndarray]] = [[] for _ in range(n_bins)]
        counts = np.zeros(n_bins, dtype=np.int64)
        for cells, incident in chunks:
            incident = np.asarray(incident, np.float64).reshape(-1)
            bins = np.searchsorted(log_edges, np.log(incident))
            for b in np.unique(bins):
                rows = np.flatnonzero(bins == b)[: max_per_bin - counts[b]]
                if rows.size:
                    kept[b].append(_fractions(np.asarray(cells)[rows]))
                    kept_energy[b].append(incident[rows])
                    counts[b] += rows.size
        levels = np.linspace(0.0, 1.0, N_LEVELS)
        fractions = [np.concatenate(parts) for parts in kept]
        floor = np.stack([np.where(f > 0, f, np.inf).min(axis=0) for f in fractions])
        calibration = cls(
            log_edges,
            np.stack([np.quantile(f, levels, axis=0).T for f in fractions]),
            np.stack([(f <= 0).mean(axis=0) for f in fractions]),
            np.where(np.isfinite(floor), floor, 0.0),
        )
        return calibration, np.concatenate([np.concatenate(parts) for parts in kept_energy])

    def fit_generated(self, cells_mev: np.ndarray, incident_mev: np.ndarray) -> None:
        """Generated quantiles and zero fractions from generated showers (N, n_cells) at ``incident_mev``."""
        bins = self.bin_of(incident_mev)
        levels = np.linspace(0.0, 1.0, N_LEVELS)
        quantiles = np.empty_like(self.reference_quantiles)
        zero = np.empty(self.reference_quantiles.shape[:2], np.float32)
        for b in range(self.n_bins):
            rows = bins == b
            if not rows.any():
                raise ValueError(f"cell calibration: no generated showers in energy bin {b}")
            fractions = _fractions(np.asarray(cells_mev)[rows])
            quantiles[b] = np.quantile(fractions, levels, axis=0).T
            zero[b] = (fractions <= 0).mean(axis=0)
        self.generated_quantiles, self.generated_zero = quantiles, zero
        self._device_tables.clear()

    # ------------------------------------------------------------------ applying
    def _tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if device not in self._device_tables:
            self._device_tables[device] = (
                torch.from_numpy(self.log_edges).to(device),
                torch.from_numpy(self.generated_quantiles).to(device),
                torch.from_numpy(self.reference_quantiles).to(device),
                torch.from_numpy(self.generated_zero).to(device),
                torch.from_numpy(self.reference_zero).to(device),
                torch.from_numpy(self.reference_floor).to(device),
            )
        return self._device_tables[device]

    def apply(
        self, cells_mev: torch.Tensor, incident_mev: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Calibrated cells (N, n_cells) in MeV, same total energy per shower; ``generator`` draws tie ranks."""
        if not self.fitted:
            raise RuntimeError("cell calibration: fit_generated has not been run")
        device = cells_mev.device
        log_edges, gen_q, ref_q, gen_zero, ref_zero, ref_floor = self._tables(device)
        cells = cells_mev.float()
        totals = cells.sum(dim=1, keepdim=True)
        fractions = cells / totals.clamp_min(1e-30)
        bins = torch.searchsorted(log_edges, torch.log(incident_mev.to(device, torch.float64)).reshape(-1))
        last = N_LEVELS - 1
        out = torch.empty_like(fractions)
        for b in torch.unique(bins).tolist():
            rows = bins == b
            f = fractions[rows].T.contiguous()  # (n_cells, n)
            table = gen_q[b]
            # generated CDF: piecewise linear through the quantiles
            upper = torch.searchsorted(table, f, right=True).clamp(1, last)
            x0, x1 = table.gather(1, upper - 1), table.gather(1, upper)
            t = ((f - x0) / (x1 - x0).clamp_min(1e-30)).clamp(0.0, 1.0)
            u = (upper - 1 + t) / last
            noise = torch.rand(f.shape, device=device, generator=generator)
            u = torch.where(f <= 0, noise * gen_zero[b].unsqueeze(1), u)
            # reference quantile function at u
            position = u * last
            lower = position.floor().long().clamp(0, last - 1)
            y0, y1 = ref_q[b].gather(1, lower), ref_q[b].gather(1, lower + 1)
            mapped = torch.maximum(torch.lerp(y0, y1, position - lower), ref_floor[b].unsqueeze(1))
            # ranks within the reference's empty share stay empty: no hits below the reference's smallest
            out[rows] = torch.where(u <= ref_zero[b].unsqueeze(1), torch.zeros_like(mapped), mapped).T
        out = out / out.sum(dim=1, keepdim=True).clamp_min(1e-30)
        return (out * totals).to(cells_mev.dtype)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors, loadable with ``torch.load(weights_only=True)``."""
        if not self.fitted:
            raise RuntimeError("cell calibration: fit_generated has not been run")
        return {
            "log_edges": torch.from_numpy(self.log_edges),
            "reference_quantiles": torch.from_numpy(self.reference_quantiles),
            "generated_quantiles": torch.from_numpy(self.generated_quantiles),
            "generated_zero": torch.from_numpy(self.generated_zero),
            "reference_zero": torch.from_numpy(self.reference_zero),
            "reference_floor": torch.from_numpy(self.reference_floor),
        }

    def check(self, n_cells: int, where: str = "cell_calibration") -> None:
        """ValueError (one line naming the table) unless the tables fit ``n_cells`` cells and make sense.

        Shapes: quantiles (B, n_cells, N_LEVELS), shares and floors (B, n_cells), inner
        edges (B − 1,); quantiles non-decreasing along the level axis; quantiles, floors
        and empty shares are energy fractions in [0, 1]; edges in increasing order.
        """
        reference = torch.from_numpy(self.reference_quantiles)
        if reference.dim() != 3 or reference.shape[0] < 1:
            found = tuple(reference.shape)
            raise ValueError(f"{where}.reference_quantiles has shape {found}, expected (bins, {n_cells}, {N_LEVELS})")
        n_bins = reference.shape[0]
        cells = f"{n_bins} energy bins, {n_cells} cells"
        tables = {"reference_quantiles": reference}
        if self.generated_quantiles is not None:
            tables["generated_quantiles"] = torch.from_numpy(self.generated_quantiles)
        for name, table in tables.items():
            check_shape(table, (n_bins, n_cells, N_LEVELS), f"{where}.{name}", f"{cells}, {N_LEVELS} levels")
            check_range(table, 0.0, 1.0 + FRACTION_ATOL, f"{where}.{name}", "energy fractions")
            check_non_decreasing(table, f"{where}.{name}")
        shares = {"reference_zero": self.reference_zero, "reference_floor": self.reference_floor}
        if self.generated_zero is not None:
            shares["generated_zero"] = self.generated_zero
        for name, array in shares.items():
            table = torch.from_numpy(array)
            check_shape(table, (n_bins, n_cells), f"{where}.{name}", cells)
            high = 1.0 + FRACTION_ATOL if name == "reference_floor" else 1.0
            check_range(table, 0.0, high, f"{where}.{name}", "fractions" if name == "reference_floor" else "shares")
        edges = torch.from_numpy(self.log_edges)
        check_shape(edges, (n_bins - 1,), f"{where}.log_edges", f"inner edges of {n_bins} energy bins")
        check_non_decreasing(edges, f"{where}.log_edges")

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> CellCalibration:
        tables = {key: value.cpu().numpy() for key, value in state.items()}
        return cls(
            tables["log_edges"],
            tables["reference_quantiles"],
            tables["reference_zero"],
            tables["reference_floor"],
            tables["generated_quantiles"],
            tables["generated_zero"],
        )
