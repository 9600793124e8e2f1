"""Keeping the shower report readable with many layers (45 in CaloChallenge datasets 2 and 3).

Per-layer observables (``<base>_<layer id>``, :mod:`hepgan.validation.observables`) are shown
in groups of :data:`LAYER_GROUP_SIZE` consecutive layers, and summarised by
:func:`per_layer_summary`: for each base observable its χ²/ndf, normalised W1 and verdict in
every layer, the layer with the largest χ²/ndf and the number of failed layers. The
summary is drawn as a heat map of χ²/ndf (rows: base observables, columns: layers) by
:func:`plot_per_layer_summary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.validation import plot_style
from hepgan.validation.plot_style import SMALL_STYLE, experiment_label, figure_style, new_figure

LAYER_GROUP_SIZE = 5
"""Consecutive layers per group in the report's observable tables and plot sections."""


def split_layer_name(name: str) -> tuple[str, int] | None:
    """(base, layer id) of a per-layer observable name such as ``"width_x_12"``; None for a global one."""
    base, _, suffix = name.rpartition("_")
    if base and suffix.lstrip("-").isdigit():
        return base, int(suffix)
    return None


def layer_groups(layer_ids: Sequence[int], size: int = LAYER_GROUP_SIZE) -> list[tuple[str, list[int]]]:
    """Consecutive runs of ``size`` layer ids (in the given order) with their labels, e.g. ``"layers 0-4"``."""
    ids = list(layer_ids)
    groups = []
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        label = f"layer {part[0]}" if len(part) == 1 else f"layers {part[0]}-{part[-1]}"
        groups.append((label, part))
    return groups


def group_names(names: Sequence[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Split observable names into the global ones and per-layer ones grouped by layer group.

    Within a group the names are ordered by layer, then by base observable (in the order of ``names``).
    """
    global_names = [name for name in names if split_layer_name(name) is None]
    per_layer = [(name, split_layer_name(name)) for name in names]
    layer_ids = sorted({parsed[1] for _, parsed in per_layer if parsed is not None})
    bases = list(dict.fromkeys(parsed[0] for _, parsed in per_layer if parsed is not None))
    present = {parsed: name for name, parsed in per_layer if parsed is not None}
    groups = []
    for label, ids in layer_groups(layer_ids):
        chosen = [present[(base, i)] for i in ids for base in bases if (base, i) in present]
        groups.append((label, chosen))
    return global_names, groups


def per_layer_summary(observables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """χ²/ndf, normalised W1 and verdict of every per-layer observable, as lists over layers per base.

    Args:
        observables: the report's ``observables`` entries (name → entry with ``overall``).

    Returns:
        ``layers`` (sorted ids), ``bases``, and per base: ``chi2_ndf``, ``w1_normalised``, ``verdict``
        (one value per layer, None where not compared), ``worst_layer`` (largest χ²/ndf) and ``n_fail``.
        Empty when there are no per-layer observables.
    """
    parsed = {name: split_layer_name(name) for name in observables}
    layer_ids = sorted({p[1] for p in parsed.values() if p is not None})
    bases = list(dict.fromkeys(p[0] for p in parsed.values() if p is not None))
    if not layer_ids:
        return {}
    column = {layer_id: i for i, layer_id in enumerate(layer_ids)}
    rows: dict[str, dict[str, Any]] = {
        base: {
            "chi2_ndf": [None] * len(layer_ids),
            "w1_normalised": [None] * len(layer_ids),
            "verdict": ["n/a"] * len(layer_ids),
        }
        for base in bases
    }
    for name, key in parsed.items():
        if key is None:
            continue
        overall = observables[name]["overall"]
        row, i = rows[key[0]], column[key[1]]
        compared = not (overall.get("degenerate") or overall.get("skipped"))
        row["chi2_ndf"][i] = overall.get("chi2_ndf") if compared else None
        row["w1_normalised"][i] = overall.get("w1_normalised") if compared else None
        row["verdict"][i] = overall.get("verdict", "n/a")
    for row in rows.values():
        values = [(v, layer_ids[i]) for i, v in enumerate(row["chi2_ndf"]) if v is not None and np.isfinite(v)]
        row["worst_layer"] = max(values)[1] if values else None
        row["worst_chi2_ndf"] = max(values)[0] if values else None
        row["n_fail"] = sum(1 for v in row["verdict"] if v == "fail")
    return {"layers": layer_ids, "bases": bases, "per_base": rows}


def plot_per_layer_summary(summary: Mapping[str, Any], path: Path, title: str = "") -> Path:
    """Heat map of χ²/ndf (log10 colour scale) per base observable (rows) and layer (columns); grey: not compared."""
    layers, bases = summary["layers"], summary["bases"]
    values = np.array(
        [[np.nan if v is None else float(v) for v in summary["per_base"][base]["chi2_ndf"]] for base in bases],
        dtype=np.float64,
    )
    logged = np.log10(np.clip(values, 1e-2, None))
    width = min(4.0 + 0.22 * len(layers), 16.0)
    figure = new_figure(width, 1.6 + 0.32 * len(bases), SMALL_STYLE)
    with figure_style(figure):
        ax = figure.add_subplot()
        cmap = _colour_map()
        image = ax.imshow(np.ma.masked_invalid(logged), aspect="auto", cmap=cmap, vmin=-1.0, vmax=2.0)
        ax.set_yticks(range(len(bases)), bases)
        step = max(1, len(layers) // 15)
        ticks = list(range(0, len(layers), step))
        ax.set_xticks(ticks, [str(layers[i]) for i in ticks])
        ax.set_xlabel("layer")
        colour_bar = figure.colorbar(image, ax=ax)
        colour_bar.set_label(r"$\log_{10}(\chi^2/\mathrm{ndf})$")
        experiment_label(ax, title)
    return plot_style.save_figure(figure, path)  # looked up at call time: the report's figure checks replace it


def _colour_map() -> Any:
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad="#dddddd")
