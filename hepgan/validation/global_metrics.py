"""Whole-sample metrics of the shower report, each with value, error, floor and verdict.

:func:`global_metrics` gives the means of the per-observable χ²/ndf, normalised W1 and
separation power, FPD and KPD on the standardised high-level features
(:mod:`hepgan.validation.physics_distances`), and classifier AUCs on high-level and
low-level (voxel) features (:mod:`hepgan.validation.classifier`), also per incident-energy
bin. Floors and verdicts follow :mod:`hepgan.validation.verdicts`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hepgan.config import CLASSIFIER_PROTOCOLS
from hepgan.validation.energy_bins import EnergyBinning
from hepgan.validation.observable_store import take_rows
from hepgan.validation.physics_distances import HIGH_LEVEL_PER_LAYER, fpd, high_level_matrix, high_level_names, kpd
from hepgan.validation.sampling import (
    DEFAULT_MAX_SHOWERS_HIGH_LEVEL,
    DEFAULT_MAX_SHOWERS_LOW_LEVEL,
    LowLevelSample,
    row_subsample,
)
from hepgan.validation.verdicts import MetricPair, metric_with_floor, reference_halves, verdict

if TYPE_CHECKING:
    from hepgan.io.geometry import CaloGeometry
    from hepgan.validation.classifier import ClassifierResult

log = logging.getLogger(__name__)

MIN_SHOWERS_GLOBAL = 50
CLASSIFIER_ENTRIES = (
    ("classifier_auc_high_level", "high-level"),
    ("classifier_auc_low_level", "voxels"),
    ("challenge_auc_high_level", "high-level, CaloChallenge protocol"),
    ("challenge_auc_low_level", "voxels, CaloChallenge protocol"),
)


def _none_if_nan(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _with_floor(
    func: MetricPair, reference: np.ndarray, generated: np.ndarray, seed: int, ideal: float, description: str
) -> dict[str, Any]:
    """:func:`hepgan.validation.verdicts.metric_with_floor` when both samples are large enough, else skipped."""
    if min(len(reference), len(generated)) < MIN_SHOWERS_GLOBAL or len(reference) < 2 * MIN_SHOWERS_GLOBAL:
        return {
            "description": description,
            "ideal": ideal,
            "skipped": f"needs >= {MIN_SHOWERS_GLOBAL} generated and {2 * MIN_SHOWERS_GLOBAL} reference showers",
            "verdict": "n/a",
        }
    return metric_with_floor(func, reference, generated, split_seed=seed + 1, ideal=ideal, description=description)


def _mean_entry(
    observables: Mapping[str, Mapping[str, Any]], key: str, error_key: str | None, description: str
) -> dict[str, Any]:
    """Mean of one per-observable metric (and of its floor) over observables; errors added in quadrature / n.

    Observables that could not be compared (skipped, or ``degenerate``: both samples constant)
    and those without the metric or its floor are left out; ``n_observables`` counts the rest.
    """
    values, errors, floors, floor_errors = [], [], [], []
    for entry in observables.values():
        overall = entry["overall"]
        floor = overall.get("floor") or {}
        if overall.get("degenerate") or overall.get("skipped") or overall.get(key) is None or floor.get(key) is None:
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


def _challenge_names(geometry: CaloGeometry | None) -> list[str]:
    """The observables the CaloChallenge-protocol high-level features read (none without a geometry)."""
    if geometry is None:
        return []
    return [f"{base}_{layer.id}" for base in HIGH_LEVEL_PER_LAYER for layer in geometry.layers]


def _rows(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]


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
    first, second = reference_halves(len(reference), seed + 1)
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


def _challenge_entry(reference: np.ndarray, generated: np.ndarray, seed: int, description: str) -> dict[str, Any]:
    """The CaloChallenge-protocol classifier's AUC with its floor (two reference halves), and the JSD of both."""
    from hepgan.validation.challenge_classifier import challenge_classifier_test

    results: list[Any] = []

    def run(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        results.append(challenge_classifier_test(a, b, seed=seed))
        return results[-1].auc, results[-1].auc_err

    entry = _with_floor(run, reference, generated, seed, 0.5, description)
    if len(results) == 2:
        value, floor = results
        entry.update(
            jsd=value.jsd,
            jsd_err=value.jsd_err,
            floor_jsd=floor.jsd,
            floor_jsd_err=floor.jsd_err,
            best_epoch=value.best_epoch,
            n_test=value.n_test,
        )
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
    max_showers_high_level: int = DEFAULT_MAX_SHOWERS_HIGH_LEVEL,
    energy_binning: EnergyBinning | None = None,
    seed: int = 0,
    geometry: CaloGeometry | None = None,
    classifier_protocols: Sequence[str] = CLASSIFIER_PROTOCOLS,
) -> dict[str, dict[str, Any]]:
    """Whole-sample metrics, each with value, error, floor (two reference halves) and verdict.

    Entries: ``chi2_ndf_mean``, ``w1_normalised_mean``, ``separation_power_mean`` (means of
    the per-observable results); ``fpd``, ``kpd`` (standardised high-level features: all
    compared observables); ``classifier_auc_high_level`` (the same features plus
    log E_inc, at most ``max_showers_low_level`` showers per sample) and
    ``classifier_auc_low_level`` (voxel energies, when low-level samples are given). With
    ``energy_binning`` the classifier entries also hold their AUCs per incident-energy bin.
    With "challenge" among ``classifier_protocols``, ``challenge_auc_high_level`` (needs the
    ``geometry``) and ``challenge_auc_low_level`` are the CaloChallenge's classifier test
    (:mod:`hepgan.validation.challenge_classifier`) with its JSD; "hepgan" gives the entries above.

    FPD, KPD and the high-level classifiers see a seeded uniform subsample (the same rows for all) of
    at most ``max_showers_high_level`` showers per sample, so that their (N, ~5 × n_layers) feature
    matrices stay bounded for large samples (FPD itself uses subsamples of at most 50 000 showers).
    """
    unknown = set(classifier_protocols) - set(CLASSIFIER_PROTOCOLS)
    if unknown:
        raise ValueError(
            f"classifier protocols: expected some of {', '.join(CLASSIFIER_PROTOCOLS)}, got {sorted(unknown)}"
        )
    from hepgan.validation.classifier import high_level_features, low_level_features

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
    # the high-level matrices hold a seeded subsample of at most max_showers_high_level showers per sample, built
    # column by column (observables may live on disk, ObservableStore): memory does not grow with the sample
    needed = list(dict.fromkeys([*names, *_challenge_names(geometry)]))
    ref_rows = row_subsample(len(reference_incident), max_showers_high_level, seed)
    gen_rows = row_subsample(len(generated_incident), max_showers_high_level, seed)
    reference_observables = take_rows(reference_observables, needed, ref_rows)
    generated_observables = take_rows(generated_observables, needed, gen_rows)
    reference_incident = _rows(np.asarray(reference_incident, dtype=np.float64).reshape(-1), ref_rows)
    generated_incident = _rows(np.asarray(generated_incident, dtype=np.float64).reshape(-1), gen_rows)
    if physics_distances and names:
        ref_x, gen_x = high_level_matrix(reference_observables, names), high_level_matrix(generated_observables, names)
        out["fpd"] = _with_floor(
            lambda a, b: fpd(a, b, seed=seed), ref_x, gen_x, seed, 0.0, "Fréchet physics distance, high-level (1/N → 0)"
        )
        out["kpd"] = _with_floor(
            lambda a, b: kpd(a, b, seed=seed), ref_x, gen_x, seed, 0.0, "kernel physics distance (MMD², cubic kernel)"
        )
    hepgan_protocol = classifier and "hepgan" in classifier_protocols
    challenge = classifier and "challenge" in classifier_protocols
    if hepgan_protocol and names:
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
    if hepgan_protocol and reference_low_level is not None and generated_low_level is not None:
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
    if challenge:
        from hepgan.validation.challenge_classifier import (
            challenge_high_level_features,
            challenge_low_level_features,
        )

        if geometry is not None:
            ref_c = challenge_high_level_features(reference_observables, reference_incident, geometry)
            gen_c = challenge_high_level_features(generated_observables, generated_incident, geometry)
            cap = max_showers_low_level
            out["challenge_auc_high_level"] = _challenge_entry(
                _cap_rows(ref_c, cap, seed),
                _cap_rows(gen_c, cap, seed),
                seed,
                "classifier AUC, high-level, CaloChallenge protocol",
            )
        if reference_low_level is not None and generated_low_level is not None:
            out["challenge_auc_low_level"] = _challenge_entry(
                challenge_low_level_features(reference_low_level.showers_mev, reference_low_level.incident_mev),
                challenge_low_level_features(generated_low_level.showers_mev, generated_low_level.incident_mev),
                seed,
                "classifier AUC, voxels / E_inc, CaloChallenge protocol",
            )
    return out
