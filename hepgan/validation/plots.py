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

from hepgan.validation.plot_comparison import (
    ComparisonHistograms,
    comparison_figure,
    comparison_grid_figure,
    comparison_histograms,
    draw_ratio,
    fit_legend,
    format_metrics,
    normalised_density,
    plot_comparison,
    plot_comparison_grid,
    plot_response_per_energy,
    use_log_y,
)
from hepgan.validation.plot_history import (
    MINIMAX_LOSSES,
    HistoryPanel,
    history_loss_kind,
    plot_training_history,
    read_log_events,
    read_metrics_log,
    training_history_figure,
)
from hepgan.validation.plot_images import (
    average_layer_images_figure,
    draw_layer,
    latent_walk_figure,
    layer_cell_areas,
    plot_average_layer_images,
    plot_latent_walk,
)
from hepgan.validation.plot_style import (
    COLOUR_BAR_WIDTH,
    EXPERIMENT,
    GENERATED_COLOUR,
    IMAGE_STYLE,
    LOG_Y_DECADES,
    OFF_SCALE_HIGH,
    OFF_SCALE_LOW,
    PARTICLE_SYMBOLS,
    RATIO_LIMITS,
    RATIO_TICKS,
    REFERENCE_COLOUR,
    RLABEL_CHARS,
    SMALL_STYLE,
    STATUS,
    STYLE,
    experiment_label,
    figure_style,
    finalise_layout,
    header_axes,
    new_figure,
    run_layout,
    sample_label,
    save_figure,
    wrap_label,
)

__all__ = [
    "COLOUR_BAR_WIDTH",
    "EXPERIMENT",
    "GENERATED_COLOUR",
    "IMAGE_STYLE",
    "LOG_Y_DECADES",
    "MINIMAX_LOSSES",
    "OFF_SCALE_HIGH",
    "OFF_SCALE_LOW",
    "PARTICLE_SYMBOLS",
    "RATIO_LIMITS",
    "RATIO_TICKS",
    "REFERENCE_COLOUR",
    "RLABEL_CHARS",
    "SMALL_STYLE",
    "STATUS",
    "STYLE",
    "ComparisonHistograms",
    "HistoryPanel",
    "average_layer_images_figure",
    "comparison_figure",
    "comparison_grid_figure",
    "comparison_histograms",
    "draw_layer",
    "draw_ratio",
    "experiment_label",
    "figure_style",
    "finalise_layout",
    "fit_legend",
    "format_metrics",
    "header_axes",
    "history_loss_kind",
    "latent_walk_figure",
    "layer_cell_areas",
    "new_figure",
    "normalised_density",
    "plot_average_layer_images",
    "plot_comparison",
    "plot_comparison_grid",
    "plot_latent_walk",
    "plot_response_per_energy",
    "plot_training_history",
    "read_log_events",
    "read_metrics_log",
    "run_layout",
    "sample_label",
    "save_figure",
    "training_history_figure",
    "use_log_y",
    "wrap_label",
]
