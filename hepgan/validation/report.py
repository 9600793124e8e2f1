"""Shower validation report: the public entry points.

- :func:`validate_arrays` for showers already in memory;
- :func:`validate_files` for shower files (CaloChallenge/CaloGAN HDF5 or ROOT), read chunk
  by chunk with bounded memory;
- :func:`validate_observables` for per-shower observables computed elsewhere (e.g. during
  training), which the two functions above call.

The keyword ``options`` of all three are the fields of :class:`~hepgan.validation.calo_report.ReportOptions`
(``energy_bins``, ``n_bins``, ``metrics``, ``make_plots``, ``physics_distances``, ``classifier``,
``max_showers_low_level``, ``per_energy_plots``, ``seed``) plus ``latent_walk_showers`` and
``latent_walk_incident_mev`` (:class:`~hepgan.validation.calo_report.LatentWalk`). What the report
holds and the files it writes are described in :mod:`hepgan.validation.calo_report`; the
comparison machinery lives in :mod:`~hepgan.validation.comparison`, :mod:`~hepgan.validation.verdicts`,
:mod:`~hepgan.validation.global_metrics`, :mod:`~hepgan.validation.energy_bins` and
:mod:`~hepgan.validation.sampling`, whose main names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.io.geometry import CaloGeometry
from hepgan.validation.calo_report import (
    METRICS_FORMAT,
    P_VALUE_ALARM,
    LatentWalk,
    ReportOptions,
    ShowerSample,
    read_shower_file,
    render_html,
    shower_report,
    summarise_batches,
)
from hepgan.validation.comparison import compare_observable
from hepgan.validation.energy_bins import EnergyBinning, EnergyBinsSpec, make_energy_binning, response_statistics
from hepgan.validation.global_metrics import global_metrics
from hepgan.validation.observables import chunked_observables
from hepgan.validation.sampling import (
    DEFAULT_MAX_SHOWERS_LOW_LEVEL,
    LowLevelSample,
    ShowerReservoir,
    low_level_capacity,
    subsample_low_level,
)
from hepgan.validation.verdicts import VERDICT_ORDER, VERDICT_SIGMAS, verdict

__all__ = [
    "DEFAULT_MAX_SHOWERS_LOW_LEVEL",
    "METRICS_FORMAT",
    "P_VALUE_ALARM",
    "VERDICT_ORDER",
    "VERDICT_SIGMAS",
    "EnergyBinning",
    "EnergyBinsSpec",
    "LatentWalk",
    "LowLevelSample",
    "ReportOptions",
    "ShowerReservoir",
    "ShowerSample",
    "compare_observable",
    "global_metrics",
    "low_level_capacity",
    "make_energy_binning",
    "render_html",
    "response_statistics",
    "subsample_low_level",
    "summarise_batches",
    "validate_arrays",
    "validate_files",
    "validate_observables",
    "verdict",
]


def _report_inputs(options: Mapping[str, Any]) -> tuple[ReportOptions, LatentWalk | None]:
    """Split keyword options into :class:`ReportOptions` and the optional latent walk."""
    fields = dict(options)
    walk_showers = fields.pop("latent_walk_showers", None)
    walk_energy = fields.pop("latent_walk_incident_mev", None)
    walk = LatentWalk(walk_showers, walk_energy) if walk_showers is not None else None
    return ReportOptions(**fields), walk


def validate_observables(
    reference_observables: Mapping[str, np.ndarray],
    reference_incident: np.ndarray,
    generated_observables: Mapping[str, np.ndarray],
    generated_incident: np.ndarray,
    geometry: CaloGeometry,
    out_dir: Path,
    *,
    reference_mean_shower: np.ndarray | None = None,
    generated_mean_shower: np.ndarray | None = None,
    reference_low_level: LowLevelSample | None = None,
    generated_low_level: LowLevelSample | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Compare per-shower observables and write the report (see :mod:`hepgan.validation.calo_report`).

    Args:
        reference_observables, generated_observables: name → (N,) arrays, as returned by
            :func:`hepgan.validation.observables.shower_observables`; names present in both
            are compared.
        reference_incident, generated_incident: (N,) incident energies in MeV.
        geometry: the calorimeter geometry (its name and description go into the report).
        out_dir: report folder (created, or an earlier report's folder replaced whole by the new report).
        reference_mean_shower, generated_mean_shower: (n_voxels,) mean showers in MeV for
            the average-layer-image plot (skipped when either is ``None``).
        reference_low_level, generated_low_level: voxel subsamples for the low-level
            classifier (skipped when either is ``None``).
        options: :class:`ReportOptions` fields, ``latent_walk_showers`` ((n_steps, n_voxels)
            showers along a latent line) and ``latent_walk_incident_mev``.

    Returns:
        The metrics dictionary also written to ``metrics.json``.
    """
    report_options, walk = _report_inputs(options)
    return shower_report(
        ShowerSample(reference_observables, reference_incident, reference_mean_shower, reference_low_level),
        ShowerSample(generated_observables, generated_incident, generated_mean_shower, generated_low_level),
        geometry,
        Path(out_dir),
        report_options,
        walk,
    )


def validate_arrays(
    reference_showers: np.ndarray,
    reference_incident: np.ndarray,
    generated_showers: np.ndarray,
    generated_incident: np.ndarray,
    geometry: CaloGeometry,
    out_dir: Path,
    energy_bins: EnergyBinsSpec = "auto",
    **options: Any,
) -> dict[str, Any]:
    """Validate in-memory showers (N, n_voxels) in MeV with incident energies (N,) in MeV.

    Observables are computed in chunks; the low-level classifier sees a seeded subsample of
    at most ``max_showers_low_level`` showers per sample. ``options`` are passed to
    :func:`validate_observables` (``n_bins``, ``metrics``, ``make_plots``, ``classifier``,
    ``latent_walk_showers``, ...). Returns the metrics dict written to ``out_dir/metrics.json``.
    """
    reference_showers = np.asarray(reference_showers)
    generated_showers = np.asarray(generated_showers)
    reference_incident = np.asarray(reference_incident, dtype=np.float64).reshape(-1)
    generated_incident = np.asarray(generated_incident, dtype=np.float64).reshape(-1)
    capacity = low_level_capacity(
        options.get("max_showers_low_level", DEFAULT_MAX_SHOWERS_LOW_LEVEL), geometry.n_voxels
    )
    seed = options.get("seed", 0)
    return validate_observables(
        chunked_observables(reference_showers, reference_incident, geometry),
        reference_incident,
        chunked_observables(generated_showers, generated_incident, geometry),
        generated_incident,
        geometry,
        out_dir,
        energy_bins=energy_bins,
        reference_mean_shower=reference_showers.mean(axis=0, dtype=np.float64) if len(reference_showers) else None,
        generated_mean_shower=generated_showers.mean(axis=0, dtype=np.float64) if len(generated_showers) else None,
        reference_low_level=subsample_low_level(reference_showers, reference_incident, capacity, seed),
        generated_low_level=subsample_low_level(generated_showers, generated_incident, capacity, seed + 1),
        **options,
    )


def validate_files(
    reference_path: Path,
    generated_path: Path,
    geometry: CaloGeometry,
    out_dir: Path,
    chunk_size: int = 10_000,
    energy_bins: EnergyBinsSpec = "auto",
    **options: Any,
) -> dict[str, Any]:
    """Validate shower files read with ``hepgan.io.ShowerReader`` chunk by chunk.

    Works for CaloChallenge- and CaloGAN-layout HDF5 and for ROOT files. Only the per-shower
    observables (a few floats per shower), a running voxel sum and a seeded reservoir of at
    most ``max_showers_low_level`` (default 50 000, and at most 25e6 voxel values) showers
    per sample for the low-level classifier are kept, so memory is bounded by
    ``chunk_size`` showers plus the reservoir plus O(N × n_observables). ``options`` go to
    :func:`validate_observables`.
    """
    max_low = options.get("max_showers_low_level", DEFAULT_MAX_SHOWERS_LOW_LEVEL)
    seed = options.get("seed", 0)
    keep = max_low if options.get("classifier", True) else 0
    reference = read_shower_file(Path(reference_path), geometry, chunk_size, keep, seed)
    generated = read_shower_file(Path(generated_path), geometry, chunk_size, keep, seed + 1)
    return validate_observables(
        reference.observables,
        reference.incident_mev,
        generated.observables,
        generated.incident_mev,
        geometry,
        out_dir,
        energy_bins=energy_bins,
        reference_mean_shower=reference.mean_shower_mev,
        generated_mean_shower=generated.mean_shower_mev,
        reference_low_level=reference.low_level,
        generated_low_level=generated.low_level,
        **options,
    )
