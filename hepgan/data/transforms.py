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
- per-cell standardised log fractions ``x_i = (ln(E_i / ΣE + ε) − m_i) / s_i``.

The inverse maps network output back: ``u = μ + σ z / k`` (clipped at 0), fractions
``exp(x s + m) − ε`` clipped at 0 and renormalised to 1, then ``E_i = f_i u E_inc``.
For showers whose fractions sum to one, ``inverse(forward(x)) == x`` to float precision.
All fitted numbers live in :meth:`ShowerTransform.state_dict` (plain tensors) and are
stored in every checkpoint, so generation inverts exactly what training used.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from hepgan.errors import TrainingError


class ShowerTransform:
    """Fit once on reference showers, then ``forward`` for training and ``inverse`` for generation."""

    def __init__(
        self, n_cells: int, fraction_epsilon: float = 1e-6, response_bins: int = 15, response_scale: float = 1.0
    ) -> None:
        self.n_cells = int(n_cells)
        self.response_scale = float(response_scale)
        self.fraction_epsilon = float(fraction_epsilon)
        self.response_bins = int(response_bins)
        self.log_energy_mean = torch.tensor(0.0, dtype=torch.float64)
        self.log_energy_std = torch.tensor(1.0, dtype=torch.float64)
        self.response_log_energy = torch.zeros(1, dtype=torch.float64)  # bin centres in ln(E/MeV)
        self.response_mean = torch.ones(1, dtype=torch.float64)
        self.response_std = torch.ones(1, dtype=torch.float64)
        self.cell_mean = torch.zeros(self.n_cells, dtype=torch.float64)
        self.cell_std = torch.ones(self.n_cells, dtype=torch.float64)
        self.fitted = False

    @property
    def n_features(self) -> int:
        """Length of the feature vector: one response value plus one value per cell."""
        return self.n_cells + 1

    # ------------------------------------------------------------------ fitting
    def fit(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> ShowerTransform:
        """Fit on ``(cells_mev (N, n_cells), incident_mev (N,))`` chunks in one streaming pass."""
        eps = self.fraction_epsilon
        total_n = 0
        sum_y = np.zeros(self.n_cells)
        sum_y2 = np.zeros(self.n_cells)
        log_energies, responses = [], []
        for cells, incident in chunks:
            cells = np.asarray(cells, dtype=np.float64)
            incident = np.asarray(incident, dtype=np.float64)
            totals = cells.sum(axis=1)
            fractions = cells / np.where(totals > 0, totals, 1.0)[:, None]
            y = np.log(fractions + eps)
            sum_y += y.sum(axis=0)
            sum_y2 += (y * y).sum(axis=0)
            total_n += len(cells)
            log_energies.append(np.log(incident))
            responses.append(totals / incident)
        if total_n < 2:
            raise TrainingError("preprocessing needs at least 2 reference showers to fit")
        log_e = np.concatenate(log_energies)
        response = np.concatenate(responses)
        mean_y = sum_y / total_n
        var_y = np.maximum(sum_y2 / total_n - mean_y**2, 0.0)
        self.cell_mean = torch.from_numpy(mean_y)
        self.cell_std = torch.from_numpy(np.where(var_y > 1e-12, np.sqrt(var_y), 1.0))
        self.log_energy_mean = torch.tensor(float(log_e.mean()), dtype=torch.float64)
        self.log_energy_std = torch.tensor(max(float(log_e.std()), 1e-6), dtype=torch.float64)
        centres, means, stds = _binned_response(log_e, response, self.response_bins)
        self.response_log_energy = torch.from_numpy(centres)
        self.response_mean = torch.from_numpy(means)
        self.response_std = torch.from_numpy(stds)
        self.fitted = True
        return self

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

    def forward(self, cells_mev: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Features (N, 1 + n_cells), float64, from cell energies (N, n_cells) in MeV."""
        cells = cells_mev.to(torch.float64)
        totals = cells.sum(dim=1)
        mu, sigma = self._response_params(incident_mev)
        z = self.response_scale * (totals / incident_mev.to(torch.float64) - mu) / sigma
        fractions = cells / torch.where(totals > 0, totals, torch.ones_like(totals)).unsqueeze(1)
        device = cells.device
        x = (torch.log(fractions + self.fraction_epsilon) - self.cell_mean.to(device)) / self.cell_std.to(device)
        return torch.cat([z.unsqueeze(1), x], dim=1)

    def inverse(self, features: torch.Tensor, incident_mev: torch.Tensor) -> torch.Tensor:
        """Cell energies (N, n_cells) in MeV from features (N, 1 + n_cells); dtype of ``features``."""
        dtype = features.dtype
        device = features.device
        work = torch.float64 if dtype == torch.float64 else torch.float32
        feats = features.to(work)
        mu, sigma = self._response_params(incident_mev)
        response = torch.clamp(mu.to(work) + sigma.to(work) * feats[:, 0] / self.response_scale, min=0.0)
        # in place on one (N, n_cells) buffer: generation speed is bound by memory traffic here
        fractions = feats[:, 1:].mul(self.cell_std.to(device, work))
        fractions.add_(self.cell_mean.to(device, work)).exp_().sub_(self.fraction_epsilon).clamp_(min=0.0)
        norm = fractions.sum(dim=1)
        energy = response * incident_mev.to(device, work) / torch.where(norm > 0, norm, torch.ones_like(norm))
        return fractions.mul_(energy.unsqueeze(1)).to(dtype)

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor | int | float]:
        """Plain tensors and numbers, loadable with ``torch.load(weights_only=True)``."""
        return {
            "n_cells": self.n_cells,
            "fraction_epsilon": self.fraction_epsilon,
            "response_bins": self.response_bins,
            "response_scale": self.response_scale,
            "log_energy_mean": self.log_energy_mean,
            "log_energy_std": self.log_energy_std,
            "response_log_energy": self.response_log_energy,
            "response_mean": self.response_mean,
            "response_std": self.response_std,
            "cell_mean": self.cell_mean,
            "cell_std": self.cell_std,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> ShowerTransform:
        """Rebuild a fitted transform from :meth:`state_dict` output."""
        transform = cls(
            int(state["n_cells"]),
            float(state["fraction_epsilon"]),
            int(state["response_bins"]),
            float(state.get("response_scale", 1.0)),
        )
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


def _binned_response(log_e: np.ndarray, response: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """Mean and std of the response per incident-energy bin, at the bins' mean ln E.

    A discrete spectrum with at most ``n_bins`` distinct energies gets one bin per
    energy; otherwise bins hold equal numbers of showers (quantiles of ln E).
    """
    distinct = np.unique(log_e)
    if len(distinct) <= n_bins:
        labels = np.searchsorted(distinct, log_e)
        n = len(distinct)
    else:
        edges = np.quantile(log_e, np.linspace(0.0, 1.0, n_bins + 1))
        labels = np.clip(np.searchsorted(edges, log_e, side="right") - 1, 0, n_bins - 1)
        n = n_bins
    centres, means, stds = [], [], []
    for b in range(n):
        sel = labels == b
        if not sel.any():
            continue
        centres.append(log_e[sel].mean())
        mean = response[sel].mean()
        means.append(mean)
        stds.append(max(response[sel].std(), 1e-4 * max(abs(mean), 1e-3)))
    return np.array(centres), np.array(means), np.array(stds)


def interp_linear(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation like ``numpy.interp`` (constant beyond the ends)."""
    if len(xp) == 1:
        return fp.expand_as(x).clone()
    x_clamped = torch.clamp(x, xp[0], xp[-1])
    idx = torch.clamp(torch.searchsorted(xp, x_clamped, right=True) - 1, 0, len(xp) - 2)
    x0, x1 = xp[idx], xp[idx + 1]
    w = (x_clamped - x0) / (x1 - x0)
    return fp[idx] * (1 - w) + fp[idx + 1] * w
