"""Comparison plots of generated against reference showers (mplhep style, PNG output).

Figures are built as :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas,
without pyplot, so no interactive backend is touched and no figure stays registered after
saving. The CMS style from mplhep is used with mathtext only (no LaTeX installation needed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib
import matplotlib.style
import mplhep
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from hepgan.errors import OutputError
from hepgan.io.geometry import CaloGeometry
from hepgan.validation.histograms import histogram_counts
from hepgan.validation.observables import safe_divide

log = logging.getLogger(__name__)

STYLE = {**mplhep.style.CMS, "text.usetex": False, "figure.dpi": 100, "savefig.dpi": 100}
SMALL_STYLE = {**STYLE, "font.size": 9, "xtick.minor.visible": False, "ytick.minor.visible": False}
REFERENCE_COLOUR = "#9ecae1"
GENERATED_COLOUR = "#d62728"


def _new_figure(
    width: float, height: float, layout: Literal["constrained", "compressed", "tight"] | None = None
) -> Figure:
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write plot ({exc.strerror or exc})") from None
    finally:
        figure.clear()
    log.debug("wrote %s", path)
    return path


def normalised_density(counts: np.ndarray, edges: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Density (per unit x, normalised to ``total`` entries) and its Poisson error per bin."""
    widths = np.diff(edges)
    scale = total * widths
    return safe_divide(counts, scale), safe_divide(np.sqrt(counts), scale)


def format_metrics(metrics: Mapping[str, float | None] | None, unit: str = "") -> str:
    """Legend text such as ``χ²/ndf = 12.3/9 (p = 0.2)`` and ``W1 = 0.5 mm`` from a metrics dict."""
    if not metrics:
        return ""
    lines = []
    chi2, ndf, p_value = metrics.get("chi2"), metrics.get("ndf"), metrics.get("p_value")
    if chi2 is not None and ndf is not None:
        text = f"$\\chi^2$/ndf = {chi2:.3g}/{int(ndf)}"
        if p_value is not None:
            text += f" (p = {p_value:.2g})"
        lines.append(text)
    if metrics.get("w1") is not None:
        lines.append(f"$W_1$ = {metrics['w1']:.3g} {unit}".rstrip())
    if metrics.get("separation_power") is not None:
        lines.append(f"separation = {metrics['separation_power']:.3g}")
    return "\n".join(lines)


def plot_comparison(
    reference_values: np.ndarray,
    generated_values: np.ndarray,
    edges: np.ndarray,
    label: str,
    path: Path,
    *,
    metrics: Mapping[str, float | None] | None = None,
    unit: str = "",
    log_x: bool = False,
    log_y: bool = False,
    reference_label: str = "Reference",
    generated_label: str = "Generated",
    title: str | None = None,
) -> Path:
    """Normalised histograms of one observable with a generated/reference ratio panel.

    The reference is drawn filled, the generated sample as markers with Poisson errors;
    both are normalised to unit area over all their finite entries (under/overflow count
    in the normalisation but are not drawn). The ratio panel shows generated/reference with
    the reference's relative statistical uncertainty as a grey band around 1.

    Args:
        reference_values, generated_values: per-shower values.
        edges: bin edges (e.g. from :func:`hepgan.validation.histograms.common_edges`).
        label: x-axis label (mathtext allowed).
        path: PNG file to write.
        metrics: optional results (``chi2``, ``ndf``, ``p_value``, ``w1``) shown in the legend.
        unit: unit of the values, for the W1 legend entry.

    Returns:
        ``path``.
    """
    edges = np.asarray(edges, dtype=np.float64)
    ref_counts = histogram_counts(reference_values, edges, flow=True)
    gen_counts = histogram_counts(generated_values, edges, flow=True)
    ref_density, ref_error = normalised_density(ref_counts[1:-1], edges, ref_counts.sum())
    gen_density, gen_error = normalised_density(gen_counts[1:-1], edges, gen_counts.sum())
    ratio = safe_divide(gen_density, ref_density, fill=np.nan)
    ratio_error = safe_divide(gen_error, ref_density, fill=np.nan)
    band = safe_divide(ref_error, ref_density, fill=np.nan)
    centres = 0.5 * (edges[1:] + edges[:-1]) if not log_x else np.sqrt(edges[1:] * edges[:-1])

    with matplotlib.style.context(STYLE):
        figure = _new_figure(8, 8)
        top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
        mplhep.histplot(ref_density, edges, ax=top, histtype="fill", color=REFERENCE_COLOUR, label=reference_label)
        top.errorbar(
            centres, gen_density, yerr=gen_error, fmt="o", markersize=4, color=GENERATED_COLOUR, label=generated_label
        )
        top.set_ylabel("Normalised entries / unit")
        handles, texts = top.get_legend_handles_labels()
        extra = format_metrics(metrics, unit)
        if extra:
            handles.append(top.plot([], [], " ")[0])
            texts.append(extra)
        top.legend(handles, texts, loc="best", fontsize="small")
        if title:
            top.set_title(title, fontsize="small", loc="right", parse_math=False)
        if log_y:
            top.set_yscale("log")
        bottom.stairs(1 + np.nan_to_num(band), edges, baseline=1 - np.nan_to_num(band), fill=True, color="0.8")
        bottom.errorbar(centres, ratio, yerr=ratio_error, fmt="o", markersize=3, color=GENERATED_COLOUR)
        bottom.axhline(1.0, color="k", linewidth=1)
        bottom.set_ylim(0.5, 1.5)
        bottom.set_ylabel("Gen./Ref.")
        bottom.set_xlabel(label)
        if log_x:
            bottom.set_xscale("log")
        bottom.set_xlim(edges[0], edges[-1])
        return _save(figure, path)


def plot_response_per_energy(
    energies_mev: np.ndarray,
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    path: Path,
    *,
    quantity: str = "$E_{tot}/E_{inc}$",
) -> Path:
    """Mean and width of a response (e.g. E_tot/E_inc) per incident-energy bin, with ratios.

    Args:
        energies_mev: (k,) representative incident energy of each bin in MeV.
        reference, generated: arrays ``mean``, ``mean_err``, ``width``, ``width_err`` (k,) each.
        path: PNG file to write.
    """
    energies_gev = np.asarray(energies_mev, dtype=np.float64) / 1000.0
    with matplotlib.style.context(STYLE):
        figure = _new_figure(14, 8)
        axes = figure.subplots(2, 2, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05, "wspace": 0.35})
        for column, (key, name) in enumerate((("mean", "Mean"), ("width", "Width (rms)"))):
            top, bottom = axes[0, column], axes[1, column]
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
            top.legend(loc="best", fontsize="small")
            if np.all(energies_gev > 0) and energies_gev.max() > 10 * energies_gev.min():
                bottom.set_xscale("log")
        return _save(figure, path)


def _image_norm(*images: np.ndarray) -> LogNorm | None:
    positive = np.concatenate([image[image > 0] for image in images])
    if positive.size == 0 or positive.max() < 10.0 * positive.min():
        return None  # linear colour scale for empty or narrow ranges
    return LogNorm(vmin=positive.min(), vmax=positive.max())


def plot_average_layer_images(
    reference_mean: np.ndarray,
    generated_mean: np.ndarray,
    geometry: CaloGeometry,
    path: Path,
    labels: Sequence[str] = ("Reference", "Generated"),
) -> Path:
    """Average voxel energy per layer (MeV), reference and generated side by side.

    Polar layers are shown as (alpha bin, r bin) index images, Cartesian ones as (y, x).

    Args:
        reference_mean, generated_mean: (n_voxels,) mean showers in MeV.
    """
    ref_images = geometry.layer_images(np.asarray(reference_mean, dtype=np.float64)[None, :])
    gen_images = geometry.layer_images(np.asarray(generated_mean, dtype=np.float64)[None, :])
    with matplotlib.style.context(STYLE):
        figure = _new_figure(10, 2.6 * geometry.n_layers, layout="constrained")
        axes = figure.subplots(geometry.n_layers, 2, squeeze=False)
        for row, layer in enumerate(geometry.layers):
            ref_image, gen_image = ref_images[row][0], gen_images[row][0]
            norm = _image_norm(ref_image, gen_image)
            for column, image in enumerate((ref_image, gen_image)):
                ax = axes[row, column]
                shown = np.ma.masked_less_equal(image, 0) if norm is not None else image
                artist = ax.imshow(shown, aspect="auto", origin="lower", norm=norm, cmap="viridis")
                ax.set_title(f"{labels[column]}, layer {layer.id}", fontsize="small")
                ax.set_xlabel("r bin" if layer.kind == "polar" else "x bin", fontsize="small")
                ax.set_ylabel("alpha bin" if layer.kind == "polar" else "y bin", fontsize="small")
                figure.colorbar(artist, ax=ax, label="MeV")
        return _save(figure, path)


def plot_latent_walk(
    showers_mev: np.ndarray,
    geometry: CaloGeometry,
    path: Path,
    *,
    incident_mev: float | None = None,
    positions: Sequence[float] | np.ndarray | None = None,
) -> Path:
    """Layer images (rows) of showers generated along a latent-space line (columns).

    One colour scale per layer (log when the layer spans more than a decade) so that
    changes from step to step are visible; smooth variation along a row means the generator
    maps nearby latent points to similar showers.

    Args:
        showers_mev: (n_steps, n_voxels) showers in MeV, in walk order.
        incident_mev: the fixed incident energy, for the title.
        positions: (n_steps,) position t ∈ [0, 1] of each step along the line, for the titles.
    """
    showers = np.asarray(showers_mev, dtype=np.float64)
    n_steps = len(showers)
    images = geometry.layer_images(showers)
    positions = np.linspace(0.0, 1.0, n_steps) if positions is None else np.asarray(positions)
    with matplotlib.style.context(STYLE):
        figure = _new_figure(1.8 * n_steps + 1.5, 1.8 * geometry.n_layers + 0.8, layout="constrained")
        axes = figure.subplots(geometry.n_layers, n_steps, squeeze=False)
        for row, layer in enumerate(geometry.layers):
            norm = _image_norm(*images[row])
            for column in range(n_steps):
                image = images[row][column]
                ax = axes[row, column]
                shown = np.ma.masked_less_equal(image, 0) if norm is not None else image
                artist = ax.imshow(shown, aspect="auto", origin="lower", norm=norm, cmap="viridis")
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"t = {positions[column]:.2f}", fontsize="x-small")
                if column == 0:
                    ax.set_ylabel(f"layer {layer.id}", fontsize="x-small")
            figure.colorbar(artist, ax=axes[row, -1]).set_label("MeV", fontsize="x-small")
        if incident_mev is not None:
            figure.suptitle(f"Latent walk at $E_{{inc}}$ = {incident_mev / 1000:.4g} GeV", fontsize="small")
        return _save(figure, path)


def read_metrics_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a JSON-lines training log (one object per line); missing entries are NaN."""
    import json

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OutputError(f"{path}: cannot read training log ({exc.strerror or exc})") from None
    records = [json.loads(line) for line in lines if line.strip()]
    keys = list(dict.fromkeys(key for record in records for key in record))
    columns = {}
    for key in keys:
        values = [record.get(key) for record in records]
        if all(value is None or isinstance(value, int | float) for value in values):
            columns[key] = np.array([np.nan if value is None else float(value) for value in values])
    return columns


HISTORY_PANELS: tuple[tuple[str, tuple[str, ...], float | None, str], ...] = (
    ("Losses", ("d_loss", "g_loss"), None, ""),
    ("Wasserstein estimate", ("wasserstein",), None, ""),
    ("Gradient penalty", ("gradient_penalty",), None, ""),
    ("Value V(D, G)", ("value",), -float(np.log(4.0)), "optimum $-\\log 4$"),
    ("Mean D output", ("d_real", "d_fake"), 0.5, "optimum 1/2"),
    ("MMD", ("mmd",), None, ""),
    ("Quick metrics", ("chi2_ndf_mean", "w1_mean", "separation_power_mean", "fpd"), None, ""),
)
"""Panels of :func:`plot_training_history`: title, log keys, reference line and its label."""


def plot_training_history(metrics_jsonl_path: Path, out_png: Path) -> Path:
    """Losses and diagnostics vs step from a run's ``metrics.jsonl``.

    Panels are drawn for the keys present: losses (``d_loss``, ``g_loss``); for WGAN-GP the
    ``wasserstein`` estimate and ``gradient_penalty``; for minimax/non-saturating losses the
    ``value`` V(D, G) with its optimum −log 4 and ``d_real``/``d_fake`` with their optimum ½
    (Goodfellow et al., arXiv:1406.2661); ``mmd``; and quick metrics
    (:func:`hepgan.validation.metrics.quick_metrics`, log scale).
    """
    columns = read_metrics_log(metrics_jsonl_path)
    if "step" not in columns:
        raise ValueError(f"{metrics_jsonl_path}: no 'step' in the training log")
    step = columns["step"]
    panels = [panel for panel in HISTORY_PANELS if any(key in columns for key in panel[1])]
    with matplotlib.style.context(STYLE):
        n_columns = min(3, max(1, len(panels)))
        n_rows = max(1, -(-len(panels) // n_columns))
        figure = _new_figure(6 * n_columns, 4.5 * n_rows, layout="constrained")
        axes = np.atleast_1d(figure.subplots(n_rows, n_columns, squeeze=False)).ravel()
        for ax, (title, keys, reference, reference_label) in zip(axes, panels, strict=False):
            for key in keys:
                if key in columns:
                    ok = np.isfinite(columns[key])
                    ax.plot(step[ok], columns[key][ok], label=key, linewidth=1.2)
            if reference is not None:
                ax.axhline(reference, color="k", linestyle="--", linewidth=1, label=reference_label)
            if title == "Quick metrics" and all(np.nanmin(columns[k]) > 0 for k in keys if k in columns):
                ax.set_yscale("log")
            ax.set_title(title, fontsize="small")
            ax.set_xlabel("step", fontsize="small")
            ax.tick_params(labelsize="x-small")
            ax.legend(fontsize="x-small", loc="best")
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        return _save(figure, out_png)


def _draw_comparison(
    top: Any, bottom: Any, reference_values: np.ndarray, generated_values: np.ndarray, edges: np.ndarray, log_x: bool
) -> None:
    """Normalised reference (filled) and generated (markers) histograms and their ratio on two axes."""
    ref_counts = histogram_counts(reference_values, edges, flow=True)
    gen_counts = histogram_counts(generated_values, edges, flow=True)
    ref_density, ref_error = normalised_density(ref_counts[1:-1], edges, max(ref_counts.sum(), 1.0))
    gen_density, gen_error = normalised_density(gen_counts[1:-1], edges, max(gen_counts.sum(), 1.0))
    centres = np.sqrt(edges[1:] * edges[:-1]) if log_x else 0.5 * (edges[1:] + edges[:-1])
    top.stairs(ref_density, edges, fill=True, color=REFERENCE_COLOUR)
    top.errorbar(centres, gen_density, yerr=gen_error, fmt="o", markersize=2, color=GENERATED_COLOUR)
    band = safe_divide(ref_error, ref_density, fill=0.0)
    bottom.stairs(1 + band, edges, baseline=1 - band, fill=True, color="0.8")
    bottom.errorbar(
        centres,
        safe_divide(gen_density, ref_density, fill=np.nan),
        yerr=safe_divide(gen_error, ref_density, fill=np.nan),
        fmt="o",
        markersize=2,
        color=GENERATED_COLOUR,
    )
    bottom.axhline(1.0, color="k", linewidth=0.8)
    bottom.set_ylim(0.5, 1.5)
    if log_x:
        bottom.set_xscale("log")
    bottom.set_xlim(edges[0], edges[-1])


def plot_comparison_grid(
    panels: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, str]],
    label: str,
    path: Path,
    *,
    log_x: bool = False,
    n_columns: int = 5,
) -> Path:
    """Small multiples: one normalised reference/generated comparison with ratio panel per entry.

    Used for an observable in every incident-energy bin (one figure instead of one per bin).
    Reference filled (blue), generated as markers (red); the ratio panels show
    generated/reference with the reference's relative statistical error as a grey band.

    Args:
        panels: (reference values, generated values, bin edges, panel title) per panel.
        label: x-axis label (mathtext allowed).
    """
    n_columns = max(1, min(n_columns, len(panels)))
    n_rows = max(1, -(-len(panels) // n_columns))
    with matplotlib.style.context(SMALL_STYLE):
        figure = _new_figure(3.2 * n_columns, 3.4 * n_rows)
        outer = figure.add_gridspec(n_rows, n_columns, hspace=0.35, wspace=0.3)
        for k, (reference_values, generated_values, edges, title) in enumerate(panels):
            inner = outer[divmod(k, n_columns)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
            top = figure.add_subplot(inner[0])
            bottom = figure.add_subplot(inner[1], sharex=top)
            _draw_comparison(top, bottom, reference_values, generated_values, np.asarray(edges, float), log_x)
            top.set_title(title, fontsize="small", parse_math=False)
            top.tick_params(labelbottom=False)
            bottom.set_xlabel(label, fontsize="small")
            if k % n_columns == 0:
                bottom.set_ylabel("Gen./Ref.", fontsize="small")
                top.set_ylabel("Normalised", fontsize="small")
        figure.subplots_adjust(left=0.05, right=0.98, top=0.95, bottom=0.08)
        return _save(figure, path)
