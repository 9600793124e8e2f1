"""The shower data module: reads a reference shower file in chunks for training.

A data module is what the trainer needs from a kind of data (``config.kind``): it fits
the invertible preprocessing, builds the training tensors (features and conditions),
writes the held-out reference sample, builds the networks for its feature layout, and
names what a checkpoint must hold to generate again. :class:`ShowerData` does this for
calorimeter showers; :func:`hepgan.data.make_data_module` picks the module by kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepgan.config import RunConfig
from hepgan.data.calibration import CellCalibration
from hepgan.data.transforms import ShowerTransform
from hepgan.errors import InputFileError
from hepgan.io import ShowerBatch, ShowerReader, ShowerWriter
from hepgan.io.geometry import CaloGeometry, load_geometry
from hepgan.models import CONDITION_DIM, build_networks
from hepgan.models.summary_critic import SummaryCritic

WIDTH_PEDESTAL = 0.1
"""Pedestal under the layer-width weights, in units of ``preprocessing.fraction_epsilon`` per voxel."""
CALIBRATION_SAMPLES_PER_REFERENCE = 2
"""Generated showers per kept reference shower when the cell calibration is refitted."""
SUMMARY_SCALE_SHOWERS = 20_000
"""Training showers used to fix the scale of the layer energies and widths (MMD term, summary critic)."""


def n_extra_cells(geometry: CaloGeometry) -> int:
    """Cells beyond the voxels that the model generates: CaloGAN's per-layer overflow."""
    return geometry.n_layers if geometry.layout == "calogan" else 0


def batch_cells(batch: ShowerBatch, n_extra: int) -> np.ndarray:
    """Voxels (and overflow cells where the model has them) of a batch, (N, n_cells) MeV."""
    if n_extra == 0:
        return np.asarray(batch.showers_mev, dtype=np.float64)
    overflow = batch.overflow_mev if batch.overflow_mev is not None else np.zeros((len(batch), n_extra))
    return np.concatenate([np.asarray(batch.showers_mev, dtype=np.float64), np.asarray(overflow, np.float64)], axis=1)


def holdout_mask(n: int, validation_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out entries (fixed by the seed, so resuming sees the same split)."""
    n_val = round(n * validation_fraction)
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:n_val]] = True
    return mask


class ShowerData:
    """Calorimeter showers: reads the reference file in chunks, never all at once."""

    kind = "calo"
    cond_dim = 1  # log-scaled incident energy

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.geometry = load_geometry(config.geometry)
        self.n_extra = n_extra_cells(self.geometry)
        self.path = Path(config.data.path)
        self.transform: ShowerTransform | None = None
        self._layer_matrix: tuple[torch.Tensor, ...] | None = None
        self._summary_scale: tuple[torch.Tensor, torch.Tensor] | None = None
        self.calibration: CellCalibration | None = None
        self._calibration_energies = np.zeros(0)
        if not self.path.is_file():
            raise InputFileError(
                f"{self.path}: reference file not found (data.path); make it with "
                f"'hepgan simulate <config>' or point data.path at your showers"
            )
        with ShowerReader(self.path, self.geometry, chunk_size=config.data.chunk_size) as reader:
            total = len(reader)
        self.n = min(total, config.data.max_showers) if config.data.max_showers else total
        if self.n < 10:
            raise InputFileError(f"{self.path}: {self.n} showers; at least 10 are needed to train")
        self.holdout = holdout_mask(self.n, config.data.validation_fraction, config.seed)

    def _chunks(self, train: bool) -> Iterator[tuple[np.ndarray, np.ndarray, ShowerBatch, np.ndarray]]:
        offset = 0
        with ShowerReader(self.path, self.geometry, chunk_size=self.config.data.chunk_size) as reader:
            for batch in reader.iter_chunks(0, self.n):
                held_out = self.holdout[offset : offset + len(batch)]
                sel = ~held_out if train else held_out
                offset += len(batch)
                yield batch_cells(batch, self.n_extra)[sel], np.asarray(batch.incident_energies_mev)[sel], batch, sel

    def fit_transform(self) -> None:
        """Fit the preprocessing on the training showers (deterministic: the same on every rank)."""
        pp = self.config.preprocessing
        transform = ShowerTransform(
            self.geometry.n_voxels + self.n_extra,
            pp.fraction_epsilon,
            pp.response_bins,
            pp.response_scale,
            pp.cell_standardisation,
            empty_cell_cut=pp.empty_cell_cut,
        )
        self.transform = transform.fit(_TrainingChunks(self))

    def load_transform(self, state: dict[str, Any]) -> None:
        """Use the preprocessing stored in a checkpoint."""
        self.transform = ShowerTransform.from_state_dict(state["transform"])

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, n_features) and conditions (N, 1), float32, built chunk by chunk."""
        n_train = int((~self.holdout).sum())
        features = torch.empty(n_train, self.transform.n_features, dtype=torch.float32)
        conditions = torch.empty(n_train, self.cond_dim, dtype=torch.float32)
        start = 0
        for cells, inc, _, _ in self._chunks(train=True):
            inc_t = torch.from_numpy(inc)
            features[start : start + len(cells)] = self.transform.forward(torch.from_numpy(cells), inc_t).float()
            conditions[start : start + len(cells)] = self.transform.condition(inc_t).float()
            start += len(cells)
        if self._uses_layer_summary():
            order = np.random.default_rng(self.config.seed).permutation(n_train)
            rows = torch.from_numpy(order[:SUMMARY_SCALE_SHOWERS])
            with torch.no_grad():
                summary = self._layer_summary(features[rows], conditions[rows]).double()
            self._summary_scale = (summary.mean(dim=0).float(), summary.std(dim=0).clamp_min(1e-3).float())
        return features, conditions

    def write_holdout(self, path: Path) -> None:
        """Write the held-out reference showers (CaloChallenge/CaloGAN layout as the geometry says)."""
        with ShowerWriter(path, self.geometry, attrs={"source": str(self.path), "role": "held-out reference"}) as out:
            for _, _, batch, sel in self._chunks(train=False):
                if sel.any():
                    out.write(
                        ShowerBatch(
                            incident_energies_mev=np.asarray(batch.incident_energies_mev)[sel],
                            showers_mev=np.asarray(batch.showers_mev)[sel],
                            overflow_mev=None if batch.overflow_mev is None else np.asarray(batch.overflow_mev)[sel],
                        )
                    )

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """Generator and critic for this geometry's layer images (+ overflow cells).

        With ``model.critic_summary`` the critic is a :class:`SummaryCritic` that also scores
        the named layer summaries (call after :meth:`training_tensors`, which fixes their scale).
        """
        model = self.config.model
        shapes = [layer.shape for layer in self.geometry.layers]
        generator, critic = build_networks(model, shapes, self.n_extra)
        if model.critic_summary:
            n_summary = len(model.critic_summary) * self.geometry.n_layers
            critic = SummaryCritic(critic, self.critic_summary, n_summary, CONDITION_DIM, model.summary_hidden)
        return generator, critic

    def make_evaluator(self, max_showers: int) -> ShowerEvaluator | None:
        """Cheap metrics of a generator against (up to ``max_showers`` of) the held-out showers; None without any."""
        if not self.holdout.any():
            return None
        cells, incident = [], []
        for c, inc, _, _ in self._chunks(train=False):
            cells.append(c)
            incident.append(inc)
        cells_all = np.concatenate(cells)[:max_showers]
        incident_all = np.concatenate(incident)[:max_showers]
        return ShowerEvaluator(self, cells_all, incident_all)

    def mmd_features(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """What the optional MMD term compares, (N, d), differentiable in ``features``.

        ``training.mmd_shower_features`` picks the parts: ``response`` (the standardised
        E_tot/E_inc), ``layer_energies`` (ln of each layer's share of the shower energy) and
        ``layer_widths`` (ln √(r² + 1 mm²) of each layer's energy-weighted transverse rms
        radius r about its centre of energy). The layer parts are standardised with constants from the
        training showers (:meth:`training_tensors` sets them), so real and generated batches
        are compared on one scale.
        """
        names = self.config.training.mmd_shower_features
        parts = [features[:, :1]] if "response" in names else []
        layer_names = [name for name in names if name != "response"]
        if layer_names:
            parts.append(self._standardised_summary(features, cond, tuple(layer_names)))
        return torch.cat(parts, dim=1)

    def critic_summary(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The layer summaries named in ``model.critic_summary``, (N, d), standardised and differentiable."""
        return self._standardised_summary(features, cond, self.config.model.critic_summary)

    def _uses_layer_summary(self) -> bool:
        training = self.config.training
        in_mmd = training.mmd_weight > 0 and any(name != "response" for name in training.mmd_shower_features)
        return in_mmd or bool(self.config.model.critic_summary)

    def _standardised_summary(self, features: torch.Tensor, cond: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
        summary = self._layer_summary(features, cond)
        if self._summary_scale is not None:
            mean, std = (t.to(summary.device) for t in self._summary_scale)
            summary = (summary - mean) / std
        n_layers = self.geometry.n_layers
        parts = {"layer_energies": summary[:, :n_layers], "layer_widths": summary[:, n_layers:]}
        return torch.cat([parts[name] for name in names], dim=1)

    def _layer_summary(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """(N, 2 n_layers): ln layer energy fractions, then ½ ln(rms radius² / mm² + 1) per layer.

        The width term is the ln of the transverse rms radius added in quadrature to 1 mm:
        smooth at zero width (a layer with one hit cell), where the rms itself has an
        unbounded derivative that would dominate a critic's gradient penalty. For the same
        reason the width weights sit on a pedestal of ``WIDTH_PEDESTAL``·ε per voxel: an
        empty layer has the width of its uniform pedestal, and a layer holding a share s of
        the energy is pulled by about its radial extent × √(n_voxels·WIDTH_PEDESTAL·ε / s)
        (under 1 mm for s > 5 % in the ds1 geometry).
        """
        transform = self.transform
        if self._layer_matrix is None:
            n_vox, n_layers = self.geometry.n_voxels, self.geometry.n_layers
            layer_of_cell = np.concatenate([self.geometry.layer_of_voxel, np.arange(self.n_extra)])
            onehot = np.zeros((n_vox + self.n_extra, n_layers))
            onehot[np.arange(len(layer_of_cell)), layer_of_cell] = 1.0
            x, y = self.geometry.voxel_centres()
            coords = np.zeros((n_vox + self.n_extra, 2))
            coords[:n_vox, 0], coords[:n_vox, 1] = x, y
            voxel_only = onehot.copy()
            voxel_only[n_vox:] = 0.0
            self._layer_matrix = tuple(torch.from_numpy(a).float() for a in (onehot, voxel_only, coords))
        onehot, voxel_only, coords = (t.to(features.device) for t in self._layer_matrix)
        device = features.device
        log_e = cond[:, 0].double() * transform.log_energy_std.to(device) + transform.log_energy_mean.to(device)
        params = transform._cell_params(torch.exp(log_e), device, torch.float32, transform.cell_max is not None)
        y = features[:, 1:].float() * params[1] + params[0]
        if len(params) == 3:
            y = torch.minimum(y, params[2])
        fractions = torch.relu(torch.exp(y) - transform.fraction_epsilon)
        fractions = fractions / fractions.sum(dim=1, keepdim=True).clamp_min(1e-12)
        layer_share = fractions @ onehot
        # width weights: the fractions on a pedestal of WIDTH_PEDESTAL·ε per voxel, which bounds
        # d ln(weight)/d feature where a cell's fraction is far below ε
        fractions_w = fractions + WIDTH_PEDESTAL * transform.fraction_epsilon
        weight = fractions_w @ voxel_only
        mean_x = (fractions_w * coords[:, 0]) @ voxel_only / weight
        mean_y = (fractions_w * coords[:, 1]) @ voxel_only / weight
        dx = coords[:, 0] - mean_x @ voxel_only.T  # about each layer's centre: no float32 cancellation
        dy = coords[:, 1] - mean_y @ voxel_only.T
        spread = (fractions_w * (dx * dx + dy * dy)) @ voxel_only / weight
        return torch.cat([torch.log(layer_share + 1e-4), 0.5 * torch.log1p(spread)], dim=1)

    def fit_calibration(self, generator: nn.Module, latent_dim: int, device: torch.device, seed: int) -> None:
        """Refit the cell calibration (``preprocessing.cell_calibration``) to ``generator``; else nothing.

        The reference quantiles come from the training showers (read once, at most
        :data:`hepgan.data.calibration.MAX_SHOWERS_PER_BIN` per energy bin); the generated
        ones from ``CALIBRATION_SAMPLES_PER_REFERENCE`` generated showers per kept reference
        shower, at the same incident energies, seeded by ``seed``.
        """
        if not self.config.preprocessing.cell_calibration:
            return
        if self.calibration is None:
            self.calibration, self._calibration_energies = CellCalibration.from_reference(_TrainingChunks(self))
        incident = torch.from_numpy(np.repeat(self._calibration_energies, CALIBRATION_SAMPLES_PER_REFERENCE))
        rng = torch.Generator(device=device).manual_seed(seed)
        cells = []
        with torch.no_grad():
            for start in range(0, len(incident), 10_000):
                part = incident[start : start + 10_000].to(device)
                noise = torch.randn(len(part), latent_dim, device=device, generator=rng)
                # the precision `hepgan generate` uses (bf16 autocast on GPUs)
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    features = generator(noise, self.transform.condition(part).float())
                cells.append(self.transform.inverse(features.float(), part).cpu().numpy())
        self.calibration.fit_generated(np.concatenate(cells), incident.numpy())

    def checkpoint_entries(self) -> dict[str, Any]:
        """What generation needs besides the weights: kind, geometry, extra cells, preprocessing, calibration."""
        entries = {
            "kind": self.kind,
            "geometry": self.geometry.to_dict(),
            "n_extra": self.n_extra,
            "transform": self.transform.state_dict(),
        }
        if self.calibration is not None and self.calibration.fitted:
            entries["cell_calibration"] = self.calibration.state_dict()
        return entries


class ShowerEvaluator:
    """Generates showers for the held-out incident energies and scores them with the quick metrics.

    The reference observables are computed once; each call costs one generation pass and
    :func:`hepgan.validation.metrics.quick_metrics` (a fraction of a second for ~1500 showers).
    """

    def __init__(self, data: ShowerData, cells_mev: np.ndarray, incident_mev: np.ndarray) -> None:
        from hepgan.validation.observables import shower_observables

        self.data = data
        self.incident = torch.from_numpy(incident_mev)
        n_vox = data.geometry.n_voxels
        self.reference = shower_observables(cells_mev[:, :n_vox], incident_mev, data.geometry)

    @torch.no_grad()
    def __call__(self, generator: nn.Module, latent_dim: int, device: torch.device, seed: int) -> dict[str, float]:
        from hepgan.validation.metrics import quick_metrics
        from hepgan.validation.observables import shower_observables

        rng = torch.Generator(device=device).manual_seed(seed)
        incident = self.incident.to(device)
        noise = torch.randn(len(incident), latent_dim, device=device, generator=rng)
        features = generator(noise, self.data.transform.condition(incident).float())
        cells = self.data.transform.inverse(features.float(), incident)
        if self.data.calibration is not None and self.data.calibration.fitted:
            cells = self.data.calibration.apply(cells, incident, rng)
        cells = cells.cpu().numpy()
        n_vox = self.data.geometry.n_voxels
        generated = shower_observables(cells[:, :n_vox], self.incident.numpy(), self.data.geometry)
        return quick_metrics(self.reference, generated)


class _TrainingChunks:
    """Re-iterable ``(cells, incident)`` training chunks: each iteration re-reads the file."""

    def __init__(self, data: ShowerData) -> None:
        self.data = data

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for cells, incident, _, _ in self.data._chunks(train=True):
            yield cells, incident
