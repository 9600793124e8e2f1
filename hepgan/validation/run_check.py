"""Validate a trained run on its held-out reference sample (first validation plots)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.generate import ShowerGenerator
from hepgan.io import read_showers
from hepgan.training.checkpoint import load_checkpoint
from hepgan.training.trainer import HOLDOUT_FILE
from hepgan.validation.report import validate_arrays
from hepgan.validation.response import response_per_energy

MIN_GENERATED_EVENTS = 50_000
"""Events generated for an event run's validation at least (more than the hold-out: less noise on the GAN side)."""


def validate_run(run_dir: str | Path, checkpoint: str | Path, seed: int = 1) -> dict[str, Any]:
    """Validate a trained run on its held-out sample (into ``run_dir/validation``), by checkpoint kind.

    Showers: generate as many as the held-out sample, with the same incident energies, compare
    them (plots, χ², W1) and return the response table. Events: see :func:`validate_event_run`.
    """
    run_dir = Path(run_dir)
    state = load_checkpoint(checkpoint)
    if state.get("kind") == "events":
        return validate_event_run(run_dir, checkpoint, state, seed)
    generator = ShowerGenerator(state, source=str(checkpoint))
    reference = read_showers(run_dir / HOLDOUT_FILE, generator.geometry)
    generated = generator.sample(reference.incident_energies_mev, seed=seed)
    out_dir = run_dir / "validation"
    metrics = validate_arrays(
        reference.showers_mev,
        reference.incident_energies_mev,
        generated.showers_mev,
        generated.incident_energies_mev,
        generator.geometry,
        out_dir,
    )
    ref_ratio = reference.showers_mev.sum(axis=1) / reference.incident_energies_mev
    gen_ratio = generated.showers_mev.sum(axis=1) / generated.incident_energies_mev
    rows = response_per_energy(ref_ratio, reference.incident_energies_mev, gen_ratio, generated.incident_energies_mev)
    summary = {
        "checkpoint": str(checkpoint),
        "n_showers": len(reference),
        "response_per_energy": rows,
        "max_abs_mean_rel_diff": float(np.nanmax(np.abs([r["mean_rel_diff"] for r in rows]))) if rows else None,
        "max_abs_std_rel_diff": float(np.nanmax(np.abs([r["std_rel_diff"] for r in rows]))) if rows else None,
        "metrics": metrics,
    }
    (out_dir / "response.json").write_text(json.dumps(summary["response_per_energy"], indent=1), encoding="utf-8")
    return summary


def validate_event_run(run_dir: Path, checkpoint: str | Path, state: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    """Generate max(hold-out size, 50 000) events and compare them with the held-out reference events.

    Returns:
        ``kind`` ("events"), ``checkpoint``, ``n_reference``, ``n_generated``, ``peak`` (dimuon
        peak position/width, reference vs generated, relative differences and targets),
        ``observables`` (χ², W1 and W1 floor per observable), ``summary`` (targets met) and
        ``metrics`` (the full report, also in ``validation/metrics.json``).
    """
    from hepgan.generate_events import EventGenerator
    from hepgan.io.events import read_events
    from hepgan.validation.event_report import validate_event_arrays

    generator = EventGenerator(state, source=str(checkpoint))
    reference = read_events(run_dir / HOLDOUT_FILE)
    generated = generator.sample(max(len(reference), MIN_GENERATED_EVENTS), seed=seed)
    report = validate_event_arrays(reference, generated, run_dir / "validation")
    return {
        "kind": "events",
        "checkpoint": str(checkpoint),
        "n_reference": len(reference),
        "n_generated": len(generated),
        "peak": report["peak"],
        "observables": report["observables"],
        "summary": report["summary"],
        "metrics": report,
    }
