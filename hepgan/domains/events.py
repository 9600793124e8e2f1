"""The event domain: pT-ordered objects (pT, η, φ, m in GeV/rad) of a process, unconditional.

It puts together the event data module (:mod:`hepgan.data.events`), the MLP networks (with a
symmetrised critic when the preprocessing has symmetries),
:class:`~hepgan.generate.EventGenerator` and the event report
(:mod:`hepgan.validation.event_report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import h5py
import torch
from torch import nn

from hepgan.config import RunConfig
from hepgan.data.event_transforms import EventTransform
from hepgan.data.events import KIND, EventData, EventModelState
from hepgan.data.feature_calibration import GENERATED_EVENTS, FeatureCalibration, calibration_layout
from hepgan.domains.base import ValidateOptions, Validation
from hepgan.errors import ConfigError, InputFileError
from hepgan.generate.events import EventGenerator, generate_events_to_file
from hepgan.generate.stream import GenerationSummary, JobPlan
from hepgan.io.events import TABLE_LAYOUT, EventReader, read_events
from hepgan.models import EVENT_CONDITION_DIM, build_event_networks, check_event_architecture
from hepgan.models.memory import SampleSize
from hepgan.training.protocols import StepHook
from hepgan.training.trainer import HOLDOUT_FILE
from hepgan.validation.event_report import (
    MIN_VALUES,
    is_event_file,
    validate_event_arrays,
    validate_event_files,
)

CALIBRATION_BATCH = 50_000
"""Events per generated batch of the feature-calibration fit."""
MIN_GENERATED_EVENTS = 50_000
"""Events generated for an event run's validation at least (more than the hold-out: less noise on the GAN side)."""


class EventTrainingData:
    """The training side of an event run: :class:`EventData` plus the networks and checkpoint entries."""

    kind = KIND
    unit = "events"

    def __init__(self, config: RunConfig) -> None:
        check_event_architecture(config.model)  # fail before reading any data
        reference = config.validation.reference_path
        if reference and not Path(reference).is_file():
            raise InputFileError(
                f"{reference}: validation reference not found (validation.reference_path); make it with "
                f"'hepgan simulate <config> --seed <another seed> -o {reference}' or set it to \"\" (hold-out)"
            )
        self.config = config
        self.events = EventData(config)
        if reference:
            self._check_reference(Path(reference))

    def _check_reference(self, path: Path) -> None:
        """InputFileError before training when the validation reference cannot be compared with the training events."""
        with EventReader(path, None) as reader:
            n_objects, stated = reader.n_objects, reader.attrs.get("reconstruction")
        if n_objects != self.events.n_objects:
            raise InputFileError(
                f"{path}: {n_objects} objects per event, the training events have {self.events.n_objects} "
                "(validation.reference_path)"
            )
        if stated is not None and stated != self.events.reconstruction:
            raise InputFileError(
                f"{path}: reconstruction {stated!r}, the training uses {self.events.reconstruction!r} "
                "(validation.reference_path)"
            )

    def sample_size(self) -> SampleSize:
        """The transform's features, plus one presence feature per object that fitting may add; no condition."""
        transform = EventTransform(self.events.n_objects, **dict(self.config.preprocessing.events))
        return SampleSize(transform.n_features + self.events.n_objects, EVENT_CONDITION_DIM)

    def fit_transform(self) -> None:
        self.events.fit_transform()

    def load_transform(self, state: Mapping[str, Any]) -> None:
        self.events.load_transform(state)

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training features and (empty) conditions; with ``preprocessing.feature_calibration`` they also give
        the calibration's reference quantiles (once: a resumed run has them from its checkpoint)."""
        features, conditions = self.events.training_tensors()
        events = self.events
        if self.config.preprocessing.feature_calibration and events.feature_calibration is None:
            assert events.transform is not None, "fit or load the transform first"
            layout = calibration_layout(events.transform)
            events.feature_calibration = FeatureCalibration.from_reference(features, *layout)
        return features, conditions

    def training_blocks(self, rank: int, world_size: int) -> None:
        """Event tables are held in memory whole (a few numbers per event): no buffer."""
        if self.config.data.buffer_size:
            raise ConfigError(
                f"data.buffer_size: {self.config.data.buffer_size}, but event tables are held in memory whole "
                "(a few numbers per event); set it to 0"
            )
        return None

    def write_holdout(self, path: Path) -> None:
        self.events.write_holdout(path)

    def mmd_features(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self.events.mmd_features(features, cond)

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """Unconditional MLP generator and critic (symmetrised critic with ``preprocessing.events.symmetries``)."""
        transform = self.events.transform
        assert transform is not None, "fit or load the transform first"
        symmetrise = transform.apply_symmetries if transform.symmetries else None
        return build_event_networks(self.config.model, transform.n_features, symmetrise)

    def checkpoint_entries(self) -> dict[str, Any]:
        return self.events.model_state().entries()

    def step_hooks(self, is_main: bool) -> Sequence[StepHook]:
        """The feature-calibration fit at every checkpoint (``preprocessing.feature_calibration``, rank 0); no
        evaluator."""
        if not self.config.preprocessing.feature_calibration or not is_main:  # only rank 0 writes checkpoints
            return []
        return [StepHook("feature calibration", self.fit_feature_calibration, at_checkpoints=True)]

    def fit_feature_calibration(self, network: nn.Module, device: torch.device, seed: int) -> dict[str, float]:
        """Refit the generated quantiles of the feature calibration to ``network``: GENERATED_EVENTS events (symmetries
        applied as in generation), seeded by ``seed``; the reference quantiles are set by :meth:`training_tensors`."""
        events = self.events
        transform, calibration = events.transform, events.feature_calibration
        assert transform is not None and calibration is not None, "call training_tensors() first"
        model = replace(events.model_state(), feature_calibration=None)
        sampler = EventGenerator(network, model, self.config, device=device, source="<training>")
        rng = torch.Generator(device=device).manual_seed(seed)
        parts = []
        for start in range(0, GENERATED_EVENTS, CALIBRATION_BATCH):
            n = min(CALIBRATION_BATCH, GENERATED_EVENTS - start)
            features = sampler.features_from_noise(torch.randn(n, sampler.latent_dim, device=device, generator=rng))
            if transform.symmetries:
                features = transform.apply_symmetries(features, rng)
            parts.append(features.cpu())
        calibration.fit_generated(torch.cat(parts))
        return {}


def _number(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "n/a".rjust(len(format(0.0, spec))) if value is None else format(scale * value, spec)


def _percent(value: float | None) -> str:
    """A relative difference in percent, or n/a where the report has none (too few values in the peak window)."""
    return "n/a" if value is None else f"{100 * value:+.2f}%"


def _peak_lines(peak: Mapping[str, Any]) -> list[str]:
    """One peak's position and width, reference vs generated, with the floor (two reference halves)."""
    ref, gen, floor = peak["reference"], peak["generated"], peak.get("floor") or {}
    lines = [f"  {peak.get('name', peak['observable'])} peak     ref [GeV]   gen [GeV]    diff      target   floor"]
    for key in ("position", "width"):
        ok = "ok" if peak[f"{key}_within_target"] else "missed"
        lines.append(
            f"  {key:>14s} {_number(ref[f'{key}_gev'], '10.3f')} {_number(gen[f'{key}_gev'], '10.3f')} "
            f"({_number(peak[f'{key}_rel_diff'], '+6.2f', 100)}%)  ±{100 * peak[f'target_{key}_rel']:g}% {ok}"
            f"   {_percent(floor.get(f'{key}_rel_diff'))}"
        )
    return lines


def _correlation_line(entry: Mapping[str, Any]) -> str:
    """ρ reference and generated, their difference against 3 × floor."""
    a, b = entry["observables"]
    ref, gen = entry["reference"], entry["generated"]
    head = f"  corr({a}, {b}): ref {_number(ref['value'], '.4f')} ± {ref['err'] or 0:.2g}, "
    head += f"gen {_number(gen['value'], '.4f')} ± {gen['err'] or 0:.2g}"
    if "skipped" in entry:
        return f"{head}; missed: {entry['skipped']}"
    ok = "ok" if entry["within_target"] else "missed"
    factor = entry["target_floor_factor"]
    return (
        f"{head}; diff {entry['difference']:+.4f} ± {entry['difference_err']:.2g}, "
        f"target |diff| <= {factor:g} x floor {_number(entry['floor'], '.3g')}: {ok}"
    )


def target_lines(report: Mapping[str, Any]) -> list[str]:
    """Each peak's position and width, the correlations, and each observable's W1 against its floor, for the console."""
    peaks = report.get("peaks") or ([report["peak"]] if report.get("peak") else [])
    lines = [line for peak in peaks for line in _peak_lines(peak)]
    lines += [_correlation_line(entry) for entry in report.get("correlations", [])]
    lines.append(
        f"  {'observable':>12s} {'W1':>10s} ± {'error':<8s} {'W1 floor':>10s} {'W1/floor':>8s}  {'target (<= 3)':>13s}"
        f"   {'chi2/ndf':>8s} ± {'error':<7s}  verdict"
    )
    for name, entry in report["observables"].items():
        if "skipped" in entry:
            lines.append(f"  {name:>12s}  skipped: {entry['skipped']}")
            continue
        if "degenerate" in entry:
            lines.append(f"  {name:>12s}  not compared: {entry['degenerate']}")
            continue
        ok = "ok" if entry["w1_within_target"] else "missed"
        w1_err = f"{entry.get('w1_err') or 0:.2g}"
        chi2_err = f"{entry.get('chi2_ndf_err') or 0:.2g}"
        lines.append(
            f"  {name:>12s} {entry['w1']:10.4g} ± {w1_err:<8s} {entry['w1_floor']:10.4g} "
            f"{_number(entry['w1_over_floor'], '8.2f')}  {ok:>13s}   {_number(entry.get('chi2_ndf'), '8.3g')} ± "
            f"{chi2_err:<7s}  {entry.get('verdict', 'n/a')}"
        )
    counts = ", ".join(f"{n} {name}" for name, n in report["summary"].get("verdicts", {}).items())
    lines.append(f"  verdicts (W1 and chi2/ndf against their floors): {counts or 'none'}")
    lines.append(f"  all targets met: {'yes' if report['summary']['all_targets_met'] else 'no'}")
    return lines


def check_enough_events(path: Path, minimum: int) -> None:
    """InputFileError naming ``path`` and its count when it holds fewer than ``minimum`` events."""
    with EventReader(path, None) as reader:
        n = len(reader)
    if n < minimum:
        raise InputFileError(
            f"{path}: {n} events, too few to validate; the report compares at least {minimum} events per sample"
        )


def declares_event_table(path: Path) -> bool:
    """Whether an HDF5 file says it is a hepgan event table (file attribute ``layout``), read or not."""
    try:
        with h5py.File(path, "r") as file:
            layout = file.attrs.get("layout")
    except (OSError, ValueError, TypeError):
        return False
    return (layout.decode("utf-8", "replace") if isinstance(layout, bytes) else layout) == TABLE_LAYOUT


class EventDomain:
    """Event kinematics (``kind: events``)."""

    kind = KIND
    unit = "events"
    min_samples = MIN_VALUES

    def training_data(self, config: RunConfig) -> EventTrainingData:
        return EventTrainingData(config)

    def load_generator(
        self, state: dict[str, Any], device: str | torch.device = "auto", use_ema: bool = True, source: str = ""
    ) -> EventGenerator:
        return EventGenerator.from_state(state, device=device, use_ema=use_ema, source=source or "<checkpoint>")

    def generate_to_file(
        self,
        generator: EventGenerator,
        job: JobPlan,
        output: str | Path,
        *,
        batch_size: int | None = None,
        energies_from: str | Path | None = None,
        compression: str | None = None,
        progress: bool = False,
    ) -> GenerationSummary:
        if energies_from:
            raise ConfigError("--energies-from: incident energies apply to shower models, not event models")
        return generate_events_to_file(
            generator, job, output, batch_size=batch_size, compression=compression, progress=progress
        )

    def validate_run(self, run_dir: Path, generator: EventGenerator, seed: int = 1) -> Validation:
        """Generated events against the reference: ``validation.reference_path`` or the held-out events.

        With ``validation.reference_path`` (a file made by ``hepgan simulate``, independent of the
        training file) as many events are generated as it holds, and every floor comes from its
        two halves; otherwise max(hold-out size, 50 000) events are compared with the hold-out.
        The reconstruction is the generator's (as in training). The summary holds ``kind``,
        ``checkpoint``, ``n_reference``, ``n_generated``, ``peak`` (the first peak's position/width,
        reference vs generated, relative differences and targets), ``peaks`` (every peak), ``correlations``,
        ``observables`` (χ², W1 and W1 floor per observable), ``summary`` (targets met) and
        ``metrics`` (the full report, also in ``validation/metrics.json``).
        """
        reference_path = generator.config.validation.reference_path
        reference = read_events(reference_path or run_dir / HOLDOUT_FILE)
        if reference.n_objects != generator.n_objects:
            raise InputFileError(
                f"{reference_path}: {reference.n_objects} objects per event, the model makes {generator.n_objects} "
                "(validation.reference_path)"
            )
        n_generated = len(reference) if reference_path else max(len(reference), MIN_GENERATED_EVENTS)
        generated = generator.sample(n_generated, seed=seed)
        report = validate_event_arrays(
            reference, generated, run_dir / "validation", reconstruction=generator.reconstruction
        )
        summary = {
            "kind": self.kind,
            "checkpoint": generator.source,
            "n_reference": len(reference),
            "n_generated": len(generated),
            "peak": report["peak"],
            "peaks": report["peaks"],
            "correlations": report["correlations"],
            "observables": report["observables"],
            "summary": report["summary"],
            "metrics": report,
        }
        source = f"reference {reference_path}" if reference_path else "held-out validation"
        head = (
            f"{source} ({len(reference)} reference, {len(generated)} generated events): "
            f"{run_dir / 'validation' / 'index.html'}"
        )
        return Validation(summary, [head, *target_lines(report)])

    def validate_files(self, reference: Path, generated: Path, out_dir: Path, options: ValidateOptions) -> Validation:
        if options.checkpoint:
            raise ConfigError("--checkpoint: the latent walk is drawn for shower models; these are event files")
        for path in (reference, generated):
            check_enough_events(path, self.min_samples)
        report = validate_event_files(reference, generated, out_dir)
        peaks = "; ".join(
            f"{peak['name']} peak: position {_percent(peak['position_rel_diff'])}, "
            f"width {_percent(peak['width_rel_diff'])}"
            for peak in report["peaks"]
        )
        line = (
            f"{peaks + ' (gen vs ref); ' if peaks else ''}"
            f"W1 <= 3x floor for {report['summary']['observables_within_target']}/"
            f"{report['summary']['observables_compared']} observables"
        )
        return Validation(report, [line, *target_lines(report), f"report: {out_dir / 'index.html'}"])

    def owns_file(self, path: Path) -> bool:
        """Whether ``path`` is a hepgan event table (file attribute ``layout`` = "hepgan-events"), empty or not."""
        return is_event_file(path) or declares_event_table(path)

    def describe_file(self, path: Path) -> list[str]:
        with EventReader(path, None) as reader:
            n, n_objects, attrs = len(reader), reader.n_objects, reader.attrs
        lines = [f"{path}: {n} events, {n_objects} objects per event (pt, eta, phi, mass in GeV/rad, mask)"]
        lines += [f"  {key}: {attrs[key]}" for key in ("generator", "process", "seed", "checkpoint") if key in attrs]
        return lines

    def describe_checkpoint(self, state: dict[str, Any]) -> list[str]:
        model = EventModelState.from_entries(state, "checkpoint")
        transform = model.transform
        symmetries = ", ".join(transform.symmetries) or "none"
        return [
            f"  {model.n_objects} objects per event, representation {transform.representation}, "
            f"{transform.n_features} features, symmetries {symmetries}"
        ]


EVENTS = EventDomain()
