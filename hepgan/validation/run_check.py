"""Validate a trained run on its held-out reference sample (first validation plots)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hepgan.generate import ShowerGenerator
from hepgan.io import read_showers
from hepgan.training.trainer import HOLDOUT_FILE
from hepgan.validation.report import validate_arrays
from hepgan.validation.response import response_per_energy


def validate_run(run_dir: str | Path, checkpoint: str | Path, seed: int = 1) -> dict[str, Any]:
    """Generate as many showers as the run's held-out sample, with the same incident energies,
    compare them (plots, χ², W1 into ``run_dir/validation``) and return the response table."""
    run_dir = Path(run_dir)
    generator = ShowerGenerator.from_checkpoint(checkpoint)
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
