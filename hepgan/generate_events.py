"""Event generation: checkpoint (kind "events") → batches on the device → inverse transform → event table.

:class:`EventGenerator` is the notebook API::

    from hepgan.generate_events import EventGenerator
    gen = EventGenerator.from_checkpoint("runs/zmumu-.../checkpoints/step_0004000.pt")
    events = gen.sample(100_000, seed=1)        # EventBatch: pt, eta, phi, mass (GeV, rad), mask

With symmetries in the checkpoint's preprocessing (``eta_flip``, ``phi_rotation``) every
generated event goes through a random symmetry transform drawn from the same seeded
generator as the noise, so the generated distribution is exactly symmetric.

:func:`generate_events_to_file` streams any number of events to an HDF5/ROOT event table
with flat memory (a bounded queue to a writer thread), through
:class:`~hepgan.io.events.EventWriter` (temporary file renamed onto the target when
complete). ``hepgan generate`` calls it for event checkpoints via
:func:`hepgan.generate.generate_to_file`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hepgan.config import RunConfig, config_from_dict
from hepgan.data.event_transforms import EventTransform
from hepgan.data.events import KIND, build_event_networks
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate import GenerationSummary, JobPlan, write_in_background
from hepgan.io.events import EventBatch, EventWriter
from hepgan.training.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def _device(name: str | torch.device) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class EventGenerator:
    """A trained unconditional event generator with its preprocessing: noise in, events (GeV) out."""

    def __init__(
        self, state: dict, device: str | torch.device = "auto", use_ema: bool = True, source: str = "<checkpoint>"
    ) -> None:
        kind = state.get("kind", "calo")
        if kind != KIND:
            raise InputFileError(f"{source}: checkpoint holds a {kind!r} model, not an event model (kind 'events')")
        self.source = source
        self.config: RunConfig = config_from_dict(state["config"], f"{source}: config")
        self.transform = EventTransform.from_state_dict(state["transform"])
        self.device = _device(device)
        network, _ = build_event_networks(self.config.model, self.transform.n_features)
        network.load_state_dict(state["generator_ema" if use_ema else "generator"])
        self.network = network.to(self.device).eval()
        self.latent_dim = self.config.model.latent_dim
        self.step = int(state["step"])

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "auto", use_ema: bool = True
    ) -> EventGenerator:
        """Load a checkpoint file (safely: tensors and plain data only)."""
        return cls(load_checkpoint(path), device=device, use_ema=use_ema, source=str(path))

    @property
    def n_objects(self) -> int:
        """Object slots per generated event."""
        return self.transform.n_objects

    @torch.inference_mode()
    def features_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Standardised features (N, n_features), float32 on the device, for latent vectors (N, latent_dim)."""
        noise = noise.to(self.device, torch.float32)
        cond = noise.new_zeros(len(noise), 0)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            features = self.network(noise, cond)
        return features.float()

    def events_from_noise(self, noise: torch.Tensor, generator: torch.Generator | None = None) -> EventBatch:
        """Events (GeV, rad; pT-ordered) for latent vectors (N, latent_dim).

        With symmetries the random transforms are drawn from ``generator`` (on the device),
        or from a generator seeded with 0 when none is given (the same noise, the same events).
        """
        features = self.features_from_noise(noise)
        if self.transform.symmetries:
            if generator is None:
                generator = torch.Generator(device=self.device)
                generator.manual_seed(0)
            features = self.transform.apply_symmetries(features, generator)
        return self.transform.inverse(features)

    def sample_batch(self, n: int, generator: torch.Generator | None = None) -> EventBatch:
        """``n`` events drawn with the given torch random generator (on the device)."""
        noise = torch.randn(n, self.latent_dim, device=self.device, generator=generator)
        return self.events_from_noise(noise, generator)

    def sample(self, n: int, seed: int | None = None, batch_size: int = 100_000) -> EventBatch:
        """``n`` events as one :class:`EventBatch` (GeV); the same seed gives the same events."""
        if n < 0:
            raise ConfigError(f"n: expected an integer >= 0, got {n}")
        rng = torch.Generator(device=self.device)
        rng.manual_seed(0 if seed is None else int(seed))
        parts = [self.sample_batch(min(batch_size, n - i), rng) for i in range(0, n, batch_size)]
        return EventBatch.concatenate(parts) if parts else EventBatch.empty(self.n_objects)


def _progress_bar(n: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="generate", unit="event", unit_scale=True, dynamic_ncols=True)


def generate_events_to_file(
    state: dict,
    checkpoint: str | Path,
    n: int,
    output: str | Path,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    device: str = "auto",
    shard: tuple[int, int] | None = None,
    compression: str | None = None,
    progress: bool = False,
) -> GenerationSummary:
    """Generate ``n`` events with a loaded event checkpoint ``state`` and stream them to ``output``.

    With ``shard=(i, N)`` only shard i of an n-event job is written, with its own seed
    (:func:`hepgan.generate.shard_plan`). The output's attributes record seed, shard,
    checkpoint and step; units are GeV (see :class:`~hepgan.io.events.EventWriter`).

    Raises:
        ConfigError: bad ``n``, ``batch_size`` or shard; InputFileError: not an event
        checkpoint; OutputError: the file cannot be written (an earlier file is kept).
    """
    job = JobPlan.make(n, seed, shard, checkpoint)
    n, seed = job.n, job.seed
    generator = EventGenerator(state, device=device, source=str(checkpoint))
    batch_size, compression = job.batch_and_compression(generator.config, batch_size, compression)
    attrs = job.attrs(generator.step)
    rng = torch.Generator(device=generator.device)
    rng.manual_seed(int(seed))
    bar = _progress_bar(n, progress)

    def produce(put: Callable[[EventBatch], None]) -> None:
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            put(generator.sample_batch(size, rng))
            if bar is not None:
                bar.update(size)

    t0 = time.perf_counter()
    gzip = None if compression == "none" else compression
    try:
        with EventWriter(output, generator.n_objects, attrs=attrs, compression=gzip) as writer:
            write_in_background(writer, produce)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    log.info("generated %d events in %.1f s (%.0f events/s) -> %s", n, seconds, n / max(seconds, 1e-9), output)
    return GenerationSummary(Path(output), n, seconds, unit="events")


def events_per_second(generator: EventGenerator, n: int, batch_size: int = 100_000, seed: int = 0) -> float:
    """Generation rate in events/s (network + inverse transform, no file), after one warm-up batch."""
    rng = torch.Generator(device=generator.device)
    rng.manual_seed(seed)
    generator.sample_batch(min(batch_size, n), rng)
    if generator.device.type == "cuda":
        torch.cuda.synchronize(generator.device)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        size = min(batch_size, n - done)
        generator.sample_batch(size, rng)
        done += size
    return n / max(time.perf_counter() - t0, 1e-9)


__all__ = ["EventGenerator", "events_per_second", "generate_events_to_file"]
