"""Which configuration fields may change when a run is resumed, and the check that enforces it.

A run's checkpoints hold networks, optimiser states and a fitted preprocessing that belong
to one configuration. ``train --resume RUN --set key=value`` may continue a run with a
changed configuration, but only in the fields listed in :data:`RESUME_ADJUSTABLE`: how
long and how fast to train, how often to log, checkpoint and evaluate, on which device and
with how many threads, how to react to divergence, what the generator's MMD term compares,
and the defaults of ``hepgan generate``. Every other field must equal the checkpoint's:

- ``name``, ``kind``, ``seed``, ``geometry``: the run's identity, domain, held-out split and
  detector (the seed picks which samples are held out);
- ``data.*`` except ``data.chunk_size``: which samples the run trains on (and, with ``data.buffer_size``,
  how many it holds at a time; a changed ``data.chunk_size`` changes which it holds after the resume);
- ``preprocessing.*``: the transform stored in the checkpoints;
- ``model.*``: the shapes of the networks (a changed one cannot load the weights);
- ``training.loss``: the game the critic was trained for (a Wasserstein critic is no classifier);
- ``training.select_by``: the metric ``checkpoints/best.pt`` was chosen by.

A field that is in neither list (a new one) must match too: a field is adjustable only when
it is listed. :func:`check_resume_config` compares before anything is written, so a refused
resume leaves ``config.yaml`` and the checkpoints as they were.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hepgan.config import RunConfig, config_from_dict
from hepgan.errors import ConfigError, HepganError, InputFileError
from hepgan.training.checkpoint import load_latest_valid

RESUME_ADJUSTABLE: tuple[str, ...] = (
    # how long, how fast and in what steps to train
    "training.max_steps",
    "training.max_seconds",
    "training.lr_generator",
    "training.lr_discriminator",
    "training.betas",
    "training.batch_size",
    "training.d_steps",
    "training.g_steps",
    "training.gp_lambda",
    "training.ema_decay",
    # the generator's optional MMD term
    "training.mmd_weight",
    "training.mmd_shower_features",
    "training.mmd_bandwidths",
    "training.mmd_condition_scale",
    # logging, checkpoint and evaluation cadence
    "training.log_every",
    "training.checkpoint_every",
    "training.keep_checkpoints",
    "training.eval_every",
    "training.eval_showers",
    # divergence handling
    "training.on_divergence",
    "training.max_rollbacks",
    "training.rollback_lr_factor",
    "training.critic_runaway",
    "training.collapse_ratio",
    "training.collapse_check_after",
    # where and how it runs
    "training.device",
    "training.amp",
    "training.threads",
    "training.runs_dir",
    "data.chunk_size",
    # used by `hepgan simulate`, `hepgan generate` and the validation after training, not by training
    "simulation",
    "generation",
    # what the finished run is validated against
    "validation",
)
"""Fields (dotted names, or whole sections) that may differ from the checkpoint's on resume."""

MAX_VALUE_CHARS = 40
"""Values quoted in the refusal are cut to this many characters."""


def config_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """``section.field`` (or top-level ``field``) → value, for the fields of :class:`RunConfig` found in ``data``."""
    out: dict[str, Any] = {}
    for top in dataclasses.fields(RunConfig):
        if top.name not in data:
            continue
        value = data[top.name]
        kind = top.default_factory if top.default_factory is not dataclasses.MISSING else None
        if kind is not None and dataclasses.is_dataclass(kind) and isinstance(value, Mapping):
            for sub in dataclasses.fields(kind):
                if sub.name in value:
                    out[f"{top.name}.{sub.name}"] = value[sub.name]
        else:
            out[top.name] = value
    return out


def adjustable_on_resume(name: str) -> bool:
    """Whether the dotted config field ``name`` may differ from the checkpoint's when resuming."""
    return any(name == entry or name.startswith(entry + ".") for entry in RESUME_ADJUSTABLE)


def _checkpoint_fields(saved: Any, source: str) -> dict[str, Any]:
    """The fields of a checkpoint's stored config, completed with defaults where it predates a field."""
    if not isinstance(saved, Mapping):
        raise InputFileError(f"{source}: checkpoint holds no run configuration")
    try:
        return config_fields(config_from_dict(copy.deepcopy(dict(saved)), source).to_dict())
    except HepganError:  # written by another hepgan version: compare the fields it has
        return config_fields(saved)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def resume_changes(config: RunConfig, saved: Any, source: str = "checkpoint") -> list[tuple[str, Any, Any]]:
    """``(field, checkpoint value, new value)`` for each field that differs and may not change on resume."""
    new = config_fields(config.to_dict())
    old = _checkpoint_fields(saved, source)
    return [
        (name, old[name], value)
        for name, value in new.items()
        if name in old and old[name] != value and not adjustable_on_resume(name)
    ]


def check_resume_config(config: RunConfig, state: Mapping[str, Any], run_dir: str | Path, checkpoint: Path) -> None:
    """Refuse to resume ``run_dir`` with ``config`` if it changes a field that must keep the checkpoint's value.

    Raises:
        ConfigError: one line naming every such field with the checkpoint's and the new value.
        InputFileError: the checkpoint holds no configuration to compare with.
    """
    changes = resume_changes(config, state.get("config"), str(checkpoint))
    if not changes:
        return
    listed = ", ".join(f"{name} ({_short(old)} in {checkpoint.name}, {_short(new)} now)" for name, old, new in changes)
    raise ConfigError(
        f"cannot resume {run_dir}: {listed}: "
        f"{'this field fixes' if len(changes) == 1 else 'these fields fix'} the networks, preprocessing or data "
        "of the run and cannot change when it is resumed; drop the override (or --set it back), "
        "or start a new run"
    )


def check_resume(config: RunConfig, run_dir: str | Path) -> None:
    """:func:`check_resume_config` against the newest usable checkpoint of ``run_dir`` (read only).

    Raises:
        ConfigError: a field that must keep the checkpoint's value was changed.
        InputFileError: the run has no usable checkpoint.
    """
    checkpoint, state = load_latest_valid(run_dir, map_location="cpu")
    check_resume_config(config, state, run_dir, checkpoint)
