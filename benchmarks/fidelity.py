"""Fidelity benchmark: hepgan's default calorimeter model against a FastCaloGAN/BoloGAN-style baseline.

Both are trained on the same reference showers with the same wall-clock budget, then
generate 10⁴ showers (``--n-showers``) at the incident energies of a fresh reference of twice
as many showers (simulated once with the config's simulation settings and
``validation.seed``, so it shares no shower with the training file) and go through the full
validation (χ²/ndf, W1, separation power, FPD, KPD, classifier AUCs under hepgan's and the
CaloChallenge's protocol, the response per energy), each metric printed next to its floor
(the same metric between the reference's two halves of 10⁴). hepgan is also validated
without its profile calibration, with its cell calibration only, and without any calibration
("hepgan raw"); its step
checkpoints give the time-to-AUC curve; the challenge's published dataset-1-photon AUCs
are printed last when ``../shared/data/calochallenge/`` is there.

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
response, layer shares and widths, maps each generated cell's energy fraction onto the
training showers' quantiles per incident energy (``preprocessing.cell_calibration``), the
energies of every layer's radial rings jointly onto theirs (``preprocessing.profile_calibration``) and each shower's
E_tot/E_inc onto theirs (``preprocessing.response_calibration``).

    python benchmarks/fidelity.py --budget-seconds 480 [--config configs/calo.yaml] [--out fidelity/]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hepgan.config import load_config
from hepgan.domains import train
from hepgan.generate import ShowerGenerator
from hepgan.io import ShowerBatch, read_showers
from hepgan.io.geometry import load_geometry
from hepgan.simulate import simulate_to_file
from hepgan.validation.challenge_classifier import challenge_classifier_test, challenge_high_level_features
from hepgan.validation.observables import shower_observables
from hepgan.validation.report import validate_arrays
from hepgan.validation.response import response_per_energy

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "calochallenge" / "final_results_scalar.csv"
"""The CaloChallenge's published scores (read when present; not shipped with hepgan)."""

METRICS = (
    ("chi2_ndf_mean", "mean chi2/ndf"),
    ("w1_normalised_mean", "mean W1 / std"),
    ("separation_power_mean", "mean separation power"),
    ("fpd", "FPD"),
    ("kpd", "KPD"),
    ("classifier_auc_high_level", "classifier AUC (high level)"),
    ("classifier_auc_low_level", "classifier AUC (voxels)"),
    ("challenge_auc_high_level", "challenge AUC (high level)"),
    ("challenge_auc_low_level", "challenge AUC (voxels)"),
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
        "preprocessing.profile_calibration=none",
        "preprocessing.response_calibration=false",
    ]


def fresh_reference(config_path: Path, out: Path, n_showers: int) -> ShowerBatch:
    """2 × ``n_showers`` showers simulated with the config's simulation settings and ``validation.seed`` (made once)."""
    config = load_config(config_path)
    path = out / f"reference_{2 * n_showers}_seed{config.validation.seed}.h5"
    if not path.is_file():
        simulate_to_file(config, path, n=2 * n_showers, seed=config.validation.seed)
    return read_showers(path, load_geometry(config.geometry))


def time_to_auc(run_dir: Path, reference: ShowerBatch, n_showers: int) -> list[dict]:
    """The CaloChallenge-protocol high-level AUC of every kept step checkpoint against its training wall time."""
    times = {}
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "step" in record and "time_s" in record:
            times[int(record["step"])] = float(record["time_s"])
    geometry = load_geometry(load_config(run_dir / "config.yaml").geometry)
    showers, incident = reference.showers_mev[:n_showers], reference.incident_energies_mev[:n_showers]
    ref_half = challenge_high_level_features(shower_observables(showers, incident, geometry), incident, geometry)
    curve = []
    for checkpoint in sorted((run_dir / "checkpoints").glob("step_*.pt")):
        generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
        generated = generator.sample(incident, seed=1)
        features = challenge_high_level_features(
            shower_observables(generated.showers_mev, incident, geometry), incident, geometry
        )
        result = challenge_classifier_test(ref_half, features, seed=0)
        step = generator.step
        seconds = times.get(step, max((t for s, t in times.items() if s <= step), default=float("nan")))
        curve.append({"step": step, "seconds": seconds, "auc": result.auc, "auc_err": result.auc_err})
    return curve


def train_and_validate(
    config_path: Path,
    overrides: list[str],
    budget: float,
    out: Path,
    threads: int,
    reference: ShowerBatch,
    n_showers: int,
    curve: bool = False,
) -> dict:
    """Train within ``budget`` seconds, validate the best checkpoint against the fresh ``reference``
    (``n_showers`` generated at the energies of its first half, as the main job does)."""
    budget_overrides = [
        f"training.max_seconds={budget}",
        "training.max_steps=10000000",
        f"training.runs_dir={out / 'runs'}",
        f"training.threads={threads}",
        "training.keep_checkpoints=100",
    ]
    config = load_config(config_path, overrides + budget_overrides)
    result = train(config, progress=False)
    best = result.run_dir / "checkpoints" / "best.pt"
    checkpoint = best if best.is_file() else result.checkpoint
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    incident = reference.incident_energies_mev[:n_showers]

    def validate(name: str) -> dict:
        generated = generator.sample(incident, seed=1)
        report = validate_arrays(
            reference.showers_mev,
            reference.incident_energies_mev,
            generated.showers_mev,
            generated.incident_energies_mev,
            generator.geometry,
            out / name,
        )
        ref_ratio = reference.showers_mev.sum(axis=1) / reference.incident_energies_mev
        gen_ratio = generated.showers_mev.sum(axis=1) / generated.incident_energies_mev
        report["global_metrics"]["response_per_energy"] = response_per_energy(
            ref_ratio, reference.incident_energies_mev, gen_ratio, generated.incident_energies_mev
        )
        return report["global_metrics"]

    outcome = {
        "steps": result.steps,
        "seconds": result.seconds,
        "checkpoint": str(checkpoint),
        "global_metrics": validate(config.name),
    }
    if generator.profile_calibration is not None:
        generator.profile_calibration = None
        outcome["global_metrics_no_profile_calibration"] = validate(f"{config.name}-no-profile-calibration")
    if generator.response_calibration is not None:
        generator.response_calibration = None
        outcome["global_metrics_no_response_calibration"] = validate(f"{config.name}-no-response-calibration")
    if generator.calibration is not None:
        generator.calibration = None
        outcome["global_metrics_uncalibrated"] = validate(f"{config.name}-uncalibrated")
    if curve:
        outcome["time_to_auc"] = time_to_auc(result.run_dir, reference, n_showers)
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
    parser.add_argument(
        "--n-showers", type=int, default=10_000, help="generated showers; the reference has twice as many"
    )
    parser.add_argument("--out", default="fidelity", help="folder for runs, reports and fidelity.json")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per training (0: default)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = load_config(args.config)
    n_voxels = load_geometry(config.geometry).n_voxels
    reference = fresh_reference(Path(args.config), out, args.n_showers)
    common = (args.budget_seconds, out, args.threads, reference, args.n_showers)
    results = {
        "hepgan": train_and_validate(Path(args.config), [], *common, curve=True),
        "baseline": train_and_validate(Path(args.config), baseline_overrides(n_voxels), *common),
    }
    (out / "fidelity.json").write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    print(f"training budget: {args.budget_seconds:.0f} s per model on this machine")
    print(
        f"validation: {args.n_showers} generated against {2 * args.n_showers} fresh reference showers "
        f"(seed {config.validation.seed}); floors: two halves of {args.n_showers}"
    )
    for name, res in results.items():
        print(f"  {name:9s}: {res['steps']} generator steps in {res['seconds']:.0f} s, {res['checkpoint']}")
    ours_all = results["hepgan"]
    columns = {
        "hepgan": ours_all["global_metrics"],
        "no profile calib.": ours_all.get("global_metrics_no_profile_calibration", {}),
        "cell calib. only": ours_all.get("global_metrics_no_response_calibration", {}),
        "hepgan raw": ours_all.get("global_metrics_uncalibrated", {}),
        "baseline": results["baseline"]["global_metrics"],
    }
    print(f"\n{'metric':28s}" + "".join(f"{name:>19s}" for name in columns) + f"{'floor (ref vs ref)':>19s}  better")
    for key, label in METRICS:
        ours = columns["hepgan"].get(key, {})
        theirs = columns["baseline"].get(key, {})
        ideal = ours.get("ideal", 0.0)
        better = "n/a"
        if ours.get("value") is not None and theirs.get("value") is not None:
            better = "hepgan" if abs(ours["value"] - ideal) < abs(theirs["value"] - ideal) else "baseline"
        cells = "".join(f"{_fmt(metrics.get(key, {}), 'value'):>19s}" for metrics in columns.values())
        print(f"{label:28s}{cells}{_fmt(ours, 'floor'):>19s}  {better}")
    for key in ("challenge_auc_high_level", "challenge_auc_low_level"):
        entry = columns["hepgan"].get(key, {})
        if "jsd" in entry:
            print(f"{key} JSD: hepgan {entry['jsd']:.4f} ± {entry['jsd_err']:.4f}, floor {entry['floor_jsd']:.4f}")
    _print_response(columns)
    _print_auc_per_energy(results)
    _print_time_to_auc(ours_all.get("time_to_auc", []))
    _print_published()


def _print_response(columns: dict) -> None:
    """Response mean and width per incident energy, relative to the reference, with errors, per variant."""
    rows = {name: metrics.get("response_per_energy", []) for name, metrics in columns.items()}
    if not rows["hepgan"]:
        return
    print(f"\n{'E_inc':>12s}" + "".join(f" {name + ' mean':>21s} {name + ' width':>21s}" for name in rows))
    for i, row in enumerate(rows["hepgan"]):
        cells = ""
        for variant in rows.values():
            if i < len(variant):
                r = variant[i]
                mean = f"{100 * r['mean_rel_diff']:+.2f} ± {100 * r['mean_rel_diff_err']:.2f} %"
                width = f"{100 * r['std_rel_diff']:+.1f} ± {100 * r['std_rel_diff_err']:.1f} %"
                cells += f" {mean:>21s} {width:>21s}"
        print(f"{row['label']:>12s}{cells}")


def _print_time_to_auc(curve: list[dict]) -> None:
    if not curve:
        return
    print("\ntime to AUC, hepgan (CaloChallenge-protocol high-level AUC of each step checkpoint)")
    print(f"{'step':>8s} {'training s':>11s} {'AUC':>16s}")
    for point in curve:
        print(f"{point['step']:8d} {point['seconds']:11.0f} {point['auc']:9.3f} ± {point['auc_err']:.3f}")


def _print_published() -> None:
    """The challenge's published dataset-1-photon classifier AUCs (Geant4 reference; hepgan's is GFlash)."""
    if not PUBLISHED.is_file():
        return
    import csv

    with PUBLISHED.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["dataset"] == "ds1_photons"]
    seen = set()
    print("\npublished CaloChallenge dataset-1 photons (reference Geant4, not GFlash: set beside, not equal)")
    print(f"{'submission':24s} {'AUC high':>9s} {'AUC low':>9s}")
    for row in rows:
        if row["submission name"] in seen:
            continue
        seen.add(row["submission name"])
        print(f"{row['submission name']:24s} {float(row['binary cls high']):9.3f} {float(row['binary cls low']):9.3f}")


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
