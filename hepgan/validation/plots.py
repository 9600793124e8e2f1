"""Comparison plots of generated against reference samples (mplhep style, PNG output).

Figures are built as :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas,
without pyplot, so no interactive backend is touched and no figure stays registered after
saving. The CMS style from mplhep is used with mathtext only (no LaTeX installation needed),
with constrained layout so that labels, tick labels and colour bars fit inside the figure.

Conventions shared by every figure:

- an experiment label above the (first) axes: "hepgan" in bold, "Simulation" in italics, and
  on the right the sample (geometry or process) and its energy range
  (:func:`experiment_label`, ``mplhep.label.exp_label``);
- comparison histograms (:func:`comparison_figure`, :func:`plot_comparison_grid`) show the
  reference filled and the generated sample as markers with Poisson errors, both normalised
  to unit area, as a density per unit x (per decade of x on a log-x axis). The y axis is
  logarithmic when the x axis is, or when the reference densities span more than
  :data:`LOG_Y_DECADES` decades (:func:`use_log_y`). The ratio panel generated/reference is
  drawn in :data:`RATIO_LIMITS` with the reference's relative statistical error as a grey
  band; ratios off that scale are drawn as triangles at the panel edge (▲ above, ▼ below);
- the legend goes into the upper corner that needs the least extra headroom, and the y range
  is extended until no histogram bin reaches under the legend;
- layer images (:func:`plot_average_layer_images`, :func:`plot_latent_walk`) are drawn in
  the calorimeter's own transverse geometry in mm: polar layers as rings and wedges from
  their ``r_edges`` and ``n_alpha`` sectors, Cartesian layers on their x–y grid. Colours show
  the energy density in MeV/mm².
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import weakref
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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from hepgan.errors import OutputError
from hepgan.io.geometry import CaloGeometry, Layer
from hepgan.validation.histograms import histogram_counts
from hepgan.validation.observables import safe_divide

log = logging.getLogger(__name__)

STYLE = {**mplhep.style.CMS, "text.usetex": False, "figure.dpi": 100, "savefig.dpi": 100}
SMALL_STYLE = {
    **STYLE,
    "font.size": 9,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "axes.linewidth": 1.0,
    "xtick.major.width": 1.0,
    "ytick.major.width": 1.0,
    "xtick.major.size": 5.0,
    "ytick.major.size": 5.0,
}
IMAGE_STYLE = {**SMALL_STYLE, "font.size": 11}
COLOUR_BAR_WIDTH = 0.06
"""Width of a colour bar column next to layer images, relative to an image column."""
REFERENCE_COLOUR = "#9ecae1"
GENERATED_COLOUR = "#d62728"
EXPERIMENT = "hepgan"
STATUS = "Simulation"
RLABEL_CHARS = 30
"""Longest line of the experiment label's right-hand text (longer lines are wrapped)."""
RATIO_LIMITS = (0.5, 1.5)
"""y range of the generated/reference ratio panels; ratios outside it are drawn as edge triangles."""
RATIO_TICKS = (0.6, 0.8, 1.0, 1.2, 1.4)
LOG_Y_DECADES = 2.0
"""A comparison histogram gets a log y axis when its non-zero reference densities span more decades."""
OFF_SCALE_HIGH = "off_scale_high"
OFF_SCALE_LOW = "off_scale_low"
"""``gid`` of the triangle markers for ratios above and below :data:`RATIO_LIMITS`."""
PARTICLE_SYMBOLS = {
    "photon": r"$\gamma$",
    "electron": "$e^-$",
    "positron": "$e^+$",
    "pion": r"$\pi^+$",
    "pi+": r"$\pi^+$",
    "pi-": r"$\pi^-$",
}


# ----------------------------------------------------------------------------- figure plumbing
_FIGURE_STYLES: weakref.WeakKeyDictionary[Figure, Mapping[str, Any]] = weakref.WeakKeyDictionary()
_LAID_OUT: weakref.WeakSet[Figure] = weakref.WeakSet()
"""Figures whose constrained layout has run since their last change that could move the axes."""


def _new_figure(
    width: float,
    height: float,
    style: Mapping[str, Any],
    *,
    h_pad: float | None = None,
    hspace: float | None = None,
) -> Figure:
    """A figure with constrained layout on its own Agg canvas (``h_pad``, ``hspace``: the layout's vertical spacing).

    ``style`` (the rcParams the figure is built under) is remembered: tick labels made while
    laying out or saving the figure take their sizes from it (:func:`figure_style`).
    """
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    _FIGURE_STYLES[figure] = style
    engine = figure.get_layout_engine()
    if engine is not None and (h_pad is not None or hspace is not None):
        engine.set(**{key: value for key, value in (("h_pad", h_pad), ("hspace", hspace)) if value is not None})
    return figure


def figure_style(figure: Figure) -> contextlib.AbstractContextManager[Any]:
    """The rcParams context ``figure`` was built under (the CMS-based :data:`STYLE` by default)."""
    return matplotlib.style.context(dict(_FIGURE_STYLES.get(figure, STYLE)))


def _run_layout(figure: Figure) -> None:
    """Place the axes by the figure's constrained layout (no drawing)."""
    engine = figure.get_layout_engine()
    if engine is not None:
        with figure_style(figure):
            engine.execute(figure)
        _LAID_OUT.add(figure)


def finalise_layout(figure: Figure) -> None:
    """Fix the figure's constrained layout (running it unless it is current) and remove the engine.

    Saving then draws the figure once instead of laying it out again for every draw.
    """
    if figure.get_layout_engine() is not None:
        if figure not in _LAID_OUT:
            _run_layout(figure)
        figure.set_layout_engine(None)


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    try:
        finalise_layout(figure)
        path.parent.mkdir(parents=True, exist_ok=True)
        with figure_style(figure):
            figure.savefig(path, format="png")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write plot ({exc.strerror or exc})") from None
    finally:
        figure.clear()
    log.debug("wrote %s", path)
    return path


def experiment_label(ax: Axes, rlabel: str = "", fontsize: float | str | None = None) -> None:
    """Experiment label: "hepgan Simulation" above ``ax`` at the left, ``rlabel`` (sample, energy range) at the right.

    Drawn with ``mplhep.label.exp_label`` (location 0: above the axes), in the same form on
    every hepgan figure. Call it when everything else that takes room is on the figure:
    "Simulation" is placed against the axes width the layout gives. mplhep draws the figure
    to know that width; here a pass of the figure's layout engine stands in for that draw,
    which gives the same axes positions at a fraction of the cost (and leaves the figure
    laid out for :func:`finalise_layout`). Lines of ``rlabel`` longer than
    :data:`RLABEL_CHARS` are wrapped.
    """
    figure = ax.get_figure()
    canvas = figure.canvas if isinstance(figure, Figure) else None
    if isinstance(figure, Figure) and canvas is not None and figure.get_layout_engine() is not None:
        canvas.draw = lambda *args, **kwargs: _run_layout(figure)  # type: ignore[method-assign]
    try:
        mplhep.label.exp_label(
            exp=EXPERIMENT,
            llabel=f" {STATUS}",
            rlabel="\n".join(wrap_label(line, RLABEL_CHARS) for line in (rlabel or "").split("\n")),
            com=None,
            loc=0,
            ax=ax,
            fontsize=fontsize,
            scilocator_adjust=False,
        )
    finally:
        if canvas is not None and "draw" in vars(canvas):
            del canvas.draw


def _header(figure: Figure, slot: SubplotSpec) -> Axes:
    """An invisible full-width axes in ``slot`` for the experiment label of a multi-panel figure."""
    ax = figure.add_subplot(slot)
    ax.set_axis_off()
    return ax


def sample_label(name: str, particle: str = "", energy_range_mev: tuple[float, float] | None = None) -> str:
    """Right-hand label text: the sample's name, then its particle and incident-energy range in GeV."""
    details = " ".join(
        part
        for part in (
            PARTICLE_SYMBOLS.get(particle.lower(), particle) if particle else "",
            _energy_range_text(energy_range_mev) if energy_range_mev is not None else "",
        )
        if part
    )
    return f"{name}\n{details}" if details else name


def _gev(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _energy_range_text(energy_range_mev: tuple[float, float]) -> str:
    low, high = (value / 1000.0 for value in energy_range_mev)
    return f"{_gev(low)} GeV" if math.isclose(low, high) else f"{_gev(low)}–{_gev(high)} GeV"


def _visible_length(text: str) -> int:
    """Rough printed length of a mathtext string (commands, braces and ``$`` dropped)."""
    return len(re.sub(r"\\[A-Za-z]+|[${}^_]", "", text))


def wrap_label(label: str, max_chars: int) -> str:
    """``label`` broken into lines of at most ``max_chars`` printed characters, never inside ``$…$``."""
    words: list[str] = []
    current, in_math = "", False
    for char in label:
        if char == "$":
            in_math = not in_math
        if char == " " and not in_math:
            words.append(current)
            current = ""
        else:
            current += char
    words.append(current)
    lines: list[str] = []
    for word in (w for w in words if w):
        if lines and _visible_length(lines[-1]) + 1 + _visible_length(word) <= max_chars:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def _label_chars(width_in: float, fontsize_pt: float) -> int:
    """How many characters of a label fit in ``width_in`` inches at ``fontsize_pt``."""
    return max(12, int(width_in * 72.0 / (0.55 * fontsize_pt)))


# ----------------------------------------------------------------------------- comparison histograms
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
        _LAID_OUT.discard(figure)  # wider or narrower tick labels: lay out again before saving


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
        figure = _new_figure(8, 8, STYLE, h_pad=0.02, hspace=0.0)
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
    return _save(figure, path)


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
        figure = _new_figure(3.2 * n_columns, 3.4 * n_rows + 0.5, SMALL_STYLE, h_pad=0.01, hspace=0.0)
        outer = figure.add_gridspec(n_rows + 1, n_columns, height_ratios=[0.02] + [1.0] * n_rows)
        header = _header(figure, outer[0, :])
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
    return _save(comparison_grid_figure(panels, label, log_x=log_x, n_columns=n_columns, title=title), path)


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
        figure = _new_figure(16, 9, STYLE, h_pad=0.02, hspace=0.0)
        grid = figure.add_gridspec(3, 2, height_ratios=[0.01, 3, 1])
        header = _header(figure, grid[0, :])
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
        return _save(figure, path)


# ----------------------------------------------------------------------------- layer images in mm
def layer_cell_areas(layer: Layer) -> np.ndarray:
    """Transverse area (mm²) of each cell of ``layer``, shaped like its image (:attr:`Layer.shape`)."""
    if layer.kind == "polar":
        r_edges = np.asarray(layer.r_edges, dtype=np.float64)
        rings = np.pi * np.diff(r_edges**2) / layer.n_alpha
        return np.broadcast_to(rings, layer.shape).copy()
    widths, heights = np.diff(np.asarray(layer.x_edges)), np.diff(np.asarray(layer.y_edges))
    return np.outer(heights, widths)


def _display_radius(layer: Layer, image: np.ndarray, containment: float = 0.98) -> float:
    """Smallest r edge holding ``containment`` of a polar layer's energy (at least its second edge)."""
    r_edges = np.asarray(layer.r_edges, dtype=np.float64)
    per_ring = np.asarray(image, dtype=np.float64).sum(axis=0)
    total = per_ring.sum()
    if total <= 0:
        return float(r_edges[-1])
    inside = np.cumsum(per_ring) / total
    index = int(np.searchsorted(inside, containment - 1e-12)) + 1
    return float(r_edges[min(max(index, 2), len(r_edges) - 1)])


def draw_layer(
    ax: Axes, layer: Layer, values: np.ndarray, *, norm: Normalize | None, cmap: Any, radius: float | None = None
) -> QuadMesh:
    """Draw one layer's per-cell ``values`` (image shape) in mm in its own geometry; returns the mesh.

    Polar layers: ``pcolormesh`` on an x–y grid of wedges (each azimuthal sector subdivided so
    that arcs look round), shown out to ``radius``; Cartesian layers: their x–y grid.
    Masked values show in the colour map's "bad" colour.
    """
    values = np.ma.asarray(values)
    if layer.kind == "polar":
        r_edges = np.asarray(layer.r_edges, dtype=np.float64)
        steps = max(1, math.ceil(96 / layer.n_alpha))
        theta = np.linspace(0.0, 2.0 * np.pi, layer.n_alpha * steps + 1)
        tt, rr = np.meshgrid(theta, r_edges, indexing="ij")
        mesh = ax.pcolormesh(
            rr * np.cos(tt), rr * np.sin(tt), np.ma.repeat(values, steps, axis=0), norm=norm, cmap=cmap, shading="flat"
        )
        limit = float(r_edges[-1] if radius is None else radius)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    else:
        mesh = ax.pcolormesh(np.asarray(layer.x_edges), np.asarray(layer.y_edges), values, norm=norm, cmap=cmap)
    ax.set_aspect("equal")
    return mesh


def _log_norm(*images: np.ndarray, dynamic_range: float = 1e5) -> LogNorm | Normalize:
    """Log colour scale over the positive values (at most ``dynamic_range``); linear when they span < 10×."""
    positive = np.concatenate([np.ma.compressed(np.ma.masked_less_equal(image, 0)) for image in images])
    if positive.size == 0:
        return Normalize(0.0, 1.0)
    high = float(positive.max())
    low = max(float(positive.min()), high / dynamic_range)
    if high < 10.0 * low:
        return Normalize(0.0, high)
    return LogNorm(vmin=low, vmax=high)


def _ratio_range(ratio: np.ndarray) -> float:
    """Half-width of the ratio colour scale around 1: a round value covering 95 % of the cells."""
    deviations = np.abs(np.ma.compressed(ratio) - 1.0)
    deviations = deviations[np.isfinite(deviations)]
    spread = float(np.quantile(deviations, 0.95)) if deviations.size else 0.0
    for step in (0.02, 0.05, 0.1, 0.2, 0.5):
        if spread <= step:
            return step
    return 1.0


def _cells_shown(layer: Layer, radius: float | None) -> np.ndarray:
    """Cells of ``layer`` inside the displayed radius (all cells of a Cartesian layer)."""
    if layer.kind != "polar" or radius is None:
        return np.ones(layer.shape, dtype=bool)
    inner = np.asarray(layer.r_edges[:-1], dtype=np.float64)
    return np.broadcast_to(inner < radius, layer.shape)


def average_layer_images_figure(
    reference_mean: np.ndarray,
    generated_mean: np.ndarray,
    geometry: CaloGeometry,
    labels: Sequence[str] = ("Reference", "Generated"),
    title: str | None = None,
) -> Figure:
    """The figure of :func:`plot_average_layer_images` (see there), not yet saved."""
    ref_images = geometry.layer_images(np.asarray(reference_mean, dtype=np.float64)[None, :])
    gen_images = geometry.layer_images(np.asarray(generated_mean, dtype=np.float64)[None, :])
    energy_cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.9")
    ratio_cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.8")
    with matplotlib.style.context(IMAGE_STYLE):
        figure = _new_figure(10.2, 2.9 * geometry.n_layers + 0.7, IMAGE_STYLE)
        grid = figure.add_gridspec(
            geometry.n_layers + 1,
            5,
            height_ratios=[0.01] + [1.0] * geometry.n_layers,
            width_ratios=[1.0, 1.0, COLOUR_BAR_WIDTH, 1.0, COLOUR_BAR_WIDTH],
        )
        header = _header(figure, grid[0, :])
        for row, layer in enumerate(geometry.layers):
            areas = layer_cell_areas(layer)
            ref_density = ref_images[row][0] / areas
            gen_density = gen_images[row][0] / areas
            radius = _display_radius(layer, ref_images[row][0]) if layer.kind == "polar" else None
            shown = _cells_shown(layer, radius)
            norm = _log_norm(np.where(shown, ref_density, 0.0), np.where(shown, gen_density, 0.0))
            ratio = np.ma.masked_where(ref_density <= 0, safe_divide(gen_density, ref_density, fill=np.nan))
            half = _ratio_range(ratio[shown])
            axes = [figure.add_subplot(grid[row + 1, column]) for column in (0, 1, 3)]
            energy_meshes = [
                draw_layer(
                    ax,
                    layer,
                    np.ma.masked_less_equal(density, 0) if isinstance(norm, LogNorm) else density,
                    norm=norm,
                    cmap=energy_cmap,
                    radius=radius,
                )
                for ax, density in zip(axes[:2], (ref_density, gen_density), strict=True)
            ]
            ratio_mesh = draw_layer(
                axes[2], layer, ratio, norm=Normalize(1.0 - half, 1.0 + half), cmap=ratio_cmap, radius=radius
            )
            figure.colorbar(energy_meshes[0], cax=figure.add_subplot(grid[row + 1, 2]), label="MeV/mm$^2$")
            figure.colorbar(ratio_mesh, cax=figure.add_subplot(grid[row + 1, 4]), label="Gen./Ref.", extend="both")
            name = f"layer {layer.id}: {layer.role}" if layer.role else f"layer {layer.id}"
            axes[0].set_ylabel(f"{wrap_label(name, 22)}\ny [mm]")
            for ax in axes[1:]:
                ax.tick_params(labelleft=False)  # same y range as the reference image on the left
            for ax in axes:
                ax.set_anchor("E")  # square images next to their colour bars
            for ax, column_title in zip(axes, (*labels, f"{labels[1]} / {labels[0]}"), strict=True):
                ax.set_xlabel("x [mm]")
                if row == 0:
                    ax.set_title(column_title)
        experiment_label(header, title or geometry.name, fontsize=13)
    return figure


def plot_average_layer_images(
    reference_mean: np.ndarray,
    generated_mean: np.ndarray,
    geometry: CaloGeometry,
    path: Path,
    labels: Sequence[str] = ("Reference", "Generated"),
    title: str | None = None,
) -> Path:
    """Mean energy density per layer in mm: reference, generated and their ratio, one row per layer.

    Each layer is drawn in its own transverse geometry (:func:`draw_layer`): polar layers as
    rings and wedges out to the radius holding 98 % of the reference energy, Cartesian ones on
    their x–y grid. Reference and generated share a colour scale (MeV/mm², log when the
    densities span more than a decade); the ratio generated/reference uses a diverging colour
    map centred on 1, grey where the reference is empty.

    Args:
        reference_mean, generated_mean: (n_voxels,) mean showers in MeV.
        title: the experiment label's right-hand text (default: the geometry's name).
    """
    return _save(average_layer_images_figure(reference_mean, generated_mean, geometry, labels, title), path)


def latent_walk_figure(
    showers_mev: np.ndarray,
    geometry: CaloGeometry,
    *,
    incident_mev: float | None = None,
    positions: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """The figure of :func:`plot_latent_walk` (see there), not yet saved."""
    showers = np.asarray(showers_mev, dtype=np.float64)
    n_steps = len(showers)
    images = geometry.layer_images(showers)
    positions = np.linspace(0.0, 1.0, n_steps) if positions is None else np.asarray(positions)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.9")
    if title is None:
        title = geometry.name
        if incident_mev is not None:
            title += f"\n$E_{{inc}}$ = {incident_mev / 1000:.4g} GeV"
    with matplotlib.style.context(IMAGE_STYLE):
        figure = _new_figure(1.9 * n_steps + 1.6, 2.1 * geometry.n_layers + 0.8, IMAGE_STYLE)
        grid = figure.add_gridspec(
            geometry.n_layers + 1,
            n_steps + 1,
            height_ratios=[0.01] + [1.0] * geometry.n_layers,
            width_ratios=[1.0] * n_steps + [COLOUR_BAR_WIDTH],
        )
        header = _header(figure, grid[0, :])
        for row, layer in enumerate(geometry.layers):
            densities = images[row] / layer_cell_areas(layer)[None]
            radius = _display_radius(layer, images[row].mean(axis=0)) if layer.kind == "polar" else None
            shown = _cells_shown(layer, radius)
            norm = _log_norm(*(np.where(shown, density, 0.0) for density in densities))
            axes = [figure.add_subplot(grid[row + 1, column]) for column in range(n_steps)]
            meshes = []
            for column, (ax, density) in enumerate(zip(axes, densities, strict=True)):
                masked = np.ma.masked_less_equal(density, 0) if isinstance(norm, LogNorm) else density
                meshes.append(draw_layer(ax, layer, masked, norm=norm, cmap=cmap, radius=radius))
                ax.tick_params(labelsize="x-small")
                if column > 0:
                    ax.tick_params(labelleft=False)
                if row == 0:
                    ax.set_title(f"t = {positions[column]:.2f}", fontsize="small")
            axes[0].set_ylabel(f"layer {layer.id}\ny [mm]", fontsize="small")
            bar = figure.colorbar(meshes[0], cax=figure.add_subplot(grid[row + 1, n_steps]))
            bar.set_label("MeV/mm$^2$", fontsize="small")
        for ax in axes:
            ax.set_xlabel("x [mm]", fontsize="small")
        experiment_label(header, title, fontsize=13)
    return figure


def plot_latent_walk(
    showers_mev: np.ndarray,
    geometry: CaloGeometry,
    path: Path,
    *,
    incident_mev: float | None = None,
    positions: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """Layer images (rows) of showers generated along a latent-space line (columns), in mm.

    Each layer is drawn in its own transverse geometry (:func:`draw_layer`) with one colour
    scale per layer (energy density, log when it spans more than a decade) so that changes
    from step to step are visible; smooth variation along a row means the generator maps
    nearby latent points to similar showers.

    Args:
        showers_mev: (n_steps, n_voxels) showers in MeV, in walk order.
        incident_mev: the fixed incident energy, for the label.
        positions: (n_steps,) position t ∈ [0, 1] of each step along the line, for the titles.
        title: the experiment label's right-hand text (default: geometry name and incident energy).
    """
    figure = latent_walk_figure(showers_mev, geometry, incident_mev=incident_mev, positions=positions, title=title)
    return _save(figure, path)


# ----------------------------------------------------------------------------- training history
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
        figure = _new_figure(6 * n_columns, 4.5 * n_rows + 0.8, STYLE)
        grid = figure.add_gridspec(n_rows + 1, n_columns, height_ratios=[0.01] + [1.0] * n_rows)
        header = _header(figure, grid[0, :])
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
    return _save(training_history_figure(metrics_jsonl_path), out_png)
