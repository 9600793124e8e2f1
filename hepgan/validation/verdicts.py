"""Metric floors and verdicts: the one rule by which both the shower and the event report judge a metric.

Floor
    The same metric between two disjoint random halves of the reference sample
    (:func:`reference_halves`): what a perfect generator would score, with half the statistics.

Verdict (:func:`verdict`)
    With ``ideal`` the metric's perfect value (0 for distances and χ²/ndf differences, ½ for a
    classifier AUC), the excess over the floor is ``|value − ideal| − |floor − ideal|`` and the
    combined error is ``σ = hypot(error, floor_error)``:

    - ``"ok"``: excess ≤ 2σ (or excess ≤ 0);
    - ``"tension"``: 2σ < excess ≤ 5σ;
    - ``"fail"``: excess > 5σ;
    - ``"n/a"``: no finite value; ``"no floor"``: a value but no finite floor.

    The floor uses half the reference statistics, so it slightly overestimates the pure-noise
    level and the verdict errs on the lenient side.

An observable's verdict (:func:`observable_verdict`) is the worse of its W1 and its χ²/ndf verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

VERDICT_SIGMAS = (2.0, 5.0)
"""Excess over the floor, in units of the combined error, up to which a metric is "ok" and "tension"."""
VERDICT_ORDER = ("n/a", "no floor", "ok", "tension", "fail")
"""Verdicts from the least to the most severe."""
OBSERVABLE_VERDICT_METRICS = ("w1", "chi2_ndf")

MetricPair = Callable[[np.ndarray, np.ndarray], tuple[float, float]]


def reference_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random index sets of size n // 2 into a reference of ``n`` entries (the floor split)."""
    order = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return order[:half], order[half : 2 * half]


def verdict(
    value: float | None,
    error: float | None,
    floor: float | None,
    floor_error: float | None,
    ideal: float = 0.0,
) -> str:
    """Compare a metric with its reference floor: ``"ok"``, ``"tension"``, ``"fail"``, ``"n/a"`` or ``"no floor"``.

    See the module docstring for the rule; missing errors count as 0.
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


def worst_verdict(verdicts: Iterable[str]) -> str:
    """The most severe of ``verdicts`` in :data:`VERDICT_ORDER` (``"n/a"`` for none)."""
    return max(verdicts, key=VERDICT_ORDER.index, default="n/a")


def observable_verdict(results: Mapping[str, Any]) -> str:
    """The worse of the W1 and the χ²/ndf verdicts of one observable against its ``results["floor"]``."""
    floor = results.get("floor") or {}
    return worst_verdict(
        verdict(results.get(key), results.get(f"{key}_err"), floor.get(key), floor.get(f"{key}_err"))
        for key in OBSERVABLE_VERDICT_METRICS
    )


def verdict_counts(verdicts: Iterable[str | None]) -> dict[str, int]:
    """How many of each verdict ("ok", "tension", "fail", "no floor", "n/a"); absent verdicts are left out."""
    listed = list(verdicts)
    return {name: listed.count(name) for name in ("ok", "tension", "fail", "no floor", "n/a") if name in listed}


def metric_with_floor(
    func: MetricPair,
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    split_seed: int,
    ideal: float,
    description: str,
) -> dict[str, Any]:
    """``func`` → (value, error) on (reference, generated) and on two halves of the reference, with a verdict.

    Returns ``description``, ``ideal``, ``value``, ``error``, ``floor``, ``floor_error`` and
    ``verdict``; ``skipped`` (and verdict "n/a") with the text of a ``ValueError`` raised by
    ``func``. The halves come from :func:`reference_halves` with ``split_seed``.
    """
    entry: dict[str, Any] = {"description": description, "ideal": ideal}
    try:
        entry["value"], entry["error"] = func(reference, generated)
        first, second = reference_halves(len(reference), split_seed)
        entry["floor"], entry["floor_error"] = func(reference[first], reference[second])
    except ValueError as exc:
        entry["skipped"] = str(exc)
    entry["verdict"] = verdict(
        entry.get("value"), entry.get("error"), entry.get("floor"), entry.get("floor_error"), ideal=ideal
    )
    return entry
