"""Comparison histograms of generated against reference samples, with ratio panels, and the response per energy."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib
import matplotlib.patches
import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from hepgan.validation.histograms import histogram_counts
from hepgan.validation.observables import safe_divide
from hepgan.validation.plot_style import (
    GENERATED_COLOUR,
    LOG_Y_DECADES,
    OFF_SCALE_HIGH,
    OFF_SCALE_LOW,
    RATIO_LIMITS,
    RATIO_TICKS,
    REFERENCE_COLOUR,
    SMALL_STYLE,
    STYLE,
    _label_chars,
    experiment_label,
    header_axes,
    layout_again,
    new_figure,
    save_figure,
    wrap_label,
)

log = logging.getLogger(__name__)


def normalised_density(counts: np.ndarray, edges: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Density (per unit x, normalised to ``total`` entries) and its Poisson error per bin."""
    widths = np.diff(edges)
    scale = total * widths
    return safe_divide(counts, scale), safe_divide(np.sqrt(counts), scale)


def format_metrics(metrics: Mapping[str, Any] | None, unit: str = "") -> str:
    """Legend text such as ``χ²/ndf = 12.3/9``, ``p-value = 0.2`` and ``W1 = 0.5 mm`` from a metrics dict.

    An observable that cannot be compared (both samples constant, ``degenerate``) or a χ²
    with no degree of freedom reads "n/a".
    """
    if not metrics:
        return ""
    if metrics.get("degenerate"):
        return "$\\chi^2$/ndf, $W_1$: n/a\n(both samples constant)"
    lines = []
    chi2, ndf, p_value = metrics.get("chi2"), metrics.get("ndf"), metrics.get("p_value")
    if chi2 is not None and ndf is not None:
        if ndf < 1:
            lines.append("$\\chi^2$/ndf: n/a")
        else:
            lines.append(f"$\\chi^2$/ndf = {chi2:.3g}/{int(ndf)}")
            if p_value is not None:
                lines.append(f"p-value = {p_value:.2g}")
    if metrics.get("w1") is not None:
        lines.append(f"$W_1$ = {metrics['w1']:.3g} {unit}".rstrip())
    if metrics.get("separation_power") is not None:
        lines.append(f"separation = {metrics['separation_power']:.3g}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ComparisonHistograms:
    """Normalised reference and generated histograms of one observable and their ratio.

    Attributes:
        edges: bin edges; ``centres``: bin centres (geometric on a log x axis).
        reference, reference_error, generated, generated_error: densities per unit x (per
            decade of x with ``log_x``), normalised to all finite entries (under/overflow
            included in the normalisation, not drawn), and their Poisson errors.
        ratio, ratio_error: generated/reference and the generated error over the reference;
            ``inf`` where only the generated sample has entries, NaN where neither has.
        band: the reference's relative error (NaN where the reference is empty).
        log_x: whether the densities are per decade.
    """

    edges: np.ndarray
    centres: np.ndarray
    reference: np.ndarray
    reference_error: np.ndarray
    generated: np.ndarray
    generated_error: np.ndarray
    ratio: np.ndarray
    ratio_error: np.ndarray
    band: np.ndarray
    log_x: bool


def comparison_histograms(
    reference_values: np.ndarray, generated_values: np.ndarray, edges: np.ndarray, log_x: bool = False
) -> ComparisonHistograms:
    """Fill both samples on ``edges`` (``hist``, under/overflow kept) and normalise them to unit area."""
    edges = np.asarray(edges, dtype=np.float64)
    log_x = bool(log_x and edges[0] > 0)
    ref_counts = histogram_counts(reference_values, edges, flow=True)
    gen_counts = histogram_counts(generated_values, edges, flow=True)
    x = np.log10(edges) if log_x else edges
    ref, ref_err = normalised_density(ref_counts[1:-1], x, max(ref_counts.sum(), 1.0))
    gen, gen_err = normalised_density(gen_counts[1:-1], x, max(gen_counts.sum(), 1.0))
    ratio = safe_divide(gen, ref, fill=np.nan)
    ratio[(ref <= 0) & (gen > 0)] = np.inf
    centres = np.sqrt(edges[1:] * edges[:-1]) if log_x else 0.5 * (edges[1:] + edges[:-1])
    return ComparisonHistograms(
        edges=edges,
        centres=centres,
        reference=ref,
        reference_error=ref_err,
        generated=gen,
        generated_error=gen_err,
        ratio=ratio,
        ratio_error=safe_divide(gen_err, ref, fill=np.nan),
        band=safe_divide(ref_err, ref, fill=np.nan),
        log_x=log_x,
    )


def use_log_y(reference_density: np.ndarray, decades: float = LOG_Y_DECADES) -> bool:
    """Whether the non-zero reference densities span more than ``decades`` decades."""
    positive = np.asarray(reference_density, dtype=np.float64)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    return positive.size >= 2 and float(np.log10(positive.max() / positive.min())) > decades


def draw_ratio(
    ax: Axes,
    centres: np.ndarray,
    ratio: np.ndarray,
    ratio_error: np.ndarray,
    *,
    limits: tuple[float, float] = RATIO_LIMITS,
    markersize: float = 4.0,
    ticks: Sequence[float] = RATIO_TICKS,
) -> None:
    """Ratio points in ``limits``; points above (below) as ▲ (▼) just inside the top (bottom) edge.

    The triangles carry the ``gid`` :data:`OFF_SCALE_HIGH` / :data:`OFF_SCALE_LOW`; an infinite
    ratio (generated entries over an empty reference bin) counts as above.
    """
    low, high = limits
    ratio = np.asarray(ratio, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(ratio) & (ratio >= low) & (ratio <= high)
        above, below = ratio > high, ratio < low
    ax.errorbar(
        centres[inside],
        ratio[inside],
        yerr=np.nan_to_num(ratio_error[inside]),
        fmt="o",
        markersize=markersize,
        color=GENERATED_COLOUR,
    )
    margin = 0.06 * (high - low)
    for mask, y, marker, gid in (
        (above, high - margin, "^", OFF_SCALE_HIGH),
        (below, low + margin, "v", OFF_SCALE_LOW),
    ):
        if np.any(mask):
            (line,) = ax.plot(
                centres[mask],
                np.full(int(mask.sum()), y),
                linestyle="none",
                marker=marker,
                markersize=1.6 * markersize,
                color=GENERATED_COLOUR,
            )
            line.set_gid(gid)
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_ylim(low, high)
    ax.set_yticks([tick for tick in ticks if low < tick < high])


def _draw_comparison(
    top: Axes,
    bottom: Axes,
    histograms: ComparisonHistograms,
    *,
    log_y: bool,
    markersize: float,
    reference_label: str = "Reference",
    generated_label: str = "Generated",
    ratio_ticks: Sequence[float] = RATIO_TICKS,
) -> np.ndarray:
    """Reference (filled) and generated (markers) densities on ``top``, their ratio on ``bottom``.

    Returns the per-bin tops of what is drawn (reference value, generated value + error),
    for :func:`fit_legend`.
    """
    h = histograms
    shown = h.generated.copy()
    shown[(h.generated <= 0) & ((h.reference <= 0) | log_y)] = np.nan  # no marker at 0 on a log axis
    mplhep.histplot(
        h.reference, h.edges, ax=top, histtype="fill", color=REFERENCE_COLOUR, label=reference_label, flow="none"
    )
    mplhep.histplot(
        shown,
        h.edges,
        yerr=np.where(np.isfinite(shown), h.generated_error, 0.0),
        ax=top,
        histtype="errorbar",
        color=GENERATED_COLOUR,
        label=generated_label,
        markersize=markersize,
        flow="none",
    )
    band = np.nan_to_num(h.band)
    bottom.stairs(1 + band, h.edges, baseline=1 - band, fill=True, color="0.8")
    draw_ratio(bottom, h.centres, h.ratio, h.ratio_error, markersize=markersize, ticks=ratio_ticks)
    if h.log_x:
        bottom.set_xscale("log")
    bottom.set_xlim(h.edges[0], h.edges[-1])
    tops = np.fmax(h.reference, np.nan_to_num(shown + h.generated_error, nan=0.0))
    if log_y:
        top.set_yscale("log")
        positive = np.concatenate([h.reference[h.reference > 0], shown[np.isfinite(shown) & (shown > 0)]])
        high = float(tops.max()) if tops.size and tops.max() > 0 else 1.0
        low = float(positive.min()) / 2.0 if positive.size else high / 10.0
        top.set_ylim(max(low, high * 1e-7), high * 2.0)
    else:
        high = float(tops.max()) if tops.size and tops.max() > 0 else 1.0
        top.set_ylim(0.0, high * 1.08)
        top.ticklabel_format(axis="y", style="plain", useOffset=False)  # no offset text under the label
    top.tick_params(labelbottom=False)
    return tops


def fit_legend(ax: Axes, legend: Legend, x_low: np.ndarray, x_high: np.ndarray, tops: np.ndarray) -> None:
    """Put ``legend`` in the upper corner needing less headroom and raise the y limit so no data reaches under it.

    The data are given as x ranges (``x_low`` to ``x_high``, equal for points) and the highest
    y drawn over each (``tops``), in data coordinates. Needs the axes at their final size:
    call it after the figure's layout has run (as :func:`experiment_label` does).
    """
    figure = ax.get_figure()
    if not isinstance(figure, Figure):
        return
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    box, frame = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    pad = legend.borderaxespad * legend.prop.get_size_in_points() * figure.dpi / 72.0
    width = min(1.0, (box.width + 2 * pad) / frame.width)
    ceiling = max(0.3, 1.0 - (box.height + 2 * pad) / frame.height)
    log_y = ax.get_yscale() == "log"
    x_scale = np.log10 if ax.get_xscale() == "log" else (lambda v: v)
    x_start, x_end = (float(x_scale(np.float64(v))) for v in ax.get_xlim())
    with np.errstate(divide="ignore", invalid="ignore"):
        x_low = (x_scale(np.asarray(x_low, dtype=np.float64)) - x_start) / (x_end - x_start)
        x_high = (x_scale(np.asarray(x_high, dtype=np.float64)) - x_start) / (x_end - x_start)
    y_low, y_high = ax.get_ylim()
    scale = np.log10 if log_y else (lambda v: v)
    base = scale(y_low)
    values = np.asarray(tops, dtype=np.float64)
    positive = np.isfinite(values) & np.isfinite(x_low) & np.isfinite(x_high) & (values > (0 if log_y else y_low))
    best: tuple[float, Literal["upper right", "upper left"]] | None = None
    corners: tuple[tuple[Literal["upper right", "upper left"], np.ndarray], ...] = (
        ("upper right", x_high > 1.0 - width),
        ("upper left", x_low < width),
    )
    for loc, covered in corners:
        under = covered & positive
        needed = scale(y_high)
        if np.any(under):
            needed = max(needed, base + (float(np.max(scale(values[under]))) - base) / ceiling)
        if best is None or needed < best[0] - 1e-12:
            best = (needed, loc)
    assert best is not None
    legend.set_loc(best[1])
    before = _longest_tick_label(ax.yaxis)
    ax.set_ylim(y_low, 10.0 ** best[0] if log_y else best[0])
    if _longest_tick_label(ax.yaxis) != before:
        layout_again(figure)  # wider or narrower tick labels: lay out again before saving


def _longest_tick_label(axis: Any) -> int:
    """Length of the longest major tick label ``axis`` shows in its current view."""
    low, high = sorted(axis.get_view_interval())
    locations = [float(v) for v in axis.get_major_locator()() if low <= v <= high]
    return max((len(text) for text in axis.get_major_formatter().format_ticks(locations)), default=0)


def comparison_figure(
    reference_values: np.ndarray,
    generated_values: np.ndarray,
    edges: np.ndarray,
    label: str,
    *,
    metrics: Mapping[str, Any] | None = None,
    unit: str = "",
    log_x: bool = False,
    log_y: bool | None = None,
    reference_label: str = "Reference",
    generated_label: str = "Generated",
    title: str | None = None,
) -> Figure:
    """The figure of :func:`plot_comparison` (see there), not yet saved."""
    histograms = comparison_histograms(reference_values, generated_values, edges, log_x)
    if log_y is None:
        log_y = histograms.log_x or use_log_y(histograms.reference)
    with matplotlib.style.context(STYLE):
        figure = new_figure(8, 8, STYLE, h_pad=0.02, hspace=0.0)
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        tops = _draw_comparison(
            top,
            bottom,
            histograms,
            log_y=log_y,
            markersize=5,
            reference_label=reference_label,
            generated_label=generated_label,
        )
        per = "d\\log_{10}x" if histograms.log_x else "dx"
        y_unit = "" if histograms.log_x or not unit else f" [1/{unit}]"
        top.set_ylabel(f"$1/N\\,dN/{per}${y_unit}")
        handles, texts = top.get_legend_handles_labels()
        extra = format_metrics(metrics, unit)
        if extra:
            handles.append(Line2D([], [], linestyle="none"))
            texts.append(extra)
        legend = top.legend(handles, texts, loc="upper right", fontsize=17, handlelength=1.2, borderaxespad=0.4)
        bottom.set_ylabel("Gen./Ref.")
        bottom.set_xlabel(wrap_label(label, _label_chars(7.0, 26)))
        experiment_label(top, title or "", fontsize=18)
        fit_legend(top, legend, histograms.edges[:-1], histograms.edges[1:], tops)
    return figure


def plot_comparison(
    reference_values: np.ndarray,
    generated_values: np.ndarray,
    edges: np.ndarray,
    label: str,
    path: Path,
    *,
    metrics: Mapping[str, Any] | None = None,
    unit: str = "",
    log_x: bool = False,
    log_y: bool | None = None,
    reference_label: str = "Reference",
    generated_label: str = "Generated",
    title: str | None = None,
) -> Path:
    """Normalised histograms of one observable with a generated/reference ratio panel.

    The reference is drawn filled, the generated sample as markers with Poisson errors;
    both are normalised to unit area over all their finite entries (under/overflow count
    in the normalisation but are not drawn), as densities per unit x, or per decade with
    ``log_x``. The ratio panel shows generated/reference in :data:`RATIO_LIMITS` with the
    reference's relative statistical uncertainty as a grey band around 1 and off-scale ratios
    as triangles at the edges.

    Args:
        reference_values, generated_values: per-entry values.
        edges: bin edges (e.g. from :func:`hepgan.validation.histograms.common_edges`).
        label: x-axis label (mathtext allowed; wrapped when long).
        path: PNG file to write.
        metrics: optional results (``chi2``, ``ndf``, ``p_value``, ``w1``, ``separation_power``,
            ``degenerate``) shown in the legend.
        unit: unit of the values, for the W1 legend entry and the density's unit.
        log_x: log x axis (positive edges only).
        log_y: log y axis; ``None`` chooses it (:func:`use_log_y`, or always with a log x axis).
        title: the experiment label's right-hand text (sample, energy range).

    Returns:
        ``path``.
    """
    figure = comparison_figure(
        reference_values,
        generated_values,
        edges,
        label,
        metrics=metrics,
        unit=unit,
        log_x=log_x,
        log_y=log_y,
        reference_label=reference_label,
        generated_label=generated_label,
        title=title,
    )
    return save_figure(figure, path)


def comparison_grid_figure(
    panels: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, str]],
    label: str,
    *,
    log_x: bool = False,
    n_columns: int = 5,
    title: str | None = None,
) -> Figure:
    """The figure of :func:`plot_comparison_grid` (see there), not yet saved."""
    n_columns = max(1, min(n_columns, len(panels)))
    n_rows = max(1, -(-len(panels) // n_columns))
    with matplotlib.style.context(SMALL_STYLE):
        figure = new_figure(3.2 * n_columns, 3.4 * n_rows + 0.5, SMALL_STYLE, h_pad=0.01, hspace=0.0)
        outer = figure.add_gridspec(n_rows + 1, n_columns, height_ratios=[0.02] + [1.0] * n_rows)
        header = header_axes(figure, outer[0, :])
        xlabel = wrap_label(label, _label_chars(2.8, 9))
        for k, (reference_values, generated_values, edges, panel_title) in enumerate(panels):
            row, column = divmod(k, n_columns)
            inner = outer[row + 1, column].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.0)
            top = figure.add_subplot(inner[0])
            bottom = figure.add_subplot(inner[1], sharex=top)
            histograms = comparison_histograms(reference_values, generated_values, edges, log_x)
            log_y = histograms.log_x or use_log_y(histograms.reference)
            _draw_comparison(top, bottom, histograms, log_y=log_y, markersize=2, ratio_ticks=(0.6, 1.0, 1.4))
            top.set_title(panel_title, fontsize="small", parse_math=False)
            bottom.set_xlabel(xlabel, fontsize="small")
            if column == 0:
                bottom.set_ylabel("Gen./Ref.", fontsize="small")
                top.set_ylabel("$1/N\\,dN/d\\log_{10}x$" if histograms.log_x else "$1/N\\,dN/dx$", fontsize="small")
        handles = [
            matplotlib.patches.Patch(color=REFERENCE_COLOUR, label="Reference"),
            Line2D([], [], marker="o", linestyle="none", color=GENERATED_COLOUR, label="Generated"),
            Line2D([], [], marker="^", linestyle="none", color=GENERATED_COLOUR, label="ratio off scale"),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=10)
        experiment_label(header, title or "", fontsize=11)
    return figure


def plot_comparison_grid(
    panels: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, str]],
    label: str,
    path: Path,
    *,
    log_x: bool = False,
    n_columns: int = 5,
    title: str | None = None,
) -> Path:
    """Small multiples: one normalised reference/generated comparison with ratio panel per entry.

    Used for an observable in every incident-energy bin (one figure instead of one per bin).
    Each panel is drawn as in :func:`plot_comparison` (log y by the same rule, off-scale
    ratios as edge triangles); the experiment label sits in a header row, the legend below the panels.

    Args:
        panels: (reference values, generated values, bin edges, panel title) per panel.
        label: x-axis label (mathtext allowed).
        title: the experiment label's right-hand text (sample, energy range).
    """
    return save_figure(comparison_grid_figure(panels, label, log_x=log_x, n_columns=n_columns, title=title), path)


# ----------------------------------------------------------------------------- response per energy
def plot_response_per_energy(
    energies_mev: np.ndarray,
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    path: Path,
    *,
    quantity: str = "$E_{tot}/E_{inc}$",
    title: str | None = None,
) -> Path:
    """Mean and width of a response (e.g. E_tot/E_inc) per incident-energy bin, with ratios.

    Args:
        energies_mev: (k,) representative incident energy of each bin in MeV.
        reference, generated: arrays ``mean``, ``mean_err``, ``width``, ``width_err`` (k,) each.
        path: PNG file to write.
        title: the experiment label's right-hand text (sample, energy range).
    """
    energies_gev = np.asarray(energies_mev, dtype=np.float64) / 1000.0
    with matplotlib.style.context(STYLE):
        figure = new_figure(16, 9, STYLE, h_pad=0.02, hspace=0.0)
        grid = figure.add_gridspec(3, 2, height_ratios=[0.01, 3, 1])
        header = header_axes(figure, grid[0, :])
        for column, (key, name) in enumerate((("mean", "Mean"), ("width", "Width (rms)"))):
            top = figure.add_subplot(grid[1, column])
            bottom = figure.add_subplot(grid[2, column], sharex=top)
            for sample, colour, text, marker in (
                (reference, "k", "Reference", "s"),
                (generated, GENERATED_COLOUR, "Generated", "o"),
            ):
                top.errorbar(energies_gev, sample[key], yerr=sample[f"{key}_err"], fmt=marker, color=colour, label=text)
            ratio = safe_divide(generated[key], reference[key], fill=np.nan)
            ratio_err = ratio * np.hypot(
                safe_divide(generated[f"{key}_err"], generated[key], fill=np.nan),
                safe_divide(reference[f"{key}_err"], reference[key], fill=np.nan),
            )
            bottom.errorbar(energies_gev, ratio, yerr=ratio_err, fmt="o", color=GENERATED_COLOUR)
            bottom.axhline(1.0, color="k", linewidth=1)
            bottom.set_ylabel("Gen./Ref.")
            bottom.set_xlabel("Incident energy [GeV]")
            top.set_ylabel(f"{name} of {quantity}")
            top.tick_params(labelbottom=False)
            top.legend(loc="best", fontsize="small")
            if np.all(energies_gev > 0) and energies_gev.max() > 10 * energies_gev.min():
                bottom.set_xscale("log")
        experiment_label(header, title or "", fontsize=20)
        return save_figure(figure, path)


# ----------------------------------------------------------------------------- layer images in mm
