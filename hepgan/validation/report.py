"""Validation report: observables, metrics per incident-energy bin, plots, JSON and HTML.

Entry points:

- :func:`validate_arrays` for showers already in memory;
- :func:`validate_files` for shower files, read chunk by chunk with bounded memory;
- :func:`validate_observables` for per-shower observables computed elsewhere (e.g. during
  training), which the two functions above call.

Output layout in ``out_dir``: ``metrics.json`` (machine-readable, with units),
``index.html`` (summary table and images), ``plots/<observable>.png`` (one per observable),
``response_per_energy.png`` and, when mean showers are known, ``average_layer_images.png``.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.errors import OutputError
from hepgan.io.geometry import CaloGeometry
from hepgan.validation.histograms import common_edges, finite, histogram_counts
from hepgan.validation.metrics import DEFAULT_1D_METRICS, compare_1d
from hepgan.validation.observables import concatenate_observables, describe, shower_observables
from hepgan.validation.plots import plot_average_layer_images, plot_comparison, plot_response_per_energy

log = logging.getLogger(__name__)

METRICS_FORMAT = "hepgan-validation-metrics/1"
MAX_DISCRETE_ENERGIES = 20
DEFAULT_QUANTILE_BINS = 5
MIN_SHOWERS_PER_BIN = 10
DISCRETE_RTOL = 1e-3
P_VALUE_ALARM = 0.01

EnergyBinsSpec = str | int | Sequence[float]


@dataclass(frozen=True)
class EnergyBinning:
    """Incident-energy bins (MeV) in which observables are compared.

    Attributes:
        mode: ``"discrete"`` (one bin per distinct reference energy), ``"quantile"`` or
            ``"edges"`` (continuous bins; the outer bins are open-ended).
        low, high: (k,) bin limits in MeV (equal for discrete bins).
        centres: (k,) representative energy per bin in MeV (discrete value or reference median).
    """

    mode: str
    low: np.ndarray
    high: np.ndarray
    centres: np.ndarray

    @property
    def n_bins(self) -> int:
        return int(self.centres.size)

    def assign(self, incident_mev: np.ndarray) -> np.ndarray:
        """Bin index of each incident energy; -1 where a discrete energy matches no bin."""
        energy = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        if self.mode == "discrete":
            values = self.centres
            right = np.clip(np.searchsorted(values, energy), 0, values.size - 1)
            left = np.clip(right - 1, 0, values.size - 1)
            nearest = np.where(np.abs(values[left] - energy) < np.abs(values[right] - energy), left, right)
            close = np.abs(values[nearest] - energy) <= DISCRETE_RTOL * np.abs(values[nearest])
            return np.where(close, nearest, -1)
        return np.searchsorted(self.high[:-1], energy, side="right")

    def labels(self) -> list[str]:
        """Human-readable bin names, e.g. ``"65.5 GeV"`` or ``"1.0-4.1 GeV"``."""
        if self.mode == "discrete":
            return [f"{c / 1000:.4g} GeV" for c in self.centres]
        return [f"{lo / 1000:.4g}-{hi / 1000:.4g} GeV" for lo, hi in zip(self.low, self.high, strict=True)]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "unit": "MeV",
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "centres": self.centres.tolist(),
            "labels": self.labels(),
        }


def make_energy_binning(reference_incident_mev: np.ndarray, energy_bins: EnergyBinsSpec = "auto") -> EnergyBinning:
    """Choose incident-energy bins from the reference sample.

    Args:
        reference_incident_mev: (N,) reference incident energies in MeV.
        energy_bins: ``"auto"`` (discrete if at most 20 distinct energies, else 5 quantile
            bins), ``"discrete"``, an int (number of quantile bins) or a sequence of edges (MeV).
    """
    energy = finite(reference_incident_mev)
    if energy.size == 0:
        raise ValueError("no finite reference incident energy")
    distinct = np.unique(energy)
    if energy_bins == "discrete" or (energy_bins == "auto" and distinct.size <= MAX_DISCRETE_ENERGIES):
        return EnergyBinning("discrete", distinct, distinct, distinct)
    if isinstance(energy_bins, str) and energy_bins != "auto":
        raise ValueError(f"energy_bins must be 'auto', 'discrete', an int or edges, got {energy_bins!r}")
    if isinstance(energy_bins, str | int):
        n_bins = DEFAULT_QUANTILE_BINS if isinstance(energy_bins, str) else int(energy_bins)
        if n_bins < 1:
            raise ValueError(f"energy_bins must be >= 1, got {n_bins}")
        edges, mode = np.unique(np.quantile(energy, np.linspace(0.0, 1.0, n_bins + 1))), "quantile"
    else:
        edges, mode = np.asarray(energy_bins, dtype=np.float64), "edges"
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("energy bin edges must be at least two increasing energies in MeV")
    if edges.size < 2:
        edges = np.array([edges[0], edges[0]])
    low, high = edges[:-1], edges[1:]
    binning = EnergyBinning(mode, low, high, 0.5 * (low + high))
    index = binning.assign(energy)
    centres = np.array(
        [np.median(energy[index == i]) if np.any(index == i) else c for i, c in enumerate(binning.centres)]
    )
    return EnergyBinning(mode, low, high, centres)


def _n_hist_bins(n_ref: int, n_gen: int, n_max: int) -> int:
    """At most ``n_max`` bins, about 10 entries per bin in the smaller sample, at least 5."""
    return int(min(n_max, max(5, min(n_ref, n_gen) // 10)))


def compare_observable(
    reference: np.ndarray,
    generated: np.ndarray,
    log_bins: bool,
    n_bins: int = 50,
    metrics: Iterable[str] = DEFAULT_1D_METRICS,
) -> tuple[dict[str, float | None], np.ndarray | None]:
    """Metrics of one observable on common bins (under/overflow included).

    Returns:
        (results, edges): results hold the metric values plus ``n_reference``,
        ``n_generated``; non-finite values are ``None``. ``edges`` is ``None`` (and the
        results carry ``skipped``) when either sample has fewer than 10 finite values.
    """
    ref, gen = finite(reference), finite(generated)
    base: dict[str, Any] = {"n_reference": int(ref.size), "n_generated": int(gen.size)}
    if min(ref.size, gen.size) < MIN_SHOWERS_PER_BIN:
        return {**base, "skipped": f"fewer than {MIN_SHOWERS_PER_BIN} showers"}, None
    edges = common_edges(ref, gen, _n_hist_bins(ref.size, gen.size, n_bins), log=log_bins)
    counts_ref, counts_gen = histogram_counts(ref, edges), histogram_counts(gen, edges)
    results = compare_1d(ref, gen, counts_ref, counts_gen, metrics)
    base.update({key: (float(value) if np.isfinite(value) else None) for key, value in results.items()})
    return base, edges


def response_statistics(values: np.ndarray, bin_index: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    """Mean, width (sample std) and their errors of ``values`` per bin; NaN for bins with < 2 entries."""
    out = {key: np.full(n_bins, np.nan) for key in ("mean", "mean_err", "width", "width_err")}
    out["n"] = np.zeros(n_bins)
    for i in range(n_bins):
        sample = finite(values[bin_index == i])
        out["n"][i] = sample.size
        if sample.size < 2:
            continue
        std = sample.std(ddof=1)
        out["mean"][i], out["mean_err"][i] = sample.mean(), std / np.sqrt(sample.size)
        out["width"][i], out["width_err"][i] = std, std / np.sqrt(2.0 * (sample.size - 1))
    return out


def _json_ready(value: Any) -> Any:
    """Recursively turn numpy types into Python ones and NaN/inf into ``None``."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def render_html(report: Mapping[str, Any]) -> str:
    """Standalone HTML page (summary table and images); every string is ``html.escape``d."""
    e = html.escape
    geometry = report["geometry"]
    rows = []
    for name, entry in report["observables"].items():
        overall = entry["overall"]
        failing = entry.get("n_energy_bins_p_below_alarm", 0)
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(str(cell))}</td>"
                for cell in (
                    name,
                    entry["label"],
                    entry["unit"] or "-",
                    _fmt(overall.get("chi2_ndf")),
                    _fmt(overall.get("p_value"), ".2g"),
                    _fmt(overall.get("w1")),
                    _fmt(overall.get("separation_power")),
                    failing,
                )
            )
            + "</tr>"
        )
    images = "\n".join(
        f'<figure><img src="{e(path, quote=True)}" alt="{e(name, quote=True)}" width="480">'
        f"<figcaption>{e(name)}</figcaption></figure>"
        for name, path in report["plots"].items()
    )
    header = "".join(
        f"<th>{e(h)}</th>"
        for h in ("observable", "label", "unit", "χ²/ndf", "p", "W1", "separation", f"E bins with p<{P_VALUE_ALARM}")
    )
    title = f"hepgan validation: {geometry['name']}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(title)}</title>",
            "<style>table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "figure{display:inline-block;margin:4px}</style></head><body>",
            f"<h1>{e(title)}</h1>",
            f"<p>{e(geometry.get('description', ''))}</p>",
            f"<p>Reference showers: {report['n_reference']}; generated showers: {report['n_generated']}; "
            f"incident-energy bins: {e(report['energy_binning']['mode'])} "
            f"({len(report['energy_binning']['centres'])}).</p>",
            f"<table><thead><tr>{header}</tr></thead><tbody>",
            *rows,
            "</tbody></table>",
            images,
            "</body></html>",
        ]
    )


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _prepare_out_dir(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    try:
        (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create output directory ({exc.strerror or exc})") from None
    return out_dir


def _observable_entry(
    name: str,
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    ref_bins: np.ndarray,
    gen_bins: np.ndarray,
    binning: EnergyBinning,
    n_bins: int,
    metrics: Sequence[str],
) -> tuple[dict[str, Any], np.ndarray | None]:
    info = describe(name)
    overall, edges = compare_observable(reference[name], generated[name], info.log, n_bins, metrics)
    per_bin = []
    for i, label in enumerate(binning.labels()):
        result, _ = compare_observable(
            reference[name][ref_bins == i], generated[name][gen_bins == i], info.log, n_bins, metrics
        )
        per_bin.append({"energy_bin": label, **result})
    failing = sum(1 for r in per_bin if r.get("p_value") is not None and r["p_value"] < P_VALUE_ALARM)
    entry = {
        "label": info.label,
        "unit": info.unit,
        "w1_unit": info.unit,
        "overall": overall,
        "per_energy_bin": per_bin,
        "n_energy_bins_p_below_alarm": failing,
    }
    return entry, edges


def validate_observables(
    reference_observables: Mapping[str, np.ndarray],
    reference_incident: np.ndarray,
    generated_observables: Mapping[str, np.ndarray],
    generated_incident: np.ndarray,
    geometry: CaloGeometry,
    out_dir: Path,
    *,
    energy_bins: EnergyBinsSpec = "auto",
    n_bins: int = 50,
    metrics: Sequence[str] = DEFAULT_1D_METRICS,
    reference_mean_shower: np.ndarray | None = None,
    generated_mean_shower: np.ndarray | None = None,
    make_plots: bool = True,
) -> dict[str, Any]:
    """Compare per-shower observables and write the report (see the module docstring).

    Args:
        reference_observables, generated_observables: name → (N,) arrays, as returned by
            :func:`hepgan.validation.observables.shower_observables`; names present in both
            are compared.
        reference_incident, generated_incident: (N,) incident energies in MeV.
        geometry: the calorimeter geometry (its name and description go into the report).
        out_dir: output directory (created).
        energy_bins: see :func:`make_energy_binning`.
        n_bins: maximum number of histogram bins per observable.
        metrics: registered 1-D metric names (:data:`hepgan.validation.metrics.METRICS`).
        reference_mean_shower, generated_mean_shower: (n_voxels,) mean showers in MeV for
            the average-layer-image plot (skipped when either is ``None``).
        make_plots: write PNG plots and include them in the HTML.

    Returns:
        The metrics dictionary also written to ``metrics.json``.
    """
    out_dir = _prepare_out_dir(out_dir)
    binning = make_energy_binning(reference_incident, energy_bins)
    ref_bins, gen_bins = binning.assign(reference_incident), binning.assign(generated_incident)
    n_unmatched = int(np.count_nonzero(gen_bins < 0))
    if n_unmatched:
        log.warning("%d generated showers have an incident energy matching no reference energy", n_unmatched)
    names = [name for name in reference_observables if name in generated_observables]
    report: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "geometry": {"name": geometry.name, "description": geometry.description, "n_voxels": geometry.n_voxels},
        "n_reference": int(np.asarray(reference_incident).size),
        "n_generated": int(np.asarray(generated_incident).size),
        "n_generated_unmatched_energy": n_unmatched,
        "energy_binning": binning.to_json(),
        "metrics": list(metrics),
        "observables": {},
        "plots": {},
    }
    for name in names:
        entry, edges = _observable_entry(
            name, reference_observables, generated_observables, ref_bins, gen_bins, binning, n_bins, metrics
        )
        report["observables"][name] = entry
        if make_plots and edges is not None:
            relative = f"plots/{name}.png"
            plot_comparison(
                reference_observables[name],
                generated_observables[name],
                edges,
                entry["label"],
                out_dir / relative,
                metrics=entry["overall"],
                unit=entry["unit"],
                log_x=describe(name).log,
                title=geometry.name,
            )
            report["plots"][name] = relative
    if "e_ratio" in names:
        ref_resp = response_statistics(reference_observables["e_ratio"], ref_bins, binning.n_bins)
        gen_resp = response_statistics(generated_observables["e_ratio"], gen_bins, binning.n_bins)
        report["response_per_energy"] = {"energy_mev": binning.centres, "reference": ref_resp, "generated": gen_resp}
        if make_plots:
            plot_response_per_energy(binning.centres, ref_resp, gen_resp, out_dir / "response_per_energy.png")
            report["plots"]["response_per_energy"] = "response_per_energy.png"
    if make_plots and reference_mean_shower is not None and generated_mean_shower is not None:
        plot_average_layer_images(
            reference_mean_shower, generated_mean_shower, geometry, out_dir / "average_layer_images.png"
        )
        report["plots"]["average_layer_images"] = "average_layer_images.png"
    report["summary"] = _summary(report["observables"])
    report = _json_ready(report)
    _write_text(out_dir / "metrics.json", json.dumps(report, indent=1, allow_nan=False))
    _write_text(out_dir / "index.html", render_html(report))
    log.info("validation report written to %s", out_dir)
    return report


def _summary(observables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    p_values = [e["overall"].get("p_value") for e in observables.values()]
    separations = [e["overall"].get("separation_power") for e in observables.values()]
    separations = [s for s in separations if s is not None and np.isfinite(s)]
    return {
        "n_observables": len(observables),
        "n_p_below_alarm": sum(1 for p in p_values if p is not None and p < P_VALUE_ALARM),
        "p_value_alarm": P_VALUE_ALARM,
        "mean_separation_power": float(np.mean(separations)) if separations else None,
    }


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

    ``options`` are passed to :func:`validate_observables` (``n_bins``, ``metrics``,
    ``make_plots``). Returns the metrics dict written to ``out_dir/metrics.json``.
    """
    reference_showers = np.asarray(reference_showers)
    generated_showers = np.asarray(generated_showers)
    return validate_observables(
        shower_observables(reference_showers, reference_incident, geometry),
        np.asarray(reference_incident, dtype=np.float64),
        shower_observables(generated_showers, generated_incident, geometry),
        np.asarray(generated_incident, dtype=np.float64),
        geometry,
        out_dir,
        energy_bins=energy_bins,
        reference_mean_shower=reference_showers.mean(axis=0) if len(reference_showers) else None,
        generated_mean_shower=generated_showers.mean(axis=0) if len(generated_showers) else None,
        **options,
    )


@dataclass
class _Summary:
    observables: dict[str, np.ndarray]
    incident: np.ndarray
    mean_shower: np.ndarray | None


def summarise_batches(batches: Iterable[Any], geometry: CaloGeometry) -> _Summary:
    """Observables, incident energies and mean shower from batches with
    ``.showers_mev`` (n, n_voxels) and ``.incident_energies_mev`` (n,), one batch at a time."""
    chunks, incident = [], []
    voxel_sum, count = np.zeros(geometry.n_voxels), 0
    for batch in batches:
        showers = np.asarray(batch.showers_mev)
        energies = np.asarray(batch.incident_energies_mev, dtype=np.float64).reshape(-1)
        chunks.append(shower_observables(showers, energies, geometry))
        incident.append(energies)
        voxel_sum += showers.sum(axis=0, dtype=np.float64)
        count += len(showers)
    if count == 0:
        raise ValueError("no showers to validate")
    return _Summary(concatenate_observables(chunks), np.concatenate(incident), voxel_sum / count)


def _read_summary(path: Path, geometry: CaloGeometry, chunk_size: int) -> _Summary:
    from hepgan.io import ShowerReader  # written in parallel; imported on use

    with ShowerReader(path, geometry, chunk_size) as reader:
        return summarise_batches(reader.iter_chunks(), geometry)


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

    Only the per-shower observables (a few floats per shower) and a running voxel sum are
    kept, so memory is bounded by ``chunk_size`` showers plus O(N × n_observables).
    """
    reference = _read_summary(Path(reference_path), geometry, chunk_size)
    generated = _read_summary(Path(generated_path), geometry, chunk_size)
    return validate_observables(
        reference.observables,
        reference.incident,
        generated.observables,
        generated.incident,
        geometry,
        out_dir,
        energy_bins=energy_bins,
        reference_mean_shower=reference.mean_shower,
        generated_mean_shower=generated.mean_shower,
        **options,
    )
