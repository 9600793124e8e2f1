"""Shower generation: a trained generator with its preprocessing, incident energies (MeV) in, showers (MeV) out.

:class:`ShowerGenerator` is the notebook API::

    from hepgan import ShowerGenerator
    gen = ShowerGenerator.from_checkpoint("runs/calo-.../checkpoints/step_0004000.pt")
    showers = gen.sample(np.full(1000, 65536.0), seed=1)   # (1000, 368) MeV

:meth:`ShowerGenerator.cells_from_noise` is the one sampling function of the calorimeter
domain, at generation precision (``generation.precision``: bf16 autocast where the hardware
has bf16): ``hepgan generate``, the in-training evaluator, the cell-calibration fit, the
latent walk and the export check all go through it. :func:`generate_showers_to_file` streams any number of showers to an
HDF5/ROOT file with flat memory.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepgan.config import RunConfig, config_from_dict
from hepgan.data.calibration import CellCalibration
from hepgan.data.profile_calibration import ProfileCalibration
from hepgan.data.response_calibration import ResponseCalibration
from hepgan.data.showers import ShowerModelState
from hepgan.data.state_checks import check_weights, one_line
from hepgan.data.transforms import ShowerTransform
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate.stream import GenerationSummary, JobPlan, check_batch_memory, stream_batches
from hepgan.generate.trained import TrainedGenerator
from hepgan.io import ShowerBatch, ShowerReader, ShowerWriter
from hepgan.io.geometry import CaloGeometry
from hepgan.models import CONDITION_DIM, build_networks
from hepgan.sim.spectra import EnergySpectrum
from hepgan.training.run_log import StopSignals

CALIBRATIONS = ("cell", "profile", "response")
"""The calibrations a generator applies after its network, in this order (each where the checkpoint has it)."""


def shower_networks(config: RunConfig, geometry: CaloGeometry, n_extra: int) -> tuple[nn.Module, nn.Module]:
    """Generator and critic for this geometry's layer images (+ extra cells), as ``model.architecture`` says."""
    return build_networks(config.model, [layer.shape for layer in geometry.layers], n_extra)


class ShowerGenerator(TrainedGenerator[ShowerModelState]):
    """A generator network with its preprocessing (and cell calibration): incident energies (MeV) in, showers out.

    Built from a checkpoint (:meth:`from_checkpoint`, :meth:`from_state`) or around a network
    being trained (the in-training evaluator and the calibration fit).
    """

    @property
    def geometry(self) -> CaloGeometry:
        return self.model.geometry

    @property
    def n_extra(self) -> int:
        return self.model.n_extra

    @property
    def transform(self) -> ShowerTransform:
        return self.model.transform

    @property
    def calibration(self) -> CellCalibration | None:
        return self.model.calibration

    @calibration.setter
    def calibration(self, calibration: CellCalibration | None) -> None:
        """Replace the cell calibration (None: the raw network's showers)."""
        self.model.calibration = calibration

    @property
    def response_calibration(self) -> ResponseCalibration | None:
        return self.model.response_calibration

    @response_calibration.setter
    def response_calibration(self, calibration: ResponseCalibration | None) -> None:
        """Replace the response calibration (None: the network's E_tot/E_inc)."""
        self.model.response_calibration = calibration

    @property
    def profile_calibration(self) -> ProfileCalibration | None:
        return self.model.profile_calibration

    @profile_calibration.setter
    def profile_calibration(self, calibration: ProfileCalibration | None) -> None:
        """Replace the profile calibration (None: the layer and ring energies after the cell calibration)."""
        self.model.profile_calibration = calibration

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        device: str | torch.device = "auto",
        use_ema: bool = True,
        source: str = "<checkpoint>",
    ) -> ShowerGenerator:
        """From a loaded checkpoint dict (kind "calo"); InputFileError naming ``source`` if it is not usable."""
        kind = state.get("kind", "calo")
        if kind != "calo":
            raise InputFileError(f"{source}: checkpoint holds a {kind!r} model, not calorimeter showers")
        model = ShowerModelState.from_entries(state, source)
        try:
            config = config_from_dict(state["config"], f"{source}: config")
            network, _ = shower_networks(config, model.geometry, model.n_extra)
            for key in ("generator", "generator_ema"):
                if key in state:
                    check_weights(state[key], network, key)
            network.load_state_dict(state["generator_ema" if use_ema else "generator"])
            step = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else one_line(exc)
            raise InputFileError(f"{source}: not a usable hepgan checkpoint ({detail})") from None
        return cls(network, model, config, step, device, source)

    @torch.inference_mode()
    def sample_cells(self, incident_mev: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cell energies (N, n_voxels + n_extra) in MeV on the device, float32."""
        noise = torch.randn(len(incident_mev), self.latent_dim, device=self.device, generator=generator)
        return self.cells_from_noise(noise, incident_mev, generator)

    @torch.inference_mode()
    def cells_from_noise(
        self,
        noise: torch.Tensor,
        incident_mev: torch.Tensor,
        generator: torch.Generator | None = None,
        calibrations: Collection[str] = CALIBRATIONS,
        ranks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cell energies (N, n_cells) in MeV for given latent vectors (N, latent_dim), e.g. a latent walk.

        The fitted calibrations named in ``calibrations`` are applied in this order: the cell
        calibration, with the empty cells' ranks ``ranks`` (N, n_cells) in [0, 1) when given, else
        drawn with ``generator`` (:mod:`hepgan.data.calibration`); the profile calibration, which
        scales each layer or ring (:mod:`hepgan.data.profile_calibration`); the response calibration,
        which scales each shower (:mod:`hepgan.data.response_calibration`).
        """
        incident = incident_mev.to(self.device, torch.float64)
        cond = self.transform.condition(incident).float()
        noise = noise.to(self.device, torch.float32)
        with self.autocast():
            features = self.network(noise, cond)
        cells = self.transform.inverse(features.float(), incident)
        if "cell" in calibrations and self.calibration is not None and self.calibration.fitted:
            cells = self.calibration.apply(cells, incident, generator, ranks)
        if "profile" in calibrations and self.profile_calibration is not None and self.profile_calibration.fitted:
            cells = self.profile_calibration.apply(cells, incident)
        if "response" in calibrations and self.response_calibration is not None and self.response_calibration.fitted:
            cells = self.response_calibration.apply(cells, incident)
        return cells

    def sample(self, incident_mev: np.ndarray, seed: int | None = None, batch_size: int = 10_000) -> ShowerBatch:
        """Showers for the given incident energies (MeV), as numpy arrays in a :class:`ShowerBatch`.

        Raises:
            ConfigError: an energy is not finite and > 0, or lies outside the range of incident
                energies the model was trained on (checkpoints that record it; one line with the
                count, the offending extremes and the range).
        """
        incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        if incident.size and (not np.all(np.isfinite(incident)) or incident.min() <= 0):
            raise ConfigError("incident energies must be finite and > 0 MeV")
        self.transform.check_incident_range(incident)
        rng = torch.Generator(device=self.device)
        rng.manual_seed(0 if seed is None else int(seed))
        parts = [
            self.sample_cells(torch.from_numpy(incident[i : i + batch_size]), rng).cpu().numpy()
            for i in range(0, len(incident), batch_size)
        ]
        cells = np.concatenate(parts) if parts else np.zeros((0, self.geometry.n_voxels + self.n_extra), np.float32)
        self.check_finite(cells)
        return self.to_batch(cells, incident)

    def check_finite(self, cells: np.ndarray, first: int = 0) -> None:
        """InputFileError naming the checkpoint when generated cells (N, n_cells) hold NaN or inf.

        ``first`` is the index of the batch's first shower in the job, for the message.
        """
        bad = ~np.isfinite(cells)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(cells), -1).any(axis=1))
            raise InputFileError(
                f"{self.source}: non-finite values in generated showers ({len(rows)} of {len(cells)}, first at "
                f"shower {first + int(rows[0])}); the checkpoint's network or preprocessing gives NaN/inf"
            )

    def to_batch(self, cells: np.ndarray, incident: np.ndarray) -> ShowerBatch:
        """A :class:`ShowerBatch` from cells (N, n_voxels + n_extra) and incident energies (N,), MeV."""
        n_vox = self.geometry.n_voxels
        overflow = cells[:, n_vox:] if self.n_extra else None
        return ShowerBatch(incident_energies_mev=incident, showers_mev=cells[:, :n_vox], overflow_mev=overflow)


def energies_from_file(path: Path, geometry: CaloGeometry) -> np.ndarray:
    """All incident energies (N,) in MeV of a shower file, in order."""
    with ShowerReader(path, geometry) as reader:
        parts = [np.asarray(b.incident_energies_mev, dtype=np.float64) for b in reader.iter_chunks()]
    energies = np.concatenate(parts) if parts else np.zeros(0)
    if energies.size == 0:
        raise InputFileError(f"{path}: no incident energies to take")
    return energies


def incident_energy_batches(
    n: int,
    batch_size: int,
    spectrum: EnergySpectrum | None,
    energies: np.ndarray | None,
    seed: int,
    offset: int = 0,
) -> Iterator[np.ndarray]:
    """Incident energies (MeV) in batches: drawn from a spectrum, or a file's taken in order (cycled)."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n:
        size = min(batch_size, n - done)
        if energies is not None:
            idx = np.arange(offset + done, offset + done + size) % len(energies)
            yield energies[idx]
        else:
            assert spectrum is not None
            yield spectrum.sample(size, rng)
        done += size


def generate_showers_to_file(
    generator: ShowerGenerator,
    job: JobPlan,
    output: str | Path,
    *,
    batch_size: int | None = None,
    energies_from: str | Path | None = None,
    compression: str | None = None,
    progress: bool = False,
) -> GenerationSummary:
    """Generate the job's showers with ``generator`` and stream them to ``output`` (HDF5 or ROOT).

    Incident energies come from the config's generation spectrum (default: the simulation
    spectrum) or, with ``energies_from``, from a reference file's ``incident_energies``
    (taken in order from the job's offset, cycled). The output's attributes record seed,
    shard, checkpoint, step, hepgan version and units.

    Raises:
        ConfigError: an energy of the ``energies_from`` file (any of them, not only the job's)
            lies outside the range the model was trained on; checked before the output is opened.
        InputFileError: the generator gives NaN/inf showers (naming the checkpoint); the
            output file is not written and an earlier file under its name is kept.
    """
    cfg = generator.config
    given = batch_size is not None
    batch_size, compression = job.batch_and_compression(cfg, batch_size, compression)
    n_cells = generator.geometry.n_voxels + generator.n_extra
    check_batch_memory(cfg, min(batch_size, job.n), given, generator.device, (1 + n_cells, CONDITION_DIM, n_cells))
    energies = energies_from_file(Path(energies_from), generator.geometry) if energies_from else None
    if energies is not None:
        generator.transform.check_incident_range(energies, str(energies_from))
    spectrum = None
    if energies is None:
        spec = cfg.generation.spectrum or cfg.simulation.spectrum
        spectrum = EnergySpectrum.from_dict(spec, f"{generator.source}: generation spectrum")
    attrs = {**job.attrs(generator.step), "incident_energies_from": str(energies_from) if energies_from else "spectrum"}
    torch_rng = torch.Generator(device=generator.device)
    torch_rng.manual_seed(int(job.seed))

    def batches() -> Iterator[ShowerBatch]:
        done = 0
        for incident in incident_energy_batches(job.n, batch_size, spectrum, energies, job.seed, job.offset):
            cells = generator.sample_cells(torch.from_numpy(incident), torch_rng).cpu().numpy()
            generator.check_finite(cells, done)
            done += len(cells)
            yield generator.to_batch(cells, incident)

    t0 = time.perf_counter()
    gzip = None if compression == "none" else compression
    with StopSignals() as stop, ShowerWriter(output, generator.geometry, attrs=attrs, compression=gzip) as writer:
        stream_batches(writer, batches(), job.n, "showers", progress, stop)
    return GenerationSummary(Path(output), job.n, time.perf_counter() - t0, "showers")
