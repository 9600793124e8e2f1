"""Validation of generated showers and events against reference samples: observables, metrics, plots, reports.

Module map: :mod:`~hepgan.validation.metrics` (metric functions and their registry),
:mod:`~hepgan.validation.verdicts` (floors and the verdict rule), :mod:`~hepgan.validation.comparison`
(one observable compared with its floor), :mod:`~hepgan.validation.global_metrics` (whole-sample
metrics), :mod:`~hepgan.validation.energy_bins`, :mod:`~hepgan.validation.sampling` (voxel
subsamples), :mod:`~hepgan.validation.observable_store` (observables of large samples on disk),
:mod:`~hepgan.validation.layer_summary` (per-layer groups and overview),
:mod:`~hepgan.validation.report_files` (JSON and text output),
:mod:`~hepgan.validation.html` (the HTML renderer), and the per-domain reports
:mod:`~hepgan.validation.calo_report` (showers; entry points in :mod:`~hepgan.validation.report`)
and :mod:`~hepgan.validation.event_report` (events).
"""

from __future__ import annotations

import numpy as np

from hepgan.validation.comparison import compare
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


@register_metric("classifier_auc", "multivariate")
def _classifier_auc(features_ref: np.ndarray, features_gen: np.ndarray) -> dict[str, float]:
    """Classifier two-sample AUC (:func:`hepgan.validation.classifier.classifier_auc_metric`; imports torch)."""
    from hepgan.validation.classifier import classifier_auc_metric

    return classifier_auc_metric(features_ref, features_gen)


_LAZY = {
    # matplotlib / mplhep
    "validate_arrays": "report",
    "validate_files": "report",
    "validate_observables": "report",
    "validate_streams": "report",
    "ReportOptions": "calo_report",
    "validate_event_arrays": "event_report",
    "validate_event_files": "event_report",
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
    "ReportOptions",
    "chi2_two_histograms",
    "chunked_observables",
    "classifier_two_sample_test",
    "common_edges",
    "compare",
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
    "validate_event_arrays",
    "validate_event_files",
    "validate_files",
    "validate_observables",
    "wasserstein_1d",
    "wasserstein_1d_with_error",
]
