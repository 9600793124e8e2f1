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

Tables, per incident-energy bin b and cell i:

- fitted once from training showers: the reference quantiles at :data:`N_LEVELS` levels, the
  empty share and the smallest hit;
- refitted for each checkpoint from the generator: the empty share and the generated CDF at
  :data:`N_HIT_NODES` nodes evenly spaced in ln f from the cell's smallest to its largest
  generated hit fraction in that bin, f_lo to f_hi (F_gen is linear in ln f between nodes; a
  core cell whose fraction spreads over ±20 % gets nodes 0.3 % apart);
- derived from both (not stored): the composite map f → F_ref⁻¹(F_gen(f)) at those nodes and
  at :data:`N_EMPTY_NODES` evenly spaced empty-cell ranks, as values and slopes.

Applying it needs no search: a hit's node position is a·ln f + c (a, c per bin and cell), an empty cell's is its rank
r ∈ [0, 1) times (N_EMPTY_NODES − 1), and the calibrated fraction is value + slope·(position −
node), read with one flat gather: about 15 passes over the showers, the same operations on
CPU, GPU and in the exported ONNX graph (:mod:`hepgan.export`). Hit fractions below f_lo
fall below the hit nodes and are mapped as empty cells of that rank (an empty cell whose
rank is larger takes its random rank instead). The one interval per cell in which the
reference's empty share ends reads all empty or all hits, whichever holds for its larger
half: where it ends decides at most half a node spacing (1/126 of the generated empty
share among empty cells; half a hit node among hits), in either direction.

Memory: the stored tables hold B·C·(N_LEVELS + N_HIT_NODES + 5) float32 numbers, the
derived map 2·B·C·(N_EMPTY_NODES + N_HIT_NODES) plus 2·B·C position coefficients (B energy
bins, C cells): for the dataset-1 photon geometry (B = 15, C = 368) 5.2 MB stored and 8.5 MB
derived.

Bins are incident-energy ranges in ln E: one per distinct energy for discrete spectra,
else quantile bins. Checkpoints written before the generated CDF was tabulated store the
generated quantiles instead; they are converted to the CDF on the node grid when read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from hepgan.data.state_checks import check_non_decreasing, check_range, check_shape
from hepgan.data.transforms import energy_bins
from hepgan.errors import ConfigError

N_LEVELS = 101
"""Reference quantile levels per cell and bin (0, 1 %, …, 100 %)."""
N_HIT_NODES = 128
"""Nodes of the generated CDF, evenly spaced in ln f from the smallest to the largest generated hit fraction."""
N_EMPTY_NODES = 64
"""Nodes of the composite map over the empty-cell ranks (0 to the generated empty share)."""
N_NODES = N_EMPTY_NODES + N_HIT_NODES
"""Nodes of the composite map per bin and cell."""
RANK_LEVELS = 65536
"""Empty-cell ranks drawn on the CPU take this many values (16 random bits each)."""
MIN_HIT_FRACTION = 1e-12
"""The CDF nodes start no lower than this energy fraction (smaller hits count as the smallest node)."""
MIN_LOG_WIDTH = 2e-3
"""Node ranges narrower than this in ln f (a cell with one hit value) are widened to it."""
_FLOOR_FRACTION = 1e-30
"""Fractions are floored here before the logarithm: an empty cell's position lies far below 0."""
MAX_ENERGY_BINS = 20
"""At most this many distinct incident energies: one bin per energy; more: this many quantile bins
(:func:`hepgan.data.transforms.energy_bins`)."""
MAX_SHOWERS_PER_BIN = 2000
"""Reference showers kept per energy bin for the reference quantiles (the first met in the file)."""
MAX_KEPT_VALUES = 50_000_000
"""Cap on kept reference fractions (showers × cells, all bins): fewer showers per bin for large geometries."""
FRACTION_ATOL = 1e-5
"""Energy fractions read from a checkpoint may exceed 1 by this much (float32 rounding of a ratio)."""
_TOP_MARGIN = 1e-3
"""Node positions are clamped this far below the last node, so that the gathered slope is the last one."""


MAX_TABLE_BYTES = 512 * 2**20
"""Largest cell calibration accepted (stored and derived tables, :func:`table_bytes`)."""


def table_bytes(n_bins: int, n_cells: int) -> int:
    """Bytes of the tables (float32): B·C·(N_LEVELS + N_HIT_NODES + 5) stored, 2·B·C·(N_NODES + 1) derived."""
    return 4 * n_bins * n_cells * (N_LEVELS + N_HIT_NODES + 5 + 2 * (N_NODES + 1))


def check_table_size(n_cells: int, where: str) -> None:
    """Refuse a cell calibration whose tables at :data:`MAX_ENERGY_BINS` bins exceed :data:`MAX_TABLE_BYTES`.

    Raises:
        ConfigError: one line naming ``where``, the size and the formula.
    """
    size = table_bytes(MAX_ENERGY_BINS, n_cells)
    if size > MAX_TABLE_BYTES:
        raise ConfigError(
            f"{where}: the per-cell quantile tables of {n_cells} cells would take {size / 2**20:.0f} MiB "
            f"(4 bytes x {MAX_ENERGY_BINS} energy bins x cells x {table_bytes(1, 1) // 4}), over the "
            f"{MAX_TABLE_BYTES // 2**20} MiB limit; set it to false for this geometry"
        )


def inner_log_edges(log_e: np.ndarray) -> np.ndarray:
    """Inner edges (B − 1,) in ln(E/MeV) of the calibration's energy bins for incident energies ``log_e`` = ln(E/MeV).

    One bin per distinct energy for discrete spectra of at most :data:`MAX_ENERGY_BINS`
    energies, else that many quantile bins (:func:`hepgan.data.transforms.energy_bins`); the
    bins are consecutive ranges of ln E with edges half-way between neighbouring bins.
    """
    labels, n_bins = energy_bins(log_e, MAX_ENERGY_BINS)
    lows = np.array([log_e[labels == b].min() for b in range(n_bins)])
    highs = np.array([log_e[labels == b].max() for b in range(n_bins)])
    return 0.5 * (highs[:-1] + lows[1:])


def energy_bin_of(log_edges: np.ndarray, incident_mev: np.ndarray) -> np.ndarray:
    """Energy-bin index of each incident energy (MeV), given the inner bin edges in ln(E/MeV)."""
    return np.searchsorted(log_edges, np.log(np.asarray(incident_mev, np.float64).reshape(-1)))


def _fractions(cells: np.ndarray) -> np.ndarray:
    totals = cells.sum(axis=1, keepdims=True)
    return (cells / np.where(totals > 0, totals, 1.0)).astype(np.float32)


def _contiguous_or_none(table: np.ndarray | None) -> np.ndarray | None:
    return None if table is None else np.ascontiguousarray(table, dtype=np.float32)


def hit_log_ranges(fractions_by_bin: list[np.ndarray]) -> np.ndarray:
    """(B, n_cells, 2) ln f of the smallest and largest hit per bin and cell, from fractions (N_b, n_cells) per bin.

    Bounded below by :data:`MIN_HIT_FRACTION`, at least :data:`MIN_LOG_WIDTH` wide; cells without
    hits get the whole range [ln MIN_HIT_FRACTION, 0].
    """
    ranges = []
    for part in fractions_by_bin:
        hits = part > 0
        with np.errstate(divide="ignore"):
            low = np.log(np.where(hits, part, np.inf).min(axis=0)) if len(part) else np.full(part.shape[1], np.inf)
            high = np.log(np.where(hits, part, 0.0).max(axis=0)) if len(part) else np.full(part.shape[1], -np.inf)
        empty = ~np.isfinite(low)
        low = np.where(empty, math.log(MIN_HIT_FRACTION), np.maximum(low, math.log(MIN_HIT_FRACTION)))
        high = np.where(empty, 0.0, np.maximum(high, low))
        middle, half = 0.5 * (low + high), np.maximum(0.5 * (high - low), 0.5 * MIN_LOG_WIDTH)
        ranges.append(np.stack([middle - half, middle + half], axis=-1))
    return np.stack(ranges).astype(np.float64)


def hit_nodes(log_range: np.ndarray) -> np.ndarray:
    """ln f at the generated CDF's nodes (..., N_HIT_NODES), evenly spaced over ``log_range`` (..., 2)."""
    steps = np.linspace(0.0, 1.0, N_HIT_NODES)
    return log_range[..., :1] + (log_range[..., 1:] - log_range[..., :1]) * steps


def reference_quantile(quantiles: np.ndarray, u: np.ndarray) -> np.ndarray:
    """F_ref⁻¹(u): quantile tables (..., N_LEVELS) at levels 0…1, read linearly at ranks u (..., M)."""
    position = np.clip(u, 0.0, 1.0) * (N_LEVELS - 1)
    lower = np.clip(np.floor(position).astype(np.int64), 0, N_LEVELS - 2)
    y0 = np.take_along_axis(quantiles, lower, axis=-1)
    y1 = np.take_along_axis(quantiles, lower + 1, axis=-1)
    return y0 + (position - lower) * (y1 - y0)


RANK_STREAMS = 2
"""CPU ranks come from this many independent SFC64 streams (halves of the batch), drawn in parallel."""
_rank_pool: ThreadPoolExecutor | None = None


def _forget_rank_pool() -> None:
    """A forked child cannot use its parent's threads: it makes its own pool."""
    global _rank_pool
    _rank_pool = None


os.register_at_fork(after_in_child=_forget_rank_pool)


def draw_ranks(
    shape: torch.Size | tuple[int, ...], device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Uniform ranks in [0, 1), float32, for the empty cells; reproducible from ``generator``'s state.

    On a GPU, ``torch.rand``. On the CPU, 16-bit ranks (k + ½)/65536 from numpy's SFC64 bit
    generator: :data:`RANK_STREAMS` streams seeded from one draw of ``generator`` fill the
    halves of the batch in two threads (numpy releases the GIL). torch's CPU generator is
    several times slower per number, and the ranks are the most numbers a calibrated batch
    draws. The same seed gives the same ranks on every machine.
    """
    if device.type != "cpu":
        return torch.rand(shape, device=device, generator=generator)
    global _rank_pool
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    bits = np.empty(int(np.prod(shape)), dtype=np.uint16)
    bounds = np.linspace(0, bits.size, RANK_STREAMS + 1).astype(np.int64)
    streams = np.random.SeedSequence(seed).spawn(RANK_STREAMS)

    def fill(part: int) -> None:
        lo, hi = bounds[part], bounds[part + 1]
        rng = np.random.Generator(np.random.SFC64(streams[part]))
        bits[lo:hi] = rng.integers(0, RANK_LEVELS, size=hi - lo, dtype=np.uint16)

    if bits.size >= 1 << 20:
        _rank_pool = _rank_pool or ThreadPoolExecutor(RANK_STREAMS, thread_name_prefix="hepgan-ranks")
        list(_rank_pool.map(fill, range(RANK_STREAMS)))
    else:
        for part in range(RANK_STREAMS):
            fill(part)
    ranks = torch.empty(tuple(shape), dtype=torch.float32).copy_(torch.from_numpy(bits).view(tuple(shape)))
    return ranks.add_(0.5).mul_(1.0 / RANK_LEVELS)


class CellCalibration:
    """Quantile maps per (incident-energy bin, cell); see the module docstring."""

    def __init__(
        self,
        log_edges: np.ndarray,
        reference_quantiles: np.ndarray,
        reference_zero: np.ndarray,
        reference_floor: np.ndarray,
        generated_cdf: np.ndarray | None = None,
        generated_zero: np.ndarray | None = None,
        hit_log_range: np.ndarray | None = None,
    ) -> None:
        """``log_edges``: (B − 1,) inner bin edges in ln(E/MeV); ``reference_quantiles`` (B, n_cells,
        N_LEVELS); ``*_zero``: (B, n_cells) share of empty cells; ``reference_floor``: (B, n_cells)
        smallest non-zero reference fraction (0 where the cell is always empty); ``generated_cdf``
        (B, n_cells, N_HIT_NODES): share of generated showers with f ≤ each node, the empty ones
        included; ``hit_log_range`` (B, n_cells, 2): ln f at the first and last node."""
        self.log_edges = np.asarray(log_edges, dtype=np.float64)
        self.reference_quantiles = np.ascontiguousarray(reference_quantiles, dtype=np.float32)
        self.reference_zero = np.ascontiguousarray(reference_zero, dtype=np.float32)
        self.reference_floor = np.ascontiguousarray(reference_floor, dtype=np.float32)
        self.generated_cdf = _contiguous_or_none(generated_cdf)
        self.generated_zero = _contiguous_or_none(generated_zero)
        self.hit_log_range = None if hit_log_range is None else np.asarray(hit_log_range, dtype=np.float64)
        self._map: tuple[np.ndarray, np.ndarray] | None = None
        self._device_tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @property
    def n_bins(self) -> int:
        return self.reference_quantiles.shape[0]

    @property
    def n_cells(self) -> int:
        return self.reference_quantiles.shape[1]

    @property
    def fitted(self) -> bool:
        return self.generated_cdf is not None

    def bin_of(self, incident_mev: np.ndarray) -> np.ndarray:
        """Energy-bin index of each incident energy (MeV)."""
        return energy_bin_of(self.log_edges, incident_mev)

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
        log_edges = inner_log_edges(log_e)
        n_bins = len(log_edges) + 1
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
        """Generated CDF tables and empty shares from generated showers (N, n_cells) at ``incident_mev`` (MeV)."""
        cells_mev = np.asarray(cells_mev)
        if not np.isfinite(cells_mev).all():
            n_bad = int((~np.isfinite(cells_mev).all(axis=1)).sum())
            raise ValueError(f"cell calibration: {n_bad} generated showers hold NaN/inf cells (a diverged generator)")
        bins = self.bin_of(incident_mev)
        fractions = _fractions(cells_mev)
        parts = [fractions[bins == b] for b in range(self.n_bins)]
        for b, part in enumerate(parts):
            if not len(part):
                raise ValueError(f"cell calibration: no generated showers in energy bin {b}")
        log_range = hit_log_ranges(parts)
        n_cells = fractions.shape[1]
        cdf = np.empty((self.n_bins, n_cells, N_HIT_NODES), np.float32)
        zero = np.empty((self.n_bins, n_cells), np.float32)
        cell_offsets = np.arange(n_cells) * N_HIT_NODES
        for b, part in enumerate(parts):
            low, high = log_range[b, :, 0], log_range[b, :, 1]
            empty = part <= 0
            with np.errstate(divide="ignore"):
                node = np.ceil((np.log(part) - low) / (high - low) * (N_HIT_NODES - 1))  # first node at or above f
            node = np.clip(np.where(empty, 0, node), 0, N_HIT_NODES - 1).astype(np.int64)
            flat = (node + cell_offsets)[~empty]
            counts = np.bincount(flat, minlength=n_cells * N_HIT_NODES).reshape(n_cells, N_HIT_NODES)
            cdf[b] = (empty.sum(axis=0)[:, None] + np.cumsum(counts, axis=1)) / len(part)
            zero[b] = empty.mean(axis=0)
        self._set_generated(cdf, zero, log_range)

    def _set_generated(self, cdf: np.ndarray, zero: np.ndarray, log_range: np.ndarray) -> None:
        self.generated_cdf, self.generated_zero = _contiguous_or_none(cdf), _contiguous_or_none(zero)
        self.hit_log_range = np.asarray(log_range, dtype=np.float64)
        self._map = None
        self._device_tables.clear()

    # ------------------------------------------------------------------ the composite map
    def composite_map(self) -> tuple[np.ndarray, np.ndarray]:
        """Values and slopes (B, n_cells, N_EMPTY_NODES + N_HIT_NODES) float32 of the calibrated fraction.

        Node positions 0 … N_EMPTY_NODES − 1: empty-cell ranks evenly spaced from 0 to the
        generated empty share; the rest: the hit nodes in ln f. At a position p the calibrated
        fraction is ``values[⌊p⌋] + (p − ⌊p⌋)·slopes[⌊p⌋]``.
        """
        if not self.fitted:
            raise RuntimeError("cell calibration: fit_generated has not been run")
        if self._map is None:
            assert self.generated_cdf is not None and self.generated_zero is not None
            ranks = np.linspace(0.0, 1.0, N_EMPTY_NODES)
            u = np.concatenate(
                [self.generated_zero.astype(np.float64)[..., None] * ranks, self.generated_cdf.astype(np.float64)],
                axis=-1,
            )
            mapped = reference_quantile(self.reference_quantiles.astype(np.float64), u)
            mapped = np.maximum(mapped, self.reference_floor[..., None])
            # ranks within the reference's empty share stay empty: no hits below the reference's smallest
            zero = self.reference_zero.astype(np.float64)[..., None]
            values = np.where(u <= zero, 0.0, mapped)
            # an interval from an empty node to a hit node reads as hits if the reference's empty share
            # ends in its first half, else as empty (half a node spacing off at most, not biased)
            crossing = (values[..., :-1] <= 0) & (values[..., 1:] > 0)
            width = np.maximum(u[..., 1:] - u[..., :-1], 1e-30)
            early = crossing & ((zero - u[..., :-1]) / width < 0.5)
            values[..., :-1] = np.where(
                early, np.broadcast_to(self.reference_floor[..., None], early.shape), values[..., :-1]
            )
            slopes = np.diff(values, axis=-1, append=values[..., -1:])
            slopes[values <= 0] = 0.0  # an interval that starts empty stays empty
            self._map = (values.astype(np.float32), slopes.astype(np.float32))
        return self._map

    def position_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, c), each (B, n_cells) float32: a hit fraction f's node position is a·ln f + c (first hit node at
        N_EMPTY_NODES, last at N_NODES − 1)."""
        if self.hit_log_range is None:
            raise RuntimeError("cell calibration: fit_generated has not been run")
        low, high = self.hit_log_range[..., 0], self.hit_log_range[..., 1]
        scale = (N_HIT_NODES - 1) / (high - low)
        return scale.astype(np.float32), (N_EMPTY_NODES - scale * low).astype(np.float32)

    # ------------------------------------------------------------------ applying
    def _tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Inner bin edges, position coefficients (B, n_cells), the map's (value, slope) pairs as one float64 word
        each, the cells' node offsets."""
        if device not in self._device_tables:
            values, slopes = self.composite_map()
            pairs = np.stack([values, slopes], axis=-1).reshape(-1).view(np.float64)  # (value, slope) per word
            scale, shift = self.position_coefficients()
            self._device_tables[device] = (
                torch.from_numpy(self.log_edges).to(device),
                torch.from_numpy(scale).to(device),
                torch.from_numpy(shift).to(device),
                torch.from_numpy(pairs.copy()).to(device),
                torch.arange(self.n_cells, dtype=torch.int64, device=device) * N_NODES,
            )
        return self._device_tables[device]

    def apply(
        self,
        cells_mev: torch.Tensor,
        incident_mev: torch.Tensor,
        generator: torch.Generator | None = None,
        ranks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Calibrated cells (N, n_cells) in MeV, same total energy per shower.

        The empty cells' ranks are ``ranks`` (N, n_cells) in [0, 1) if given, else drawn with
        ``generator`` (:func:`draw_ranks`). Works on the device of ``cells_mev`` in float32 with
        a few (N, n_cells) buffers; the input is not changed.
        """
        log_edges, scale, shift, pairs, cell_offsets = self._tables(cells_mev.device)
        bins = torch.searchsorted(log_edges, torch.log(incident_mev.to(log_edges.device, torch.float64)).reshape(-1))
        order = None
        if len(bins) > 1 and bool((bins[1:] < bins[:-1]).any()):
            # rows grouped by energy bin: the map's gathers stay within one bin's table (cache-resident)
            order = torch.argsort(bins, stable=True)
            bins = bins[order]
            cells_mev = cells_mev.index_select(0, order)
            ranks = None if ranks is None else ranks.to(order.device).index_select(0, order)
        cells = cells_mev.float()
        totals = cells.sum(dim=1, keepdim=True)
        # node position of a hit: a·ln f + c; empty cells (f floored at 1e-30) land far below 0
        log_fraction = torch.mul(cells, 1.0 / totals.clamp_min(1e-30)).clamp_min_(_FLOOR_FRACTION).log_()
        position = torch.addcmul(shift.index_select(0, bins), log_fraction, scale.index_select(0, bins))
        if not bool(torch.isfinite(totals).all()):
            position.nan_to_num_(nan=0.0, posinf=0.0)  # the output row stays NaN/inf through the total
        if ranks is None:
            ranks = draw_ranks(position.shape, position.device, generator)
        spread = torch.mul(ranks.to(position.device, torch.float32), N_EMPTY_NODES - 1, out=log_fraction)
        position = torch.maximum(position, spread, out=position).clamp_(max=N_NODES - 1 - _TOP_MARGIN)
        node = position.to(torch.int64)
        position.sub_(node)  # now the offset within the node's interval
        node.add_(cell_offsets).add_((bins * (self.n_cells * N_NODES)).unsqueeze(1))
        gathered = pairs.take(node).view(torch.float32)  # (N, 2·n_cells): value, slope, value, slope, …
        out = torch.addcmul(gathered[:, 0::2], position, gathered[:, 1::2])
        norm = out.sum(dim=1, keepdim=True)
        out = out.mul_(totals / norm.clamp_min(1e-30))
        if order is not None:
            out = torch.empty_like(out).index_copy_(0, order, out)
        return out.to(cells_mev.dtype)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors, loadable with ``torch.load(weights_only=True)``."""
        if not self.fitted:
            raise RuntimeError("cell calibration: fit_generated has not been run")
        assert self.generated_cdf is not None and self.generated_zero is not None and self.hit_log_range is not None
        return {
            "log_edges": torch.from_numpy(self.log_edges),
            "reference_quantiles": torch.from_numpy(self.reference_quantiles),
            "reference_zero": torch.from_numpy(self.reference_zero),
            "reference_floor": torch.from_numpy(self.reference_floor),
            "generated_cdf": torch.from_numpy(self.generated_cdf),
            "generated_zero": torch.from_numpy(self.generated_zero),
            "hit_log_range": torch.from_numpy(self.hit_log_range.astype(np.float32)),
        }

    def check(self, n_cells: int, where: str = "cell_calibration") -> None:
        """ValueError (one line naming the table) unless the tables fit ``n_cells`` cells and make sense.

        Shapes: reference quantiles (B, n_cells, N_LEVELS), generated CDF (B, n_cells,
        N_HIT_NODES), shares and floors (B, n_cells), inner edges (B − 1,); quantiles and CDF
        non-decreasing along their last axis; quantiles, floors, CDF values and empty shares
        in [0, 1]; edges in increasing order; the first CDF node ln f_lo < 0.
        """
        reference = torch.from_numpy(self.reference_quantiles)
        if reference.dim() != 3 or reference.shape[0] < 1:
            found = tuple(reference.shape)
            raise ValueError(f"{where}.reference_quantiles has shape {found}, expected (bins, {n_cells}, {N_LEVELS})")
        n_bins = reference.shape[0]
        cells = f"{n_bins} energy bins, {n_cells} cells"
        check_shape(
            reference, (n_bins, n_cells, N_LEVELS), f"{where}.reference_quantiles", f"{cells}, {N_LEVELS} levels"
        )
        check_range(reference, 0.0, 1.0 + FRACTION_ATOL, f"{where}.reference_quantiles", "energy fractions")
        check_non_decreasing(reference, f"{where}.reference_quantiles")
        if self.generated_cdf is not None:
            cdf = torch.from_numpy(self.generated_cdf)
            check_shape(cdf, (n_bins, n_cells, N_HIT_NODES), f"{where}.generated_cdf", f"{cells}, {N_HIT_NODES} nodes")
            check_range(cdf, 0.0, 1.0, f"{where}.generated_cdf", "shares")
            check_non_decreasing(cdf, f"{where}.generated_cdf")
        if self.hit_log_range is not None:
            log_range = torch.from_numpy(self.hit_log_range)
            where_range = f"{where}.hit_log_range"
            check_shape(log_range, (n_bins, n_cells, 2), where_range, f"{cells}, first and last node")
            check_range(log_range, math.log(MIN_HIT_FRACTION) - 1.0, 0.01, where_range, "ln f")
            check_non_decreasing(log_range, where_range, strict=True)
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
    def from_state_dict(cls, state: dict[str, torch.Tensor], where: str = "cell_calibration") -> CellCalibration:
        """From :meth:`state_dict`; an older state with ``generated_quantiles`` is converted (checked first)."""
        tables = {key: value.cpu().numpy() for key, value in state.items()}
        calibration = cls(
            tables["log_edges"], tables["reference_quantiles"], tables["reference_zero"], tables["reference_floor"]
        )
        if "generated_cdf" in tables:
            calibration._set_generated(tables["generated_cdf"], tables["generated_zero"], tables["hit_log_range"])
        else:
            calibration._set_generated(
                *_cdf_from_quantiles(tables["generated_quantiles"], tables["generated_zero"], calibration, where)
            )
        return calibration


def _cdf_from_quantiles(
    quantiles: np.ndarray, zero: np.ndarray, calibration: CellCalibration, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generated CDF at the hit nodes from generated quantiles (B, n_cells, N_LEVELS) (older checkpoints).

    The older map read F_gen linearly between the quantiles; here it is read at the nodes.
    """
    table = torch.from_numpy(np.ascontiguousarray(quantiles, np.float32))
    shape = calibration.reference_quantiles.shape
    check_shape(table, shape, f"{where}.generated_quantiles", "the shape of reference_quantiles")
    check_range(table, 0.0, 1.0 + FRACTION_ATOL, f"{where}.generated_quantiles", "energy fractions")
    check_non_decreasing(table, f"{where}.generated_quantiles")
    zero_table = torch.from_numpy(np.ascontiguousarray(zero, np.float32))
    check_shape(zero_table, shape[:2], f"{where}.generated_zero", "the shape of reference_zero")
    check_range(zero_table, 0.0, 1.0, f"{where}.generated_zero", "shares")
    log_range = hit_log_ranges([q.T for q in np.asarray(quantiles, np.float32)])  # each bin's levels as showers
    nodes = torch.from_numpy(np.exp(hit_nodes(log_range)).astype(np.float32))
    last = N_LEVELS - 1
    upper = torch.searchsorted(table, nodes.contiguous(), right=True).clamp(1, last)
    x0, x1 = table.gather(-1, upper - 1), table.gather(-1, upper)
    t = ((nodes - x0) / (x1 - x0).clamp_min(1e-30)).clamp(0.0, 1.0)
    cdf = torch.where(nodes >= table[..., -1:], 1.0, (upper - 1 + t) / last).numpy()  # a plateau at the top: 1
    return np.maximum(cdf, np.asarray(zero, np.float32)[..., None]), zero, log_range
