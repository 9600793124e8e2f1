"""The ``hepgan`` command line: parses arguments and calls the library; no logic lives here.

Errors that hepgan understands (bad files, bad configs, divergence) are printed as one
line ``hepgan: error: ...`` with exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from pathlib import Path

from hepgan import __version__
from hepgan.errors import HepganError, TrainingInterrupted

MAX_COUNT = 10**12


def parse_count(text: str) -> int:
    """A positive shower count: ``1000000``, ``1_000_000`` or ``1e6`` (must be a whole number)."""
    cleaned = text.strip().replace("_", "")
    if not re.fullmatch(r"[+]?(\d+(\.\d*)?|\.\d+)([eE][+]?\d+)?", cleaned):
        raise argparse.ArgumentTypeError(f"expected a positive whole number such as 1000 or 1e6, got {text!r}")
    value = float(cleaned)
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a whole number of showers, got {text!r}")
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a count between 1 and 1e12, got {text!r}")
    return int(value)


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` with 0 <= I < N: shard I (0-based) of N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N (e.g. 0/8), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed >= 0, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2^63), got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, like every other hepgan error
        self.exit(2, f"hepgan: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hepgan", description="Conditional GANs for fast calorimeter simulation.")
    parser.add_argument("--version", action="version", version=f"hepgan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging information")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="run the GFlash reference simulator and write showers (MeV)")
    p.add_argument("config", help="run configuration (YAML); its 'simulation' section is used")
    p.add_argument("-o", "--output", help="output file (.h5 or .root; default: the config's data.path)")
    p.add_argument("--n", type=parse_count, help="number of showers (default: simulation.n_showers)")
    p.add_argument("--seed", type=_seed, help="random seed (default: simulation.seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("train", help="train a conditional GAN on reference showers")
    p.add_argument("config", help="run configuration (YAML)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN_DIR",
        help="continue a killed run (default: the newest run of this config's name)",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--no-validate", action="store_true", help="skip the held-out validation after training")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and stop")

    p = sub.add_parser("generate", help="generate showers with a trained model")
    p.add_argument("--n", type=parse_count, required=True, help="number of showers, e.g. 1e6")
    p.add_argument("-o", "--output", required=True, help="output file (.h5 CaloChallenge/CaloGAN layout, or .root)")
    p.add_argument("--checkpoint", help="checkpoint file or run folder (default: newest run's newest checkpoint)")
    p.add_argument("--runs-dir", default="runs", help="where runs are looked for (default: runs)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", type=_positive_int, help="showers per batch (default: generation.batch_size)")
    p.add_argument("--energies-from", metavar="FILE", help="take incident energies from this shower file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--compression", choices=("none", "gzip"), help="HDF5 compression")
    p.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="write only shard I (0-based) of N of the --n showers, with its own derived seed",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("merge", help="join generated shards into one file (copy) or a virtual HDF5 file")
    p.add_argument("inputs", nargs="+", help="shard files, in order")
    p.add_argument("-o", "--output", required=True, help="merged file (.h5)")
    p.add_argument("--virtual", action="store_true", help="virtual HDF5 datasets over the shards (no copy)")
    p.add_argument(
        "--geometry",
        default="calochallenge_ds1_photons",
        help="built-in geometry name or geometry YAML (copy mode; default: calochallenge_ds1_photons)",
    )

    p = sub.add_parser("export", help="write the generator with its pre/post-processing for C++ (ONNX)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (onnx)")
    p.add_argument("-o", "--output", required=True, help="output file, e.g. generator.onnx")
    p.add_argument("--checkpoint", help="checkpoint file or run folder (default: newest run's newest checkpoint)")
    p.add_argument("--runs-dir", default="runs", help="where runs are looked for (default: runs)")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator weights instead of their average")

    p = sub.add_parser("validate", help="compare generated showers with reference showers")
    p.add_argument("--reference", required=True, help="reference shower file")
    p.add_argument("--generated", required=True, help="generated shower file")
    p.add_argument("-o", "--output", default="validation", help="report folder (default: validation)")
    p.add_argument(
        "--geometry",
        help="built-in geometry name or geometry YAML (default: the one the reference file names, "
        "else calochallenge_ds1_photons)",
    )
    p.add_argument("--checkpoint", help="add a latent-space walk drawn with this checkpoint (file or run folder)")
    p.add_argument("--walk-energy", type=float, default=65536.0, help="incident energy of the walk in MeV")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier two-sample tests (faster)")
    p.add_argument("--all-energy-plots", action="store_true", help="draw every observable per incident energy")
    return parser


def _load(args: argparse.Namespace):
    from hepgan.config import load_config

    return load_config(args.config, args.set)


def cmd_simulate(args: argparse.Namespace) -> int:
    from hepgan.simulate import simulate_to_file

    config = _load(args)
    output = args.output or config.data.path
    summary = simulate_to_file(config, output, n=args.n, seed=args.seed, progress=not args.no_progress)
    print(
        f"wrote {summary.n} {summary.unit} to {summary.path} in {summary.seconds:.1f} s "
        f"({summary.per_second:.1f} {summary.unit}/s)"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import yaml

    from hepgan.training.checkpoint import latest_run
    from hepgan.training.trainer import run_config, train

    config = _load(args)
    resume_dir = None
    if args.resume:
        resume_dir = latest_run(config.training.runs_dir, config.name) if args.resume == "latest" else Path(args.resume)
        config = run_config(resume_dir, args.set)  # the run's own config, with this command's overrides
    if args.dry_run:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    result = train(config, resume_dir=resume_dir, progress=not args.no_progress)
    print(
        f"trained {result.steps} steps in {result.seconds:.0f} s ({result.showers_per_second:.0f} showers/s); "
        f"run folder {result.run_dir}"
    )
    print(f"checkpoint: {result.checkpoint}")
    if not args.no_validate:
        from hepgan.validation.run_check import validate_run

        summary = validate_run(result.run_dir, result.checkpoint)
        if summary.get("kind") == "events":
            print(
                f"held-out validation ({summary['n_reference']} reference, {summary['n_generated']} generated "
                f"events): {result.run_dir / 'validation' / 'index.html'}"
            )

            def number(value: float | None, spec: str, scale: float = 1.0) -> str:
                return "n/a".rjust(len(format(0.0, spec))) if value is None else format(scale * value, spec)

            peak = summary["peak"]
            ref, gen = peak["reference"], peak["generated"]
            print(f"  {peak['observable']} peak     ref [GeV]   gen [GeV]    diff      target")
            for key in ("position", "width"):
                ok = "ok" if peak[f"{key}_within_target"] else "missed"
                print(
                    f"  {key:>14s} {number(ref[f'{key}_gev'], '10.3f')} {number(gen[f'{key}_gev'], '10.3f')} "
                    f"({number(peak[f'{key}_rel_diff'], '+6.2f', 100)}%)  ±{100 * peak[f'target_{key}_rel']:g}% {ok}"
                )
            print("  observable         W1     W1 floor   W1/floor  (target <= 3)")
            for name, entry in summary["observables"].items():
                if "skipped" in entry:
                    print(f"  {name:>12s}  skipped: {entry['skipped']}")
                    continue
                ok = "ok" if entry["w1_within_target"] else "missed"
                print(
                    f"  {name:>12s} {entry['w1']:10.4g} {entry['w1_floor']:10.4g} "
                    f"{number(entry['w1_over_floor'], '8.2f')}  {ok}"
                )
            print(f"  all targets met: {'yes' if summary['summary']['all_targets_met'] else 'no'}")
            return 0
        print(f"held-out validation ({summary['n_showers']} showers): {result.run_dir / 'validation' / 'index.html'}")
        print("  E_inc           <E_tot/E_inc> ref    gen   (diff)    width ref    gen   (diff)")
        for row in summary["response_per_energy"]:
            print(
                f"  {row['label']:>14s} {row['mean_reference']:8.4f} {row['mean_generated']:8.4f} "
                f"({100 * row['mean_rel_diff']:+5.1f}%)  {row['std_reference']:8.4f} {row['std_generated']:8.4f} "
                f"({100 * row['std_rel_diff']:+5.1f}%)"
            )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from hepgan.generate import generate_to_file, resolve_checkpoint

    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir)
    summary = generate_to_file(
        checkpoint,
        args.n,
        args.output,
        seed=args.seed,
        batch_size=args.batch_size,
        energies_from=args.energies_from,
        device=args.device,
        compression=args.compression,
        shard=args.shard,
        progress=not args.no_progress,
    )
    print(
        f"wrote {summary.n} {summary.unit} to {summary.path} in {summary.seconds:.1f} s "
        f"({summary.ms_per_item:.4f} ms/{summary.unit[:-1]}) with {checkpoint}"
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hepgan.io.geometry import load_geometry
    from hepgan.validation.event_report import is_event_file, validate_event_files
    from hepgan.validation.report import validate_files

    if is_event_file(args.reference) and is_event_file(args.generated):
        report = validate_event_files(args.reference, args.generated, Path(args.output))
        peak = report["peak"]
        print(
            f"{peak['observable']} peak: position {100 * peak['position_rel_diff']:+.2f}%, "
            f"width {100 * peak['width_rel_diff']:+.2f}% (gen vs ref); "
            f"W1 <= 3x floor for {report['summary']['observables_within_target']}/"
            f"{report['summary']['observables_compared']} observables"
        )
        print(f"report: {Path(args.output) / 'index.html'}")
        return 0
    geometry = load_geometry(args.geometry or _geometry_named_by(Path(args.reference)))
    options: dict = {"classifier": not args.no_classifier}
    if args.all_energy_plots:
        options["per_energy_plots"] = "all"
    if args.checkpoint:
        from hepgan.generate import ShowerGenerator, resolve_checkpoint
        from hepgan.validation.latent import latent_walk

        generator = ShowerGenerator.from_checkpoint(resolve_checkpoint(args.checkpoint))
        options["latent_walk_showers"] = latent_walk(generator, args.walk_energy)
        options["latent_walk_incident_mev"] = args.walk_energy
    report = validate_files(args.reference, args.generated, geometry, Path(args.output), **options)
    for name, entry in report.get("global_metrics", {}).items():
        if entry.get("value") is not None:
            floor = f"{entry['floor']:.4g}" if entry.get("floor") is not None else "n/a"
            print(
                f"  {name:28s} {entry['value']:10.4g} ± {entry.get('error') or 0:.2g}   floor {floor:>10s}"
                f"   {entry.get('verdict', '')}"
            )
    print(f"report: {Path(args.output) / 'index.html'}")
    return 0


def _geometry_named_by(path: Path) -> str:
    """The built-in geometry a shower file's attributes name, else the default ds1-photon geometry."""
    from hepgan.io import ShowerReader, detect_layout
    from hepgan.io.geometry import BUILTIN_GEOMETRIES

    fallback = "calochallenge_ds1_photons"
    try:
        layout = detect_layout(path)
        default = "calogan" if layout == "calogan" else fallback
        with ShowerReader(path, default) as reader:
            name = str(reader.attrs.get("geometry", default))
    except HepganError:
        return fallback  # validate_files reports the problem with the file itself
    return name if name in BUILTIN_GEOMETRIES else default


def cmd_export(args: argparse.Namespace) -> int:
    from hepgan.export import export_onnx
    from hepgan.generate import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir)
    path = export_onnx(checkpoint, Path(args.output), opset=args.opset, use_ema=not args.no_ema)
    print(f"wrote {path} (inputs: noise, incident_energy [MeV]; output: showers [MeV]) from {checkpoint}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from hepgan.io.geometry import load_geometry
    from hepgan.io.merge import merge_copy, merge_virtual

    inputs = [Path(p) for p in args.inputs]
    if args.virtual:
        n = merge_virtual(inputs, Path(args.output))
    else:
        n = merge_copy(inputs, Path(args.output), load_geometry(args.geometry))
    print(f"merged {len(inputs)} files, {n} showers, into {args.output}" + (" (virtual)" if args.virtual else ""))
    return 0


COMMANDS = {
    "simulate": cmd_simulate,
    "train": cmd_train,
    "generate": cmd_generate,
    "validate": cmd_validate,
    "merge": cmd_merge,
    "export": cmd_export,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hepgan`` and ``python -m hepgan``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error already printed
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command](args)
    except TrainingInterrupted as exc:
        print(f"hepgan: {exc}", file=sys.stderr)
        return 143 if "SIGTERM" in str(exc) else 130
    except HepganError as exc:
        print(f"hepgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hepgan: interrupted", file=sys.stderr)
        return 130
