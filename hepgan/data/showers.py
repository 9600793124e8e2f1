"""The shower data module: reads a reference shower file in chunks for training.

A data module is what training needs from a kind of data: it fits the invertible
preprocessing, builds the training tensors (features and conditions), writes the held-out
reference sample and computes the differentiable shower summaries that the critic and the
MMD term compare. :class:`ShowerData` does this for calorimeter showers;
:class:`ShowerModelState` is what a shower checkpoint holds besides the weights (geometry,
extra cells, preprocessing, cell calibration), written and read in this one place. The
calorimeter domain (:mod:`hepgan.domains.calo`) puts them together with the networks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepgan.config import RunConfig
from hepgan.data.calibration import CellCalibration, check_table_size
from hepgan.data.profile_calibration import ProfileCalibration
from hepgan.data.response_calibration import ResponseCalibration
from hepgan.data.split import holdout_mask
from hepgan.data.state_checks import check_finite_entries, one_line
from hepgan.data.transforms import ShowerTransform
from hepgan.errors import InputFileError
from hepgan.io import ShowerBatch, ShowerReader, ShowerWriter
from hepgan.io.checks import check_training_energies
from hepgan.io.geometry import CaloGeometry, geometry_from_dict, load_geometry

KIND = "calo"
WIDTH_PEDESTAL = 0.1
"""Pedestal under the layer-width weights, in units of ``preprocessing.fraction_epsilon`` per voxel."""
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


class ShowerData:
    """Calorimeter showers: reads the reference file in chunks, never all at once."""

    kind = KIND
    cond_dim = 1  # log-scaled incident energy

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.geometry = load_geometry(config.geometry)
        self.n_extra = n_extra_cells(self.geometry)
        self.path = Path(config.data.path)
        if config.preprocessing.cell_calibration:
            check_table_size(self.geometry.n_voxels + self.n_extra, "preprocessing.cell_calibration")
        self.transform: ShowerTransform | None = None
        self._layer_matrix: tuple[torch.Tensor, ...] | None = None
        self._summary_scale: tuple[torch.Tensor, torch.Tensor] | None = None
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
                self._check_training_energies(batch, offset)
                held_out = self.holdout[offset : offset + len(batch)]
                sel = ~held_out if train else held_out
                offset += len(batch)
                yield batch_cells(batch, self.n_extra)[sel], np.asarray(batch.incident_energies_mev)[sel], batch, sel

    def _check_training_energies(self, batch: ShowerBatch, offset: int) -> None:
        """Refuse negative or non-finite voxel and overflow energies (``offset``: the batch's first row in the file)."""
        check_training_energies(str(self.path), "voxel", np.asarray(batch.showers_mev), offset)
        if self.n_extra and batch.overflow_mev is not None:
            check_training_energies(str(self.path), "overflow cell", np.asarray(batch.overflow_mev), offset)

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
        self.transform = transform.fit(TrainingChunks(self))

    def load_transform(self, state: Mapping[str, Any]) -> None:
        """Use the preprocessing stored in a checkpoint."""
        self.transform = ShowerModelState.from_entries(state, str(self.path)).transform

    def _fitted_transform(self) -> ShowerTransform:
        """The preprocessing that :meth:`fit_transform` or :meth:`load_transform` set."""
        if self.transform is None:
            raise RuntimeError("the shower preprocessing is not set: call fit_transform() or load_transform() first")
        return self.transform

    def _preprocessed(self, cells: np.ndarray, incident: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (n, n_features) and conditions (n, 1), float32, of showers (MeV)."""
        transform = self._fitted_transform()
        inc_t = torch.from_numpy(incident)
        return transform.forward(torch.from_numpy(cells), inc_t).float(), transform.condition(inc_t).float()

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, n_features) and conditions (N, 1), float32, built chunk by chunk."""
        transform = self._fitted_transform()
        n_train = int((~self.holdout).sum())
        features = torch.empty(n_train, transform.n_features, dtype=torch.float32)
        conditions = torch.empty(n_train, self.cond_dim, dtype=torch.float32)
        start = 0
        for cells, inc, _, _ in self._chunks(train=True):
            stop = start + len(cells)
            features[start:stop], conditions[start:stop] = self._preprocessed(cells, inc)
            start = stop
        if self._uses_layer_summary():
            order = np.random.default_rng(self.config.seed).permutation(n_train)
            rows = torch.from_numpy(order[:SUMMARY_SCALE_SHOWERS])
            with torch.no_grad():
                self._set_summary_scale(self._layer_summary(features[rows], conditions[rows]))
        return features, conditions

    def _set_summary_scale(self, summary: torch.Tensor) -> None:
        summary = summary.double()
        self._summary_scale = (summary.mean(dim=0).float(), summary.std(dim=0).clamp_min(1e-3).float())

    def training_blocks(self, rank: int, world_size: int) -> ShowerBlocks | None:
        """This process's training showers as blocks of ``data.chunk_size`` for a buffer of ``data.buffer_size``
        showers, or None when it would hold them all (then :meth:`training_tensors` is used).

        Block b holds training showers b·chunk_size … (b + 1)·chunk_size − 1 (held-out showers
        skipped); process ``rank`` trains on blocks rank, rank + world_size, …. The layer-summary
        scale is fitted here on the first training showers of the file, the same on every rank.
        """
        buffer_size = self.config.data.buffer_size
        n_train = int((~self.holdout).sum())
        if buffer_size == 0 or n_train <= buffer_size * world_size:
            return None
        blocks = ShowerBlocks(self, rank, world_size)
        if blocks.n_blocks == 0:
            raise InputFileError(
                f"{self.path}: {n_train} training showers make {blocks.n_total} blocks of data.chunk_size = "
                f"{self.config.data.chunk_size}, fewer than the {world_size} processes; lower data.chunk_size"
            )
        if self._uses_layer_summary():
            parts, seen = [], 0
            with torch.no_grad():
                for index in range(blocks.n_total):
                    features, conditions = blocks.read_file_block(index)
                    parts.append(self._layer_summary(features, conditions))
                    seen += len(features)
                    if seen >= SUMMARY_SCALE_SHOWERS:
                        break
            self._set_summary_scale(torch.cat(parts)[:SUMMARY_SCALE_SHOWERS])
        return blocks

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

    def holdout_arrays(self, max_showers: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells (N, n_cells) in MeV and incident energies (N,) in MeV of up to ``max_showers`` held-out showers."""
        cells, incident, kept = [], [], 0
        for c, inc, _, _ in self._chunks(train=False):
            cells.append(c[: max_showers - kept])
            incident.append(inc[: max_showers - kept])
            kept += len(cells[-1])
            if kept >= max_showers:
                break
        if not cells:
            return np.zeros((0, self.geometry.n_voxels + self.n_extra)), np.zeros(0)
        return np.concatenate(cells), np.concatenate(incident)

    def training_chunks(self) -> TrainingChunks:
        """The training showers as re-iterable ``(cells, incident)`` chunks (each pass re-reads the file)."""
        return TrainingChunks(self)

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
        transform = self._fitted_transform()
        moments, pedestal_share = (t.to(features.device) for t in self._layer_matrices())
        fractions = transform.fractions(features, transform.incident_from_condition(cond))
        # width weights: the fractions on a pedestal of WIDTH_PEDESTAL·ε per voxel, which bounds
        # d ln(weight)/d feature where a cell's fraction is far below ε. One product gives, per layer,
        # Σ over all its cells of the weight, and over its voxels Σw, Σw·x, Σw·y, Σw·(x² + y²), with x, y
        # about the layer's centre; in float64, as the rms is then a difference of large numbers
        # (E[r²] − E[x]² − E[y]² in a layer whose cells lie far from its centre)
        n_layers = self.geometry.n_layers
        sums = (fractions.double() + WIDTH_PEDESTAL * transform.fraction_epsilon) @ moments
        layer_share = sums[:, :n_layers] - pedestal_share * (WIDTH_PEDESTAL * transform.fraction_epsilon)
        weight = sums[:, n_layers : 2 * n_layers]
        mean_x = sums[:, 2 * n_layers : 3 * n_layers] / weight
        mean_y = sums[:, 3 * n_layers : 4 * n_layers] / weight
        spread = (sums[:, 4 * n_layers :] / weight - mean_x * mean_x - mean_y * mean_y).clamp_min(0.0)
        return torch.cat([torch.log(layer_share + 1e-4), 0.5 * torch.log1p(spread)], dim=1).float()

    def _layer_matrices(self) -> tuple[torch.Tensor, ...]:
        """Cell → layer moments (n_cells, 5 n_layers): the one-hot of every cell's layer, then of the voxels only
        (extra cells zeroed), times 1, x, y and x² + y² (mm, about the layer's centre); and the number of cells
        per layer (n_layers,)."""
        if self._layer_matrix is None:
            n_vox, n_layers = self.geometry.n_voxels, self.geometry.n_layers
            layer_of_cell = np.concatenate([self.geometry.layer_of_voxel, np.arange(self.n_extra)])
            onehot = np.zeros((n_vox + self.n_extra, n_layers))
            onehot[np.arange(len(layer_of_cell)), layer_of_cell] = 1.0
            x, y = self.geometry.voxel_centres()
            layer = self.geometry.layer_of_voxel
            counts = np.bincount(layer, minlength=n_layers)
            x = x - (np.bincount(layer, weights=x, minlength=n_layers) / counts)[layer]
            y = y - (np.bincount(layer, weights=y, minlength=n_layers) / counts)[layer]
            voxel_only = onehot.copy()
            voxel_only[n_vox:] = 0.0
            coords = np.zeros((n_vox + self.n_extra, 3))
            coords[:n_vox, 0], coords[:n_vox, 1], coords[:n_vox, 2] = x, y, x * x + y * y
            moments = np.concatenate(
                [onehot, voxel_only, *(voxel_only * coords[:, i : i + 1] for i in range(3))], axis=1
            )
            self._layer_matrix = (torch.from_numpy(moments), torch.from_numpy(onehot.sum(axis=0)))
        return self._layer_matrix


class ShowerBlocks:
    """Blocks of preprocessed training showers of one process, read from the file on demand (a BlockSource)."""

    def __init__(self, data: ShowerData, rank: int, world_size: int) -> None:
        self.data = data
        self.block_size = data.config.data.chunk_size
        self.training_rows = np.flatnonzero(~data.holdout)
        self.n_total = -(-len(self.training_rows) // self.block_size)
        self.blocks = np.arange(rank, self.n_total, world_size)
        self.n_blocks = len(self.blocks)

    def read_block(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and conditions of this process's block ``index``."""
        return self.read_file_block(int(self.blocks[index]))

    def read_file_block(self, block: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and conditions of block ``block`` of the whole training sample (checked as it is read)."""
        rows = self.training_rows[block * self.block_size : (block + 1) * self.block_size]
        first, last = int(rows[0]), int(rows[-1]) + 1
        data = self.data
        with ShowerReader(data.path, data.geometry, chunk_size=last - first) as reader:
            batch = reader.read(first, last)
        data._check_training_energies(batch, first)
        keep = rows - first
        cells = batch_cells(batch, data.n_extra)[keep]
        return data._preprocessed(cells, np.asarray(batch.incident_energies_mev, np.float64)[keep])


class TrainingChunks:
    """Re-iterable ``(cells, incident)`` training chunks: each iteration re-reads the file."""

    def __init__(self, data: ShowerData) -> None:
        self.data = data

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for cells, incident, _, _ in self.data._chunks(train=True):
            yield cells, incident


@dataclass
class ShowerModelState:
    """What a shower checkpoint holds besides the weights and the config; written and read here only.

    Attributes:
        geometry: the voxel geometry the model generates.
        n_extra: cells beyond the voxels (CaloGAN's per-layer overflow).
        transform: the fitted preprocessing.
        calibration: the fitted cell calibration, or None.
        response_calibration: the fitted response calibration, or None.
        profile_calibration: the fitted profile (layer or ring energy) calibration, or None.
    """

    geometry: CaloGeometry
    n_extra: int
    transform: ShowerTransform
    calibration: CellCalibration | None = None
    response_calibration: ResponseCalibration | None = None
    profile_calibration: ProfileCalibration | None = None

    def entries(self) -> dict[str, Any]:
        """The checkpoint entries: kind, geometry, extra cells, preprocessing and (if fitted) calibration."""
        entries = {
            "kind": KIND,
            "geometry": self.geometry.to_dict(),
            "n_extra": self.n_extra,
            "transform": self.transform.state_dict(),
        }
        if self.calibration is not None and self.calibration.fitted:
            entries["cell_calibration"] = self.calibration.state_dict()
        if self.response_calibration is not None and self.response_calibration.fitted:
            entries["response_calibration"] = self.response_calibration.state_dict()
        if self.profile_calibration is not None and self.profile_calibration.fitted:
            entries["profile_calibration"] = self.profile_calibration.state_dict()
        return entries

    @classmethod
    def from_entries(cls, state: Mapping[str, Any], source: str) -> ShowerModelState:
        """Read the entries of :meth:`entries` (checkpoints without a kind are shower checkpoints).

        The entries are checked before they are used: every tensor of the preprocessing and
        the calibration floating point and finite, shapes that fit the geometry's cells
        (voxels + ``n_extra``), widths > 0, calibration quantiles non-decreasing energy
        fractions in [0, 1] (:meth:`ShowerTransform.check`, :meth:`CellCalibration.check`).

        Raises:
            InputFileError: an entry is missing or malformed, naming ``source`` and the entry.
        """
        try:
            geometry = geometry_from_dict(state["geometry"], f"{source}: geometry")
            n_extra = int(state["n_extra"])
            if n_extra not in (0, n_extra_cells(geometry)):
                raise ValueError(
                    f"n_extra is {n_extra}, expected 0 or {n_extra_cells(geometry)} for geometry {geometry.name}"
                )
            n_cells = geometry.n_voxels + n_extra
            check_finite_entries(state["transform"], "transform")
            transform = ShowerTransform.from_state_dict(state["transform"])
            transform.check(n_cells)
            calibration = None
            if state.get("cell_calibration") is not None:
                check_finite_entries(state["cell_calibration"], "cell_calibration")
                calibration = CellCalibration.from_state_dict(state["cell_calibration"])
                calibration.check(n_cells)
            response_calibration = None
            if state.get("response_calibration") is not None:
                check_finite_entries(state["response_calibration"], "response_calibration")
                response_calibration = ResponseCalibration.from_state_dict(state["response_calibration"])
                response_calibration.check()
            profile_calibration = None
            if state.get("profile_calibration") is not None:
                check_finite_entries(state["profile_calibration"], "profile_calibration")
                profile_calibration = ProfileCalibration.from_state_dict(state["profile_calibration"])
                profile_calibration.check(n_cells)
            return cls(geometry, n_extra, transform, calibration, response_calibration, profile_calibration)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else one_line(exc)
            raise InputFileError(f"{source}: not a usable hepgan checkpoint ({detail})") from None
