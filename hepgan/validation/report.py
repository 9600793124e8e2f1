"""Shower validation report: the public entry points.

- :func:`validate_arrays` for showers already in memory;
- :func:`validate_files` for shower files (CaloChallenge/CaloGAN HDF5 or ROOT), read chunk
  by chunk at flat memory (:func:`validate_streams` for any stream of shower batches);
- :func:`validate_observables` for per-shower observables computed elsewhere (e.g. during
  training), which the two functions above call.

The keyword ``options`` of all three are the fields of :class:`~hepgan.validation.calo_report.ReportOptions`
(``energy_bins``, ``n_bins``, ``metrics``, ``make_plots``, ``physics_distances``, ``classifier``,
``max_showers_low_level``, ``max_showers_high_level``, ``per_energy_plots``, ``seed``) plus ``latent_walk_showers`` and
``latent_walk_incident_mev`` (:class:`~hepgan.validation.calo_report.LatentWalk`). What the report
holds and the files it writes are described in :mod:`hepgan.validation.calo_report`; the
comparison machinery lives in :mod:`~hepgan.validation.comparison`, :mod:`~hepgan.validation.verdicts`,
:mod:`~hepgan.validation.global_metrics`, :mod:`~hepgan.validation.energy_bins` and
:mod:`~hepgan.validation.sampling`, whose main names are re-exported here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.errors import OutputError
from hepgan.io.geometry import CaloGeometry
from hepgan.validation.calo_report import (
    METRICS_FORMAT,
    P_VALUE_ALARM,
    LatentWalk,
    ReportOptions,
    ShowerSample,
    file_chunk_size,
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
    "validate_streams",
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
    """Validate shower files read with ``hepgan.io.ShowerReader`` chunk by chunk, at flat memory.

    Works for CaloChallenge- and CaloGAN-layout HDF5 and for ROOT files. Files are read
    :func:`~hepgan.validation.calo_report.file_chunk_size` showers at a time (at most
    ``chunk_size`` and 48e6 voxel values: 1024 showers of CaloChallenge dataset 3); see
    :func:`validate_streams` for what is kept. ``options`` go to :func:`validate_observables`.
    """
    from hepgan.io import ShowerReader

    size = file_chunk_size(chunk_size, geometry.n_voxels)
    with (
        ShowerReader(Path(reference_path), geometry, size) as reference,
        ShowerReader(Path(generated_path), geometry, size) as generated,
    ):
        return validate_streams(
            reference.iter_chunks(), generated.iter_chunks(), geometry, out_dir, energy_bins=energy_bins, **options
        )


def validate_streams(
    reference_batches: Iterable[Any],
    generated_batches: Iterable[Any],
    geometry: CaloGeometry,
    out_dir: Path,
    energy_bins: EnergyBinsSpec = "auto",
    scratch_dir: Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Validate two streams of shower batches (``.showers_mev`` (n, n_voxels), ``.incident_energies_mev`` (n,), MeV).

    Memory is flat in the number of showers: per batch the per-shower observables are computed and
    appended to an on-disk :class:`~hepgan.validation.observable_store.ObservableStore` (about 4 kB
    per dataset-3 shower, in a temporary folder under ``scratch_dir``, default the system's, removed
    afterwards); only the incident energies (8 bytes per shower), a running voxel sum and a seeded
    reservoir of at most ``max_showers_low_level`` showers and 25e6 voxel values per sample (for the
    voxel classifiers) stay in memory. The report then reads one observable at a time, and the
    high-level metrics a bounded subsample (``max_showers_high_level``). ``options`` go to
    :func:`validate_observables`.
    """
    max_low = options.get("max_showers_low_level", DEFAULT_MAX_SHOWERS_LOW_LEVEL)
    seed = options.get("seed", 0)
    keep = max_low if options.get("classifier", True) else 0
    with tempfile.TemporaryDirectory(prefix="hepgan-observables-", dir=scratch_dir) as scratch:
        try:
            reference = summarise_batches(reference_batches, geometry, keep, seed, Path(scratch) / "reference")
            generated = summarise_batches(generated_batches, geometry, keep, seed + 1, Path(scratch) / "generated")
        except OSError as exc:  # the scratch files: a full disk, a file-size limit
            raise OutputError(
                f"{out_dir}: cannot write the report (its scratch files in {scratch}: {exc.strerror or exc})"
            ) from None
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
