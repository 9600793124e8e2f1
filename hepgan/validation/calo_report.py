"""The calorimeter-shower report: which observables, energy bins, plots and sections it holds.

What is compared (the machinery is shared with the event report):

- every observable of :mod:`hepgan.validation.observables`, overall and per incident-energy
  bin (:mod:`hepgan.validation.energy_bins`), with :func:`hepgan.validation.comparison.compare_observable`:
  χ²/ndf ± its null spread and p-value, W1 ± bootstrap error (also over the reference std),
  separation power ± bootstrap error, each with its floor and the verdict of
  :mod:`hepgan.validation.verdicts`;
- whole-sample metrics (:func:`hepgan.validation.global_metrics.global_metrics`): means of the
  above, FPD, KPD and classifier AUCs, each with its floor and verdict.

Voxel arrays for the low-level classifier are a seeded uniform subsample of at most
``max_showers_low_level`` showers per sample and at most 25e6 voxel values
(:mod:`hepgan.validation.sampling`: 617 showers of CaloChallenge dataset 3, 100 MB per sample
as float32): a classifier on all 1e5 × 40500 voxels would need 16 GB per sample, and a bounded
random subsample keeps the test unbiased (only its statistical power is limited, which the floor
of two reference halves of the same size accounts for). The high-level classifier uses the same
cap; FPD, KPD and the high-level classifiers see a seeded subsample of at most
``max_showers_high_level`` showers. ``metrics.json`` records the caps and sample sizes used
(``low_level``).

With many layers (45 in CaloChallenge datasets 2 and 3) the page stays readable: the summary
table comes first, then a per-layer overview (:mod:`hepgan.validation.layer_summary`: χ²/ndf per
observable and layer as a heat map, ``per_layer_summary.png``, and the worst layer per
observable); the per-layer observables' tables and plots are grouped by five layers.

Output in ``out_dir``: ``metrics.json``, ``index.html`` (opens from disk), ``plots/<observable>.png``,
``plots/energy/<observable>.png`` (one panel per incident-energy bin, for the observables in
``per_energy_plots``: by default a few headline ones, since one such figure costs about a
second; ``"all"`` draws every observable; the per-bin metrics of every observable are always
in ``metrics.json``), ``response_per_energy.png``, ``average_layer_images.png`` when mean
showers are known and ``latent_walk.png`` when a latent walk is given.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.config import CLASSIFIER_PROTOCOLS
from hepgan.io.geometry import CaloGeometry
from hepgan.validation.comparison import compare_observable
from hepgan.validation.energy_bins import EnergyBinning, EnergyBinsSpec, make_energy_binning, response_statistics
from hepgan.validation.global_metrics import CLASSIFIER_ENTRIES, global_metrics
from hepgan.validation.html import render
from hepgan.validation.layer_summary import (
    LAYER_GROUP_SIZE,
    group_names,
    per_layer_summary,
    plot_per_layer_summary,
    split_layer_name,
)
from hepgan.validation.metrics import DEFAULT_1D_METRICS
from hepgan.validation.observable_store import ObservableStore
from hepgan.validation.observables import concatenate_observables, describe, shower_observables
from hepgan.validation.plots import (
    plot_average_layer_images,
    plot_comparison,
    plot_comparison_grid,
    plot_latent_walk,
    plot_response_per_energy,
    sample_label,
)
from hepgan.validation.report_files import report_folder, write_json, write_text
from hepgan.validation.sampling import (
    DEFAULT_MAX_SHOWERS_HIGH_LEVEL,
    DEFAULT_MAX_SHOWERS_LOW_LEVEL,
    MAX_LOW_LEVEL_VALUES,
    LowLevelSample,
    ShowerReservoir,
    low_level_capacity,
)
from hepgan.validation.verdicts import verdict_counts

log = logging.getLogger(__name__)

METRICS_FORMAT = "hepgan-validation-metrics/2"
P_VALUE_ALARM = 0.01
DEFAULT_PER_ENERGY_PLOTS = ("e_ratio", "shower_depth")
SECTION_PLOTS = (
    ("response_per_energy", "Energy response per incident energy"),
    ("average_layer_images", "Average shower per layer"),
    ("latent_walk", "Latent-space walk"),
)
"""Whole-sample figures shown in their own sections of the page, before the observable plots."""


@dataclass(frozen=True)
class ReportOptions:
    """What the shower report computes and draws.

    Attributes:
        energy_bins: incident-energy bins, see :func:`hepgan.validation.energy_bins.make_energy_binning`.
        n_bins: maximum number of histogram bins per observable.
        metrics: registered 1-D metric names (:data:`hepgan.validation.metrics.METRICS`).
        make_plots: write PNG plots and include them in the HTML.
        physics_distances: compute FPD and KPD.
        classifier: run the classifier tests.
        classifier_protocols: which: "hepgan" (cross-validated, trained to convergence) and/or
            "challenge" (the CaloChallenge's recipe, :mod:`hepgan.validation.challenge_classifier`).
        max_showers_low_level: showers per sample kept for the low-level (voxel) classifiers, and the
            cap on the high-level classifier's inputs; the voxel sample is further capped at
            :data:`~hepgan.validation.sampling.MAX_LOW_LEVEL_VALUES` voxel values (617 showers of
            CaloChallenge dataset 3), so that the voxel classifiers' inputs stay ~100 MB per sample.
        max_showers_high_level: showers per sample (seeded uniform subsample) in the high-level
            feature matrices of FPD, KPD and the high-level classifiers.
        per_energy_plots: observables also plotted per incident-energy bin, or ``"all"``.
        seed: seeds the reference splits, bootstraps, subsamples and classifiers.
    """

    energy_bins: EnergyBinsSpec = "auto"
    n_bins: int = 50
    metrics: Sequence[str] = DEFAULT_1D_METRICS
    make_plots: bool = True
    physics_distances: bool = True
    classifier: bool = True
    classifier_protocols: Sequence[str] = CLASSIFIER_PROTOCOLS
    max_showers_low_level: int = DEFAULT_MAX_SHOWERS_LOW_LEVEL
    max_showers_high_level: int = DEFAULT_MAX_SHOWERS_HIGH_LEVEL
    per_energy_plots: Sequence[str] | str = DEFAULT_PER_ENERGY_PLOTS
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.per_energy_plots, str) and self.per_energy_plots != "all":
            raise ValueError(
                f"per_energy_plots must be 'all' or a list of observable names, got {self.per_energy_plots!r}"
            )

    def per_energy_names(self, names: Sequence[str]) -> list[str]:
        """The compared observables (``names``) drawn per incident-energy bin."""
        if not self.make_plots:
            return []
        if self.per_energy_plots == "all":
            return list(names)
        return [name for name in self.per_energy_plots if name in names]


@dataclass
class ShowerSample:
    """One side of the comparison, summarised: what the report needs of a shower sample.

    Attributes:
        observables: name → (N,) per-shower observables
            (:func:`hepgan.validation.observables.shower_observables`).
        incident_mev: (N,) incident energies in MeV.
        mean_shower_mev: (n_voxels,) mean shower in MeV, for the average-layer-image plot.
        low_level: voxel subsample for the low-level classifier.
    """

    observables: Mapping[str, np.ndarray]
    incident_mev: np.ndarray
    mean_shower_mev: np.ndarray | None = None
    low_level: LowLevelSample | None = None


@dataclass(frozen=True)
class LatentWalk:
    """Showers along a latent line (:func:`hepgan.validation.latent.latent_walk`), drawn as layer images.

    Attributes:
        showers_mev: (n_steps, n_voxels) showers in MeV.
        incident_mev: the walk's incident energy in MeV, for the caption.
    """

    showers_mev: np.ndarray
    incident_mev: float | None = None


# ----------------------------------------------------------------------------- per observable
def _observable_entry(
    name: str,
    reference: ShowerSample,
    generated: ShowerSample,
    ref_bins: np.ndarray,
    gen_bins: np.ndarray,
    binning: EnergyBinning,
    options: ReportOptions,
) -> tuple[dict[str, Any], np.ndarray | None, list[np.ndarray | None]]:
    """One observable overall and per incident-energy bin; its edges overall and per bin."""
    info = describe(name)
    ref_values, gen_values = reference.observables[name], generated.observables[name]
    compare = partial(
        compare_observable, log_bins=info.log, n_bins=options.n_bins, metrics=options.metrics, seed=options.seed
    )
    overall, edges = compare(ref_values, gen_values)
    per_bin, bin_edges = [], []
    for i, label in enumerate(binning.labels()):
        result, edges_i = compare(ref_values[ref_bins == i], gen_values[gen_bins == i])
        per_bin.append({"energy_bin": label, **result})
        bin_edges.append(edges_i)
    alarms = sum(1 for r in per_bin if r.get("p_value") is not None and r["p_value"] < P_VALUE_ALARM)
    entry = {
        "label": info.label,
        "unit": info.unit,
        "w1_unit": info.unit,
        "overall": overall,
        "per_energy_bin": per_bin,
        "n_energy_bins_p_below_alarm": alarms,
    }
    return entry, edges, bin_edges


def _per_energy_plot(
    name: str,
    entry: Mapping[str, Any],
    reference: ShowerSample,
    generated: ShowerSample,
    ref_bins: np.ndarray,
    gen_bins: np.ndarray,
    bin_edges: Sequence[np.ndarray | None],
    out_dir: Path,
    title: str,
) -> str | None:
    """One small-multiples figure of ``name`` in every incident-energy bin; its relative path."""
    panels = []
    for i, (edges, result) in enumerate(zip(bin_edges, entry["per_energy_bin"], strict=True)):
        if edges is None:
            continue
        panel_title = result["energy_bin"]
        if result.get("degenerate"):
            panel_title += " (n/a: constant)"
        elif result.get("p_value") is not None:
            panel_title += f" (p = {result['p_value']:.2g})"
        ref_values, gen_values = reference.observables[name][ref_bins == i], generated.observables[name][gen_bins == i]
        panels.append((ref_values, gen_values, edges, panel_title))
    if not panels:
        return None
    relative = f"plots/energy/{name}.png"
    plot_comparison_grid(panels, entry["label"], out_dir / relative, log_x=describe(name).log, title=title)
    return relative


def _summary(observables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    p_values = [e["overall"].get("p_value") for e in observables.values()]
    separations = [
        e["overall"].get("separation_power") for e in observables.values() if not e["overall"].get("degenerate")
    ]
    separations = [s for s in separations if s is not None and np.isfinite(s)]
    return {
        "n_observables": len(observables),
        "n_p_below_alarm": sum(1 for p in p_values if p is not None and p < P_VALUE_ALARM),
        "p_value_alarm": P_VALUE_ALARM,
        "mean_separation_power": float(np.mean(separations)) if separations else None,
        "verdicts": verdict_counts(e["overall"].get("verdict") for e in observables.values()),
    }


# ----------------------------------------------------------------------------- whole-sample sections
def _latent_walk_section(
    walk: LatentWalk, geometry: CaloGeometry, out_dir: Path, make_plots: bool
) -> tuple[dict[str, Any], str | None]:
    from hepgan.validation.latent import walk_step_sizes

    showers = np.asarray(walk.showers_mev, dtype=np.float64)
    steps = walk_step_sizes(showers)
    info = {
        "incident_mev": walk.incident_mev,
        "n_steps": len(showers),
        "relative_step_sizes": steps,
        "max_over_median_step": float(steps.max() / np.median(steps)) if steps.size and np.median(steps) > 0 else None,
    }
    if not make_plots:
        return info, None
    plot_latent_walk(showers, geometry, out_dir / "latent_walk.png", incident_mev=walk.incident_mev)
    return info, "latent_walk.png"


def _plot_observables(
    report: dict[str, Any],
    names: Sequence[str],
    edges_by_name: Mapping[str, tuple[np.ndarray | None, list[np.ndarray | None]]],
    reference: ShowerSample,
    generated: ShowerSample,
    ref_bins: np.ndarray,
    gen_bins: np.ndarray,
    options: ReportOptions,
    out_dir: Path,
    title: str,
) -> None:
    """Draw every compared observable overall (and per energy bin for the chosen ones) into ``report``'s plots.

    ``title`` is the experiment label's right-hand text (sample, incident-energy range).
    """
    energy_names = options.per_energy_names(names)
    for name in names:
        edges, bin_edges = edges_by_name[name]
        entry = report["observables"][name]
        if edges is not None:
            relative = f"plots/{name}.png"
            plot_comparison(
                reference.observables[name],
                generated.observables[name],
                edges,
                entry["label"],
                out_dir / relative,
                metrics=entry["overall"],
                unit=entry["unit"],
                log_x=describe(name).log,
                title=title,
            )
            report["plots"][name] = relative
        if name in energy_names:
            path = _per_energy_plot(name, entry, reference, generated, ref_bins, gen_bins, bin_edges, out_dir, title)
            if path is not None:
                report["plots_per_energy"][name] = path


def render_html(report: Mapping[str, Any]) -> str:
    """The standalone HTML page of a shower report (``calo_report.html.j2``; every string escaped)."""
    global_results = report["global_metrics"]
    auc_per_energy = [
        (key, label) for key, label in CLASSIFIER_ENTRIES if global_results.get(key, {}).get("per_energy_bin")
    ]
    special = {*dict(SECTION_PLOTS), "per_layer_summary"}
    global_names, groups = group_names(list(report["observables"]))
    plots = {name: path for name, path in report["plots"].items() if name not in special}
    plot_groups = [(label, [(name, plots[name]) for name in names if name in plots]) for label, names in groups]
    return render(
        "calo_report.html.j2",
        title=f"hepgan validation: {report['geometry']['name']}",
        report=report,
        low_level=report.get("low_level") or {},
        auc_per_energy=auc_per_energy,
        p_value_alarm=P_VALUE_ALARM,
        section_plots=[(key, title) for key, title in SECTION_PLOTS if key in report["plots"]],
        global_names=global_names,
        layer_groups=groups,
        layer_group_size=LAYER_GROUP_SIZE,
        layer_summary=report.get("per_layer_summary") or {},
        observable_plots=[(name, plots[name]) for name in plots if split_layer_name(name) is None],
        observable_plot_groups=[(label, items) for label, items in plot_groups if items],
    )


# ----------------------------------------------------------------------------- the report
def shower_report(
    reference: ShowerSample,
    generated: ShowerSample,
    geometry: CaloGeometry,
    out_dir: Path,
    options: ReportOptions = ReportOptions(),
    latent_walk: LatentWalk | None = None,
) -> dict[str, Any]:
    """Compare two summarised shower samples and write ``metrics.json``, ``index.html`` and the plots.

    The folder is written whole or not at all (:func:`~hepgan.validation.report_files.report_folder`):
    an earlier report in ``out_dir`` is replaced only by a complete new one.

    Returns:
        The metrics dictionary written to ``out_dir/metrics.json`` (format ``hepgan-validation-metrics/2``).
    """
    with report_folder(out_dir, "plots/energy") as folder:
        report = _write_shower_report(reference, generated, geometry, folder, options, latent_walk)
    log.info("validation report written to %s", out_dir)
    return report


def _write_shower_report(
    reference: ShowerSample,
    generated: ShowerSample,
    geometry: CaloGeometry,
    out_dir: Path,
    options: ReportOptions,
    latent_walk: LatentWalk | None,
) -> dict[str, Any]:
    """The body of :func:`shower_report`, writing into the (new, empty) folder ``out_dir``."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    ref_incident = np.asarray(reference.incident_mev, dtype=np.float64).reshape(-1)
    gen_incident = np.asarray(generated.incident_mev, dtype=np.float64).reshape(-1)
    binning = make_energy_binning(ref_incident, options.energy_bins)
    ref_bins, gen_bins = binning.assign(ref_incident), binning.assign(gen_incident)
    n_unmatched = int(np.count_nonzero(gen_bins < 0))
    if n_unmatched:
        log.warning("%d generated showers have an incident energy matching no reference energy", n_unmatched)
    names = [name for name in reference.observables if name in generated.observables]
    report: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "geometry": {"name": geometry.name, "description": geometry.description, "n_voxels": geometry.n_voxels},
        "n_reference": int(ref_incident.size),
        "n_generated": int(gen_incident.size),
        "n_generated_unmatched_energy": n_unmatched,
        "energy_binning": binning.to_json(),
        "metrics": list(options.metrics),
        "seed": options.seed,
        "observables": {},
        "plots": {},
        "plots_per_energy": {},
    }
    edges_by_name = {}
    for name in names:
        entry, edges, bin_edges = _observable_entry(name, reference, generated, ref_bins, gen_bins, binning, options)
        report["observables"][name] = entry
        edges_by_name[name] = (edges, bin_edges)
    layer_summary = per_layer_summary(report["observables"])
    if layer_summary:
        report["per_layer_summary"] = layer_summary
    timings["observable_metrics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report["global_metrics"] = global_metrics(
        reference.observables,
        ref_incident,
        generated.observables,
        gen_incident,
        report["observables"],
        reference_low_level=reference.low_level,
        generated_low_level=generated.low_level,
        physics_distances=options.physics_distances,
        classifier=options.classifier,
        max_showers_low_level=options.max_showers_low_level,
        max_showers_high_level=options.max_showers_high_level,
        energy_binning=binning,
        seed=options.seed,
        geometry=geometry,
        classifier_protocols=options.classifier_protocols,
    )
    report["low_level"] = {
        "max_showers_low_level": options.max_showers_low_level,
        "max_voxel_values": MAX_LOW_LEVEL_VALUES,
        "capacity": low_level_capacity(options.max_showers_low_level, geometry.n_voxels),
        "max_showers_high_level": options.max_showers_high_level,
        "method": "seeded uniform subsample per sample (reservoir sampling when streaming files)",
        "reference": reference.low_level.to_json() if reference.low_level is not None else None,
        "generated": generated.low_level.to_json() if generated.low_level is not None else None,
    }
    timings["global_metrics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    energy_range = (float(ref_incident.min()), float(ref_incident.max())) if ref_incident.size else None
    title = sample_label(geometry.name, geometry.particle, energy_range)
    if options.make_plots and layer_summary:
        plot_per_layer_summary(layer_summary, out_dir / "per_layer_summary.png", title)
        report["plots"]["per_layer_summary"] = "per_layer_summary.png"
    if options.make_plots:
        _plot_observables(
            report, names, edges_by_name, reference, generated, ref_bins, gen_bins, options, out_dir, title
        )
    if "e_ratio" in names:
        ref_resp = response_statistics(reference.observables["e_ratio"], ref_bins, binning.n_bins)
        gen_resp = response_statistics(generated.observables["e_ratio"], gen_bins, binning.n_bins)
        report["response_per_energy"] = {"energy_mev": binning.centres, "reference": ref_resp, "generated": gen_resp}
        if options.make_plots:
            plot_response_per_energy(
                binning.centres, ref_resp, gen_resp, out_dir / "response_per_energy.png", title=title
            )
            report["plots"]["response_per_energy"] = "response_per_energy.png"
    if options.make_plots and reference.mean_shower_mev is not None and generated.mean_shower_mev is not None:
        plot_average_layer_images(
            reference.mean_shower_mev,
            generated.mean_shower_mev,
            geometry,
            out_dir / "average_layer_images.png",
            title=title,
        )
        report["plots"]["average_layer_images"] = "average_layer_images.png"
    if latent_walk is not None:
        report["latent_walk"], path = _latent_walk_section(latent_walk, geometry, out_dir, options.make_plots)
        if path is not None:
            report["plots"]["latent_walk"] = path
    timings["plots"] = time.perf_counter() - clock
    report["summary"] = _summary(report["observables"])
    report["timings_s"] = timings
    report = write_json(out_dir / "metrics.json", report)
    write_text(out_dir / "index.html", render_html(report))
    return report


# ----------------------------------------------------------------------------- streaming shower files
MAX_CHUNK_VALUES = 48_000_000
"""Voxel values read at a time from a shower file (192 MB as float32): 1024 CaloChallenge dataset-3 showers."""
STORAGE_CHUNK_ROWS = 1024
"""Rows per HDF5 chunk of hepgan's shower files: file chunks of more rows are rounded down to a multiple."""


def file_chunk_size(chunk_size: int, n_voxels: int) -> int:
    """Showers read at a time: at most ``chunk_size`` and :data:`MAX_CHUNK_VALUES` voxel values.

    When the voxel budget limits it to more than :data:`STORAGE_CHUNK_ROWS`, the count is rounded
    down to a multiple of it, so that each read decompresses whole HDF5 chunks of hepgan's files once.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    budget = max(1, MAX_CHUNK_VALUES // max(n_voxels, 1))
    if chunk_size <= budget:
        return int(chunk_size)
    return budget - budget % STORAGE_CHUNK_ROWS if budget > STORAGE_CHUNK_ROWS else budget


def summarise_batches(
    batches: Iterable[Any],
    geometry: CaloGeometry,
    max_showers_low_level: int = 0,
    seed: int = 0,
    store_dir: Path | None = None,
) -> ShowerSample:
    """Observables, incident energies, mean shower and a voxel reservoir from batches with
    ``.showers_mev`` (n, n_voxels) and ``.incident_energies_mev`` (n,), one batch at a time.

    With ``max_showers_low_level`` > 0 a seeded uniform reservoir of at most that many
    showers (see :func:`hepgan.validation.sampling.low_level_capacity`) is kept for voxel-level metrics.
    With ``store_dir`` the observables go to an :class:`~hepgan.validation.observable_store.ObservableStore`
    in that folder (memory flat in the number of showers), else they are concatenated in memory.
    """
    chunks: list[dict[str, np.ndarray]] = []
    store = ObservableStore(store_dir) if store_dir is not None else None
    incident = []
    voxel_sum, count = np.zeros(geometry.n_voxels), 0
    capacity = low_level_capacity(max_showers_low_level, geometry.n_voxels)
    reservoir = ShowerReservoir(capacity, geometry.n_voxels, seed) if capacity > 0 else None
    for batch in batches:
        showers = np.asarray(batch.showers_mev)
        energies = np.asarray(batch.incident_energies_mev, dtype=np.float64).reshape(-1)
        observables = shower_observables(showers, energies, geometry)
        if store is not None:
            store.append(observables)
        else:
            chunks.append(observables)
        incident.append(energies)
        voxel_sum += showers.sum(axis=0, dtype=np.float64)
        count += len(showers)
        if reservoir is not None:
            reservoir.add(showers, energies)
        del showers, observables, batch
    if count == 0:
        raise ValueError("no showers to validate")
    low_level = reservoir.sample() if reservoir is not None else None
    summary = store if store is not None else concatenate_observables(chunks)
    return ShowerSample(summary, np.concatenate(incident), voxel_sum / count, low_level)


def read_shower_file(
    path: Path,
    geometry: CaloGeometry,
    chunk_size: int,
    max_showers_low_level: int,
    seed: int,
    store_dir: Path | None = None,
) -> ShowerSample:
    """:func:`summarise_batches` of a shower file read with ``hepgan.io.ShowerReader``, :func:`file_chunk_size`
    showers at a time."""
    from hepgan.io import ShowerReader

    with ShowerReader(path, geometry, file_chunk_size(chunk_size, geometry.n_voxels)) as reader:
        return summarise_batches(reader.iter_chunks(), geometry, max_showers_low_level, seed, store_dir)
