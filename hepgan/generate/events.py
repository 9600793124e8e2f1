"""Event generation: a trained unconditional event generator with its preprocessing, noise in, events (GeV) out.

:class:`EventGenerator` is the notebook API::

    from hepgan import EventGenerator
    gen = EventGenerator.from_checkpoint("runs/zmumu-.../checkpoints/step_0004000.pt")
    events = gen.sample(100_000, seed=1)        # EventBatch: pt, eta, phi, mass (GeV, rad), mask
    muons = gen.sample_awkward(100_000, seed=1)  # awkward array of vector Momentum4D records, jagged
    dimuon_mass = (muons[:, 0] + muons[:, 1]).mass

With symmetries in the checkpoint's preprocessing (``eta_flip``, ``phi_rotation``) every
generated event goes through a random symmetry transform drawn from the same seeded
generator as the noise, so the generated distribution is exactly symmetric.
:meth:`EventGenerator.sample_batch` is the one sampling function of the event domain;
:func:`generate_events_to_file` streams any number of events to an HDF5/ROOT event table
with flat memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepgan.config import config_from_dict
from hepgan.data.event_transforms import EventTransform
from hepgan.data.events import KIND, EventModelState
from hepgan.data.state_checks import check_weights, one_line
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate.stream import GenerationSummary, JobPlan, check_batch_memory, stream_batches
from hepgan.generate.trained import TrainedGenerator
from hepgan.io.events import EventBatch, EventWriter
from hepgan.models import build_event_networks
from hepgan.training.run_log import StopSignals

log = logging.getLogger(__name__)


class EventGenerator(TrainedGenerator[EventModelState]):
    """A generator network with its event preprocessing: latent noise in, pT-ordered events (GeV, rad) out."""

    @property
    def transform(self) -> EventTransform:
        return self.model.transform

    @property
    def n_objects(self) -> int:
        """Object slots per generated event."""
        return self.transform.n_objects

    @property
    def reconstruction(self) -> str:
        """How the objects form resonance candidates (:mod:`hepgan.data.resonances`), as in training."""
        return self.model.reconstruction

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        device: str | torch.device = "auto",
        use_ema: bool = True,
        source: str = "<checkpoint>",
    ) -> EventGenerator:
        """From a loaded checkpoint dict (kind "events"); InputFileError naming ``source`` if it is not usable."""
        kind = state.get("kind", "calo")
        if kind != KIND:
            raise InputFileError(f"{source}: checkpoint holds a {kind!r} model, not an event model (kind 'events')")
        model = EventModelState.from_entries(state, source)
        try:
            config = config_from_dict(state["config"], f"{source}: config")
            network, _ = build_event_networks(config.model, model.transform.n_features)
            for key in ("generator", "generator_ema"):
                if key in state:
                    check_weights(state[key], network, key)
            network.load_state_dict(state["generator_ema" if use_ema else "generator"])
            step = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else one_line(exc)
            raise InputFileError(f"{source}: not a usable hepgan event checkpoint ({detail})") from None
        return cls(network, model, config, step, device, source)

    @torch.inference_mode()
    def features_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Standardised features (N, n_features), float32 on the device, for latent vectors (N, latent_dim)."""
        noise = noise.to(self.device, torch.float32)
        cond = noise.new_zeros(len(noise), 0)
        with self.autocast():
            features = self.network(noise, cond)
        return features.float()

    def events_from_noise(self, noise: torch.Tensor, generator: torch.Generator | None = None) -> EventBatch:
        """Events (GeV, rad; pT-ordered) for latent vectors (N, latent_dim).

        With symmetries the random transforms are drawn from ``generator`` (on the device),
        or from a generator seeded with 0 when none is given (the same noise, the same events).
        A checkpoint's feature calibration (:mod:`hepgan.data.feature_calibration`) maps the
        features before the inverse preprocessing.
        """
        features = self.features_from_noise(noise)
        if self.transform.symmetries:
            if generator is None:
                generator = torch.Generator(device=self.device)
                generator.manual_seed(0)
            features = self.transform.apply_symmetries(features, generator)
        if self.model.feature_calibration is not None:
            features = self.model.feature_calibration.apply(features)
        return self.transform.inverse(features)

    def sample_batch(self, n: int, generator: torch.Generator | None = None) -> EventBatch:
        """``n`` events drawn with the given torch random generator (on the device)."""
        noise = torch.randn(n, self.latent_dim, device=self.device, generator=generator)
        return self.events_from_noise(noise, generator)

    def check_finite(self, events: EventBatch, first: int = 0) -> None:
        """InputFileError naming the checkpoint when generated events hold NaN or inf (pT, η, φ or mass).

        ``first`` is the index of the batch's first event in the job, for the message.
        """
        bad = np.zeros(len(events), dtype=bool)
        for values in (events.pt, events.eta, events.phi, events.mass):
            bad |= ~np.isfinite(np.asarray(values, dtype=np.float64)).reshape(len(events), -1).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InputFileError(
                f"{self.source}: non-finite values in generated events ({len(rows)} of {len(events)}, first at "
                f"event {first + int(rows[0])}); the checkpoint's network or preprocessing gives NaN/inf"
            )

    def sample(self, n: int, seed: int | None = None, batch_size: int = 100_000) -> EventBatch:
        """``n`` events as one :class:`EventBatch` (GeV); the same seed gives the same events."""
        if n < 0:
            raise ConfigError(f"n: expected an integer >= 0, got {n}")
        rng = torch.Generator(device=self.device)
        rng.manual_seed(0 if seed is None else int(seed))
        parts = [self.sample_batch(min(batch_size, n - i), rng) for i in range(0, n, batch_size)]
        events = EventBatch.concatenate(parts) if parts else EventBatch.empty(self.n_objects)
        self.check_finite(events)
        return events

    def sample_awkward(self, n: int, seed: int | None = None, batch_size: int = 100_000) -> Any:
        """``n`` events as an awkward array of ``Momentum4D`` records (see :meth:`EventBatch.to_awkward`)."""
        return self.sample(n, seed=seed, batch_size=batch_size).to_awkward()


def generate_events_to_file(
    generator: EventGenerator,
    job: JobPlan,
    output: str | Path,
    *,
    batch_size: int | None = None,
    compression: str | None = None,
    progress: bool = False,
) -> GenerationSummary:
    """Generate the job's events with ``generator`` and stream them to ``output`` (HDF5 or ROOT event table).

    The output's attributes record seed, shard, checkpoint, step and the reconstruction rule
    (``reconstruction``, read by the validation); units are GeV (see
    :class:`~hepgan.io.events.EventWriter`).

    Raises:
        ConfigError: bad ``batch_size``; OutputError: the file cannot be written (an earlier file is kept);
        InputFileError: the generator gives NaN/inf events (naming the checkpoint; nothing is written).
    """
    given = batch_size is not None
    batch_size, compression = job.batch_and_compression(generator.config, batch_size, compression)
    n_features, n_outputs = generator.transform.n_features, 5 * generator.n_objects  # pT, η, φ, m, mask
    check_batch_memory(generator.config, min(batch_size, job.n), given, generator.device, (n_features, 0, n_outputs))
    rng = torch.Generator(device=generator.device)
    rng.manual_seed(int(job.seed))

    def batches() -> Iterator[EventBatch]:
        for start in range(0, job.n, batch_size):
            events = generator.sample_batch(min(batch_size, job.n - start), rng)
            generator.check_finite(events, start)
            yield events

    t0 = time.perf_counter()
    gzip = None if compression == "none" else compression
    attrs = {**job.attrs(generator.step), "reconstruction": generator.reconstruction}
    with (
        StopSignals() as stop,
        EventWriter(output, generator.n_objects, attrs=attrs, compression=gzip) as writer,
    ):
        stream_batches(writer, batches(), job.n, "events", progress, stop)
    seconds = time.perf_counter() - t0
    log.info("generated %d events in %.1f s (%.0f events/s) -> %s", job.n, seconds, job.n / max(seconds, 1e-9), output)
    return GenerationSummary(Path(output), job.n, seconds, "events")


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
