"""Validation of generated showers against reference showers: observables, metrics, plots, reports."""

from __future__ import annotations

from hepgan.validation.histograms import common_edges, histogram_counts
from hepgan.validation.metrics import (
    METRICS,
    QUICK_METRIC_NAMES,
    Chi2Result,
    chi2_two_histograms,
    quick_metrics,
    register_metric,
    roc_auc,
    separation_power,
    separation_power_with_error,
    wasserstein_1d,
    wasserstein_1d_with_error,
)
from hepgan.validation.observables import (
    OBSERVABLES,
    chunked_observables,
    describe,
    observable_names,
    shower_observables,
)
from hepgan.validation.physics_distances import fpd, frechet_distance, kpd

_LAZY = {
    # matplotlib / mplhep
    "validate_arrays": "report",
    "validate_files": "report",
    "validate_observables": "report",
    "plot_training_history": "plots",
    # torch
    "classifier_two_sample_test": "classifier",
    "latent_walk": "latent",
}


def __getattr__(name: str) -> object:
    """Import the report, plotting and torch-based functions only when first used."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"hepgan.validation.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METRICS",
    "OBSERVABLES",
    "QUICK_METRIC_NAMES",
    "Chi2Result",
    "chi2_two_histograms",
    "chunked_observables",
    "classifier_two_sample_test",
    "common_edges",
    "describe",
    "fpd",
    "frechet_distance",
    "histogram_counts",
    "kpd",
    "latent_walk",
    "observable_names",
    "plot_training_history",
    "quick_metrics",
    "register_metric",
    "roc_auc",
    "separation_power",
    "separation_power_with_error",
    "shower_observables",
    "validate_arrays",
    "validate_files",
    "validate_observables",
    "wasserstein_1d",
    "wasserstein_1d_with_error",
]
