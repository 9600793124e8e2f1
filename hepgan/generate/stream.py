"""The one generation path shared by showers and events: a job plan, batches to a file, a summary.

A job (all of it, or one shard of it) is planned by :class:`JobPlan`; batches made on the
device are handed to a writer thread by :func:`write_in_background` (so computing the next
batch overlaps with writing the last, at flat memory); :func:`stream_batches` drives both
with an optional progress bar; :class:`GenerationSummary` says what was written. The writers
(:class:`~hepgan.io.ShowerWriter`, :class:`~hepgan.io.events.EventWriter`) write to a
temporary file that appears under its name only when complete; the generation functions
hold :class:`~hepgan.training.run_log.StopSignals` while they write, so SIGTERM or SIGINT
stops a job between batches, removes the temporary file and raises
:class:`~hepgan.errors.GenerationInterrupted`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from hepgan.config import RunConfig
from hepgan.errors import ConfigError, GenerationInterrupted
from hepgan.generate.checkpoint_choice import choose_checkpoint
from hepgan.models.memory import check_batch_fits, generation_bytes
from hepgan.progress import progress_bar
from hepgan.training.run_log import StopSignals

MAX_ITEMS = 10**12
"""Most showers or events one job may ask for."""


class BatchWriter(Protocol):
    """What :func:`stream_batches` writes to: a shower or event writer, opened and closed by the caller."""

    def write(self, batch: Any) -> None: ...


def resolve_checkpoint(checkpoint: str | Path | None, runs_dir: str | Path = "runs", kind: str | None = None) -> Path:
    """An explicit checkpoint file; a run folder's best checkpoint; or, given nothing, that of the newest finished
    run under ``runs_dir`` (of ``kind`` if given). See :func:`hepgan.generate.checkpoint_choice.choose_checkpoint`."""
    return choose_checkpoint(checkpoint, runs_dir, kind).path


def shard_plan(n: int, seed: int, index: int, count: int) -> tuple[int, int, int]:
    """Items, first-item offset and seed of shard ``index`` of ``count`` (0-based) of an ``n``-item job.

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


@dataclass
class JobPlan:
    """This process's share of a generation job (all of it, or one shard) and its output attributes."""

    n: int
    offset: int
    seed: int
    base_attrs: dict[str, Any]

    @classmethod
    def make(cls, n: int, seed: int, shard: tuple[int, int] | None, checkpoint: str | Path) -> JobPlan:
        """The plan of an ``n``-item job with ``seed``, or of its shard ``(i, N)``."""
        if not 1 <= n <= MAX_ITEMS:
            raise ConfigError(f"--n: expected an integer in [1, {MAX_ITEMS:.0e}], got {n}")
        attrs: dict[str, Any] = {"seed": int(seed), "checkpoint": str(checkpoint), "generator": "hepgan"}
        if shard is None:
            return cls(n, 0, int(seed), attrs)
        size, offset, shard_seed = shard_plan(n, int(seed), *shard)
        attrs.update(shard=f"{shard[0]}/{shard[1]}", shard_seed=shard_seed, n_total=n)
        return cls(size, offset, shard_seed, attrs)

    def attrs(self, checkpoint_step: int) -> dict[str, Any]:
        """Output-file attributes: seed, checkpoint, step, shard."""
        return {**self.base_attrs, "checkpoint_step": int(checkpoint_step)}

    @staticmethod
    def batch_and_compression(config: RunConfig, batch_size: int | None, compression: str | None) -> tuple[int, str]:
        """``--batch-size`` and ``--compression``, or the checkpoint config's generation defaults."""
        batch_size = config.generation.batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ConfigError(f"--batch-size: expected an integer >= 1, got {batch_size}")
        return batch_size, compression or config.generation.compression


def check_batch_memory(
    config: RunConfig,
    batch: int,
    given: bool,
    device: torch.device,
    sample: tuple[int, int, int],
) -> None:
    """ConfigError naming ``--batch-size`` (``given``) or ``generation.batch_size`` when one batch of
    ``batch`` samples would not fit in the device's free memory; ``sample`` is (features, conditions,
    output numbers) per sample (:func:`hepgan.models.memory.generation_bytes`)."""
    n_features, cond_dim, n_outputs = sample

    def need(b: int) -> int:
        return generation_bytes(b, config.model, n_features, cond_dim, n_outputs)

    field = "--batch-size" if given else "generation.batch_size (the checkpoint's; set --batch-size)"
    check_batch_fits(batch, need, device, field, "one generated batch")


@dataclass
class GenerationSummary:
    """What a generation job wrote, and how fast."""

    path: Path
    n: int
    seconds: float
    unit: str = "showers"  # or "events"

    @property
    def ms_per_item(self) -> float:
        """Milliseconds per shower (or event)."""
        return 1e3 * self.seconds / max(self.n, 1)


def write_in_background(writer: BatchWriter, produce: Callable[[Callable[[Any], None]], None]) -> None:
    """Run ``produce(put)`` here while a thread hands what it puts to ``writer.write``.

    The queue holds two batches (flat memory), so computing the next batch overlaps with
    writing the last. A write error stops production and is re-raised here; when
    ``produce`` raises, batches still queued are dropped and the thread is joined before
    the exception goes on (so the caller can abort the writer safely).
    """
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    cancelled = threading.Event()

    def drain() -> None:
        while (item := pending.get()) is not None:
            if failure or cancelled.is_set():
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
    except BaseException:
        cancelled.set()
        raise
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]


def stream_batches(
    writer: BatchWriter,
    batches: Iterable[Any],
    n: int,
    unit: str,
    progress: bool = False,
    stop: StopSignals | None = None,
) -> None:
    """Write ``batches`` (``n`` items in all) through an open ``writer`` in the background, with optional progress
    (:func:`hepgan.progress.progress_bar`: a bar on a terminal, plain lines in a log file).

    Call it with the writer open, so an error line is never glued to a bar. With ``stop``
    (active :class:`~hepgan.training.run_log.StopSignals`), a SIGTERM or SIGINT received
    while batches are made raises :class:`~hepgan.errors.GenerationInterrupted` before the
    next batch, so the writer's ``with`` block aborts and removes its temporary file.
    """
    bar = progress_bar(n, "generate", unit.rstrip("s"), unit_scale=True) if progress else None
    done = 0

    def check_stop() -> None:
        if stop is not None and stop.signal is not None:
            target = getattr(writer, "path", "the output")
            raise GenerationInterrupted(
                f"stopped by {stop.signal} after {done} of {n} {unit}; {target} was not written "
                "(its partial temporary file was removed)"
            )

    def produce(put: Callable[[Any], None]) -> None:
        nonlocal done
        for batch in batches:
            check_stop()
            put(batch)
            done += len(batch)
            if bar is not None:
                bar.update(len(batch))
        check_stop()

    try:
        write_in_background(writer, produce)
    finally:
        if bar is not None:
            bar.close()
