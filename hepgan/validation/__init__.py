"""Validation of generated showers against reference showers: observables, metrics, plots, reports."""

from __future__ import annotations

from hepgan.validation.histograms import common_edges, histogram_counts
from hepgan.validation.metrics import (
    METRICS,
    Chi2Result,
    chi2_two_histograms,
    register_metric,
    separation_power,
    wasserstein_1d,
)
from hepgan.validation.observables import OBSERVABLES, describe, observable_names, shower_observables

_REPORT_API = ("validate_arrays", "validate_files", "validate_observables")


def __getattr__(name: str) -> object:
    """Import the report functions (matplotlib, mplhep) only when first used."""
    if name in _REPORT_API:
        from hepgan.validation import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METRICS",
    "OBSERVABLES",
    "Chi2Result",
    "chi2_two_histograms",
    "common_edges",
    "describe",
    "histogram_counts",
    "observable_names",
    "register_metric",
    "separation_power",
    "shower_observables",
    "validate_arrays",
    "validate_files",
    "validate_observables",
    "wasserstein_1d",
]
