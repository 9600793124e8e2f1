"""Checks of what a checkpoint holds, before a model is built from it.

A checkpoint that loads safely can still hold numbers no training run writes: NaN or
infinite weights or preprocessing constants, integer or boolean tensors where floats
belong, quantile tables that decrease, or tensors whose shapes do not fit the geometry or
the network. Generating from such a checkpoint gives NaN (or silently wrong) showers and
events, so the model-state readers (:mod:`hepgan.data.showers`, :mod:`hepgan.data.events`)
and the generators refuse it. Every check raises ``ValueError`` with one line naming the
entry (e.g. ``transform.cell_mean``); the readers turn it into an
:class:`~hepgan.errors.InputFileError` naming the checkpoint file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

MONOTONE_RTOL = 1e-6
"""Decreases between neighbouring quantiles up to this fraction of the table's largest magnitude are rounding."""


def _where(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def require_mapping(value: object, where: str) -> Mapping[str, Any]:
    """``value`` if it is a mapping (a state dict), else ValueError naming ``where``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is {type(value).__name__}, expected a mapping of named tensors")
    return value


def check_float_tensor(value: object, where: str) -> torch.Tensor:
    """``value`` if it is a floating-point tensor with finite entries, else ValueError naming ``where``."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{where} is {type(value).__name__}, expected a tensor")
    if not value.is_floating_point():
        raise ValueError(f"{where} holds {str(value.dtype).removeprefix('torch.')} values, expected floating point")
    if not bool(torch.isfinite(value).all()):
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{where} holds {n_bad} NaN/inf value(s), expected finite numbers")
    return value


def check_finite_entries(state: object, where: str) -> Mapping[str, Any]:
    """Every tensor of a state dict floating point and finite, every float finite (nested dicts included)."""
    mapping = require_mapping(state, where)
    for key, value in mapping.items():
        name = _where(where, key)
        if isinstance(value, torch.Tensor):
            check_float_tensor(value, name)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} is {value}, expected a finite number")
        elif isinstance(value, Mapping):
            check_finite_entries(value, name)
    return mapping


def check_shape(tensor: torch.Tensor, expected: tuple[int, ...], where: str, why: str) -> None:
    """ValueError when ``tensor`` does not have shape ``expected`` (``why`` says where that shape comes from)."""
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(f"{where} has shape {tuple(tensor.shape)}, expected {tuple(expected)}: {why}")


def check_positive(tensor: torch.Tensor, where: str) -> None:
    """ValueError when an entry of ``tensor`` is zero or negative (widths, standard deviations)."""
    if tensor.numel() and not bool((tensor > 0).all()):
        raise ValueError(f"{where} has values <= 0 (smallest {float(tensor.min()):g}), expected > 0")


def check_range(tensor: torch.Tensor, low: float, high: float, where: str, what: str) -> None:
    """ValueError when an entry of ``tensor`` lies outside [low, high] (``what`` names the quantity)."""
    if tensor.numel() and not bool(((tensor >= low) & (tensor <= high)).all()):
        raise ValueError(
            f"{where} has {what} from {float(tensor.min()):g} to {float(tensor.max()):g}, expected {low:g} to {high:g}"
        )


def check_non_decreasing(tensor: torch.Tensor, where: str, strict: bool = False) -> None:
    """ValueError when ``tensor`` decreases along its last axis (quantile tables, bin positions).

    Decreases within :data:`MONOTONE_RTOL` of the table's largest magnitude are float
    rounding and pass (unless ``strict``, which requires every step to be > 0).
    """
    if tensor.dim() == 0 or tensor.shape[-1] < 2:
        return
    values = tensor.double()
    steps = values[..., 1:] - values[..., :-1]
    if strict:
        bad = steps <= 0
    else:
        bad = steps < -MONOTONE_RTOL * max(float(values.abs().max()), 1e-30)
    if bool(bad.any()):
        index = [int(i) for i in torch.nonzero(bad)[0]]
        row, column = index[:-1], index[-1]
        at = f"row {tuple(row) if len(row) > 1 else row[0]}, " if row else ""
        order = "increasing" if strict else "non-decreasing"
        raise ValueError(
            f"{where} decreases at {at}entries {column}-{column + 1} "
            f"({float(values[(*row, column)]):g} then {float(values[(*row, column + 1)]):g}), expected {order}"
        )


def check_weights(weights: object, network: nn.Module, where: str) -> Mapping[str, Any]:
    """Network weights from a checkpoint: floating point and finite where the network has floats, of its shapes.

    Entries the network lacks (or lacks from the checkpoint) are left to ``load_state_dict``,
    which names them.
    """
    mapping = require_mapping(weights, where)
    expected = network.state_dict()
    for key, value in mapping.items():
        name = _where(where, key)
        if key not in expected:
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name} is {type(value).__name__}, expected a tensor")
        if expected[key].is_floating_point():
            check_float_tensor(value, name)
        check_shape(
            value, tuple(expected[key].shape), name, "the shape in the network that the checkpoint's config describes"
        )
    return mapping


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line (whitespace folded), cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
