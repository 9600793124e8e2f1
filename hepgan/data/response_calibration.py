"""Per-energy quantile calibration of the generated response E_tot/E_inc onto the reference.

The energy response u = E_tot/E_inc is the calorimeter's headline number: its mean per
incident energy is the scale, its width the resolution. A GAN trained on a few hundred
showers per energy gets the mean right to a few per mille but the width systematically
too small (mode dropping shows up in the tails first). The calibration fixes the
response's distribution per incident-energy bin: a generated response u becomes
F_ref⁻¹(F_gen(u)), where F_gen and F_ref are the response's cumulative distributions in
generated and reference (training) showers of that bin. It is monotone, so a shower with
a larger response than another keeps it; every cell of a shower is scaled by the same
factor, so the shower's shape (its energy fractions, hence everything the cell
calibration of :mod:`hepgan.data.calibration` set) is unchanged.

Tables per energy bin b (bins as the cell calibration's, :func:`inner_log_edges`):

- fitted once from training showers: the reference quantiles of u at :data:`N_LEVELS` levels;
- refitted for each checkpoint from generated showers (ten per reference shower of the bin,
  2 000 to :data:`GENERATED_PER_BIN`; fewer for large geometries, :data:`MAX_GENERATED_CELLS`):
  the generated quantiles at the same levels;
- derived from both (not stored): the piecewise-linear map from the generated to the
  reference quantiles, tabulated at :data:`N_NODES` nodes evenly spaced from the smallest
  to the largest generated quantile, as values and slopes.

Applying it needs no search (the same arithmetic on CPU, GPU and in the ONNX graph of
:mod:`hepgan.export`): a response's node position is (u − u_lo)·a, the mapped response is
value + slope·(position − node), read with one gather; outside [u_lo, u_hi] the map
continues with slope 1. Memory: 2·B·N_LEVELS float32 stored and 2·B·N_NODES derived, 120 kB
and 0.5 MB for 15 bins.

The reference quantiles carry the training sample's statistical error: with n showers per
bin the calibrated width is known to about 1/√(2n) (2.4 % at 900 showers), which is the
floor a response table should quote beside the generated-versus-reference differences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from hepgan.data.calibration import energy_bin_of, inner_log_edges
from hepgan.data.state_checks import check_non_decreasing, check_range, check_shape

N_LEVELS = 1001
"""Quantile levels of the response per energy bin (0, 0.1 %, …, 100 %)."""
N_NODES = 4096
"""Nodes of the tabulated map per energy bin, evenly spaced over the generated response range."""
GENERATED_PER_BIN = 10_000
"""At most this many generated showers per energy bin fit the generated quantiles ..."""
GENERATED_PER_REFERENCE = 10
"""... otherwise this many per reference shower of the bin (the generated quantiles' noise stays well below
the reference's) ..."""
MIN_GENERATED_PER_BIN = 2_000
"""... and at least this many ..."""
MAX_GENERATED_CELLS = 300_000_000
"""... but for large geometries at most this many generated cells per fit in all (showers × cells, all bins),
and no fewer than :data:`MIN_CAPPED_PER_BIN` showers per bin: 2 300 per bin for the 6 480 cells of CaloChallenge
dataset 2, 500 for the 40 500 of dataset 3 (its generated quantiles then carry about 1/√(2·500) = 3 % on the
calibrated width)."""
MIN_CAPPED_PER_BIN = 500
_MIN_SPAN = 1e-6
"""A generated response range narrower than this (a constant response) is widened to it."""


def map_response(
    response: torch.Tensor,
    bins: torch.Tensor,
    low: torch.Tensor,
    scale: torch.Tensor,
    values: torch.Tensor,
    slopes: torch.Tensor,
) -> torch.Tensor:
    """The calibrated response (N,) from responses (N,) and their energy bins (N,) int64, by the tables of
    :meth:`ResponseCalibration.tables` (``values``/``slopes`` flat, B·N_NODES).

    Only elementwise ops and one gather per table, so the ONNX export uses this function as it is.
    """
    position = (response - low.index_select(0, bins)) * scale.index_select(0, bins)
    inside = torch.clamp(position, 0.0, float(N_NODES - 1) * (1.0 - 1e-6))
    node = inside.to(torch.int64)  # truncation = floor: positions are >= 0
    index = node + bins * N_NODES
    mapped = values.index_select(0, index) + (inside - node.to(inside.dtype)) * slopes.index_select(0, index)
    # beyond the generated range the map continues with slope 1
    return mapped + (position - inside) / scale.index_select(0, bins)


def reference_values(
    chunks: Iterable[tuple[np.ndarray, np.ndarray]],
    quantity: Callable[[np.ndarray, np.ndarray], np.ndarray],
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Read ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks once: ``quantity(cells, incident)`` per shower
    (N, ...) concatenated, the incident energies (MeV), the calibration's inner bin edges in ln(E/MeV), each
    shower's bin, and the number of cells. ValueError naming ``what`` when there are no showers."""
    values, energies, n_cells = [], [], 1
    for cells, incident in chunks:
        n_cells = np.shape(cells)[1]
        incident = np.asarray(incident, np.float64).reshape(-1)
        values.append(quantity(np.asarray(cells, np.float64), incident))
        energies.append(incident)
    if not energies:
        raise ValueError(f"{what}: no reference showers")
    incident = np.concatenate(energies)
    log_edges = inner_log_edges(np.log(incident))
    return np.concatenate(values), incident, log_edges, energy_bin_of(log_edges, incident), n_cells


def generation_energies(incident_mev: np.ndarray, bins: np.ndarray, n_bins: int, n_cells: int) -> np.ndarray:
    """Incident energies (MeV) at which to generate showers for a calibration's generated tables: per energy bin,
    the bin's reference energies ``incident_mev`` (bin index ``bins``) drawn (seeded) :data:`GENERATED_PER_REFERENCE`
    times per reference shower, between :data:`MIN_GENERATED_PER_BIN` and :data:`GENERATED_PER_BIN`, and for large
    geometries (``n_cells`` per shower) no more than :data:`MAX_GENERATED_CELLS` cells in all (at least
    :data:`MIN_CAPPED_PER_BIN` showers per bin)."""
    rng = np.random.default_rng(0)
    at = []
    cap = max(MIN_CAPPED_PER_BIN, MAX_GENERATED_CELLS // (n_bins * n_cells))
    for b in range(n_bins):
        energies = incident_mev[bins == b]
        n = int(np.clip(GENERATED_PER_REFERENCE * len(energies), MIN_GENERATED_PER_BIN, GENERATED_PER_BIN))
        at.append(rng.choice(energies, min(n, cap)))
    return np.concatenate(at)


class ResponseCalibration:
    """Quantile map of E_tot/E_inc per incident-energy bin; see the module docstring."""

    def __init__(
        self, log_edges: np.ndarray, reference_quantiles: np.ndarray, generated_quantiles: np.ndarray | None = None
    ) -> None:
        """``log_edges``: (B − 1,) inner bin edges in ln(E/MeV); quantile tables (B, N_LEVELS) of E_tot/E_inc."""
        self.log_edges = np.asarray(log_edges, dtype=np.float64)
        self.reference_quantiles = np.ascontiguousarray(reference_quantiles, dtype=np.float32)
        self.generated_quantiles = (
            None if generated_quantiles is None else np.ascontiguousarray(generated_quantiles, dtype=np.float32)
        )
        self._tables: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @property
    def n_bins(self) -> int:
        return self.reference_quantiles.shape[0]

    @property
    def fitted(self) -> bool:
        return self.generated_quantiles is not None

    def bin_of(self, incident_mev: np.ndarray) -> np.ndarray:
        """Energy-bin index of each incident energy (MeV)."""
        return energy_bin_of(self.log_edges, incident_mev)

    @classmethod
    def from_reference(cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[ResponseCalibration, np.ndarray]:
        """Reference quantiles from ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks (read once).

        Returns the calibration (not yet :attr:`fitted`) and the incident energies (MeV) at which
        :meth:`fit_generated` should generate (:func:`generation_energies`).
        """
        response, incident, log_edges, bins, n_cells = reference_values(
            chunks, lambda cells, incident: cells.sum(axis=1) / incident, "response calibration"
        )
        levels = np.linspace(0.0, 1.0, N_LEVELS)
        quantiles = np.stack([np.quantile(response[bins == b], levels) for b in range(len(log_edges) + 1)])
        return cls(log_edges, quantiles), generation_energies(incident, bins, len(log_edges) + 1, n_cells)

    def fit_generated(self, response: np.ndarray, incident_mev: np.ndarray) -> None:
        """Generated quantiles from the responses E_tot/E_inc (N,) of generated showers at ``incident_mev``."""
        response = np.asarray(response, np.float64).reshape(-1)
        if not np.isfinite(response).all():
            n_bad = int((~np.isfinite(response)).sum())
            raise ValueError(f"response calibration: {n_bad} generated showers have a NaN/inf total energy")
        bins = self.bin_of(incident_mev)
        levels = np.linspace(0.0, 1.0, N_LEVELS)
        tables = []
        for b in range(self.n_bins):
            part = response[bins == b]
            if not len(part):
                raise ValueError(f"response calibration: no generated showers in energy bin {b}")
            tables.append(np.quantile(part, levels))
        self.generated_quantiles = np.stack(tables).astype(np.float32)
        self._tables.clear()

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(low (B,), scale (B,), values (B·N_NODES,), slopes (B·N_NODES,)) float32 for :func:`map_response`."""
        if self.generated_quantiles is None:
            raise RuntimeError("response calibration: fit_generated has not been run")
        generated = self.generated_quantiles.astype(np.float64)
        reference = self.reference_quantiles.astype(np.float64)
        low = generated[:, 0]
        span = np.maximum(generated[:, -1] - low, _MIN_SPAN)
        grid = low[:, None] + span[:, None] * np.linspace(0.0, 1.0, N_NODES)
        # the map between quantiles at equal levels (ties in the generated quantiles: the first's level)
        values = np.stack(
            [np.interp(grid[b], *_strictly_increasing(generated[b], reference[b])) for b in range(self.n_bins)]
        )
        slopes = np.diff(values, axis=1, append=values[:, -1:] + span[:, None] / (N_NODES - 1))
        scale = (N_NODES - 1) / span
        return (
            low.astype(np.float32),
            scale.astype(np.float32),
            values.reshape(-1).astype(np.float32),
            slopes.reshape(-1).astype(np.float32),
        )

    def _device_tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if device not in self._tables:
            self._tables[device] = (
                torch.from_numpy(self.log_edges).to(device),
                *(torch.from_numpy(table).to(device) for table in self.tables()),
            )
        return self._tables[device]

    def apply(self, cells_mev: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Cells (N, n_cells) in MeV scaled per shower so that E_tot/E_inc is the calibrated response.

        Empty showers stay empty, NaN/inf showers stay NaN/inf; the input is not changed.
        """
        log_edges, low, scale, values, slopes = self._device_tables(cells_mev.device)
        incident = incident_mev.to(cells_mev.device, torch.float64).reshape(-1)
        bins = torch.searchsorted(log_edges, torch.log(incident))
        totals = cells_mev.sum(dim=1, dtype=torch.float64)
        response = (totals / incident).float()
        safe = torch.where(torch.isfinite(response), response, torch.zeros_like(response))
        mapped = map_response(safe, bins, low, scale, values, slopes)
        factor = torch.where(response > 0, mapped.clamp_min(0.0) / response.clamp_min(1e-30), torch.ones_like(mapped))
        return cells_mev * factor.unsqueeze(1).to(cells_mev.dtype)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Plain tensors, loadable with ``torch.load(weights_only=True)``."""
        if self.generated_quantiles is None:
            raise RuntimeError("response calibration: fit_generated has not been run")
        return {
            "log_edges": torch.from_numpy(self.log_edges),
            "reference_quantiles": torch.from_numpy(self.reference_quantiles),
            "generated_quantiles": torch.from_numpy(self.generated_quantiles),
        }

    def check(self, where: str = "response_calibration") -> None:
        """ValueError (one line naming the table) unless the tables have the documented shapes and make sense:
        (B, N_LEVELS) non-decreasing responses in [0, 10], B − 1 increasing edges."""
        reference = torch.from_numpy(self.reference_quantiles)
        if reference.dim() != 2 or reference.shape[0] < 1:
            raise ValueError(
                f"{where}.reference_quantiles has shape {tuple(reference.shape)}, expected (bins, {N_LEVELS})"
            )
        n_bins = reference.shape[0]
        tables = {"reference_quantiles": reference}
        if self.generated_quantiles is not None:
            tables["generated_quantiles"] = torch.from_numpy(self.generated_quantiles)
        for name, table in tables.items():
            check_shape(table, (n_bins, N_LEVELS), f"{where}.{name}", f"{n_bins} energy bins, {N_LEVELS} levels")
            check_range(table, 0.0, 10.0, f"{where}.{name}", "responses E_tot/E_inc")
            check_non_decreasing(table, f"{where}.{name}")
        edges = torch.from_numpy(self.log_edges)
        check_shape(edges, (n_bins - 1,), f"{where}.log_edges", f"inner edges of {n_bins} energy bins")
        check_non_decreasing(edges, f"{where}.log_edges", strict=True)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> ResponseCalibration:
        """From :meth:`state_dict` (check with :meth:`check` before use)."""
        tables = {key: value.cpu().numpy() for key, value in state.items()}
        return cls(tables["log_edges"], tables["reference_quantiles"], tables.get("generated_quantiles"))


def _strictly_increasing(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) knots with repeated x removed (the first of each run kept), for :func:`numpy.interp`."""
    keep = np.r_[True, np.diff(x) > 0]
    return x[keep], y[keep]
