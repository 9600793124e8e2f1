"""Validation report: observables, metrics with uncertainties and floors, plots, JSON and HTML.

Entry points:

- :func:`validate_arrays` for showers already in memory;
- :func:`validate_files` for shower files (CaloChallenge/CaloGAN HDF5 or ROOT), read chunk
  by chunk with bounded memory;
- :func:`validate_observables` for per-shower observables computed elsewhere (e.g. during
  training), which the two functions above call.

What is compared:

- every observable of :mod:`hepgan.validation.observables`, overall and per incident-energy
  bin: χ² test (χ²/ndf ± its null spread, p-value), W1 ± bootstrap error, separation power
  ± bootstrap error, each with its *floor* (the same metric between two random halves of
  the reference) and a verdict;
- global metrics (:func:`global_metrics`): mean χ²/ndf, mean normalised W1, mean separation
  power, FPD and KPD on the standardised high-level features
  (:mod:`hepgan.validation.physics_distances`), and classifier AUCs on high-level and
  low-level (voxel) features (:mod:`hepgan.validation.classifier`), each with its floor.

Voxel arrays for the low-level classifier are a seeded uniform subsample of at most
``max_showers_low_level`` showers per sample (reservoir sampling when reading files), so
memory stays flat for 1e6-shower files; the high-level classifier uses the same cap on its
inputs. ``metrics.json`` records the sample sizes actually used.

Output layout in ``out_dir``: ``metrics.json`` (machine-readable, with units),
``index.html`` (opens from disk, no server), ``plots/<observable>.png`` (one per observable),
``plots/energy/<observable>.png`` (one panel per incident-energy bin, for the observables in
``per_energy_plots``: by default a few headline ones, since one such figure costs about a
second; ``per_energy_plots="all"`` draws every observable; the per-bin metrics of every
observable are always in ``metrics.json``), ``response_per_energy.png``, ``average_layer_images.png`` when mean
showers are known and ``latent_walk.png`` when a latent walk is given.
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hepgan.errors import OutputError
from hepgan.io.geometry import CaloGeometry
from hepgan.validation.histograms import common_edges, finite, histogram_counts
from hepgan.validation.metrics import DEFAULT_1D_METRICS, compare_1d, finite_or_none
from hepgan.validation.observables import chunked_observables, concatenate_observables, describe, shower_observables

if TYPE_CHECKING:
    from hepgan.validation.classifier import ClassifierResult
from hepgan.validation.plots import (
    plot_average_layer_images,
    plot_comparison,
    plot_comparison_grid,
    plot_latent_walk,
    plot_response_per_energy,
)

log = logging.getLogger(__name__)

METRICS_FORMAT = "hepgan-validation-metrics/2"
MAX_DISCRETE_ENERGIES = 20
DEFAULT_QUANTILE_BINS = 5
MIN_SHOWERS_PER_BIN = 10
DISCRETE_RTOL = 1e-3
P_VALUE_ALARM = 0.01
DEFAULT_MAX_SHOWERS_LOW_LEVEL = 50_000
MAX_LOW_LEVEL_VALUES = 25_000_000  # voxel values kept per sample (100 MB as float32)
MIN_SHOWERS_GLOBAL = 50
DEFAULT_PER_ENERGY_PLOTS = ("e_ratio", "shower_depth")
VERDICT_SIGMAS = (2.0, 5.0)

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


def _halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random index sets of size n // 2 (the reference split for metric floors)."""
    order = rng.permutation(n)
    half = n // 2
    return order[:half], order[half : 2 * half]


def _reference_scale(values: np.ndarray) -> float:
    std = float(np.std(values))
    return std if std > 0 else float("nan")


def _metrics_on(
    reference: np.ndarray, generated: np.ndarray, edges: np.ndarray, metrics: Iterable[str]
) -> dict[str, float | None]:
    results = compare_1d(
        reference, generated, histogram_counts(reference, edges), histogram_counts(generated, edges), metrics
    )
    return finite_or_none(results)


def compare_observable(
    reference: np.ndarray,
    generated: np.ndarray,
    log_bins: bool,
    n_bins: int = 50,
    metrics: Iterable[str] = DEFAULT_1D_METRICS,
    floor: bool = True,
    seed: int = 0,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Metrics of one observable on common bins (under/overflow included), with their floor.

    Returns:
        (results, edges): results hold the metric values and errors (``w1``/``w1_err``,
        ``separation_power``/``separation_power_err``, ``chi2_ndf``/``chi2_ndf_err``, ...),
        ``w1_normalised`` (W1 over the reference std), ``n_reference``, ``n_generated``,
        ``floor`` (the same metrics between two random halves of the reference, when it has
        at least 20 values) and ``verdict`` (from W1 against its floor, see :func:`verdict`).
        Non-finite values are ``None``. ``edges`` is ``None`` (and the results carry
        ``skipped``) when either sample has fewer than 10 finite values.
    """
    metrics = list(metrics)
    ref, gen = finite(reference), finite(generated)
    base: dict[str, Any] = {"n_reference": int(ref.size), "n_generated": int(gen.size)}
    if min(ref.size, gen.size) < MIN_SHOWERS_PER_BIN:
        return {**base, "skipped": f"fewer than {MIN_SHOWERS_PER_BIN} showers"}, None
    edges = common_edges(ref, gen, _n_hist_bins(ref.size, gen.size, n_bins), log=log_bins)
    base.update(_metrics_on(ref, gen, edges, metrics))
    scale = _reference_scale(ref)
    if base.get("w1") is not None:
        base["w1_normalised"] = _none_if_nan(base["w1"] / scale)
        base["w1_normalised_err"] = _none_if_nan((base.get("w1_err") or np.nan) / scale)
    if floor and ref.size >= 2 * MIN_SHOWERS_PER_BIN:
        first, second = _halves(ref.size, np.random.default_rng(seed))
        base["floor"] = _metrics_on(ref[first], ref[second], edges, metrics)
        if base["floor"].get("w1") is not None:
            base["floor"]["w1_normalised"] = _none_if_nan(base["floor"]["w1"] / scale)
            base["floor"]["w1_normalised_err"] = _none_if_nan((base["floor"].get("w1_err") or np.nan) / scale)
    base["verdict"] = _observable_verdict(base)
    return base, edges


def _none_if_nan(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def verdict(
    value: float | None,
    error: float | None,
    floor: float | None,
    floor_error: float | None,
    ideal: float = 0.0,
) -> str:
    """Compare a metric with its reference floor: ``"ok"``, ``"tension"``, ``"fail"`` or ``"n/a"``.

    The excess |value − ideal| − |floor − ideal| is compared with the combined error
    σ = hypot(error, floor_error): ≤ 2σ is "ok", ≤ 5σ "tension", above "fail". The floor
    uses half the reference statistics, so it slightly overestimates the pure-noise level
    (the verdict errs on the lenient side).
    """
    if value is None or not np.isfinite(value):
        return "n/a"
    if floor is None or not np.isfinite(floor):
        return "no floor"
    sigma = float(np.hypot(error or 0.0, floor_error or 0.0))
    excess = abs(value - ideal) - abs(floor - ideal)
    if excess <= VERDICT_SIGMAS[0] * sigma or excess <= 0:
        return "ok"
    return "tension" if excess <= VERDICT_SIGMAS[1] * sigma else "fail"


VERDICT_ORDER = ("n/a", "no floor", "ok", "tension", "fail")


def _observable_verdict(results: Mapping[str, Any]) -> str:
    """The worse of the W1 and the χ²/ndf verdicts against their floors."""
    floor = results.get("floor") or {}
    verdicts = [
        verdict(results.get(key), results.get(f"{key}_err"), floor.get(key), floor.get(f"{key}_err"))
        for key in ("w1", "chi2_ndf")
    ]
    return max(verdicts, key=VERDICT_ORDER.index)


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


# ----------------------------------------------------------------------------- low-level samples
@dataclass
class LowLevelSample:
    """A uniform random subsample of showers kept for voxel-level metrics.

    Attributes:
        showers_mev: (n, n_voxels) float32 voxel energies in MeV.
        incident_mev: (n,) incident energies in MeV.
        n_total: showers in the full sample the subsample was drawn from.
    """

    showers_mev: np.ndarray
    incident_mev: np.ndarray
    n_total: int

    def to_json(self) -> dict[str, int]:
        return {"n_used": len(self.incident_mev), "n_total": self.n_total}


def low_level_capacity(max_showers: int, n_voxels: int) -> int:
    """Showers kept for low-level metrics: ``max_showers``, capped at 25e6 voxel values."""
    return int(max(0, min(max_showers, MAX_LOW_LEVEL_VALUES // max(n_voxels, 1))))


def subsample_low_level(showers_mev: np.ndarray, incident_mev: np.ndarray, capacity: int, seed: int) -> LowLevelSample:
    """Seeded uniform subsample (without replacement) of at most ``capacity`` in-memory showers."""
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
    n = len(incident)
    index = np.arange(n) if n <= capacity else np.sort(np.random.default_rng(seed).choice(n, capacity, replace=False))
    return LowLevelSample(np.asarray(showers_mev[index], dtype=np.float32), incident[index], n)


class ShowerReservoir:
    """Uniform random sample of at most ``capacity`` showers from a stream (reservoir sampling).

    Vitter's Algorithm R (ACM TOMS 11 (1985) 37), vectorised per chunk: the i-th shower
    (0-based) beyond the first ``capacity`` replaces slot j ~ U{0..i} when j < capacity.
    Memory is ``capacity`` showers whatever the stream length.
    """

    def __init__(self, capacity: int, n_voxels: int, seed: int = 0) -> None:
        self.capacity = int(capacity)
        self.n_voxels = int(n_voxels)
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self._showers: list[np.ndarray] | np.ndarray = []
        self._incident: list[np.ndarray] | np.ndarray = []

    def _filled(self) -> int:
        return sum(len(part) for part in self._incident) if isinstance(self._incident, list) else self.capacity

    def add(self, showers_mev: np.ndarray, incident_mev: np.ndarray) -> None:
        """Offer a chunk of showers (n, n_voxels) with incident energies (n,)."""
        showers = np.asarray(showers_mev, dtype=np.float32)
        incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
        take = min(self.capacity - self._filled(), len(incident))
        if take > 0:
            self._showers.append(showers[:take].copy())
            self._incident.append(incident[:take].copy())
            if self._filled() == self.capacity:
                self._showers, self._incident = np.concatenate(self._showers), np.concatenate(self._incident)
        self.seen += take
        rest = len(incident) - take
        if rest <= 0 or self.capacity == 0:
            self.seen += max(rest, 0)
            return
        positions = np.arange(self.seen, self.seen + rest)
        slots = self.rng.integers(0, positions + 1)
        chosen = np.flatnonzero(slots < self.capacity)
        # later showers overwrite earlier ones in the same slot, as in the sequential algorithm
        unique_slots, last = np.unique(slots[chosen][::-1], return_index=True)
        rows = take + chosen[::-1][last]
        self._showers[unique_slots] = showers[rows]
        self._incident[unique_slots] = incident[rows]
        self.seen += rest

    def sample(self) -> LowLevelSample:
        """The current reservoir as a :class:`LowLevelSample`."""
        if isinstance(self._incident, list):
            showers = np.concatenate(self._showers) if self._showers else np.zeros((0, self.n_voxels), np.float32)
            incident = np.concatenate(self._incident) if self._incident else np.zeros(0)
            return LowLevelSample(showers, incident, self.seen)
        return LowLevelSample(self._showers, self._incident, self.seen)


# ----------------------------------------------------------------------------- global metrics
MetricPair = Callable[[np.ndarray, np.ndarray], tuple[float, float]]


def _with_floor(
    func: MetricPair,
    reference: np.ndarray,
    generated: np.ndarray,
    seed: int,
    ideal: float,
    description: str,
) -> dict[str, Any]:
    """``func`` on (reference, generated) and on two halves of the reference, with a verdict."""
    entry: dict[str, Any] = {"description": description, "ideal": ideal}
    if min(len(reference), len(generated)) < MIN_SHOWERS_GLOBAL or len(reference) < 2 * MIN_SHOWERS_GLOBAL:
        entry["skipped"] = f"needs >= {MIN_SHOWERS_GLOBAL} generated and {2 * MIN_SHOWERS_GLOBAL} reference showers"
        entry["verdict"] = "n/a"
        return entry
    try:
        entry["value"], entry["error"] = func(reference, generated)
        first, second = _halves(len(reference), np.random.default_rng(seed + 1))
        entry["floor"], entry["floor_error"] = func(reference[first], reference[second])
    except ValueError as exc:
        entry["skipped"] = str(exc)
    entry["verdict"] = verdict(
        entry.get("value"), entry.get("error"), entry.get("floor"), entry.get("floor_error"), ideal=ideal
    )
    return entry


def _mean_entry(
    observables: Mapping[str, Mapping[str, Any]], key: str, error_key: str | None, description: str
) -> dict[str, Any]:
    """Mean of one per-observable metric (and of its floor) over observables; errors added in quadrature / n."""
    values, errors, floors, floor_errors = [], [], [], []
    for entry in observables.values():
        overall = entry["overall"]
        floor = overall.get("floor") or {}
        if overall.get(key) is None or floor.get(key) is None:
            continue
        values.append(overall[key])
        floors.append(floor[key])
        errors.append(overall.get(error_key) or 0.0 if error_key else 0.0)
        floor_errors.append(floor.get(error_key) or 0.0 if error_key else 0.0)
    out: dict[str, Any] = {"description": description, "ideal": 0.0, "n_observables": len(values)}
    if values:
        n = len(values)
        out.update(
            value=float(np.mean(values)),
            error=float(np.sqrt(np.sum(np.square(errors))) / n),
            floor=float(np.mean(floors)),
            floor_error=float(np.sqrt(np.sum(np.square(floor_errors))) / n),
        )
    out["verdict"] = verdict(out.get("value"), out.get("error"), out.get("floor"), out.get("floor_error"))
    return out


def _cap_rows(features: np.ndarray, cap: int, seed: int) -> np.ndarray:
    if len(features) <= cap:
        return features
    return features[np.sort(np.random.default_rng(seed).choice(len(features), cap, replace=False))]


def _classifier(features_ref: np.ndarray, features_gen: np.ndarray, seed: int) -> ClassifierResult:
    from hepgan.validation.classifier import classifier_two_sample_test

    result = classifier_two_sample_test(features_ref, features_gen, seed=seed)
    if not result.converged:
        log.warning(
            "classifier AUC: a fold stopped at its epoch limit (%d) before its validation loss settled; "
            "the AUC %.3f may be too low",
            result.epochs,
            result.auc,
        )
    return result


def _classifier_entry(
    reference: np.ndarray,
    generated: np.ndarray,
    reference_incident: np.ndarray,
    generated_incident: np.ndarray,
    binning: EnergyBinning | None,
    seed: int,
    description: str,
) -> dict[str, Any]:
    """Classifier AUC with its floor (:func:`_with_floor`), plus both per incident-energy bin.

    The per-bin AUCs reuse the held-out scores of the overall test (no extra training):
    ``per_energy_bin`` lists, per bin, the AUC of generated against reference showers of that
    bin and the same for the two reference halves that make the floor.
    """
    from hepgan.validation.classifier import auc_by_group

    results: list[ClassifierResult] = []

    def run(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        results.append(_classifier(a, b, seed))
        return results[-1].auc, results[-1].auc_err

    entry = _with_floor(run, reference, generated, seed, 0.5, description)
    if binning is None or len(results) != 2:
        return entry
    first, second = _halves(len(reference), np.random.default_rng(seed + 1))
    ref_bins, gen_bins = binning.assign(reference_incident), binning.assign(generated_incident)
    value = auc_by_group(results[0], ref_bins, gen_bins, binning.n_bins)
    floor = auc_by_group(results[1], ref_bins[first], ref_bins[second], binning.n_bins)
    entry["per_energy_bin"] = [
        {
            "energy_bin": label,
            "n_reference": v.n_reference,
            "n_generated": v.n_generated,
            "value": _none_if_nan(v.auc),
            "error": _none_if_nan(v.auc_err),
            "floor": _none_if_nan(f.auc),
            "floor_error": _none_if_nan(f.auc_err),
            "verdict": verdict(v.auc, v.auc_err, f.auc, f.auc_err, ideal=0.5),
        }
        for label, v, f in zip(binning.labels(), value, floor, strict=True)
    ]
    return entry


def global_metrics(
    reference_observables: Mapping[str, np.ndarray],
    reference_incident: np.ndarray,
    generated_observables: Mapping[str, np.ndarray],
    generated_incident: np.ndarray,
    observable_results: Mapping[str, Mapping[str, Any]],
    *,
    reference_low_level: LowLevelSample | None = None,
    generated_low_level: LowLevelSample | None = None,
    physics_distances: bool = True,
    classifier: bool = True,
    max_showers_low_level: int = DEFAULT_MAX_SHOWERS_LOW_LEVEL,
    energy_binning: EnergyBinning | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Whole-sample metrics, each with value, error, floor (two reference halves) and verdict.

    Entries: ``chi2_ndf_mean``, ``w1_normalised_mean``, ``separation_power_mean`` (means of
    the per-observable results); ``fpd``, ``kpd`` (standardised high-level features: all
    compared observables); ``classifier_auc_high_level`` (the same features plus
    log E_inc, at most ``max_showers_low_level`` showers per sample) and
    ``classifier_auc_low_level`` (voxel energies, when low-level samples are given). With
    ``energy_binning`` the classifier entries also hold their AUCs per incident-energy bin.
    """
    from hepgan.validation.classifier import high_level_features, low_level_features
    from hepgan.validation.physics_distances import fpd, high_level_matrix, high_level_names, kpd

    out = {
        "chi2_ndf_mean": _mean_entry(observable_results, "chi2_ndf", "chi2_ndf_err", "mean χ²/ndf over observables"),
        "w1_normalised_mean": _mean_entry(
            observable_results, "w1_normalised", "w1_normalised_err", "mean W1 / reference std over observables"
        ),
        "separation_power_mean": _mean_entry(
            observable_results, "separation_power", "separation_power_err", "mean separation power over observables"
        ),
    }
    names = high_level_names([name for name in observable_results if name in generated_observables])
    if physics_distances and names:
        ref_x, gen_x = high_level_matrix(reference_observables, names), high_level_matrix(generated_observables, names)
        out["fpd"] = _with_floor(
            lambda a, b: fpd(a, b, seed=seed), ref_x, gen_x, seed, 0.0, "Fréchet physics distance, high-level (1/N → 0)"
        )
        out["kpd"] = _with_floor(
            lambda a, b: kpd(a, b, seed=seed), ref_x, gen_x, seed, 0.0, "kernel physics distance (MMD², cubic kernel)"
        )
    if classifier and names:
        ref_h = high_level_features(reference_observables, reference_incident, names)
        gen_h = high_level_features(generated_observables, generated_incident, names)
        ref_h, gen_h = _cap_rows(ref_h, max_showers_low_level, seed), _cap_rows(gen_h, max_showers_low_level, seed)
        out["classifier_auc_high_level"] = _classifier_entry(
            ref_h,
            gen_h,
            _cap_rows(reference_incident, max_showers_low_level, seed),
            _cap_rows(generated_incident, max_showers_low_level, seed),
            energy_binning,
            seed,
            "classifier AUC, high-level features",
        )
    if classifier and reference_low_level is not None and generated_low_level is not None:
        ref_l = low_level_features(reference_low_level.showers_mev, reference_low_level.incident_mev)
        gen_l = low_level_features(generated_low_level.showers_mev, generated_low_level.incident_mev)
        out["classifier_auc_low_level"] = _classifier_entry(
            ref_l,
            gen_l,
            reference_low_level.incident_mev,
            generated_low_level.incident_mev,
            energy_binning,
            seed,
            "classifier AUC, voxel energies / E_inc",
        )
    return out


# ----------------------------------------------------------------------------- HTML
def _fmt(value: Any, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def _pm(value: Any, error: Any, spec: str = ".3g") -> str:
    """``value ± error`` text; the error is left out when unknown."""
    if value is None:
        return "–"
    return f"{value:{spec}} ± {error:.2g}" if error is not None else format(value, spec)


VERDICT_COLOURS = {"ok": "#d9f2d9", "tension": "#fff2cc", "fail": "#f8d0d0"}


def plain_label(label: str) -> str:
    """A matplotlib mathtext label as plain text for HTML ("$E_{tot}$ [MeV]" → "E_tot [MeV]")."""
    return label.replace("$", "").replace("\\", "").replace("{", "").replace("}", "")


def _cell(text: Any, verdict_text: str | None = None) -> str:
    style = f' style="background:{VERDICT_COLOURS[verdict_text]}"' if verdict_text in VERDICT_COLOURS else ""
    return f"<td{style}>{html.escape(str(text))}</td>"


def _table(header: Sequence[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def _global_rows(global_results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    rows = []
    for name, entry in global_results.items():
        cells = [
            _cell(name),
            _cell(entry.get("description", "")),
            _cell(_pm(entry.get("value"), entry.get("error"), ".4g")),
            _cell(_pm(entry.get("floor"), entry.get("floor_error"), ".4g")),
            _cell(entry.get("verdict", "n/a"), entry.get("verdict")),
            _cell(entry.get("skipped", "")),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return rows


CLASSIFIER_ENTRIES = (("classifier_auc_high_level", "high-level"), ("classifier_auc_low_level", "voxels"))


def _auc_per_energy_table(global_results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Per incident-energy bin: showers and each classifier's AUC next to its floor (empty if none)."""
    present = [(key, label) for key, label in CLASSIFIER_ENTRIES if global_results.get(key, {}).get("per_energy_bin")]
    if not present:
        return []
    header = ["incident energy"]
    for _, label in present:
        header += [f"n ref / gen ({label})", f"AUC {label}", "floor", "verdict"]
    rows = []
    for index, first in enumerate(global_results[present[0][0]]["per_energy_bin"]):
        cells = [_cell(first["energy_bin"])]
        for key, _ in present:
            b = global_results[key]["per_energy_bin"][index]
            cells += [
                _cell(f"{b['n_reference']} / {b['n_generated']}"),
                _cell(_pm(b["value"], b["error"])),
                _cell(_pm(b["floor"], b["floor_error"])),
                _cell(b["verdict"], b["verdict"]),
            ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return [
        "<h3>Classifier AUC per incident energy</h3>",
        "<p>The held-out scores of the classifiers above, ranked within each incident-energy bin: "
        "where the AUC is high, the classifier tells the generated showers apart at that energy.</p>",
        _table(header, rows),
    ]


def _observable_rows(observables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    rows = []
    for name, entry in observables.items():
        overall = entry["overall"]
        floor = overall.get("floor") or {}
        cells = [
            _cell(name),
            _cell(plain_label(entry["label"])),
            _cell(entry["unit"] or "-"),
            _cell(_pm(overall.get("chi2_ndf"), overall.get("chi2_ndf_err"))),
            _cell(_fmt(overall.get("p_value"), ".2g")),
            _cell(_pm(overall.get("w1"), overall.get("w1_err"))),
            _cell(_pm(floor.get("w1"), floor.get("w1_err"))),
            _cell(_pm(overall.get("separation_power"), overall.get("separation_power_err"))),
            _cell(_fmt(floor.get("separation_power"))),
            _cell(entry.get("n_energy_bins_p_below_alarm", 0)),
            _cell(overall.get("verdict", "n/a"), overall.get("verdict")),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return rows


def _figure(path: str, caption: str, width: int = 420) -> str:
    e = html.escape
    return (
        f'<figure><a href="{e(path, quote=True)}"><img src="{e(path, quote=True)}" alt="{e(caption, quote=True)}" '
        f'width="{width}"></a><figcaption>{e(caption)}</figcaption></figure>'
    )


def _plots_html(report: Mapping[str, Any]) -> list[str]:
    plots = dict(report["plots"])
    parts = []
    for key, title in (
        ("response_per_energy", "Energy response per incident energy"),
        ("average_layer_images", "Average shower per layer"),
        ("latent_walk", "Latent-space walk"),
    ):
        if key in plots:
            parts += [f"<h2>{html.escape(title)}</h2>", _figure(plots.pop(key), title, 900)]
    if plots:
        parts.append("<h2>Observables (all incident energies)</h2>")
        parts += [_figure(path, name) for name, path in plots.items()]
    per_energy = report.get("plots_per_energy", {})
    if per_energy:
        parts.append("<h2>Observables per incident-energy bin</h2>")
    for name, path in per_energy.items():
        parts.append(f"<details open><summary>{html.escape(name)}</summary>")
        parts.append(_figure(path, f"{name} per incident-energy bin", 1100))
        parts.append("</details>")
    return parts


def render_html(report: Mapping[str, Any]) -> str:
    """Standalone HTML page (summary tables and images); every string is ``html.escape``d."""
    e = html.escape
    geometry = report["geometry"]
    title = f"hepgan validation: {geometry['name']}"
    low = report.get("low_level") or {}
    low_text = ""
    if low.get("reference"):
        low_text = (
            f" Voxel-level metrics use a seeded uniform subsample of {low['reference']['n_used']} reference and "
            f"{low['generated']['n_used']} generated showers (at most {low['max_showers_low_level']} per sample)."
        )
    intro = (
        f"Reference showers: {report['n_reference']}; generated showers: {report['n_generated']}; "
        f"incident-energy bins: {report['energy_binning']['mode']} "
        f"({len(report['energy_binning']['centres'])}).{low_text}"
    )
    explanation = (
        "Every metric is given as value ± uncertainty. The floor is the same metric between two random halves "
        "of the reference sample: what a perfect generator would score (with half the statistics). Verdict: "
        "ok when the excess over the floor is within 2σ, tension within 5σ, fail beyond. Ideal values: 0 for "
        "distances, 0.5 for classifier AUCs."
    )
    observable_header = (
        "observable",
        "label",
        "unit",
        "χ²/ndf",
        "p",
        "W1",
        "W1 floor",
        "separation",
        "sep. floor",
        f"E bins with p<{P_VALUE_ALARM}",
        "verdict (W1, χ²)",
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(title)}</title>",
            "<style>body{font-family:sans-serif}table{border-collapse:collapse;font-size:small}"
            "td,th{border:1px solid #ccc;padding:2px 6px}figure{display:inline-block;margin:4px}"
            "figcaption{font-size:small}</style></head><body>",
            f"<h1>{e(title)}</h1>",
            f"<p>{e(geometry.get('description', ''))}</p>",
            f"<p>{e(intro)}</p>",
            "<h2>Summary</h2>",
            f"<p>{e(explanation)}</p>",
            _table(
                ("metric", "description", "value", "floor", "verdict", "note"), _global_rows(report["global_metrics"])
            ),
            *_auc_per_energy_table(report["global_metrics"]),
            "<h2>Observables</h2>",
            _table(observable_header, _observable_rows(report["observables"])),
            *_plots_html(report),
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
        (out_dir / "plots" / "energy").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create output directory ({exc.strerror or exc})") from None
    return out_dir


# ----------------------------------------------------------------------------- per observable
def _observable_entry(
    name: str,
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    ref_bins: np.ndarray,
    gen_bins: np.ndarray,
    binning: EnergyBinning,
    n_bins: int,
    metrics: Sequence[str],
    seed: int,
) -> tuple[dict[str, Any], np.ndarray | None, list[np.ndarray | None]]:
    info = describe(name)
    overall, edges = compare_observable(reference[name], generated[name], info.log, n_bins, metrics, seed=seed)
    per_bin, bin_edges = [], []
    for i, label in enumerate(binning.labels()):
        result, edges_i = compare_observable(
            reference[name][ref_bins == i], generated[name][gen_bins == i], info.log, n_bins, metrics, seed=seed
        )
        per_bin.append({"energy_bin": label, **result})
        bin_edges.append(edges_i)
    failing = sum(1 for r in per_bin if r.get("p_value") is not None and r["p_value"] < P_VALUE_ALARM)
    entry = {
        "label": info.label,
        "unit": info.unit,
        "w1_unit": info.unit,
        "overall": overall,
        "per_energy_bin": per_bin,
        "n_energy_bins_p_below_alarm": failing,
    }
    return entry, edges, bin_edges


def _plot_observable(
    name: str,
    entry: Mapping[str, Any],
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    edges: np.ndarray,
    path: Path,
    title: str,
    metrics: Mapping[str, Any],
) -> None:
    plot_comparison(
        reference[name],
        generated[name],
        edges,
        entry["label"],
        path,
        metrics=metrics,
        unit=entry["unit"],
        log_x=describe(name).log,
        title=title,
    )


def _per_energy_plot(
    name: str,
    entry: Mapping[str, Any],
    reference: Mapping[str, np.ndarray],
    generated: Mapping[str, np.ndarray],
    ref_bins: np.ndarray,
    gen_bins: np.ndarray,
    bin_edges: Sequence[np.ndarray | None],
    out_dir: Path,
) -> str | None:
    """One small-multiples figure of ``name`` in every incident-energy bin; its relative path."""
    panels = []
    for i, (edges, result) in enumerate(zip(bin_edges, entry["per_energy_bin"], strict=True)):
        if edges is None:
            continue
        title = result["energy_bin"]
        if result.get("p_value") is not None:
            title += f" (p = {result['p_value']:.2g})"
        panels.append((reference[name][ref_bins == i], generated[name][gen_bins == i], edges, title))
    if not panels:
        return None
    relative = f"plots/energy/{name}.png"
    plot_comparison_grid(panels, entry["label"], out_dir / relative, log_x=describe(name).log)
    return relative


def _summary(observables: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    p_values = [e["overall"].get("p_value") for e in observables.values()]
    separations = [e["overall"].get("separation_power") for e in observables.values()]
    separations = [s for s in separations if s is not None and np.isfinite(s)]
    verdicts = [e["overall"].get("verdict") for e in observables.values()]
    return {
        "n_observables": len(observables),
        "n_p_below_alarm": sum(1 for p in p_values if p is not None and p < P_VALUE_ALARM),
        "p_value_alarm": P_VALUE_ALARM,
        "mean_separation_power": float(np.mean(separations)) if separations else None,
        "verdicts": {v: verdicts.count(v) for v in ("ok", "tension", "fail", "no floor", "n/a") if v in verdicts},
    }


# ----------------------------------------------------------------------------- entry points
def _per_energy_names(per_energy_plots: Sequence[str] | str, names: Sequence[str]) -> list[str]:
    if per_energy_plots == "all":
        return list(names)
    if isinstance(per_energy_plots, str):
        raise ValueError(f"per_energy_plots must be 'all' or a list of observable names, got {per_energy_plots!r}")
    return [name for name in per_energy_plots if name in names]


def _latent_walk_section(
    showers: np.ndarray, incident_mev: float | None, geometry: CaloGeometry, out_dir: Path, make_plots: bool
) -> tuple[dict[str, Any], str | None]:
    from hepgan.validation.latent import walk_step_sizes

    showers = np.asarray(showers, dtype=np.float64)
    steps = walk_step_sizes(showers)
    info = {
        "incident_mev": incident_mev,
        "n_steps": len(showers),
        "relative_step_sizes": steps,
        "max_over_median_step": float(steps.max() / np.median(steps)) if steps.size and np.median(steps) > 0 else None,
    }
    if not make_plots:
        return info, None
    plot_latent_walk(showers, geometry, out_dir / "latent_walk.png", incident_mev=incident_mev)
    return info, "latent_walk.png"


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
    reference_low_level: LowLevelSample | None = None,
    generated_low_level: LowLevelSample | None = None,
    physics_distances: bool = True,
    classifier: bool = True,
    max_showers_low_level: int = DEFAULT_MAX_SHOWERS_LOW_LEVEL,
    per_energy_plots: Sequence[str] | str = DEFAULT_PER_ENERGY_PLOTS,
    latent_walk_showers: np.ndarray | None = None,
    latent_walk_incident_mev: float | None = None,
    seed: int = 0,
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
        reference_low_level, generated_low_level: voxel subsamples for the low-level
            classifier (skipped when either is ``None``).
        physics_distances: compute FPD and KPD; classifier: run the classifier tests.
        max_showers_low_level: cap on showers per sample fed to the high-level classifier.
        per_energy_plots: observables also plotted per incident-energy bin, or ``"all"``.
        latent_walk_showers: (n_steps, n_voxels) showers along a latent line
            (:func:`hepgan.validation.latent.latent_walk`), drawn as layer images.
        latent_walk_incident_mev: the walk's incident energy in MeV, for the caption.
        seed: seeds the reference splits, bootstraps and classifiers.

    Returns:
        The metrics dictionary also written to ``metrics.json``.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    out_dir = _prepare_out_dir(out_dir)
    binning = make_energy_binning(reference_incident, energy_bins)
    ref_bins, gen_bins = binning.assign(reference_incident), binning.assign(generated_incident)
    n_unmatched = int(np.count_nonzero(gen_bins < 0))
    if n_unmatched:
        log.warning("%d generated showers have an incident energy matching no reference energy", n_unmatched)
    names = [name for name in reference_observables if name in generated_observables]
    energy_names = _per_energy_names(per_energy_plots, names) if make_plots else []
    report: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "geometry": {"name": geometry.name, "description": geometry.description, "n_voxels": geometry.n_voxels},
        "n_reference": int(np.asarray(reference_incident).size),
        "n_generated": int(np.asarray(generated_incident).size),
        "n_generated_unmatched_energy": n_unmatched,
        "energy_binning": binning.to_json(),
        "metrics": list(metrics),
        "seed": seed,
        "observables": {},
        "plots": {},
        "plots_per_energy": {},
    }
    edges_by_name = {}
    for name in names:
        entry, edges, bin_edges = _observable_entry(
            name, reference_observables, generated_observables, ref_bins, gen_bins, binning, n_bins, metrics, seed
        )
        report["observables"][name] = entry
        edges_by_name[name] = (edges, bin_edges)
    timings["observable_metrics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report["global_metrics"] = global_metrics(
        reference_observables,
        np.asarray(reference_incident, dtype=np.float64),
        generated_observables,
        np.asarray(generated_incident, dtype=np.float64),
        report["observables"],
        reference_low_level=reference_low_level,
        generated_low_level=generated_low_level,
        physics_distances=physics_distances,
        classifier=classifier,
        max_showers_low_level=max_showers_low_level,
        energy_binning=binning,
        seed=seed,
    )
    report["low_level"] = {
        "max_showers_low_level": max_showers_low_level,
        "method": "seeded uniform subsample per sample (reservoir sampling when streaming files)",
        "reference": reference_low_level.to_json() if reference_low_level is not None else None,
        "generated": generated_low_level.to_json() if generated_low_level is not None else None,
    }
    timings["global_metrics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if make_plots:
        for name in names:
            edges, bin_edges = edges_by_name[name]
            entry = report["observables"][name]
            if edges is not None:
                relative = f"plots/{name}.png"
                _plot_observable(
                    name,
                    entry,
                    reference_observables,
                    generated_observables,
                    edges,
                    out_dir / relative,
                    geometry.name,
                    entry["overall"],
                )
                report["plots"][name] = relative
            path = None
            if name in energy_names:
                path = _per_energy_plot(
                    name, entry, reference_observables, generated_observables, ref_bins, gen_bins, bin_edges, out_dir
                )
            if path is not None:
                report["plots_per_energy"][name] = path
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
    if latent_walk_showers is not None:
        report["latent_walk"], path = _latent_walk_section(
            latent_walk_showers, latent_walk_incident_mev, geometry, out_dir, make_plots
        )
        if path is not None:
            report["plots"]["latent_walk"] = path
    timings["plots"] = time.perf_counter() - clock
    report["summary"] = _summary(report["observables"])
    report["timings_s"] = timings
    report = _json_ready(report)
    _write_text(out_dir / "metrics.json", json.dumps(report, indent=1, allow_nan=False))
    _write_text(out_dir / "index.html", render_html(report))
    log.info("validation report written to %s", out_dir)
    return report


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


@dataclass
class _Summary:
    observables: dict[str, np.ndarray]
    incident: np.ndarray
    mean_shower: np.ndarray | None
    low_level: LowLevelSample | None = None


def summarise_batches(
    batches: Iterable[Any], geometry: CaloGeometry, max_showers_low_level: int = 0, seed: int = 0
) -> _Summary:
    """Observables, incident energies, mean shower and a voxel reservoir from batches with
    ``.showers_mev`` (n, n_voxels) and ``.incident_energies_mev`` (n,), one batch at a time.

    With ``max_showers_low_level`` > 0 a seeded uniform reservoir of at most that many
    showers (see :func:`low_level_capacity`) is kept for voxel-level metrics.
    """
    chunks, incident = [], []
    voxel_sum, count = np.zeros(geometry.n_voxels), 0
    capacity = low_level_capacity(max_showers_low_level, geometry.n_voxels)
    reservoir = ShowerReservoir(capacity, geometry.n_voxels, seed) if capacity > 0 else None
    for batch in batches:
        showers = np.asarray(batch.showers_mev)
        energies = np.asarray(batch.incident_energies_mev, dtype=np.float64).reshape(-1)
        chunks.append(shower_observables(showers, energies, geometry))
        incident.append(energies)
        voxel_sum += showers.sum(axis=0, dtype=np.float64)
        count += len(showers)
        if reservoir is not None:
            reservoir.add(showers, energies)
    if count == 0:
        raise ValueError("no showers to validate")
    low_level = reservoir.sample() if reservoir is not None else None
    return _Summary(concatenate_observables(chunks), np.concatenate(incident), voxel_sum / count, low_level)


def _read_summary(
    path: Path, geometry: CaloGeometry, chunk_size: int, max_showers_low_level: int, seed: int
) -> _Summary:
    from hepgan.io import ShowerReader

    with ShowerReader(path, geometry, chunk_size) as reader:
        return summarise_batches(reader.iter_chunks(), geometry, max_showers_low_level, seed)


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
    low_level = options.get("classifier", True)
    reference = _read_summary(Path(reference_path), geometry, chunk_size, max_low if low_level else 0, seed)
    generated = _read_summary(Path(generated_path), geometry, chunk_size, max_low if low_level else 0, seed + 1)
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
        reference_low_level=reference.low_level,
        generated_low_level=generated.low_level,
        **options,
    )
