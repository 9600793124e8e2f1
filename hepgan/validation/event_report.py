"""Validation report for event kinematics: observables, χ², W1 with floors, the resonance peak, plots, JSON, HTML.

Entry points: :func:`validate_event_arrays` for :class:`~hepgan.io.events.EventBatch` es in
memory, :func:`validate_event_files` for event tables / ROOT files read chunk by chunk
(only a few floats per event are kept).

What is compared, for every observable of :func:`hepgan.validation.kinematics.event_observables`
(object pT, η, φ; leading-pair invariant mass m_12, ΔR_12, pT_12, y_12):

- the χ² homogeneity test on common bins (under/overflow included;
  :func:`hepgan.validation.metrics.chi2_two_histograms`);
- the Wasserstein-1 distance W1 (:func:`hepgan.validation.metrics.wasserstein_1d`) and its
  *floor*: W1 between two random halves of the reference, what a perfect generator would
  score with half the statistics. The target is W1 ≤ 3 × floor.

The resonance peak of m_12 (the Z for Z → μμ) is summarised in the window 80–100 GeV by
robust quantiles rather than a fit, which needs no starting values and cannot fail to
converge: the position is the median of the masses in the window and the width their
interquartile range (for a pure Breit–Wigner the IQR equals the full width Γ; the
window truncation and the detector-free FSR tail make it somewhat smaller, equally for
both samples). Errors are bootstrap standard deviations. Targets: |Δposition|/position
≤ 0.5 % and |Δwidth|/width ≤ 10 %.

Output in ``out_dir``: ``metrics.json``, ``index.html`` (every string escaped; opens from
disk) and ``plots/<observable>.png`` (mplhep, ratio panel) plus ``plots/m_12_peak.png``.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.errors import InputFileError, OutputError
from hepgan.io.events import TABLE_LAYOUT, EventBatch, EventReader
from hepgan.validation.histograms import common_edges, finite, histogram_counts
from hepgan.validation.kinematics import describe_event, event_observables
from hepgan.validation.metrics import chi2_two_histograms, wasserstein_1d
from hepgan.validation.plots import plot_comparison

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


def _concatenate(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random index sets of size n // 2 (the reference split for the floor)."""
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 : 2 * (n // 2)]


def observable_edges(name: str, reference: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Common bin edges: the observable's fixed range (φ) or the reference's 0.5–99.5 % quantiles."""
    info = describe_event(name)
    n_bins = int(min(MAX_BINS, max(5, min(reference.size, generated.size) // 10)))
    if info.range is not None:
        return np.linspace(*info.range, n_bins + 1)
    return common_edges(reference, generated, n_bins, log=info.log)


def compare_event_observable(name: str, reference: np.ndarray, generated: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """χ² on common bins, W1 and the W1 floor of observable ``name`` (finite values only).

    Returns:
        ``n_reference``, ``n_generated``, ``chi2``, ``ndf``, ``p_value``, ``chi2_ndf``,
        ``chi2_ndf_err``, ``w1`` (in the observable's unit), ``w1_floor``, ``w1_over_floor``,
        ``w1_within_target`` (W1 ≤ 3 × floor) and ``edges`` (the bins), or ``skipped``
        when either sample has fewer than 20 values.
    """
    ref, gen = finite(reference), finite(generated)
    entry: dict[str, Any] = {"n_reference": int(ref.size), "n_generated": int(gen.size)}
    if min(ref.size, gen.size) < MIN_VALUES:
        return {**entry, "skipped": f"fewer than {MIN_VALUES} values"}
    edges = observable_edges(name, ref, gen)
    entry.update(chi2_two_histograms(histogram_counts(ref, edges), histogram_counts(gen, edges)).as_dict())
    first, second = _halves(ref.size, seed)
    entry["w1"] = wasserstein_1d(ref, gen)
    entry["w1_floor"] = wasserstein_1d(ref[first], ref[second])
    entry["w1_over_floor"] = entry["w1"] / entry["w1_floor"] if entry["w1_floor"] > 0 else None
    entry["w1_within_target"] = bool(entry["w1"] <= TARGET_W1_FLOOR_FACTOR * entry["w1_floor"])
    entry["edges"] = edges
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
def _plot_observable(name: str, entry: Mapping[str, Any], ref: np.ndarray, gen: np.ndarray, plots: Path) -> str:
    info = describe_event(name)
    metrics = {key: entry.get(key) for key in ("chi2", "ndf", "p_value", "w1")}
    path = plots / f"{name}.png"
    plot_comparison(ref, gen, entry["edges"], info.label, path, metrics=metrics, unit=info.unit, log_x=info.log)
    return f"plots/{path.name}"


def _plot_peak(reference: np.ndarray, generated: np.ndarray, plots: Path) -> str:
    ref, gen = finite(reference), finite(generated)
    edges = np.linspace(*PEAK_WINDOW_GEV, 41)
    path = plots / f"{PEAK_OBSERVABLE}_peak.png"
    label = describe_event(PEAK_OBSERVABLE).label
    plot_comparison(ref, gen, edges, label, path, unit="GeV", title="resonance window")
    return f"plots/{path.name}"


# ----------------------------------------------------------------------------- output
def _json_ready(value: Any) -> Any:
    """numpy types → Python, NaN/inf → None, arrays → lists (recursively)."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_ready(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _fmt(value: Any, spec: str = ".4g") -> str:
    return "–" if value is None or (isinstance(value, float) and not np.isfinite(value)) else format(value, spec)


def _row(cells: list[Any]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>"


def _peak_rows(peak: Mapping[str, Any]) -> list[str]:
    ref, gen = peak["reference"], peak["generated"]
    rows = []
    for key, label, target, ok in (
        ("position", "position (median) [GeV]", peak["target_position_rel"], peak["position_within_target"]),
        ("width", "width (IQR) [GeV]", peak["target_width_rel"], peak["width_within_target"]),
    ):
        rel = peak[f"{key}_rel_diff"]
        rows.append(
            _row(
                [
                    label,
                    f"{_fmt(ref[f'{key}_gev'])} ± {_fmt(ref[f'{key}_err_gev'], '.2g')}",
                    f"{_fmt(gen[f'{key}_gev'])} ± {_fmt(gen[f'{key}_err_gev'], '.2g')}",
                    f"{_fmt(100 * rel, '+.2f')} %" if rel is not None and np.isfinite(rel) else "–",
                    f"± {100 * target:g} %",
                    "ok" if ok else "missed",
                ]
            )
        )
    return rows


def _observable_rows(observables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    rows = []
    for name, entry in observables.items():
        if "skipped" in entry:
            rows.append(_row([name, entry["skipped"], "", "", "", "", ""]))
            continue
        rows.append(
            _row(
                [
                    name,
                    f"{_fmt(entry['chi2'])}/{int(entry['ndf'])}",
                    _fmt(entry["p_value"], ".2g"),
                    _fmt(entry["w1"]),
                    _fmt(entry["w1_floor"]),
                    _fmt(entry["w1_over_floor"], ".2f"),
                    "ok" if entry["w1_within_target"] else "missed",
                ]
            )
        )
    return rows


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render_event_html(report: Mapping[str, Any]) -> str:
    """Standalone HTML page: peak table, observable table, plots; every string is escaped."""
    e = html.escape
    title = "hepgan event validation"
    figures = [
        f'<figure><a href="{e(path, quote=True)}"><img src="{e(path, quote=True)}" alt="{e(name, quote=True)}" '
        f'width="420"></a><figcaption>{e(name)}</figcaption></figure>'
        for name, path in report["plots"].items()
    ]
    intro = (
        f"Reference events: {report['n_reference']}; generated events: {report['n_generated']}. "
        f"The W1 floor is W1 between two random halves of the reference; target W1 ≤ "
        f"{TARGET_W1_FLOOR_FACTOR:g} × floor. Peak of {PEAK_OBSERVABLE} in {PEAK_WINDOW_GEV[0]:g}–"
        f"{PEAK_WINDOW_GEV[1]:g} GeV: {report['peak']['estimator']}."
    )
    peak_header = ["peak", "reference", "generated", "gen/ref − 1", "target", "verdict"]
    obs_header = ["observable", "χ²/ndf", "p", "W1", "W1 floor", "W1/floor", f"W1 ≤ {TARGET_W1_FLOOR_FACTOR:g}×floor"]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(title)}</title>",
            "<style>body{font-family:sans-serif}table{border-collapse:collapse;font-size:small}"
            "td,th{border:1px solid #ccc;padding:2px 6px}figure{display:inline-block;margin:4px}"
            "figcaption{font-size:small}</style></head><body>",
            f"<h1>{e(title)}</h1>",
            f"<p>{e(intro)}</p>",
            "<h2>Resonance peak</h2>",
            _table(peak_header, _peak_rows(report["peak"])),
            "<h2>Observables</h2>",
            _table(obs_header, _observable_rows(report["observables"])),
            "<h2>Plots</h2>",
            *figures,
            "</body></html>",
        ]
    )


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _prepare(out_dir: Path) -> Path:
    try:
        (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create output directory ({exc.strerror or exc})") from None
    return out_dir


def summarise_event_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Whether every target is met: peak position, peak width, W1 ≤ 3 × floor for each observable."""
    compared = [entry for entry in report["observables"].values() if "skipped" not in entry]
    return {
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
) -> dict[str, Any]:
    """Compare observables computed elsewhere (name → (N,) arrays), write plots, ``metrics.json``, ``index.html``.

    Returns:
        The report written to ``metrics.json`` (format ``hepgan-event-validation/1``):
        ``n_reference``, ``n_generated``, ``observables`` (per name, see
        :func:`compare_event_observable`), ``peak`` (:func:`compare_peaks`), ``summary``
        (:func:`summarise_event_report`), ``plots`` (name → relative PNG path).
    """
    out_dir = _prepare(Path(out_dir))
    names = [name for name in reference if name in generated]
    if PEAK_OBSERVABLE not in names:
        raise InputFileError(f"the events have fewer than 2 objects: no {PEAK_OBSERVABLE} peak to compare")
    observables: dict[str, dict[str, Any]] = {}
    plots: dict[str, str] = {}
    for name in names:
        entry = compare_event_observable(name, reference[name], generated[name], seed)
        if "edges" in entry:
            plots[name] = _plot_observable(
                name, entry, finite(reference[name]), finite(generated[name]), out_dir / "plots"
            )
            entry.pop("edges")
        observables[name] = entry
    peak = compare_peaks(reference[PEAK_OBSERVABLE], generated[PEAK_OBSERVABLE], seed)
    plots[f"{PEAK_OBSERVABLE}_peak"] = _plot_peak(
        reference[PEAK_OBSERVABLE], generated[PEAK_OBSERVABLE], out_dir / "plots"
    )
    report: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "units": {"pt": "GeV", "mass": "GeV", "phi": "rad"},
        "n_reference": len(next(iter(reference.values()))),
        "n_generated": len(next(iter(generated.values()))),
        "observables": observables,
        "peak": peak,
        "plots": plots,
    }
    report["summary"] = summarise_event_report(report)
    report = _json_ready(report)
    _write_text(out_dir / "metrics.json", json.dumps(report, indent=1))
    _write_text(out_dir / "index.html", render_event_html(report))
    return report


def validate_event_arrays(
    reference: EventBatch, generated: EventBatch, out_dir: str | os.PathLike[str], seed: int = 0
) -> dict[str, Any]:
    """Validate generated against reference events in memory; see :func:`validate_event_observables`."""
    return validate_event_observables(batch_observables(reference), batch_observables(generated), out_dir, seed)


def _file_observables(path: Path, chunk_size: int) -> dict[str, np.ndarray]:
    with EventReader(path, None, chunk_size=chunk_size) as reader:
        chunks = [batch_observables(batch) for batch in reader.iter_chunks()]
    if not chunks:
        raise InputFileError(f"{path}: no events to validate")
    return _concatenate(chunks)


def validate_event_files(
    reference_path: str | os.PathLike[str],
    generated_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    chunk_size: int = 100_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Validate two event tables (HDF5/ROOT, as written by hepgan) read chunk by chunk.

    Only the observables (about ten floats per event) are kept in memory.
    """
    reference = _file_observables(Path(reference_path), chunk_size)
    generated = _file_observables(Path(generated_path), chunk_size)
    return validate_event_observables(reference, generated, out_dir, seed)


def is_event_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a hepgan event table (file attribute ``layout`` = "hepgan-events")."""
    try:
        with EventReader(path, None, chunk_size=1) as reader:
            return reader.attrs.get("layout") == TABLE_LAYOUT
    except InputFileError:
        return False
