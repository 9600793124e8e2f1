"""The training history: losses, the game's diagnostics and the quick metrics against step."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.patches
import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from hepgan.errors import OutputError
from hepgan.validation.plot_comparison import fit_legend
from hepgan.validation.plot_style import GENERATED_COLOUR, STYLE, experiment_label, header_axes, new_figure, save_figure

log = logging.getLogger(__name__)


def _read_records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OutputError(f"{path}: cannot read training log ({exc.strerror or exc})") from None
    return [record for record in (json.loads(line) for line in lines if line.strip()) if isinstance(record, dict)]


def _columns(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    keys = list(dict.fromkeys(key for record in records for key in record))
    columns = {}
    for key in keys:
        values = [record.get(key) for record in records]
        if all(value is None or (isinstance(value, int | float) and not isinstance(value, bool)) for value in values):
            columns[key] = np.array([np.nan if value is None else float(value) for value in values])
    return columns


def read_metrics_log(path: Path) -> dict[str, np.ndarray]:
    """Numeric columns of the step records of a JSON-lines training log; missing entries are NaN.

    Records with an ``"event"`` key (a new best checkpoint, a rollback) are not step records
    and are left out (:func:`read_log_events` returns them).
    """
    return _columns([record for record in _read_records(path) if "event" not in record])


def read_log_events(path: Path) -> list[dict[str, Any]]:
    """The event records (``{"step": …, "event": "best" | "rollback", …}``) of a training log."""
    return [record for record in _read_records(path) if "event" in record]


@dataclass(frozen=True)
class HistoryPanel:
    """One panel of :func:`plot_training_history`.

    Attributes:
        title: panel title; ``keys``: log columns drawn; ``reference``: a horizontal reference
            line (and ``reference_label``); ``losses``: the GAN losses the panel belongs to
            (``None``: every loss).
    """

    title: str
    keys: tuple[str, ...]
    reference: float | None = None
    reference_label: str = ""
    losses: tuple[str, ...] | None = None


MINIMAX_LOSSES = ("minimax", "non-saturating")
HISTORY_PANELS: tuple[HistoryPanel, ...] = (
    HistoryPanel("Losses", ("d_loss", "g_loss")),
    HistoryPanel("Wasserstein estimate", ("wasserstein",), losses=("wgan-gp",)),
    HistoryPanel("Gradient penalty", ("gradient_penalty",), losses=("wgan-gp",)),
    HistoryPanel("Value V(D, G)", ("value",), -float(np.log(4.0)), "optimum $-\\log 4$", MINIMAX_LOSSES),
    HistoryPanel("Mean D output", ("d_real", "d_fake"), 0.5, "optimum 1/2", MINIMAX_LOSSES),
    HistoryPanel("MMD", ("mmd",)),
    HistoryPanel("Quick metrics", ("chi2_ndf_mean", "w1_mean", "separation_power_mean", "fpd")),
)
"""Panels of :func:`plot_training_history`."""


def history_loss_kind(columns: Mapping[str, np.ndarray]) -> str | None:
    """The GAN loss a training log comes from: ``"wgan-gp"`` (critic diagnostics), ``"minimax"``
    (minimax or non-saturating: V(D, G) and mean D outputs), or ``None`` when neither is logged."""
    if any(np.isfinite(columns[key]).any() for key in ("wasserstein", "gradient_penalty") if key in columns):
        return "wgan-gp"
    if any(np.isfinite(columns[key]).any() for key in ("value", "d_real", "d_fake") if key in columns):
        return "minimax"
    return None


def training_history_figure(metrics_jsonl_path: Path, title: str | None = None) -> Figure:
    """The figure of :func:`plot_training_history` (see there), not yet saved."""
    columns = read_metrics_log(metrics_jsonl_path)
    if "step" not in columns:
        raise ValueError(f"{metrics_jsonl_path}: no 'step' in the training log")
    events = read_log_events(metrics_jsonl_path)
    kind = history_loss_kind(columns)
    step = columns["step"]
    panels = [
        panel
        for panel in HISTORY_PANELS
        if (panel.losses is None or kind in panel.losses)
        and any(key in columns and np.isfinite(columns[key]).any() for key in panel.keys)
    ]
    rollbacks = [float(e["step"]) for e in events if e.get("event") == "rollback" and "step" in e]
    best = [float(e["step"]) for e in events if e.get("event") == "best" and "step" in e]
    if title is None:
        title = Path(metrics_jsonl_path).resolve().parent.name + (f"\n{kind} loss" if kind else "")
    with matplotlib.style.context(STYLE):
        n_columns = min(3, max(1, len(panels)))
        n_rows = max(1, -(-len(panels) // n_columns))
        figure = new_figure(6 * n_columns, 4.5 * n_rows + 0.8, STYLE)
        grid = figure.add_gridspec(n_rows + 1, n_columns, height_ratios=[0.01] + [1.0] * n_rows)
        header = header_axes(figure, grid[0, :])
        legends: list[tuple[Axes, Legend, list[np.ndarray]]] = []
        for k, panel in enumerate(panels):
            ax = figure.add_subplot(grid[1 + k // n_columns, k % n_columns])
            for key in panel.keys:
                if key in columns:
                    ok = np.isfinite(columns[key])
                    ax.plot(step[ok], columns[key][ok], label=key, linewidth=1.2)
            if panel.reference is not None:
                ax.axhline(panel.reference, color="k", linestyle="--", linewidth=1, label=panel.reference_label)
            for position in rollbacks:
                ax.axvline(position, color=GENERATED_COLOUR, linestyle=":", linewidth=1)
            if panel.title == "Quick metrics" and best:
                ax.axvline(best[-1], color="0.4", linestyle="-.", linewidth=1, label="best checkpoint")
            values = [columns[key] for key in panel.keys if key in columns]
            if panel.title == "Quick metrics" and all(np.nanmin(v) > 0 for v in values if np.isfinite(v).any()):
                ax.set_yscale("log")
            ax.set_title(panel.title, fontsize="small")
            ax.set_xlabel("step", fontsize="small")
            ax.tick_params(labelsize="x-small")
            if panel.reference is not None:
                values.append(np.full(step.shape, panel.reference))
            legends.append((ax, ax.legend(fontsize="x-small", loc="upper right"), values))
        experiment_label(header, title, fontsize=20)
        for ax, legend, values in legends:
            x = np.concatenate([step[np.isfinite(v)] for v in values])
            fit_legend(ax, legend, x, x, np.concatenate([v[np.isfinite(v)] for v in values]))
    return figure


def plot_training_history(metrics_jsonl_path: Path, out_png: Path) -> Path:
    """Losses and diagnostics vs step from a run's ``metrics.jsonl``.

    Only step records are drawn (records with an ``"event"`` key are not); rollbacks are marked
    as dotted vertical lines and the last best checkpoint in the quick-metrics panel. Panels are
    drawn for the keys present and the run's loss (:func:`history_loss_kind`): losses
    (``d_loss``, ``g_loss``); for WGAN-GP the ``wasserstein`` estimate and ``gradient_penalty``;
    for minimax/non-saturating losses the ``value`` V(D, G) with its optimum −log 4 and
    ``d_real``/``d_fake`` with their optimum ½ (Goodfellow et al., arXiv:1406.2661); ``mmd``;
    and quick metrics (:func:`hepgan.validation.metrics.quick_metrics`, log scale).

    Raises:
        ValueError: when the log has no step records.
    """
    return save_figure(training_history_figure(metrics_jsonl_path), out_png)
