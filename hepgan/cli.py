"""The ``hepgan`` command line: parses arguments and calls the library; no logic lives here.

Errors that hepgan understands (bad files, bad configs, divergence) are printed as one
line ``hepgan: error: ...`` with exit code 2, without a traceback. Any other exception is
caught by a last safety net and printed as one line too, naming the command, its main input
and the exception; ``--debug`` (or ``HEPGAN_DEBUG=1``) shows its traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

from hepgan import __version__
from hepgan.config import CLASSIFIER_PROTOCOLS
from hepgan.errors import HepganError, Interrupted
from hepgan.paths import path_problem

MAX_COUNT = 10**12
MAX_WALK_ENERGY_MEV = 1.0e7
"""Largest ``--walk-energy`` (MeV): the largest incident energy hepgan reads from shower files (10 TeV)."""
SAFETY_NET = True
"""Turn exceptions that escape a command into one error line (False: let them propagate, as with --debug)."""
DEBUG_VARIABLE = "HEPGAN_DEBUG"
"""Environment variable that, set to 1, shows tracebacks like ``--debug``."""


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


def _path(text: str) -> str:
    """A path the operating system can take (no over-long names, no NUL); argparse names the option."""
    problem = path_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _walk_energy(text: str) -> float:
    """An incident energy in MeV: a finite number in (0, 1e7]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an energy in MeV such as 65536, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value <= MAX_WALK_ENERGY_MEV):
        raise argparse.ArgumentTypeError(
            f"expected a finite energy in (0, {MAX_WALK_ENERGY_MEV:.0e}] MeV, got {text!r}"
        )
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit code 2, like every other hepgan error
        self.exit(2, f"hepgan: error: {printable(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hepgan", description="Conditional GANs for fast calorimeter simulation.")
    parser.add_argument("--version", action="version", version=f"hepgan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging information")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of unexpected errors (also: {DEBUG_VARIABLE}=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="run the GFlash reference simulator and write showers (MeV)")
    p.add_argument("config", type=_path, help="run configuration (YAML); its 'simulation' section is used")
    p.add_argument("-o", "--output", type=_path, help="output file (.h5 or .root; default: the config's data.path)")
    p.add_argument("--n", type=parse_count, help="number of showers (default: simulation.n_showers)")
    p.add_argument("--seed", type=_seed, help="random seed (default: simulation.seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("train", help="train a conditional GAN on reference showers")
    p.add_argument("config", type=_path, help="run configuration (YAML)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        type=_path,
        metavar="RUN_DIR",
        help="continue a killed run (default: the newest run of this config's name)",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--no-validate", action="store_true", help="skip the held-out validation after training")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and stop")

    p = sub.add_parser("generate", help="generate showers with a trained model")
    p.add_argument("--n", type=parse_count, required=True, help="number of showers, e.g. 1e6")
    p.add_argument(
        "-o", "--output", type=_path, required=True, help="output file (.h5 CaloChallenge/CaloGAN layout, or .root)"
    )
    p.add_argument(
        "--checkpoint",
        type=_path,
        help="checkpoint file or run folder (default: the best checkpoint of the newest finished run)",
    )
    p.add_argument("--runs-dir", type=_path, default="runs", help="where runs are looked for (default: runs)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", type=_positive_int, help="showers per batch (default: generation.batch_size)")
    p.add_argument("--energies-from", type=_path, metavar="FILE", help="take incident energies from this shower file")
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
    p.add_argument("inputs", nargs="+", type=_path, help="shard files, in order")
    p.add_argument("-o", "--output", type=_path, required=True, help="merged file (.h5)")
    p.add_argument("--virtual", action="store_true", help="virtual HDF5 datasets over the shards (no copy)")
    p.add_argument(
        "--geometry",
        type=_path,
        default="calochallenge_ds1_photons",
        help="built-in geometry name or geometry YAML (copy mode; default: calochallenge_ds1_photons)",
    )

    p = sub.add_parser("export", help="write the generator with its pre/post-processing for C++ (ONNX)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (onnx)")
    p.add_argument("-o", "--output", type=_path, required=True, help="output file, e.g. generator.onnx")
    p.add_argument(
        "--checkpoint",
        type=_path,
        help="checkpoint file or run folder (default: the best checkpoint of the newest finished shower run)",
    )
    p.add_argument("--runs-dir", type=_path, default="runs", help="where runs are looked for (default: runs)")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator weights instead of their average")

    p = sub.add_parser("validate", help="compare generated showers (or events) with reference ones")
    p.add_argument("--reference", type=_path, required=True, help="reference shower or event file")
    p.add_argument("--generated", type=_path, required=True, help="generated shower or event file")
    p.add_argument("-o", "--output", type=_path, default="validation", help="report folder (default: validation)")
    p.add_argument(
        "--geometry",
        type=_path,
        help="built-in geometry name or geometry YAML (default: the one the reference file names, "
        "else calochallenge_ds1_photons)",
    )
    p.add_argument(
        "--checkpoint", type=_path, help="add a latent-space walk drawn with this checkpoint (file or run folder)"
    )
    p.add_argument("--walk-energy", type=_walk_energy, default=65536.0, help="incident energy of the walk in MeV")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier two-sample tests (faster)")
    p.add_argument(
        "--classifier-protocol",
        choices=("both", "hepgan", "challenge"),
        default="both",
        help="showers: hepgan's cross-validated classifier test, the CaloChallenge's recipe, or both (default)",
    )
    p.add_argument("--all-energy-plots", action="store_true", help="draw every observable per incident energy")

    p = sub.add_parser("info", help="say what a run folder, checkpoint or shower/event file is")
    p.add_argument("paths", nargs="+", type=_path, metavar="PATH", help="run folder, checkpoint (.pt) or data file")
    p.add_argument(
        "--field",
        metavar="KEY",
        help="print only this field of a run folder's run.json (of the newest finished run in a folder of runs)",
    )
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

    from hepgan.domains import train, validate_run
    from hepgan.training.checkpoint import latest_run
    from hepgan.training.run_folder import run_config

    config = _load(args)
    resume_dir = None
    if args.resume:
        resume_dir = latest_run(config.training.runs_dir, config.name) if args.resume == "latest" else Path(args.resume)
        config = run_config(resume_dir, args.set)  # the run's own config, with this command's overrides
    if args.dry_run:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    result = train(config, resume_dir=resume_dir, progress=not args.no_progress)
    if not result.main_process:
        return 0
    print(
        f"trained {result.steps} steps in {result.seconds:.0f} s ({result.items_per_second:.0f} {result.unit}/s); "
        f"run folder {result.run_dir}"
    )
    print(f"checkpoint: {result.checkpoint}")
    if not args.no_validate:
        validation = validate_run(result.run_dir, result.checkpoint)
        print("\n".join(validation.lines))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from hepgan.domains import generate_to_file
    from hepgan.generate.checkpoint_choice import choose_checkpoint

    choice = choose_checkpoint(args.checkpoint, args.runs_dir)
    if choice.line:
        print(choice.line)
    checkpoint = choice.path
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
    from hepgan.domains import ValidateOptions, validate_files

    options = ValidateOptions(
        geometry=args.geometry,
        checkpoint=args.checkpoint,
        walk_energy_mev=args.walk_energy,
        classifier=not args.no_classifier,
        classifier_protocols=CLASSIFIER_PROTOCOLS
        if args.classifier_protocol == "both"
        else (args.classifier_protocol,),
        all_energy_plots=args.all_energy_plots,
    )
    validation = validate_files(args.reference, args.generated, Path(args.output), options)
    print("\n".join(validation.lines))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from hepgan.domains.info import describe, run_field

    if args.field:
        for path in args.paths:
            print(run_field(path, args.field))
        return 0
    for path in args.paths:
        print("\n".join(describe(path)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hepgan.export import export_onnx
    from hepgan.generate.checkpoint_choice import choose_checkpoint

    choice = choose_checkpoint(args.checkpoint, args.runs_dir, kind="calo")  # ONNX export is for shower models
    if choice.line:
        print(choice.line)
    checkpoint = choice.path
    path = export_onnx(checkpoint, Path(args.output), opset=args.opset, use_ema=not args.no_ema)
    print(
        f"wrote {path} (inputs: noise, incident_energy [MeV], calibration_ranks when the checkpoint has a cell "
        f"calibration; output: showers [MeV]; metadata_props say which) from {checkpoint}"
    )
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


HEAVY_COMMANDS = ("simulate", "generate", "validate")
"""Commands that stream large batches: glibc keeps their freed buffers (:func:`hepgan.device.retain_freed_memory`)."""

COMMANDS = {
    "simulate": cmd_simulate,
    "train": cmd_train,
    "generate": cmd_generate,
    "validate": cmd_validate,
    "merge": cmd_merge,
    "export": cmd_export,
    "info": cmd_info,
}


def main_input(args: argparse.Namespace) -> str:
    """What a command works on, for the safety net's error line."""
    if args.command in ("simulate", "train"):
        return str(args.config)
    if args.command in ("generate", "export"):
        return str(args.checkpoint) if args.checkpoint else f"the newest checkpoint in {args.runs_dir}"
    if args.command == "validate":
        return f"{args.generated} (reference {args.reference})"
    paths = args.inputs if args.command == "merge" else args.paths
    return ", ".join(map(str, paths[:3])) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def printable(text: str) -> str:
    """``text`` with control and line-separator characters written as escapes (an error stays one line)."""
    return "".join(char if char.isprintable() or char == " " else repr(char)[1:-1] for char in text)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        if args.command in HEAVY_COMMANDS:
            from hepgan.device import retain_freed_memory

            retain_freed_memory()
        return COMMANDS[args.command](args)
    except Interrupted as exc:  # training or generation stopped by SIGTERM/SIGINT
        print(f"hepgan: {exc}", file=sys.stderr)
        return 143 if "SIGTERM" in str(exc) else 130
    except HepganError as exc:
        print(f"hepgan: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hepgan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the safety net: one line instead of a traceback
        if args.debug or os.environ.get(DEBUG_VARIABLE) == "1" or not SAFETY_NET:
            raise
        print(
            f"hepgan: error: {args.command} failed on {printable(_one_line(main_input(args), 200))}: "
            f"{type(exc).__name__}: {printable(_one_line(str(exc)))} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 2
