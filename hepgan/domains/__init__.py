"""Domains: calorimeter showers and event kinematics, each in its own module, chosen once.

``DOMAINS`` is the explicit registry (``kind`` → domain object). The kind is decided here
and nowhere else: from a config (:func:`domain_for_config`), a checkpoint
(:func:`domain_for_checkpoint`) or data files (:func:`domain_for_files`); the domain object
is then handed to the trainer (as its training data), the generator and the validator.
The functions below are the library's entry points for whole jobs::

    from hepgan.domains import train, generate_to_file, validate_run
    result = train(load_config("configs/calo.yaml"))
    generate_to_file(result.checkpoint, 1_000_000, "events.h5")
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import torch

from hepgan.config import RunConfig
from hepgan.device import is_out_of_memory, select_device
from hepgan.domains.base import Domain, ValidateOptions, Validation
from hepgan.domains.calo import CALO
from hepgan.domains.events import EVENTS
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate.stream import GenerationSummary, JobPlan
from hepgan.io.atomic import refuse_output_onto_inputs
from hepgan.models.memory import check_batch_fits, training_bytes
from hepgan.training.checkpoint import load_checkpoint
from hepgan.training.protocols import TrainingData
from hepgan.training.resume import check_resume
from hepgan.training.run_record import update_run_record
from hepgan.training.trainer import HOLDOUT_FILE, TrainResult
from hepgan.training.trainer import train as train_loop

log = logging.getLogger(__name__)

DOMAINS: dict[str, Domain] = {CALO.kind: CALO, EVENTS.kind: EVENTS}
"""Every domain by its ``kind``."""
DEFAULT_KIND = CALO.kind
"""The kind of checkpoints written before checkpoints named theirs."""


def domain_named(kind: str, where: str) -> Domain:
    """The domain of ``kind``; ConfigError naming ``where`` for an unknown kind."""
    if kind not in DOMAINS:
        raise ConfigError(f"{where}: expected one of {', '.join(DOMAINS)}, got {kind!r}")
    return DOMAINS[kind]


def domain_for_config(config: RunConfig) -> Domain:
    """The domain of a run configuration (its ``kind``)."""
    return domain_named(config.kind, "kind")


def domain_for_checkpoint(state: dict[str, Any], source: str = "checkpoint") -> Domain:
    """The domain of a loaded checkpoint (its ``kind`` entry; none means a calorimeter checkpoint)."""
    kind = state.get("kind", DEFAULT_KIND)
    if kind not in DOMAINS:
        raise InputFileError(f"{source}: checkpoint of unknown kind {kind!r} (expected one of {', '.join(DOMAINS)})")
    return DOMAINS[kind]


def domain_for_files(*paths: Path) -> Domain:
    """The domain whose files these all are: event tables, else calorimeter showers (which checks them on reading)."""
    if all(EVENTS.owns_file(Path(path)) for path in paths):
        return EVENTS
    return CALO


def train(config: RunConfig, resume_dir: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Train a model of the config's kind, in a new run folder or continuing ``resume_dir``.

    A resumed run must keep the checkpoint's networks, preprocessing and data
    (:mod:`hepgan.training.resume` lists what may change). Rank 0 then draws
    ``training_history.png`` into the run folder.
    """
    if resume_dir is not None:
        check_resume(config, resume_dir)  # before the data are read: a refused resume names the changed fields
    domain = domain_for_config(config)
    data = domain.training_data(config)
    check_training_memory(config, data)
    try:
        result = train_loop(config, data, resume_dir=resume_dir, progress=progress)
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise ConfigError(
            f"training.batch_size: training ran out of memory with batches of {config.training.batch_size} "
            f"({one_line(exc)}); try a smaller training.batch_size or smaller networks"
        ) from None
    if result.main_process:
        from hepgan.validation.plots import plot_training_history

        try:
            plot_training_history(result.run_dir / "metrics.jsonl", result.run_dir / "training_history.png")
        except ValueError as exc:  # e.g. a run resumed at its last step logs nothing new
            log.warning("no training-history figure: %s", exc)
    return result


def check_training_memory(config: RunConfig, data: TrainingData) -> None:
    """ConfigError naming ``training.batch_size`` when one iteration would not fit in the device's free memory.

    Under torchrun each GPU holds its share of the batch; processes on one host share its memory.
    """
    try:
        world = max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        world = 1
    device = select_device(config.training.device, "training.device")
    batch = config.training.batch_size
    if device.type == "cuda" and world > 1:
        device, batch = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0") or 0)), -(-batch // world)
    size = data.sample_size()

    def need(b: int) -> int:
        return training_bytes(b, config.model, config.training, size)

    check_batch_fits(batch, need, device, "training.batch_size", "one training iteration")


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` of an exception on one line, cut to ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_generator(checkpoint: str | Path, device: str | torch.device = "auto", use_ema: bool = True) -> Any:
    """The generator of a checkpoint file, of its own kind (:class:`~hepgan.generate.ShowerGenerator` or
    :class:`~hepgan.generate.EventGenerator`)."""
    state = load_checkpoint(checkpoint)
    domain = domain_for_checkpoint(state, str(checkpoint))
    return domain.load_generator(state, device=device, use_ema=use_ema, source=str(checkpoint))


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
    """Generate ``n`` showers or events (the checkpoint's kind) and stream them to ``output``.

    Showers take their incident energies from the config's generation spectrum or, with
    ``energies_from``, from a reference file. With ``shard=(i, N)`` only shard i of the job is
    written, with its own seed (:func:`hepgan.generate.shard_plan`). The output's attributes
    record seed, shard, checkpoint, step, hepgan version and units.

    Raises:
        OutputError: ``output`` is the checkpoint or the ``energies_from`` file (checked
            before anything is read or written).
    """
    checkpoint = Path(checkpoint)
    refuse_output_onto_inputs(output, [checkpoint], "checkpoint")
    refuse_output_onto_inputs(output, [energies_from], "--energies-from file")
    job = JobPlan.make(n, seed, shard, checkpoint)
    state = load_checkpoint(checkpoint)
    domain = domain_for_checkpoint(state, str(checkpoint))
    generator = domain.load_generator(state, device=device, source=str(checkpoint))
    try:
        return domain.generate_to_file(
            generator,
            job,
            output,
            batch_size=batch_size,
            energies_from=energies_from,
            compression=compression,
            progress=progress,
        )
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        field = (
            "--batch-size" if batch_size is not None else "generation.batch_size (the checkpoint's; set --batch-size)"
        )
        raise ConfigError(
            f"{field}: generation ran out of memory ({one_line(exc)}); nothing was written to {output}; "
            "try a smaller batch"
        ) from None


def validate_run(run_dir: str | Path, checkpoint: str | Path, seed: int = 1) -> Validation:
    """Validate a trained run (into ``run_dir/validation``) and record it in ``run.json``.

    The reference is the run's held-out sample, or a fresh simulated one (``validation.reference``).
    """
    run_dir = Path(run_dir)
    state = load_checkpoint(checkpoint)
    domain = domain_for_checkpoint(state, str(checkpoint))
    generator = domain.load_generator(state, source=str(checkpoint))
    on_holdout = generator.config.validation.reference == "holdout" or domain.kind != "calo"
    held_out = held_out_count(run_dir / HOLDOUT_FILE) if on_holdout else domain.min_samples
    if held_out < domain.min_samples:
        validation = skipped_validation(domain, generator.source, held_out)
    else:
        validation = domain.validate_run(run_dir, generator, seed)
    if (run_dir / "run.json").is_file():
        update_run_record(run_dir, validation=run_summary(validation.summary))
    return validation


def held_out_count(path: Path) -> int:
    """Samples in a run's held-out file (as many rows as each of its datasets); InputFileError if unreadable."""
    try:
        with h5py.File(path, "r") as file:
            rows = [item.shape[0] for item in file.values() if isinstance(item, h5py.Dataset) and item.ndim]
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read the held-out sample ({type(exc).__name__}: {exc})") from None
    return min(rows, default=0)


def skipped_validation(domain: Domain, checkpoint: str, held_out: int) -> Validation:
    """The held-out validation of a run that held out too few samples to compare, saying why."""
    if held_out == 0:
        reason = f"no {domain.unit} were held out (data.validation_fraction is 0 or rounds to none)"
    else:
        reason = (
            f"{held_out} {domain.unit} were held out, fewer than the {domain.min_samples} a validation compares "
            "(raise data.validation_fraction)"
        )
    summary = {"kind": domain.kind, "checkpoint": checkpoint, "skipped": reason}
    return Validation(summary, [f"held-out validation skipped: {reason}"])


def run_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a validation for ``run.json`` (the full report stays in ``validation/``)."""
    if "skipped" in summary:
        return {"checkpoint": summary.get("checkpoint"), "skipped": summary["skipped"]}
    metrics = summary.get("metrics", {})
    out: dict[str, Any] = {"checkpoint": summary.get("checkpoint"), "report": "validation/index.html"}
    for key in ("n_showers", "n_reference", "n_generated", "max_abs_mean_rel_diff", "max_abs_std_rel_diff"):
        if key in summary:
            out[key] = summary[key]
    if "summary" in summary:
        out["targets"] = summary["summary"]
    global_metrics = metrics.get("global_metrics", {}) if isinstance(metrics, dict) else {}
    out["metrics"] = {
        name: {key: entry.get(key) for key in ("value", "error", "floor", "verdict")}
        for name, entry in global_metrics.items()
        if isinstance(entry, dict)
    }
    return out


def validate_files(
    reference: str | Path, generated: str | Path, out_dir: str | Path, options: ValidateOptions | None = None
) -> Validation:
    """Compare a generated file with a reference file of the same kind, into ``out_dir``."""
    reference, generated = Path(reference), Path(generated)
    domain = domain_for_files(reference, generated)
    return domain.validate_files(reference, generated, Path(out_dir), options or ValidateOptions())


__all__ = [
    "CALO",
    "DOMAINS",
    "EVENTS",
    "Domain",
    "ValidateOptions",
    "Validation",
    "domain_for_checkpoint",
    "domain_for_config",
    "domain_for_files",
    "domain_named",
    "generate_to_file",
    "load_generator",
    "train",
    "validate_files",
    "validate_run",
]
