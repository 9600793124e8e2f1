"""Validation report for event kinematics: observables with floors and verdicts, the resonance peak, plots, JSON, HTML.

Entry points: :func:`validate_event_arrays` for :class:`~hepgan.io.events.EventBatch` es in
memory, :func:`validate_event_files` for event tables / ROOT files read chunk by chunk
(only a few floats per event are kept).

Every observable of :func:`hepgan.validation.kinematics.event_observables` (object pT, η, φ;
leading-pair invariant mass m_12, ΔR_12, pT_12, y_12) is compared with the machinery of the
shower report (:func:`hepgan.validation.comparison.compare_observable`): the χ² homogeneity
test on common bins (under/overflow included), W1 and separation power with bootstrap errors,
their *floor* (the same metrics between two random halves of the reference) and the verdict
of :mod:`hepgan.validation.verdicts` (the worse of the W1 and χ²/ndf verdicts: ok when the
excess over the floor is within 2σ of the combined error, tension within 5σ, fail beyond).

Physics targets, reported next to the verdicts (``w1_within_target``, ``peak``, ``summary``):
W1 ≤ 3 × floor for each observable, and the resonance peak of m_12 (the Z for Z → μμ)
within 0.5 % in position and 10 % in width. The peak is summarised in the window 80–100 GeV
by robust quantiles rather than a fit, which needs no starting values and cannot fail to
converge: the position is the median of the masses in the window and the width their
interquartile range (for a pure Breit–Wigner the IQR equals the full width Γ; the window
truncation and the detector-free FSR tail make it somewhat smaller, equally for both
samples). Errors are bootstrap standard deviations.

Output in ``out_dir``: ``metrics.json``, ``index.html`` (``event_report.html.j2``; every string
escaped; opens from disk) and ``plots/<observable>.png`` (mplhep, ratio panel) plus
``plots/m_12_peak.png``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.errors import InputFileError
from hepgan.io.events import TABLE_LAYOUT, EventBatch, EventReader
from hepgan.validation.comparison import compare_observable, comparison_edges, histogram_bin_count
from hepgan.validation.histograms import finite
from hepgan.validation.html import render
from hepgan.validation.kinematics import describe_event, event_observables
from hepgan.validation.observables import concatenate_observables
from hepgan.validation.plots import plot_comparison
from hepgan.validation.report_files import report_folder, write_json, write_text
from hepgan.validation.verdicts import verdict_counts

METRICS_FORMAT = "hepgan-event-validation/1"
PEAK_WINDOW_GEV = (80.0, 100.0)
PEAK_OBSERVABLE = "m_12"
TARGET_PEAK_POSITION = 0.005
TARGET_PEAK_WIDTH = 0.10
TARGET_W1_FLOOR_FACTOR = 3.0
MIN_VALUES = 20
N_BOOTSTRAP = 50
MAX_BINS = 50


# ----------------------------------------------------------------------------- observables
def batch_observables(batch: EventBatch) -> dict[str, np.ndarray]:
    """Every event observable of a batch: name → (N,) float64, NaN where an object is absent."""
    return event_observables(batch.pt, batch.eta, batch.phi, batch.mass, batch.mask)


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


# ----------------------------------------------------------------------------- resonance peak
def peak_position_width(masses: np.ndarray, window: tuple[float, float] = PEAK_WINDOW_GEV) -> tuple[float, float]:
    """Median and interquartile range (GeV) of the masses inside ``window``; NaN with < 20 values."""
    inside = masses[(masses >= window[0]) & (masses <= window[1])]
    if inside.size < MIN_VALUES:
        return float("nan"), float("nan")
    q25, q50, q75 = np.quantile(inside, (0.25, 0.5, 0.75))
    return float(q50), float(q75 - q25)


def peak_summary(masses: np.ndarray, seed: int = 0, window: tuple[float, float] = PEAK_WINDOW_GEV) -> dict[str, Any]:
    """Peak position and width (GeV) of :func:`peak_position_width` with bootstrap errors."""
    masses = finite(masses)
    inside = masses[(masses >= window[0]) & (masses <= window[1])]
    position, width = peak_position_width(inside, window)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [peak_position_width(rng.choice(inside, inside.size), window) for _ in range(N_BOOTSTRAP)]
        if inside.size >= MIN_VALUES
        else [[np.nan, np.nan]]
    )
    return {
        "position_gev": position,
        "position_err_gev": float(np.std(draws[:, 0])),
        "width_gev": width,
        "width_err_gev": float(np.std(draws[:, 1])),
        "n_in_window": int(inside.size),
        "fraction_in_window": float(inside.size / max(masses.size, 1)),
    }


def compare_peaks(reference: np.ndarray, generated: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Reference and generated peak summaries, relative differences (gen/ref − 1) and the targets."""
    ref, gen = peak_summary(reference, seed), peak_summary(generated, seed + 1)
    position_rel = gen["position_gev"] / ref["position_gev"] - 1.0
    width_rel = gen["width_gev"] / ref["width_gev"] - 1.0
    return {
        "observable": PEAK_OBSERVABLE,
        "window_gev": list(PEAK_WINDOW_GEV),
        "estimator": "position: median in window; width: interquartile range in window (= Γ for a Breit-Wigner)",
        "reference": ref,
        "generated": gen,
        "position_rel_diff": position_rel,
        "width_rel_diff": width_rel,
        "target_position_rel": TARGET_PEAK_POSITION,
        "target_width_rel": TARGET_PEAK_WIDTH,
        "position_within_target": bool(abs(position_rel) <= TARGET_PEAK_POSITION),
        "width_within_target": bool(abs(width_rel) <= TARGET_PEAK_WIDTH),
    }


# ----------------------------------------------------------------------------- plots
def _plot_observable(
    name: str, entry: Mapping[str, Any], edges: np.ndarray, ref: np.ndarray, gen: np.ndarray, plots: Path, title: str
) -> str:
    info = describe_event(name)
    metrics = {key: entry.get(key) for key in ("chi2", "ndf", "p_value", "w1", "degenerate")}
    path = plots / f"{name}.png"
    plot_comparison(ref, gen, edges, info.label, path, metrics=metrics, unit=info.unit, log_x=info.log, title=title)
    return f"plots/{path.name}"


def _plot_peak(reference: np.ndarray, generated: np.ndarray, plots: Path, title: str) -> str:
    ref, gen = finite(reference), finite(generated)
    edges = np.linspace(*PEAK_WINDOW_GEV, 41)
    path = plots / f"{PEAK_OBSERVABLE}_peak.png"
    label = describe_event(PEAK_OBSERVABLE).label
    window = f"window {PEAK_WINDOW_GEV[0]:g}–{PEAK_WINDOW_GEV[1]:g} GeV"
    plot_comparison(ref, gen, edges, label, path, unit="GeV", log_y=False, title=f"{title}\n{window}")
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
    peak_rows = [
        ("position", "position (median) [GeV]", report["peak"]["target_position_rel"]),
        ("width", "width (IQR) [GeV]", report["peak"]["target_width_rel"]),
    ]
    labels = {name: describe_event(name).label for name in report["observables"]}
    return render(
        "event_report.html.j2",
        title="hepgan event validation",
        report=report,
        peak_rows=peak_rows,
        labels=labels,
        window_gev=PEAK_WINDOW_GEV,
        w1_factor=TARGET_W1_FLOOR_FACTOR,
    )


def summarise_event_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Whether every target is met (peak position, peak width, W1 ≤ 3 × floor for each observable),
    and how many observables got each verdict (``verdicts``). Observables that could not be compared
    (``skipped``, ``degenerate``) count in neither."""
    compared = [
        entry for entry in report["observables"].values() if "skipped" not in entry and "degenerate" not in entry
    ]
    return {
        "verdicts": verdict_counts(entry["verdict"] for entry in compared),
        "peak_position_within_target": report["peak"]["position_within_target"],
        "peak_width_within_target": report["peak"]["width_within_target"],
        "observables_within_target": sum(entry["w1_within_target"] for entry in compared),
        "observables_compared": len(compared),
        "all_targets_met": bool(
            report["peak"]["position_within_target"]
            and report["peak"]["width_within_target"]
            and all(entry["w1_within_target"] for entry in compared)
        ),
    }


def validate_event_observables(
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    make_plots: bool = True,
    sample: str | None = None,
) -> dict[str, Any]:
    """Compare observables computed elsewhere (name → (N,) arrays), write plots, ``metrics.json``, ``index.html``.

    Args:
        reference, generated: name → (N,) observables (:func:`batch_observables`); common names are compared.
        out_dir: report folder (created, or an earlier report's folder replaced whole by the new report).
        seed: seeds the reference splits of the floors and the peak bootstraps.
        make_plots: write the PNG plots and show them in the HTML.
        sample: the figures' right-hand label (process, √s); by default the numbers of events.

    Returns:
        The report written to ``metrics.json`` (format ``hepgan-event-validation/1``):
        ``n_reference``, ``n_generated``, ``observables`` (per name, see
        :func:`compare_event_observable`), ``peak`` (:func:`compare_peaks`), ``summary``
        (:func:`summarise_event_report`), ``plots`` (name → relative PNG path).
    """
    names = [name for name in reference if name in generated]
    if PEAK_OBSERVABLE not in names:
        raise InputFileError(f"the events have fewer than 2 objects: no {PEAK_OBSERVABLE} peak to compare")
    with report_folder(out_dir, "plots") as folder:
        return _write_event_report(reference, generated, names, folder, seed, make_plots, sample)


def _write_event_report(
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    names: list[str],
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
    for name in names:
        entry = compare_event_observable(name, reference[name], generated[name], seed)
        edges = entry.pop("edges", None)
        if edges is not None and make_plots:
            plots[name] = _plot_observable(
                name, entry, edges, finite(reference[name]), finite(generated[name]), out_dir / "plots", title
            )
        observables[name] = entry
    peak = compare_peaks(reference[PEAK_OBSERVABLE], generated[PEAK_OBSERVABLE], seed)
    if make_plots:
        plots[f"{PEAK_OBSERVABLE}_peak"] = _plot_peak(
            reference[PEAK_OBSERVABLE], generated[PEAK_OBSERVABLE], out_dir / "plots", title
        )
    report: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "units": {"pt": "GeV", "mass": "GeV", "phi": "rad"},
        "n_reference": n_reference,
        "n_generated": n_generated,
        "observables": observables,
        "peak": peak,
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
) -> dict[str, Any]:
    """Validate generated against reference events in memory; see :func:`validate_event_observables`."""
    return validate_event_observables(
        batch_observables(reference), batch_observables(generated), out_dir, seed, make_plots, sample
    )


def _file_observables(path: Path, chunk_size: int) -> tuple[dict[str, np.ndarray], str | None]:
    """The observables of an event file and its sample label (:func:`event_sample_label`)."""
    with EventReader(path, None, chunk_size=chunk_size) as reader:
        chunks = [batch_observables(batch) for batch in reader.iter_chunks()]
        label = event_sample_label(reader.attrs)
    if not chunks:
        raise InputFileError(f"{path}: no events to validate")
    return concatenate_observables(chunks), label


def validate_event_files(
    reference_path: str | os.PathLike[str],
    generated_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    chunk_size: int = 100_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Validate two event tables (HDF5/ROOT, as written by hepgan) read chunk by chunk.

    Only the observables (about ten floats per event) are kept in memory. The figures are
    labelled with the reference file's process and √s (:func:`event_sample_label`).
    """
    reference, label = _file_observables(Path(reference_path), chunk_size)
    generated, _ = _file_observables(Path(generated_path), chunk_size)
    return validate_event_observables(reference, generated, out_dir, seed, sample=label)


def is_event_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a hepgan event table (file attribute ``layout`` = "hepgan-events")."""
    try:
        with EventReader(path, None, chunk_size=1) as reader:
            return reader.attrs.get("layout") == TABLE_LAYOUT
    except InputFileError:
        return False
