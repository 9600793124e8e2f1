"""Fidelity benchmark: hepgan's default calorimeter model against a FastCaloGAN/BoloGAN-style baseline.

Both are trained on the same reference showers with the same wall-clock budget, then
generate showers for the same held-out incident energies and go through the full
validation (χ²/ndf, W1, separation power, FPD, KPD, classifier AUCs), each metric printed
next to its floor (the same metric between two halves of the held-out reference).

The baseline follows the published FastCaloGAN/BoloGAN design (ATL-SOFT-PUB-2020-006,
CaloChallenge 2022 "BoloGAN"): conditional WGAN-GP, MLP generator with hidden layers
50-100-200 and a 50-dimensional latent space, a critic of three layers as wide as the
voxel count, λ = 10, 5 critic steps per generator step, Adam with lr 1e-4 and β1 = 0.55,
batch 128, no weight averaging, no MMD term and a critic that sees only the voxels
(``model.critic_summary: []``). It shares hepgan's log-fraction preprocessing with one
standardisation per voxel over all energies (``cell_standardisation: global``, no
empty-cell cut), the closest to the published per-voxel normalisation; hepgan's default
standardises every voxel per incident energy, reads cells below its resolution as empty,
lets its critic score each layer's energy share and width, adds an MMD term on the
response, layer shares and widths, and maps each generated cell's energy fraction onto the
training showers' quantiles per incident energy (``preprocessing.cell_calibration``). The
hepgan model is also validated with that calibration switched off ("hepgan raw"), so its
share of the result is printed.

    python benchmarks/fidelity.py --budget-seconds 480 [--config configs/calo.yaml] [--out fidelity/]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hepgan.config import load_config
from hepgan.domains import train
from hepgan.generate import ShowerGenerator
from hepgan.io import read_showers
from hepgan.training.trainer import HOLDOUT_FILE
from hepgan.validation.report import validate_arrays

METRICS = (
    ("chi2_ndf_mean", "mean chi2/ndf"),
    ("w1_normalised_mean", "mean W1 / std"),
    ("separation_power_mean", "mean separation power"),
    ("fpd", "FPD"),
    ("kpd", "KPD"),
    ("classifier_auc_high_level", "classifier AUC (high level)"),
    ("classifier_auc_low_level", "classifier AUC (voxels)"),
)


def baseline_overrides(n_voxels: int) -> list[str]:
    """The FastCaloGAN/BoloGAN recipe as ``--set`` overrides of a hepgan config."""
    return [
        "name=bologan-baseline",
        "model.architecture=mlp",
        "model.latent_dim=50",
        "model.generator_hidden=[50, 100, 200]",
        f"model.critic_hidden=[{n_voxels}, {n_voxels}, {n_voxels}]",
        "model.critic_summary=[]",
        "training.loss=wgan-gp",
        "training.gp_lambda=10",
        "training.d_steps=5",
        "training.g_steps=1",
        "training.lr_generator=1.0e-4",
        "training.lr_discriminator=1.0e-4",
        "training.betas=[0.55, 0.999]",
        "training.batch_size=128",
        "training.ema_decay=0.0",
        "training.mmd_weight=0.0",
        "preprocessing.cell_standardisation=global",
        "preprocessing.empty_cell_cut=false",
        "preprocessing.cell_calibration=false",
    ]


def train_and_validate(config_path: Path, overrides: list[str], budget: float, out: Path, threads: int) -> dict:
    """Train within ``budget`` seconds, validate the best checkpoint on the held-out showers."""
    budget_overrides = [
        f"training.max_seconds={budget}",
        "training.max_steps=10000000",
        f"training.runs_dir={out / 'runs'}",
        f"training.threads={threads}",
    ]
    config = load_config(config_path, overrides + budget_overrides)
    result = train(config, progress=False)
    best = result.run_dir / "checkpoints" / "best.pt"
    checkpoint = best if best.is_file() else result.checkpoint
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    reference = read_showers(result.run_dir / HOLDOUT_FILE, generator.geometry)

    def validate(name: str) -> dict:
        generated = generator.sample(reference.incident_energies_mev, seed=1)
        report = validate_arrays(
            reference.showers_mev,
            reference.incident_energies_mev,
            generated.showers_mev,
            generated.incident_energies_mev,
            generator.geometry,
            out / name,
        )
        return report["global_metrics"]

    outcome = {
        "steps": result.steps,
        "seconds": result.seconds,
        "checkpoint": str(checkpoint),
        "global_metrics": validate(config.name),
    }
    if generator.calibration is not None or generator.response_calibration is not None:
        generator.calibration = None
        generator.response_calibration = None
        outcome["global_metrics_uncalibrated"] = validate(f"{config.name}-uncalibrated")
    return outcome


def _fmt(entry: dict, key: str) -> str:
    value, error = entry.get(key), entry.get(f"{key}_error" if key == "floor" else "error")
    if value is None:
        return "n/a"
    return f"{value:.4g} ± {error:.2g}" if error is not None else f"{value:.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/calo.yaml")
    parser.add_argument("--budget-seconds", type=float, default=480.0, help="training wall-clock budget per model")
    parser.add_argument("--out", default="fidelity", help="folder for runs, reports and fidelity.json")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per training (0: default)")
    args = parser.parse_args()
    out = Path(args.out)
    config = load_config(args.config)
    from hepgan.io.geometry import load_geometry

    n_voxels = load_geometry(config.geometry).n_voxels
    results = {
        "hepgan": train_and_validate(Path(args.config), [], args.budget_seconds, out, args.threads),
        "baseline": train_and_validate(
            Path(args.config), baseline_overrides(n_voxels), args.budget_seconds, out, args.threads
        ),
    }
    (out / "fidelity.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"training budget: {args.budget_seconds:.0f} s per model on this machine")
    for name, res in results.items():
        print(f"  {name:9s}: {res['steps']} generator steps in {res['seconds']:.0f} s, {res['checkpoint']}")
    raw_metrics = results["hepgan"].get("global_metrics_uncalibrated", {})
    print(f"\n{'metric':30s} {'hepgan':>20s} {'hepgan raw':>20s} {'baseline':>20s} {'floor (ref vs ref)':>20s}  better")
    for key, label in METRICS:
        ours = results["hepgan"]["global_metrics"].get(key, {})
        raw = raw_metrics.get(key, {})
        theirs = results["baseline"]["global_metrics"].get(key, {})
        ideal = ours.get("ideal", 0.0)
        better = "n/a"
        if ours.get("value") is not None and theirs.get("value") is not None:
            better = "hepgan" if abs(ours["value"] - ideal) < abs(theirs["value"] - ideal) else "baseline"
        print(
            f"{label:30s} {_fmt(ours, 'value'):>20s} {_fmt(raw, 'value'):>20s} {_fmt(theirs, 'value'):>20s} "
            f"{_fmt(ours, 'floor'):>20s}  {better}"
        )
    _print_auc_per_energy(results)


def _print_auc_per_energy(results: dict) -> None:
    """The high-level classifier AUC per incident-energy bin, both models and the floor."""
    key = "classifier_auc_high_level"
    ours = results["hepgan"]["global_metrics"].get(key, {}).get("per_energy_bin")
    theirs = results["baseline"]["global_metrics"].get(key, {}).get("per_energy_bin")
    if not ours or not theirs:
        return
    print(f"\n{'high-level AUC per E_inc':30s} {'hepgan':>20s} {'baseline':>20s} {'floor (ref vs ref)':>20s}")
    for mine, other in zip(ours, theirs, strict=True):
        print(
            f"{mine['energy_bin']:30s} {_fmt(mine, 'value'):>20s} {_fmt(other, 'value'):>20s} "
            f"{_fmt(mine, 'floor'):>20s}"
        )


if __name__ == "__main__":
    main()
