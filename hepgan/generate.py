"""Generation: checkpoint → batches on the device → inverse transform → streamed file.

:class:`ShowerGenerator` is the notebook API::

    from hepgan import ShowerGenerator
    gen = ShowerGenerator.from_checkpoint("runs/calo-.../checkpoints/step_0004000.pt")
    showers = gen.sample(np.full(1000, 65536.0), seed=1)   # (1000, 368) MeV

:func:`generate_to_file` streams any number of showers to an HDF5/ROOT file with flat
memory: batches are produced on the GPU when present, handed to a writer thread (so
computing the next batch overlaps with writing the last), written to a temporary file
and renamed onto the target only when complete.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepgan.config import config_from_dict
from hepgan.data.calibration import CellCalibration
from hepgan.data.transforms import ShowerTransform
from hepgan.device import select_device
from hepgan.errors import ConfigError, InputFileError
from hepgan.io import ShowerBatch, ShowerReader, ShowerWriter
from hepgan.io.geometry import CaloGeometry, geometry_from_dict
from hepgan.models import build_networks
from hepgan.sim.spectra import EnergySpectrum
from hepgan.training.checkpoint import latest_run, list_checkpoints, load_checkpoint

log = logging.getLogger(__name__)

MAX_SHOWERS = 10**12


class ShowerGenerator:
    """A trained generator with its preprocessing: incident energies (MeV) in, showers (MeV) out."""

    def __init__(
        self, state: dict, device: str | torch.device = "auto", use_ema: bool = True, source: str = "<checkpoint>"
    ) -> None:
        kind = state.get("kind", "calo")
        if kind != "calo":
            raise InputFileError(
                f"{source}: checkpoint holds a {kind!r} model, not calorimeter showers "
                f"(use hepgan.generate_events.EventGenerator for kind 'events')"
            )
        self.source = source
        self.device = device if isinstance(device, torch.device) else select_device(device, "--device")
        try:
            self.config = config_from_dict(state["config"], f"{source}: config")
            self.geometry: CaloGeometry = geometry_from_dict(state["geometry"], f"{source}: geometry")
            self.n_extra = int(state["n_extra"])
            self.transform = ShowerTransform.from_state_dict(state["transform"])
            calibration = state.get("cell_calibration")
            self.calibration = CellCalibration.from_state_dict(calibration) if calibration is not None else None
            shapes = [layer.shape for layer in self.geometry.layers]
            network, _ = build_networks(self.config.model, shapes, self.n_extra)
            network.load_state_dict(state["generator_ema" if use_ema else "generator"])
            self.step = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:200]
            raise InputFileError(f"{source}: not a usable hepgan checkpoint ({detail})") from None
        self.network = network.to(self.device).eval()
        self.latent_dim = self.config.model.latent_dim

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "auto", use_ema: bool = True
    ) -> ShowerGenerator:
        """Load a checkpoint file (safely: tensors and plain data only)."""
        return cls(load_checkpoint(path), device=device, use_ema=use_ema, source=str(path))

    @torch.inference_mode()
    def sample_cells(self, incident_mev: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cell energies (N, n_voxels + n_extra) in MeV on the device, float32."""
        noise = torch.randn(len(incident_mev), self.latent_dim, device=self.device, generator=generator)
        return self.cells_from_noise(noise, incident_mev, generator)

    @torch.inference_mode()
    def cells_from_noise(
        self, noise: torch.Tensor, incident_mev: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Cell energies (N, n_cells) in MeV for given latent vectors (N, latent_dim), e.g. a latent walk.

        With a cell calibration in the checkpoint it is applied; ``generator`` then draws the
        ranks of empty cells (:mod:`hepgan.data.calibration`).
        """
        incident = incident_mev.to(self.device, torch.float64)
        cond = self.transform.condition(incident).float()
        noise = noise.to(self.device, torch.float32)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            features = self.network(noise, cond)
        cells = self.transform.inverse(features.float(), incident)
        if self.calibration is not None:
            cells = self.calibration.apply(cells, incident, generator)
        return cells

    def sample(self, incident_mev: np.ndarray, seed: int | None = None, batch_size: int = 10_000) -> ShowerBatch:
        """Showers for the given incident energies (MeV), as numpy arrays in a :class:`ShowerBatch`."""
        incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        if incident.size and (not np.all(np.isfinite(incident)) or incident.min() <= 0):
            raise ConfigError("incident energies must be finite and > 0 MeV")
        rng = torch.Generator(device=self.device)
        rng.manual_seed(0 if seed is None else int(seed))
        parts = [
            self.sample_cells(torch.from_numpy(incident[i : i + batch_size]), rng).cpu().numpy()
            for i in range(0, len(incident), batch_size)
        ]
        cells = np.concatenate(parts) if parts else np.zeros((0, self.geometry.n_voxels + self.n_extra), np.float32)
        return self._to_batch(cells, incident)

    def _to_batch(self, cells: np.ndarray, incident: np.ndarray) -> ShowerBatch:
        n_vox = self.geometry.n_voxels
        overflow = cells[:, n_vox:] if self.n_extra else None
        return ShowerBatch(incident_energies_mev=incident, showers_mev=cells[:, :n_vox], overflow_mev=overflow)


def resolve_checkpoint(checkpoint: str | Path | None, runs_dir: str | Path = "runs") -> Path:
    """An explicit checkpoint or run folder, or the newest checkpoint of the newest run."""
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.is_dir():
            found = list_checkpoints(path)
            if not found:
                raise InputFileError(f"{path}: run folder has no checkpoints")
            return found[-1]
        return path
    return list_checkpoints(latest_run(runs_dir))[-1]


def _energies_from_file(path: Path, geometry: CaloGeometry) -> np.ndarray:
    with ShowerReader(path, geometry) as reader:
        parts = [np.asarray(b.incident_energies_mev, dtype=np.float64) for b in reader.iter_chunks()]
    energies = np.concatenate(parts) if parts else np.zeros(0)
    if energies.size == 0:
        raise InputFileError(f"{path}: no incident energies to take")
    return energies


def shard_plan(n: int, seed: int, index: int, count: int) -> tuple[int, int, int]:
    """Showers, first-shower offset and seed of shard ``index`` of ``count`` (0-based) of an ``n``-shower job.

    Shard sizes differ by at most one; the shard seed is drawn from
    ``SeedSequence(seed, spawn_key=(index,))``, so it depends only on the job seed and the
    shard index: shards are independent and each is reproducible on its own.
    """
    if not (count >= 1 and 0 <= index < count):
        raise ConfigError(f"--shard: expected i/N with 0 <= i < N, got {index}/{count}")
    if count > n:
        raise ConfigError(f"--shard: {count} shards for {n} showers; use at most one shard per shower")
    base, extra = divmod(n, count)
    size = base + (1 if index < extra else 0)
    offset = index * base + min(index, extra)
    shard_seed = int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1, dtype=np.uint64)[0] >> 1)
    return size, offset, shard_seed


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
            yield spectrum.sample(size, rng)
        done += size


def write_in_background(writer: Any, produce: Callable[[Callable[[Any], None]], None]) -> None:
    """Run ``produce(put)`` here while a thread hands what it puts to ``writer.write``.

    The queue holds two batches (flat memory), so computing the next batch overlaps with
    writing the last. A write error stops production and is re-raised here.
    """
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def drain() -> None:
        while (item := pending.get()) is not None:
            if failure:
                continue
            try:
                writer.write(item)
            except BaseException as exc:  # handed to the main thread
                failure.append(exc)

    def put(batch: Any) -> None:
        if failure:
            raise failure[0]
        pending.put(batch)

    thread = threading.Thread(target=drain, name="hepgan-writer", daemon=True)
    thread.start()
    try:
        produce(put)
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]


@dataclass
class JobPlan:
    """This process's share of a generation job (all of it, or one shard) and its output attributes."""

    n: int
    offset: int
    seed: int
    base_attrs: dict[str, Any]

    @classmethod
    def make(cls, n: int, seed: int, shard: tuple[int, int] | None, checkpoint: str | Path) -> JobPlan:
        attrs: dict[str, Any] = {"seed": int(seed), "checkpoint": str(checkpoint), "generator": "hepgan"}
        if shard is None:
            return cls(n, 0, int(seed), attrs)
        size, offset, shard_seed = shard_plan(n, int(seed), *shard)
        attrs.update(shard=f"{shard[0]}/{shard[1]}", shard_seed=shard_seed, n_total=n)
        return cls(size, offset, shard_seed, attrs)

    def attrs(self, checkpoint_step: int) -> dict[str, Any]:
        return {**self.base_attrs, "checkpoint_step": int(checkpoint_step)}

    @staticmethod
    def batch_and_compression(config: Any, batch_size: int | None, compression: str | None) -> tuple[int, str]:
        """``--batch-size`` and ``--compression``, or the checkpoint config's generation defaults."""
        batch_size = config.generation.batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ConfigError(f"--batch-size: expected an integer >= 1, got {batch_size}")
        return batch_size, compression or config.generation.compression


@dataclass
class GenerationSummary:
    """What ``generate_to_file`` wrote, and how fast."""

    path: Path
    n: int
    seconds: float
    unit: str = "showers"  # or "events"

    @property
    def ms_per_item(self) -> float:
        """Milliseconds per shower (or event)."""
        return 1e3 * self.seconds / max(self.n, 1)


def generate_to_file(
    checkpoint: str | Path,
    n: int,
    output: str | Path,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    energies_from: str | Path | None = None,
    device: str = "auto",
    compression: str | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool = False,
) -> GenerationSummary:
    """Generate ``n`` showers with a checkpoint and stream them to ``output``.

    An event checkpoint (kind "events") is handed to
    :func:`hepgan.generate_events.generate_events_to_file` (``energies_from`` does not apply).

    Incident energies come from the config's generation spectrum (default: the simulation
    spectrum) or, with ``energies_from``, from a reference file's ``incident_energies``.
    With ``shard=(i, N)`` only shard i of an n-shower job is written, with its own seed
    (see :func:`shard_plan`). The output's attributes record seed, shard, checkpoint,
    step, hepgan version and units.
    """
    if not 1 <= n <= MAX_SHOWERS:
        raise ConfigError(f"--n: expected an integer in [1, {MAX_SHOWERS:.0e}], got {n}")
    checkpoint = Path(checkpoint)
    state = load_checkpoint(checkpoint)
    if state.get("kind") == "events":
        if energies_from:
            raise ConfigError("--energies-from: incident energies apply to shower models, not event models")
        from hepgan.generate_events import generate_events_to_file

        return generate_events_to_file(
            state,
            checkpoint,
            n,
            output,
            seed=seed,
            batch_size=batch_size,
            device=device,
            shard=shard,
            compression=compression,
            progress=progress,
        )
    job = JobPlan.make(n, seed, shard, checkpoint)
    n, offset, seed = job.n, job.offset, job.seed
    generator = ShowerGenerator(state, device=device, source=str(checkpoint))
    cfg = generator.config
    batch_size, compression = job.batch_and_compression(cfg, batch_size, compression)
    energies = _energies_from_file(Path(energies_from), generator.geometry) if energies_from else None
    spectrum = None
    if energies is None:
        spec = cfg.generation.spectrum or cfg.simulation.spectrum
        spectrum = EnergySpectrum.from_dict(spec, f"{checkpoint}: generation spectrum")
    attrs = {**job.attrs(generator.step), "incident_energies_from": str(energies_from) if energies_from else "spectrum"}
    torch_rng = torch.Generator(device=generator.device)
    torch_rng.manual_seed(int(seed))
    bar = None
    t0 = time.perf_counter()
    with ShowerWriter(
        output, generator.geometry, attrs=attrs, compression=None if compression == "none" else compression
    ) as writer:
        if progress:  # only once the output is open: an error line is never glued to a bar
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="generate", unit="shower", unit_scale=True, dynamic_ncols=True)

        def produce(put: Callable[[Any], None]) -> None:
            for incident in incident_energy_batches(n, batch_size, spectrum, energies, seed, offset):
                cells = generator.sample_cells(torch.from_numpy(incident), torch_rng).cpu().numpy()
                put(generator._to_batch(cells, incident))
                if bar is not None:
                    bar.update(len(incident))

        try:
            write_in_background(writer, produce)
        finally:
            if bar is not None:
                bar.close()
    seconds = time.perf_counter() - t0
    return GenerationSummary(Path(output), n, seconds)
