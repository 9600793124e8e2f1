"""Invertible preprocessing between showers (MeV) and the features the networks see.

A shower with incident energy E_inc (MeV) and cell energies E_i (MeV; voxels, then
overflow cells where the layout has them) becomes

- a condition ``c = (ln E_inc − m_E) / s_E``;
- a standardised response ``z = k (u − μ(E_inc)) / σ(E_inc)`` with ``u = Σ E_i / E_inc``,
  where μ and σ are the reference's mean and standard deviation of the response in
  incident-energy bins, interpolated linearly in ln E_inc (this lets a small network
  reach per-mille response accuracy at high energy and 20 % widths at low energy alike;
  the scale k (``response_scale``) sets how much the response weighs in the critic's
  distance relative to one cell);
- per-cell standardised log fractions ``x_i = (ln(E_i / ΣE + ε) − m_i) / s_i``, where
  m_i and s_i are either one mean and std per cell over all showers
  (``cell_standardisation="global"``) or, by default (``"per_energy"``), the mean and std
  in the same incident-energy bins as the response, interpolated linearly in ln E_inc.
  Per energy, a network output of zero is the reference's typical shower at that energy
  (in ln-fraction space), so the generator only has to learn the fluctuations; the std
  has a floor of ``CELL_STD_FLOOR`` so cells that are always empty at one energy stay
  (almost) empty.

The inverse maps network output back: ``u = μ + σ z / k`` (clipped at 0), fractions
``f = exp(min(x s + m, y_max)) − ε`` clipped at 0, where y_max is the largest
ln(f + ε) of that cell in the fitted showers (per energy bin, interpolated like m and s:
a cell never takes a larger share of the shower than the reference ever gave it, which
keeps the exponential from turning a small overshoot in ln f into a large energy);
the fractions are renormalised to 1, then ``E_i = f_i u E_inc``. With ``empty_cell_cut``
(the default) two kinds of cells are read as empty: fractions below ε (such a fraction
sits within a factor 2 of ε in ln(f + ε) and cannot be told from an empty cell, so the
network's small noise around ln ε would otherwise light up empty cells), and energies
below ``min_cell_mev``, the smallest non-zero cell energy of the fitted showers (the
readout threshold of the reference, e.g. 0.015 MeV; 0 when it has none). For showers
whose non-zero fractions are all ≥ ε and sum to one, ``inverse(forward(x)) == x`` to
float precision.
All fitted numbers live in :meth:`ShowerTransform.state_dict` (plain tensors) and are
stored in every checkpoint, so generation inverts exactly what training used. They include
the range of incident energies of the fitted showers (``incident_range_mev``): explicit
incident energies outside it are refused (:meth:`ShowerTransform.check_incident_range`)
instead of being extrapolated silently; checkpoints written before it was recorded have no
range and are not checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from hepgan.data.interpolation import interp_linear
from hepgan.data.state_checks import check_non_decreasing, check_positive, check_shape
from hepgan.errors import ConfigError, TrainingError

CELL_STANDARDISATIONS = ("per_energy", "global")
CELL_STD_FLOOR = 0.05
"""Smallest per-energy std of ln(f + ε) (a cell empty in every shower of a bin has std 0)."""
MIN_CELL_RTOL = 1e-4
"""Cells within this relative distance of ``min_cell_mev`` survive the cut (float32 rounding)."""
INCIDENT_RANGE_RTOL = 1e-2
"""Incident energies within this relative distance of the trained range count as inside: float32 rounding, and the
extremes of a continuous spectrum (a held-out part or an evaluation file drawn from the same spectrum as the training
split reaches a hair beyond the split's own smallest and largest energy)."""


class ShowerTransform:
    """Fit once on reference showers, then ``forward`` for training and ``inverse`` for generation."""

    def __init__(
        self,
        n_cells: int,
        fraction_epsilon: float = 1e-6,
        response_bins: int = 15,
        response_scale: float = 1.0,
        cell_standardisation: str = "per_energy",
        empty_cell_cut: bool = True,
    ) -> None:
        if cell_standardisation not in CELL_STANDARDISATIONS:
            raise ValueError(
                f"cell_standardisation: expected one of {CELL_STANDARDISATIONS}, got {cell_standardisation!r}"
            )
        self.n_cells = int(n_cells)
        self.response_scale = float(response_scale)
        self.fraction_epsilon = float(fraction_epsilon)
        self.response_bins = int(response_bins)
        self.cell_standardisation = cell_standardisation
        self.empty_cell_cut = bool(empty_cell_cut)
        self.min_cell_mev = 0.0  # smallest non-zero cell energy of the fitted showers (MeV)
        self.incident_range_mev: tuple[float, float] | None = None  # (min, max) E_inc fitted on (MeV); None: unknown
        self.log_energy_mean = torch.tensor(0.0, dtype=torch.float64)
        self.log_energy_std = torch.tensor(1.0, dtype=torch.float64)
        self.response_log_energy = torch.zeros(1, dtype=torch.float64)  # bin centres in ln(E/MeV)
        self.response_mean = torch.ones(1, dtype=torch.float64)
        self.response_std = torch.ones(1, dtype=torch.float64)
        # (n_cells,) for "global"; (n_bins, n_cells) at response_log_energy for "per_energy"
        self.cell_mean = torch.zeros(self.n_cells, dtype=torch.float64)
        self.cell_std = torch.ones(self.n_cells, dtype=torch.float64)
        self.cell_max: torch.Tensor | None = None  # largest ln(f + ε) seen per cell (and bin); None: no cap
        self.fitted = False

    @property
    def n_features(self) -> int:
        """Length of the feature vector: one response value plus one value per cell."""
        return self.n_cells + 1

    # ------------------------------------------------------------------ fitting
    def fit(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> ShowerTransform:
        """Fit on ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks.

        Two passes over ``chunks`` (incident energies, then cells per energy bin) for
        "per_energy", so pass a re-iterable (a list, or an object whose ``__iter__``
        re-reads the file); a one-shot iterator is read into memory first.
        """
        if self.cell_standardisation == "per_energy" and iter(chunks) is chunks:
            chunks = list(chunks)
        log_energies, responses = [], []
        low, high = np.inf, -np.inf
        for cells, incident in chunks:
            incident = np.asarray(incident, dtype=np.float64)
            if incident.size:
                low, high = min(low, float(incident.min())), max(high, float(incident.max()))
            log_energies.append(np.log(incident))
            responses.append(np.asarray(cells, dtype=np.float64).sum(axis=1) / incident)
        log_e = np.concatenate(log_energies) if log_energies else np.zeros(0)
        if len(log_e) < 2:
            raise TrainingError("preprocessing needs at least 2 reference showers to fit")
        response = np.concatenate(responses)
        binning = energy_bins(log_e, self.response_bins)
        labels, n_bins = binning
        if self.cell_standardisation == "global":
            labels, n_cell_bins = np.zeros_like(labels), 1
        else:
            n_cell_bins = n_bins
        count = np.zeros(n_cell_bins)
        sum_y = np.zeros((n_cell_bins, self.n_cells))
        sum_y2 = np.zeros((n_cell_bins, self.n_cells))
        max_y = np.full((n_cell_bins, self.n_cells), -np.inf)
        start = 0
        min_cell = np.inf
        for cells, _ in chunks:
            cells = np.asarray(cells, dtype=np.float64)
            positive = cells[cells > 0]
            if positive.size:
                min_cell = min(min_cell, float(positive.min()))
            y = self._log_fractions(cells)
            chunk_labels = labels[start : start + len(y)]
            start += len(y)
            for b in np.unique(chunk_labels):
                rows = y[chunk_labels == b]
                count[b] += len(rows)
                sum_y[b] += rows.sum(axis=0)
                sum_y2[b] += (rows * rows).sum(axis=0)
                max_y[b] = np.maximum(max_y[b], rows.max(axis=0))
        mean_y = sum_y / count[:, None]
        var_y = np.maximum(sum_y2 / count[:, None] - mean_y**2, 0.0)
        if self.cell_standardisation == "global":
            self.cell_mean = torch.from_numpy(mean_y[0])
            self.cell_std = torch.from_numpy(np.where(var_y[0] > 1e-12, np.sqrt(var_y[0]), 1.0))
            self.cell_max = torch.from_numpy(max_y[0])
        else:
            self.cell_mean = torch.from_numpy(mean_y)
            self.cell_std = torch.from_numpy(np.maximum(np.sqrt(var_y), CELL_STD_FLOOR))
            self.cell_max = torch.from_numpy(max_y)
        self.min_cell_mev = min_cell if np.isfinite(min_cell) else 0.0
        self.incident_range_mev = (low, high)
        self.log_energy_mean = torch.tensor(float(log_e.mean()), dtype=torch.float64)
        self.log_energy_std = torch.tensor(max(float(log_e.std()), 1e-6), dtype=torch.float64)
        centres, means, stds = _binned_response(log_e, response, binning)
        self.response_log_energy = torch.from_numpy(centres)
        self.response_mean = torch.from_numpy(means)
        self.response_std = torch.from_numpy(stds)
        self.fitted = True
        return self

    def _log_fractions(self, cells: np.ndarray) -> np.ndarray:
        totals = cells.sum(axis=1)
        return np.log(cells / np.where(totals > 0, totals, 1.0)[:, None] + self.fraction_epsilon)

    # ------------------------------------------------------------ conversions
    def condition(self, incident_mev: torch.Tensor) -> torch.Tensor:
        """Network condition (N, 1) from incident energies (N,) in MeV."""
        log_e = torch.log(incident_mev.to(torch.float64))
        c = (log_e - self.log_energy_mean.to(log_e.device)) / self.log_energy_std.to(log_e.device)
        return c.unsqueeze(1)

    def _response_params(self, incident_mev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_e = torch.log(incident_mev.to(torch.float64))
        x = self.response_log_energy.to(log_e.device)
        return (
            interp_linear(log_e, x, self.response_mean.to(log_e.device)),
            interp_linear(log_e, x, self.response_std.to(log_e.device)),
        )

    def cell_parameters(
        self, incident_mev: torch.Tensor, device: torch.device, dtype: torch.dtype, with_max: bool = False
    ) -> tuple[torch.Tensor, ...]:
        """Cell means and stds (and caps) of ln(f + ε) at ``incident_mev`` (MeV): (n_cells,) ("global") or
        (N, n_cells) ("per_energy", interpolated linearly in ln E_inc between the fitted bins)."""
        tables = [self.cell_mean, self.cell_std]
        if with_max:
            if self.cell_max is None:
                raise ValueError("with_max=True needs a transform with cell caps (cell_max)")
            tables.append(self.cell_max)
        tables = [t.to(device, dtype) for t in tables]
        if tables[0].dim() == 1:
            return tuple(tables)
        if len(tables[0]) == 1:
            return tuple(t[0] for t in tables)
        weights = interpolation_weights(self.response_log_energy.to(device), incident_mev.to(device), dtype)
        with torch.autocast(device_type=device.type, enabled=False):  # the tables' precision, not bf16
            return tuple(weights @ t for t in tables)

    def _cell_tables(
        self, incident_mev: torch.Tensor, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Cell means, stds and caps (None without ``cell_max``) at ``incident_mev``, as :meth:`cell_parameters`."""
        mean, std, *cap = self.cell_parameters(incident_mev, device, dtype, with_max=self.cell_max is not None)
        return mean, std, (cap[0] if cap else None)

    def forward(self, cells_mev: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Features (N, 1 + n_cells), float64, from cell energies (N, n_cells) in MeV."""
        cells = cells_mev.to(torch.float64)
        totals = cells.sum(dim=1)
        mu, sigma = self._response_params(incident_mev)
        z = self.response_scale * (totals / incident_mev.to(torch.float64) - mu) / sigma
        fractions = cells / torch.where(totals > 0, totals, torch.ones_like(totals)).unsqueeze(1)
        mean, std = self.cell_parameters(incident_mev, cells.device, torch.float64)
        x = (torch.log(fractions + self.fraction_epsilon) - mean) / std
        return torch.cat([z.unsqueeze(1), x], dim=1)

    def inverse(self, features: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Cell energies (N, n_cells) in MeV from features (N, 1 + n_cells); dtype of ``features``.

        Works in place on one (N, n_cells) buffer (generation speed is bound by memory traffic
        here), so it is not differentiable; :meth:`fractions` is the differentiable path.
        """
        dtype = features.dtype
        device = features.device
        work = torch.float64 if dtype == torch.float64 else torch.float32
        incident = incident_mev.to(device, torch.float64)
        mu, sigma = self._response_params(incident)
        response = torch.clamp(mu + sigma * features[:, 0].to(torch.float64) / self.response_scale, min=0.0)
        mean, std, cap = self._cell_tables(incident, device, work)
        # ln(f + ε) = x·s + m, capped; f = e^(…) − ε; one (N, n_cells) buffer from here on
        x = features[:, 1:].to(work)
        fractions = torch.addcmul(mean, x, std, out=mean) if mean.shape == x.shape else torch.addcmul(mean, x, std)
        if cap is not None:
            fractions = torch.minimum(fractions, cap, out=fractions)
        fractions.exp_().sub_(self.fraction_epsilon)
        if self.empty_cell_cut:
            fractions.masked_fill_(fractions < self.fraction_epsilon, 0.0)
        else:
            fractions.clamp_(min=0.0)
        norm = fractions.sum(dim=1)
        energy = response * incident / torch.where(norm > 0, norm, torch.ones_like(norm))
        cells = fractions.mul_(energy.to(work).unsqueeze(1))
        if self.empty_cell_cut and self.min_cell_mev > 0:
            cells.masked_fill_(cells < self.min_cell_mev * (1.0 - MIN_CELL_RTOL), 0.0)
        return cells.to(dtype)

    def fractions(self, features: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Energy fractions (N, n_cells), summing to 1, from features (N, 1 + n_cells); differentiable.

        The same map as :meth:`inverse` without the empty-cell cut (a step function, which
        would stop gradients); computed in float32 on the features' device.
        """
        mean, std, cap = self._cell_tables(incident_mev, features.device, torch.float32)
        fractions = raw_fractions(features[:, 1:].float(), mean, std, cap, self.fraction_epsilon, in_place=False)
        return fractions / fractions.sum(dim=1, keepdim=True).clamp_min(1e-12)

    def incident_from_condition(self, condition: torch.Tensor) -> torch.Tensor:
        """Incident energies (N,) in MeV, float64, from network conditions (N, 1): the inverse of :meth:`condition`."""
        device = condition.device
        log_e = condition[:, 0].double() * self.log_energy_std.to(device) + self.log_energy_mean.to(device)
        return torch.exp(log_e)

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor | int | float | str]:
        """Plain tensors and numbers, loadable with ``torch.load(weights_only=True)``."""
        return {
            "n_cells": self.n_cells,
            "fraction_epsilon": self.fraction_epsilon,
            "response_bins": self.response_bins,
            "response_scale": self.response_scale,
            "cell_standardisation": self.cell_standardisation,
            "empty_cell_cut": self.empty_cell_cut,
            "min_cell_mev": self.min_cell_mev,
            "log_energy_mean": self.log_energy_mean,
            "log_energy_std": self.log_energy_std,
            "response_log_energy": self.response_log_energy,
            "response_mean": self.response_mean,
            "response_std": self.response_std,
            "cell_mean": self.cell_mean,
            "cell_std": self.cell_std,
            **({} if self.cell_max is None else {"cell_max": self.cell_max}),
            **(
                {}
                if self.incident_range_mev is None
                else {"incident_min_mev": self.incident_range_mev[0], "incident_max_mev": self.incident_range_mev[1]}
            ),
        }

    def check(self, n_cells: int, where: str = "transform") -> None:
        """ValueError (one line naming the entry) unless the fitted numbers fit ``n_cells`` cells and make sense.

        ``n_cells`` is what the geometry holds (voxels + extra cells). Widths (standard
        deviations, ε, the response scale) must be > 0, ``min_cell_mev`` >= 0 (MeV), the
        incident-energy range (when recorded) finite with 0 < min <= max (MeV), the
        response bins' ln E positions (B,) increasing with means and widths of the same
        length, and the cell tables of shape (n_cells,) or (B, n_cells).
        """
        if self.n_cells != n_cells:
            raise ValueError(f"{where}.n_cells is {self.n_cells}, the geometry has {n_cells} cells (voxels + extra)")
        for name, value in (("fraction_epsilon", self.fraction_epsilon), ("response_scale", self.response_scale)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{where}.{name} is {value}, expected a number > 0")
        if not (math.isfinite(self.min_cell_mev) and self.min_cell_mev >= 0):
            raise ValueError(f"{where}.min_cell_mev is {self.min_cell_mev}, expected a number >= 0 (MeV)")
        if self.incident_range_mev is not None:
            low, high = self.incident_range_mev
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(
                    f"{where}.incident_min_mev and incident_max_mev are {low:g} and {high:g}, "
                    "expected numbers with 0 < min <= max (MeV)"
                )
        for name in ("log_energy_mean", "log_energy_std"):
            if getattr(self, name).numel() != 1:
                raise ValueError(f"{where}.{name} has shape {tuple(getattr(self, name).shape)}, expected one number")
        check_positive(self.log_energy_std, f"{where}.log_energy_std")
        positions = self.response_log_energy
        if positions.dim() != 1 or len(positions) < 1:
            raise ValueError(f"{where}.response_log_energy has shape {tuple(positions.shape)}, expected (bins,)")
        n_bins = len(positions)
        check_non_decreasing(positions, f"{where}.response_log_energy", strict=True)
        for name in ("response_mean", "response_std"):
            check_shape(getattr(self, name), (n_bins,), f"{where}.{name}", "one per response bin")
        check_positive(self.response_std, f"{where}.response_std")
        shape = tuple(self.cell_mean.shape)
        if shape not in ((n_cells,), (n_bins, n_cells)):
            raise ValueError(f"{where}.cell_mean has shape {shape}, expected ({n_cells},) or ({n_bins}, {n_cells})")
        check_shape(self.cell_std, shape, f"{where}.cell_std", "the shape of cell_mean")
        check_positive(self.cell_std, f"{where}.cell_std")
        if self.cell_max is not None:
            check_shape(self.cell_max, shape, f"{where}.cell_max", "the shape of cell_mean")

    @classmethod
    def from_state_dict(cls, state: dict) -> ShowerTransform:
        """Rebuild a fitted transform from :meth:`state_dict` output.

        States written before per-energy standardisation and the empty-cell cut load as
        ``"global"`` without the cut, i.e. exactly as they were trained; states written before
        the incident-energy range was recorded load without one (no range check).
        """
        transform = cls(
            int(state["n_cells"]),
            float(state["fraction_epsilon"]),
            int(state["response_bins"]),
            float(state.get("response_scale", 1.0)),
            str(state.get("cell_standardisation", "global")),
            bool(state.get("empty_cell_cut", False)),
        )
        transform.min_cell_mev = float(state.get("min_cell_mev", 0.0))
        if "incident_min_mev" in state or "incident_max_mev" in state:  # one without the other: KeyError
            transform.incident_range_mev = (float(state["incident_min_mev"]), float(state["incident_max_mev"]))
        if "cell_max" in state:
            transform.cell_max = torch.as_tensor(state["cell_max"], dtype=torch.float64)
        for key in (
            "log_energy_mean",
            "log_energy_std",
            "response_log_energy",
            "response_mean",
            "response_std",
            "cell_mean",
            "cell_std",
        ):
            setattr(transform, key, torch.as_tensor(state[key], dtype=torch.float64))
        transform.fitted = True
        return transform

    # ------------------------------------------------------------ trained range
    def check_incident_range(self, incident_mev: np.ndarray, source: str | None = None) -> None:
        """ConfigError (one line) when incident energies (MeV) lie outside the range the transform was fitted on.

        ``source`` names where the energies came from (a file); without it the line speaks of
        "incident energies". Energies within :data:`INCIDENT_RANGE_RTOL` of the range count as
        inside; a transform without a recorded range (older checkpoints) checks nothing.
        """
        if self.incident_range_mev is None:
            return
        incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        low, high = self.incident_range_mev
        below = incident < low * (1.0 - INCIDENT_RANGE_RTOL)
        above = incident > high * (1.0 + INCIDENT_RANGE_RTOL)
        n_out = int(below.sum() + above.sum())
        if n_out == 0:
            return
        scale, unit = (1e3, "GeV") if high >= 1e3 else (1.0, "MeV")
        extremes = []
        if below.any():
            extremes.append(f"smallest {_distinct(float(incident[below].min()) / scale, low / scale)} {unit}")
        if above.any():
            extremes.append(f"largest {_distinct(float(incident[above].max()) / scale, high / scale)} {unit}")
        prefix = f"{source}: " if source else ""
        raise ConfigError(
            f"{prefix}{n_out} of {len(incident)} incident energies lie outside the trained range "
            f"{low / scale:g} to {high / scale:g} {unit} ({', '.join(extremes)}); "
            "the model was trained on that range only"
        )


def _distinct(value: float, bound: float) -> str:
    """``value`` with as many significant digits (at least 6) as it takes to read differently from ``bound``."""
    for digits in range(6, 18):
        text = f"{value:.{digits}g}"
        if text != f"{bound:.{digits}g}":
            return text
    return f"{value!r}"


def interpolation_weights(knots: torch.Tensor, incident_mev: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, B) weights of linear interpolation in ln E between B knots (ln(E/MeV)), constant beyond the ends.

    A table (B, width) at the incident energies is ``weights @ table``: one matrix product
    instead of gathering and blending two rows per shower.
    """
    n_knots = len(knots)
    log_e = torch.clamp(torch.log(incident_mev.to(torch.float64)).reshape(-1), knots[0], knots[-1])
    idx = torch.clamp(torch.searchsorted(knots, log_e, right=True) - 1, 0, n_knots - 2)
    w = (log_e - knots[idx]) / (knots[idx + 1] - knots[idx])
    weights = torch.zeros(len(log_e), n_knots, dtype=dtype, device=log_e.device)
    weights.scatter_(1, idx.unsqueeze(1), (1.0 - w).to(dtype).unsqueeze(1))
    weights.scatter_add_(1, (idx + 1).unsqueeze(1), w.to(dtype).unsqueeze(1))
    return weights


def energy_bins(log_e: np.ndarray, n_bins: int) -> tuple[np.ndarray, int]:
    """Incident-energy bin of every shower (labels 0..n−1, no empty bin) and the number of bins.

    A discrete spectrum with at most ``n_bins`` distinct energies gets one bin per
    energy; otherwise bins hold equal numbers of showers (quantiles of ln E).
    """
    distinct = np.unique(log_e)
    if len(distinct) <= n_bins:
        return np.searchsorted(distinct, log_e), len(distinct)
    edges = np.quantile(log_e, np.linspace(0.0, 1.0, n_bins + 1))
    labels = np.clip(np.searchsorted(edges, log_e, side="right") - 1, 0, n_bins - 1)
    used, compact = np.unique(labels, return_inverse=True)
    return compact.reshape(labels.shape), len(used)


def _binned_response(
    log_e: np.ndarray, response: np.ndarray, labels_and_count: tuple[np.ndarray, int]
) -> tuple[np.ndarray, ...]:
    """Mean ln E, mean response and response std per incident-energy bin (see :func:`energy_bins`)."""
    labels, n = labels_and_count
    centres, means, stds = [], [], []
    for b in range(n):
        sel = labels == b
        centres.append(log_e[sel].mean())
        mean = response[sel].mean()
        means.append(mean)
        stds.append(max(response[sel].std(), 1e-4 * max(abs(mean), 1e-3)))
    return np.array(centres), np.array(means), np.array(stds)


def raw_fractions(
    features: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    cap: torch.Tensor | None = None,
    epsilon: float = 0.0,
    *,
    in_place: bool,
) -> torch.Tensor:
    """Unnormalised cell fractions exp(min(x·s + m, y_max)) − ε, clipped at 0, from standardised ln(f + ε) x.

    ``mean``, ``std`` and ``cap`` broadcast against ``features`` (N, n_cells). With ``in_place``
    one new buffer is written in place (fast, not differentiable); otherwise every step is a
    new tensor (differentiable, exportable).
    """
    if in_place:
        fractions = features.mul(std).add_(mean)
        if cap is not None:
            fractions = torch.minimum(fractions, cap, out=fractions)
        return fractions.exp_().sub_(epsilon).clamp_(min=0.0)
    log_fractions = features * std + mean
    if cap is not None:
        log_fractions = torch.minimum(log_fractions, cap)
    return torch.relu(torch.exp(log_fractions) - epsilon)
