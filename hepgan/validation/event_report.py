"""Validation report for event kinematics: observables with floors and verdicts, resonance peaks, plots, JSON, HTML.

Entry points: :func:`validate_event_arrays` for :class:`~hepgan.io.events.EventBatch` es in
memory, :func:`validate_event_files` for event tables / ROOT files read chunk by chunk
(only a few floats per event are kept).

The report follows a *reconstruction* (:mod:`hepgan.data.resonances`: ``pair``,
``ttbar_partons``, ``ttbar_jets`` or ``none``). Compared observables
(:func:`batch_observables`): each object's pT, η, φ; ΔR between every pair of the first six
objects (``delta_r_{i}{j}``); the number of present objects ``n_objects_present`` when it
varies; for ``pair`` (and ``none``) the leading pair's m_12, pT_12, y_12; for the tt̄ rules
the W and top candidate masses ``m_w1``, ``m_w2``, ``m_t1``, ``m_t2`` and top pT's
``pt_t1``, ``pt_t2`` (GeV). Each is compared with the machinery of the shower report
(:func:`hepgan.validation.comparison.compare_observable`): the χ² homogeneity test on common
bins (under/overflow included; a discrete observable on its integer lattice), W1 and
separation power with bootstrap errors, their *floor* (the same metrics between two random
halves of the reference) and the verdict of :mod:`hepgan.validation.verdicts` (the worse of
the W1 and χ²/ndf verdicts: ok when the excess over the floor is within 2σ of the combined
error, tension within 5σ, fail beyond).

Physics targets, reported next to the verdicts (``w1_within_target``, ``peaks``,
``correlations``, ``summary``): W1 ≤ 3 × floor for each observable; for each peak of the
reconstruction (:data:`hepgan.data.resonances.PEAKS`: the Z in 80–100 GeV within 0.5 % in
position and 10 % in width for ``pair``; the W and top peaks for tt̄) the position (median in
the window) and width (IQR) within the spec's targets (:mod:`hepgan.validation.event_peaks`);
and for tt̄ the Pearson correlation of the two top pT's, |ρ_gen − ρ_ref| ≤ 3 × floor.

Output in ``out_dir``: ``metrics.json``, ``index.html`` (``event_report.html.j2``; every string
escaped; opens from disk) and ``plots/<observable>.png`` (mplhep, ratio panel) plus
``plots/<peak>_peak.png`` per peak.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.data.resonances import PEAKS, PeakSpec, check_reconstruction, default_reconstruction, reconstruct_batch
from hepgan.errors import InputFileError
from hepgan.io.events import TABLE_LAYOUT, EventBatch, EventReader
from hepgan.validation.comparison import compare_observable, comparison_edges, histogram_bin_count, is_constant
from hepgan.validation.event_peaks import (
    PAIR_PEAK,
    TARGET_CORRELATION_FLOOR_FACTOR,
    TOP_PT_CORRELATION,
    compare_correlation,
    compare_peak,
    peak_masses,
    plot_peak,
)
from hepgan.validation.event_peaks import peak_position_width as peak_position_width  # re-exported
from hepgan.validation.event_peaks import peak_summary as peak_summary  # re-exported
from hepgan.validation.histograms import finite
from hepgan.validation.html import render
from hepgan.validation.kinematics import MULTIPLICITY, describe_event, event_observables, object_multiplicity
from hepgan.validation.observables import concatenate_observables
from hepgan.validation.plots import plot_comparison
from hepgan.validation.report_files import report_folder, write_json, write_text
from hepgan.validation.verdicts import verdict_counts

METRICS_FORMAT = "hepgan-event-validation/1"
PEAK_WINDOW_GEV = PAIR_PEAK.window_gev
PEAK_OBSERVABLE = PAIR_PEAK.name
TARGET_PEAK_POSITION = PAIR_PEAK.target_position_rel
TARGET_PEAK_WIDTH = PAIR_PEAK.target_width_rel
TARGET_W1_FLOOR_FACTOR = 3.0
MIN_VALUES = 20
MAX_BINS = 50
CHUNK_EVENTS = 16_384
"""Events reconstructed at a time (the tt̄ jet pairing holds 90 candidate triplets per event)."""
TTBAR_RECONSTRUCTIONS = ("ttbar_partons", "ttbar_jets")
LEADING_PAIR_ONLY = ("m_12", "pt_12", "y_12")
"""Leading-pair observables the tt̄ reports leave out (their candidates replace them; ΔR_12 stays)."""


# ----------------------------------------------------------------------------- observables
def array_reconstruction(batch: EventBatch, reconstruction: str | None = None) -> str:
    """``reconstruction``, checked against the batch's object slots; by default ``pair`` for ≥ 2 objects, else ``none``.

    Raises:
        ValueError: an unknown rule, or one the batch's objects cannot satisfy.
    """
    name = reconstruction or ("pair" if batch.n_objects >= 2 else "none")
    check_reconstruction(name, batch.n_objects, "reconstruction")
    return name


def batch_observables(batch: EventBatch, reconstruction: str | None = None) -> dict[str, np.ndarray]:
    """Every event observable of a batch under ``reconstruction``: name → (N,) float64, NaN where absent.

    The kinematics (:func:`hepgan.validation.kinematics.event_observables`), ``n_objects_present``,
    and the candidates of :func:`hepgan.data.resonances.reconstruct_batch` (GeV); for the tt̄
    rules without m_12, pT_12, y_12. Computed :data:`CHUNK_EVENTS` events at a time.
    """
    name = array_reconstruction(batch, reconstruction)
    chunks = [
        _chunk_observables(batch.subset(slice(start, start + CHUNK_EVENTS)), name)
        for start in range(0, max(len(batch), 1), CHUNK_EVENTS)
    ]
    return concatenate_observables(chunks)


def _chunk_observables(batch: EventBatch, reconstruction: str) -> dict[str, np.ndarray]:
    out = event_observables(batch.pt, batch.eta, batch.phi, batch.mass, batch.mask)
    out[MULTIPLICITY] = object_multiplicity(batch.mask)
    if reconstruction in TTBAR_RECONSTRUCTIONS:  # the pair rule's m_12 is the kinematics' m_12
        out = {key: value for key, value in out.items() if key not in LEADING_PAIR_ONLY}
        out.update(reconstruct_batch(batch, reconstruction))
    return out


def compared_names(reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray]) -> list[str]:
    """The observables both samples hold, without ``n_objects_present`` when it is one and the same number in both."""
    names = [name for name in reference if name in generated]
    if MULTIPLICITY in names:
        pooled = np.concatenate([finite(reference[MULTIPLICITY]), finite(generated[MULTIPLICITY])])
        if pooled.size == 0 or is_constant(pooled):
            names.remove(MULTIPLICITY)
    return names


def observable_edges(name: str, reference: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Common bin edges: the observable's fixed range (φ), its lattice when discrete, or the reference's
    0.5–99.5 % quantiles (:func:`hepgan.validation.comparison.comparison_edges`)."""
    info = describe_event(name)
    n_bins = histogram_bin_count(reference.size, generated.size, MAX_BINS)
    if info.range is not None:
        return np.linspace(*info.range, n_bins + 1)
    return comparison_edges(reference, generated, n_bins, log_bins=info.log)


def compare_event_observable(name: str, reference: np.ndarray, generated: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Metrics, floor and verdict of observable ``name`` (finite values only), with its W1 target.

    Returns:
        The results of :func:`hepgan.validation.comparison.compare_observable` on the bins of
        :func:`observable_edges` (``chi2``, ``ndf``, ``p_value``, ``chi2_ndf``, ``chi2_ndf_err``,
        ``w1``/``w1_err`` in the observable's unit, ``w1_normalised``, ``separation_power``,
        ``floor``, ``verdict``, ``n_reference``, ``n_generated``) plus ``w1_floor``/``w1_floor_err``
        (W1 between the two reference halves), ``w1_over_floor``, ``w1_within_target``
        (W1 ≤ 3 × floor) and ``edges`` (the bins); or ``skipped`` when either sample has
        fewer than 20 values; or ``degenerate`` (verdict "n/a", no metric values) when both
        samples hold one and the same value.
    """
    ref, gen = finite(reference), finite(generated)
    if min(ref.size, gen.size) < MIN_VALUES:
        skipped = f"fewer than {MIN_VALUES} values"
        return {"n_reference": int(ref.size), "n_generated": int(gen.size), "skipped": skipped}
    edges = observable_edges(name, ref, gen)
    entry, _ = compare_observable(ref, gen, edges=edges, seed=seed)
    entry["edges"] = edges
    if entry.get("degenerate"):
        return entry
    floor = entry.get("floor") or {}
    w1, w1_floor = entry.get("w1"), floor.get("w1")
    entry["w1_floor"], entry["w1_floor_err"] = w1_floor, floor.get("w1_err")
    if w1 is not None and w1_floor is not None:
        entry["w1_over_floor"] = w1 / w1_floor if w1_floor > 0 else None
        entry["w1_within_target"] = bool(w1 <= TARGET_W1_FLOOR_FACTOR * w1_floor)
    else:
        entry["w1_over_floor"], entry["w1_within_target"] = None, False
    return entry


# ----------------------------------------------------------------------------- plots
def _plot_observable(
    name: str, entry: Mapping[str, Any], edges: np.ndarray, ref: np.ndarray, gen: np.ndarray, plots: Path, title: str
) -> str:
    info = describe_event(name)
    metrics = {key: entry.get(key) for key in ("chi2", "ndf", "p_value", "w1", "degenerate")}
    path = plots / f"{name}.png"
    plot_comparison(ref, gen, edges, info.label, path, metrics=metrics, unit=info.unit, log_x=info.log, title=title)
    return f"plots/{path.name}"


def event_sample_label(attrs: Mapping[str, Any]) -> str | None:
    """Right-hand figure label from an event file's attributes: process and √s in TeV (``None`` when unknown)."""
    process = attrs.get("process")
    sqrt_s = attrs.get("sqrt_s_gev")
    parts = [str(process)] if process else []
    try:
        if sqrt_s is not None:
            parts.append(f"{float(sqrt_s) / 1000:g} TeV")
    except (TypeError, ValueError):
        pass
    return ", ".join(parts) or None


# ----------------------------------------------------------------------------- output
def render_event_html(report: Mapping[str, Any]) -> str:
    """The standalone HTML page of an event report (``event_report.html.j2``; every string escaped)."""
    peak_rows = [("position", "position (median) [GeV]"), ("width", "width (IQR) [GeV]")]
    labels = {name: describe_event(name).label for name in report["observables"]}
    return render(
        "event_report.html.j2",
        title="hepgan event validation",
        report=report,
        peak_rows=peak_rows,
        labels=labels,
        w1_factor=TARGET_W1_FLOOR_FACTOR,
        correlation_factor=TARGET_CORRELATION_FLOOR_FACTOR,
    )


def summarise_event_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Whether every target is met, and how many observables got each verdict (``verdicts``).

    Targets (``all_targets_met``): each peak's position and width, and W1 ≤ 3 × floor for each
    observable. Each correlation is counted against |ρ_gen − ρ_ref| ≤ 3 × floor
    (``correlations_within_target``) but is not one of the targets: at parton level without
    initial-state radiation the two tops balance in pT and ρ_ref = 0.9998 with a floor of
    ~1e-5, which no sampled generator meets. Observables that could not be compared
    (``skipped``, ``degenerate``) count in neither. ``peak_position_within_target`` and
    ``peak_width_within_target`` are those of the first peak (None without peaks).
    """
    compared = [
        entry for entry in report["observables"].values() if "skipped" not in entry and "degenerate" not in entry
    ]
    peaks, correlations = report["peaks"], report["correlations"]
    peaks_met = [bool(peak["position_within_target"] and peak["width_within_target"]) for peak in peaks]
    first = peaks[0] if peaks else {}
    return {
        "verdicts": verdict_counts(entry["verdict"] for entry in compared),
        "peak_position_within_target": first.get("position_within_target"),
        "peak_width_within_target": first.get("width_within_target"),
        "peaks_within_target": sum(peaks_met),
        "peaks_compared": len(peaks),
        "observables_within_target": sum(entry["w1_within_target"] for entry in compared),
        "observables_compared": len(compared),
        "correlations_within_target": sum(entry["within_target"] for entry in correlations),
        "correlations_compared": len(correlations),
        "all_targets_met": bool(all(peaks_met) and all(entry["w1_within_target"] for entry in compared)),
    }


def observable_reconstruction(
    reference: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray], reconstruction: str | None
) -> tuple[str, tuple[PeakSpec, ...]]:
    """The rule (by default ``pair`` when both samples hold m_12, else ``none``) and its peaks.

    Raises:
        InputFileError: a peak's candidate masses are missing from either sample.
    """
    both = set(reference) & set(generated)
    name = reconstruction or ("pair" if PEAK_OBSERVABLE in both else "none")
    if name not in PEAKS:
        raise ValueError(f"reconstruction: expected one of {', '.join(PEAKS)}, got {name!r}")
    for spec in PEAKS[name]:
        missing = [candidate for candidate in spec.candidates if candidate not in both]
        if missing == [PEAK_OBSERVABLE]:
            raise InputFileError(f"the events have fewer than 2 objects: no {PEAK_OBSERVABLE} peak to compare")
        if missing:
            raise InputFileError(f"no {', '.join(missing)} in the observables: no {spec.name} peak ({name}) to compare")
    return name, PEAKS[name]


def validate_event_observables(
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    make_plots: bool = True,
    sample: str | None = None,
    reconstruction: str | None = None,
) -> dict[str, Any]:
    """Compare observables computed elsewhere (name → (N,) arrays), write plots, ``metrics.json``, ``index.html``.

    Args:
        reference, generated: name → (N,) observables (:func:`batch_observables`); common names are compared.
        out_dir: report folder (created, or an earlier report's folder replaced whole by the new report).
        seed: seeds the reference splits of the floors and the peak and correlation bootstraps.
        make_plots: write the PNG plots and show them in the HTML.
        sample: the figures' right-hand label (process, √s); by default the numbers of events.
        reconstruction: the rule whose peaks are compared (:data:`hepgan.data.resonances.PEAKS`);
            None: ``pair`` when both samples hold ``m_12``, else ``none``.

    Returns:
        The report written to ``metrics.json`` (format ``hepgan-event-validation/1``):
        ``reconstruction``, ``n_reference``, ``n_generated``, ``observables`` (per name, see
        :func:`compare_event_observable`), ``peaks`` (one
        :func:`hepgan.validation.event_peaks.compare_peak` per peak), ``peak`` (the first of
        them, None without peaks), ``correlations`` (the top pT correlation,
        :func:`hepgan.validation.event_peaks.compare_correlation`, when both samples hold
        ``pt_t1`` and ``pt_t2``; else empty), ``summary`` (:func:`summarise_event_report`),
        ``plots`` (name → relative PNG path).
    """
    name, peaks = observable_reconstruction(reference, generated, reconstruction)
    with report_folder(out_dir, "plots") as folder:
        return _write_event_report(reference, generated, name, peaks, folder, seed, make_plots, sample)


def _write_event_report(
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    reconstruction: str,
    peak_specs: Sequence[PeakSpec],
    out_dir: Path,
    seed: int,
    make_plots: bool,
    sample: str | None = None,
) -> dict[str, Any]:
    """The body of :func:`validate_event_observables`, writing into the (new, empty) folder ``out_dir``."""
    observables: dict[str, dict[str, Any]] = {}
    plots: dict[str, str] = {}
    n_reference, n_generated = len(next(iter(reference.values()))), len(next(iter(generated.values())))
    title = sample or f"{n_reference} reference, {n_generated} generated events"
    for name in compared_names(reference, generated):
        entry = compare_event_observable(name, reference[name], generated[name], seed)
        edges = entry.pop("edges", None)
        if edges is not None and make_plots:
            plots[name] = _plot_observable(
                name, entry, edges, finite(reference[name]), finite(generated[name]), out_dir / "plots", title
            )
        observables[name] = entry
    peaks = [compare_peak(reference, generated, spec, seed) for spec in peak_specs]
    if make_plots:
        for spec in peak_specs:
            ref_masses, gen_masses = peak_masses(reference, spec), peak_masses(generated, spec)
            plots[f"{spec.name}_peak"] = plot_peak(ref_masses, gen_masses, spec, out_dir / "plots", title)
    correlations = []
    if all(key in reference and key in generated for key in TOP_PT_CORRELATION):
        correlations.append(compare_correlation(reference, generated, TOP_PT_CORRELATION, seed))
    report: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "units": {"pt": "GeV", "mass": "GeV", "phi": "rad"},
        "reconstruction": reconstruction,
        "n_reference": n_reference,
        "n_generated": n_generated,
        "observables": observables,
        "peak": peaks[0] if peaks else None,
        "peaks": peaks,
        "correlations": correlations,
        "plots": plots,
    }
    report["summary"] = summarise_event_report(report)
    report = write_json(out_dir / "metrics.json", report)
    write_text(out_dir / "index.html", render_event_html(report))
    return report


def validate_event_arrays(
    reference: EventBatch,
    generated: EventBatch,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    make_plots: bool = True,
    sample: str | None = None,
    reconstruction: str | None = None,
) -> dict[str, Any]:
    """Validate generated against reference events in memory; see :func:`validate_event_observables`.

    ``reconstruction`` None: ``pair`` for events of at least 2 objects, else ``none``.
    """
    name = array_reconstruction(reference, reconstruction)
    return validate_event_observables(
        batch_observables(reference, name), batch_observables(generated, name), out_dir, seed, make_plots, sample, name
    )


def file_reconstruction(reference_path: str | os.PathLike[str], generated_path: str | os.PathLike[str]) -> str:
    """The rule the reference file states (attribute ``reconstruction``), else the one the generated file states
    (a run's hold-out states none, ``hepgan generate`` writes it), else ``pair`` for ≥ 2 objects, else ``none``."""
    with EventReader(reference_path, None, chunk_size=1) as reader:
        attrs, n_objects = reader.attrs, reader.n_objects
    path = reference_path
    if "reconstruction" not in attrs:
        path = generated_path
        with EventReader(generated_path, None, chunk_size=1) as reader:
            attrs = reader.attrs
    try:
        return default_reconstruction(attrs, n_objects)
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None


def _file_observables(path: Path, chunk_size: int, reconstruction: str) -> tuple[dict[str, np.ndarray], str | None]:
    """The observables of an event file under ``reconstruction`` and its sample label (:func:`event_sample_label`)."""
    with EventReader(path, None, chunk_size=chunk_size) as reader:
        label = event_sample_label(reader.attrs)
        try:
            check_reconstruction(reconstruction, reader.n_objects, "reconstruction")
        except ValueError as error:
            raise InputFileError(f"{path}: {error}") from error
        chunks = [batch_observables(batch, reconstruction) for batch in reader.iter_chunks()]
    if not chunks:
        raise InputFileError(f"{path}: no events to validate")
    return concatenate_observables(chunks), label


def validate_event_files(
    reference_path: str | os.PathLike[str],
    generated_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    chunk_size: int = 100_000,
    seed: int = 0,
    reconstruction: str | None = None,
) -> dict[str, Any]:
    """Validate two event tables (HDF5/ROOT, as written by hepgan) read chunk by chunk.

    Only the observables (a few floats per event) are kept in memory. ``reconstruction`` None:
    the rule the files state (:func:`file_reconstruction`), applied to both. The figures are
    labelled with the reference file's process and √s (:func:`event_sample_label`).
    """
    name = reconstruction or file_reconstruction(reference_path, generated_path)
    reference, label = _file_observables(Path(reference_path), chunk_size, name)
    generated, _ = _file_observables(Path(generated_path), chunk_size, name)
    return validate_event_observables(reference, generated, out_dir, seed, sample=label, reconstruction=name)


def is_event_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a hepgan event table (file attribute ``layout`` = "hepgan-events")."""
    try:
        with EventReader(path, None, chunk_size=1) as reader:
            return reader.attrs.get("layout") == TABLE_LAYOUT
    except InputFileError:
        return False
