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
from pathlib import Path
from typing import Any

import torch

from hepgan.config import RunConfig
from hepgan.domains.base import Domain, ValidateOptions, Validation
from hepgan.domains.calo import CALO
from hepgan.domains.events import EVENTS
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate.stream import GenerationSummary, JobPlan
from hepgan.io.atomic import refuse_output_onto_inputs
from hepgan.training.checkpoint import load_checkpoint
from hepgan.training.resume import check_resume
from hepgan.training.run_record import update_run_record
from hepgan.training.trainer import TrainResult
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
    result = train_loop(config, domain.training_data(config), resume_dir=resume_dir, progress=progress)
    if result.main_process:
        from hepgan.validation.plots import plot_training_history

        try:
            plot_training_history(result.run_dir / "metrics.jsonl", result.run_dir / "training_history.png")
        except ValueError as exc:  # e.g. a run resumed at its last step logs nothing new
            log.warning("no training-history figure: %s", exc)
    return result


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
    return domain.generate_to_file(
        generator,
        job,
        output,
        batch_size=batch_size,
        energies_from=energies_from,
        compression=compression,
        progress=progress,
    )


def validate_run(run_dir: str | Path, checkpoint: str | Path, seed: int = 1) -> Validation:
    """Validate a trained run on its held-out sample (into ``run_dir/validation``) and record it in ``run.json``."""
    run_dir = Path(run_dir)
    state = load_checkpoint(checkpoint)
    domain = domain_for_checkpoint(state, str(checkpoint))
    generator = domain.load_generator(state, source=str(checkpoint))
    validation = domain.validate_run(run_dir, generator, seed)
    if (run_dir / "run.json").is_file():
        update_run_record(run_dir, validation=run_summary(validation.summary))
    return validation


def run_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a validation for ``run.json`` (the full report stays in ``validation/``)."""
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
