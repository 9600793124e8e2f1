"""The calorimeter domain: showers (MeV) in a voxel geometry, conditioned on the incident energy.

It puts together the shower data module (:mod:`hepgan.data.showers`), the shower networks
(MLP or DCGAN heads, optionally with a summary critic), the cell calibration fitted at
every checkpoint, the in-training evaluator, :class:`~hepgan.generate.ShowerGenerator` and
the shower report (:mod:`hepgan.validation.report`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hepgan.config import RunConfig
from hepgan.data.calibration import CellCalibration
from hepgan.data.profile_calibration import ProfileCalibration, profile_groups
from hepgan.data.response_calibration import ResponseCalibration
from hepgan.data.showers import KIND, ShowerBlocks, ShowerData, ShowerModelState
from hepgan.domains.base import ValidateOptions, Validation
from hepgan.errors import HepganError, InputFileError
from hepgan.generate.showers import ShowerGenerator, generate_showers_to_file, shower_networks
from hepgan.generate.stream import GenerationSummary, JobPlan
from hepgan.io import ShowerBatch, ShowerReader, detect_layout
from hepgan.io.geometry import BUILTIN_GEOMETRIES, CaloGeometry, geometry_for_voxel_count, load_geometry
from hepgan.io.hdf5 import calochallenge_voxel_count
from hepgan.models import CONDITION_DIM
from hepgan.models.memory import SUMMARY_NUMBERS_PER_CELL, SampleSize
from hepgan.models.summary_critic import SummaryCritic
from hepgan.simulate import simulate_to_file
from hepgan.training.protocols import StepHook
from hepgan.training.trainer import HOLDOUT_FILE
from hepgan.validation.calo_report import file_chunk_size
from hepgan.validation.comparison import MIN_VALUES
from hepgan.validation.metrics import quick_metrics
from hepgan.validation.observables import shower_observables
from hepgan.validation.report import validate_files, validate_streams
from hepgan.validation.report_files import json_ready, write_text
from hepgan.validation.response import response_per_energy

CALIBRATION_SAMPLES_PER_REFERENCE = 2
"""Generated showers per kept reference shower when the cell calibration is refitted."""
GENERATION_BATCH = 10_000
"""Showers per batch generated during and after training (calibration fits, quick metrics, validation), fewer
for large geometries: :func:`hepgan.validation.calo_report.file_chunk_size` caps a batch at 48e6 cell values."""
DEFAULT_GEOMETRY = "calochallenge_ds1_photons"
VALIDATION_REFERENCE_FILE = "validation_reference.h5"
"""The fresh reference of ``validation.reference: simulate``, in the run folder."""


class ShowerTrainingData:
    """The training side of a shower run: :class:`ShowerData` plus networks, calibration and evaluator."""

    kind = KIND
    unit = "showers"

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.showers = ShowerData(config)
        self.calibration: CellCalibration | None = None
        self._calibration_energies = np.zeros(0)
        self.response_calibration: ResponseCalibration | None = None
        self._response_energies = np.zeros(0)
        self.profile_calibration: ProfileCalibration | None = None
        self._profile_energies = np.zeros(0)

    def sample_size(self) -> SampleSize:
        """The response, the voxels and extra cells; one condition; the layer summaries where the critic
        or the MMD term uses them."""
        n_cells = self.showers.geometry.n_voxels + self.showers.n_extra
        training = self.config.training
        summaries = bool(self.config.model.critic_summary) or (
            training.mmd_weight > 0 and any(name != "response" for name in training.mmd_shower_features)
        )
        return SampleSize(1 + n_cells, CONDITION_DIM, SUMMARY_NUMBERS_PER_CELL * n_cells if summaries else 0)

    # the data module's own jobs
    def fit_transform(self) -> None:
        self.showers.fit_transform()

    def load_transform(self, state: Mapping[str, Any]) -> None:
        self.showers.load_transform(state)

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.showers.training_tensors()

    def training_blocks(self, rank: int, world_size: int) -> ShowerBlocks | None:
        return self.showers.training_blocks(rank, world_size)

    def write_holdout(self, path: Path) -> None:
        self.showers.write_holdout(path)

    def mmd_features(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.showers.mmd_features(features, cond)

    def build_networks(self) -> tuple[nn.Module, nn.Module]:
        """Generator and critic for the geometry's layer images (+ overflow cells).

        With ``model.critic_summary`` the critic is a :class:`SummaryCritic` that also scores
        the named layer summaries (call after :meth:`training_tensors`, which fixes their scale).
        """
        model = self.config.model
        geometry = self.showers.geometry
        generator, critic = shower_networks(self.config, geometry, self.showers.n_extra)
        if model.critic_summary:
            n_summary = len(model.critic_summary) * geometry.n_layers
            critic = SummaryCritic(critic, self.showers.critic_summary, n_summary, CONDITION_DIM, model.summary_hidden)
        return generator, critic

    def model_state(self) -> ShowerModelState:
        """What a checkpoint of this run holds besides the weights and the config."""
        assert self.showers.transform is not None, "fit or load the transform first"
        return ShowerModelState(
            self.showers.geometry,
            self.showers.n_extra,
            self.showers.transform,
            self.calibration,
            self.response_calibration,
            self.profile_calibration,
        )

    def checkpoint_entries(self) -> dict[str, Any]:
        return self.model_state().entries()

    # the domain's steps during training
    def step_hooks(self, is_main: bool) -> Sequence[StepHook]:
        """The cell-calibration fit (every checkpoint, before the evaluation) and the evaluator (rank 0)."""
        hooks = []
        preprocessing = self.config.preprocessing
        if (
            preprocessing.cell_calibration
            or preprocessing.profile_calibration != "none"
            or preprocessing.response_calibration
        ):
            hooks.append(StepHook("calibration", self.fit_calibration, at_checkpoints=True))
        training = self.config.training
        if training.eval_every and is_main and self.showers.holdout.any():
            evaluator = ShowerEvaluator(self, training.eval_showers)
            hooks.append(StepHook("quick metrics", evaluator, evaluation=True))
        return hooks

    def generator(self, network: nn.Module, device: torch.device) -> ShowerGenerator:
        """A :class:`ShowerGenerator` around a network being trained (the same sampling as ``hepgan generate``)."""
        return ShowerGenerator(network, self.model_state(), self.config, device=device, source="<training>")

    def fit_calibration(self, network: nn.Module, device: torch.device, seed: int) -> dict[str, float]:
        """Refit the cell, profile and response calibrations (``preprocessing.cell_calibration``,
        ``profile_calibration``, ``response_calibration``) to ``network``, in the order they are applied.

        The reference tables come from the training showers (read once). The cell
        calibration's generated tables come from ``CALIBRATION_SAMPLES_PER_REFERENCE``
        uncalibrated generated showers per kept reference shower (at most
        :data:`hepgan.data.calibration.MAX_SHOWERS_PER_BIN` per energy bin), at the same
        incident energies; the profile calibration's from showers with the cell calibration applied and the
        response calibration's from showers with both applied, ten per training shower (2 000 to 10 000 per
        energy bin, :func:`hepgan.data.response_calibration.generation_energies`). Seeded by ``seed``.
        """
        preprocessing = self.config.preprocessing
        sampler = self.generator(network, device)
        rng = torch.Generator(device=device).manual_seed(seed)

        def raw_showers(energies: np.ndarray, stages: tuple[str, ...] = ()) -> Iterator[torch.Tensor]:
            incident = torch.from_numpy(energies)
            size = file_chunk_size(GENERATION_BATCH, self.showers.geometry.n_voxels + self.showers.n_extra)
            for start in range(0, len(incident), size):
                part = incident[start : start + size]
                noise = torch.randn(len(part), sampler.latent_dim, device=device, generator=rng)
                yield sampler.cells_from_noise(noise, part, rng, calibrations=stages)

        if preprocessing.cell_calibration:
            if self.calibration is None:
                self.calibration, self._calibration_energies = CellCalibration.from_reference(
                    self.showers.training_chunks()
                )
            energies = np.repeat(self._calibration_energies, CALIBRATION_SAMPLES_PER_REFERENCE)
            cells = [part.cpu().numpy() for part in raw_showers(energies)]
            self.calibration.fit_generated(np.concatenate(cells), energies)
        if preprocessing.profile_calibration != "none":
            if self.profile_calibration is None:
                groups = profile_groups(self.showers.geometry, preprocessing.profile_calibration, self.showers.n_extra)
                self.profile_calibration, self._profile_energies = ProfileCalibration.from_reference(
                    self.showers.training_chunks(), *groups
                )
            energies = self._profile_energies
            shares, start = [], 0
            for part in raw_showers(energies, ("cell",)):
                shares.append(self.profile_calibration.shares(part.cpu().numpy(), energies[start : start + len(part)]))
                start += len(part)
            self.profile_calibration.fit_generated(np.concatenate(shares), energies)
        if preprocessing.response_calibration:
            if self.response_calibration is None:
                self.response_calibration, self._response_energies = ResponseCalibration.from_reference(
                    self.showers.training_chunks()
                )
            energies = self._response_energies
            # the cell calibration keeps each shower's total: only the profile calibration changes it
            stages = ("cell", "profile") if preprocessing.profile_calibration != "none" else ()
            totals = np.concatenate(
                [part.sum(dim=1, dtype=torch.float64).cpu().numpy() for part in raw_showers(energies, stages)]
            )
            self.response_calibration.fit_generated(totals / energies, energies)
        return {}


class ShowerEvaluator:
    """Generates showers for held-out incident energies and scores them with the quick metrics.

    The reference observables are computed once; each call costs one generation pass (the
    sampling of ``hepgan generate``, calibration included) and
    :func:`hepgan.validation.metrics.quick_metrics` (a fraction of a second for ~1500 showers).
    """

    def __init__(self, data: ShowerTrainingData, max_showers: int) -> None:
        self.data = data
        cells_mev, incident_mev = data.showers.holdout_arrays(max_showers)
        self.incident = torch.from_numpy(incident_mev)
        n_vox = data.showers.geometry.n_voxels
        self.reference = shower_observables(cells_mev[:, :n_vox], incident_mev, data.showers.geometry)

    def __call__(self, network: nn.Module, device: torch.device, seed: int) -> dict[str, float]:
        sampler = self.data.generator(network, device)
        rng = torch.Generator(device=device).manual_seed(seed)
        geometry = self.data.showers.geometry
        size = file_chunk_size(GENERATION_BATCH, geometry.n_voxels + self.data.showers.n_extra)
        parts = [self.incident[start : start + size] for start in range(0, len(self.incident), size)]
        cells = np.concatenate([sampler.sample_cells(part, rng).cpu().numpy() for part in parts])
        generated = shower_observables(cells[:, : geometry.n_voxels], self.incident.numpy(), geometry)
        return quick_metrics(self.reference, generated)


def geometry_named_by(path: Path) -> str:
    """The built-in geometry of a shower file: the one its attributes name, else the one its voxel count
    fits (a CaloChallenge download: 368, 6480 or 40500 voxels), else the default ds1-photon (or CaloGAN) one."""
    try:
        layout = detect_layout(path)
        if layout == "calogan":
            default = "calogan"
        else:
            count = calochallenge_voxel_count(path) if layout == "calochallenge" else None
            default = (geometry_for_voxel_count(count) if count is not None else None) or DEFAULT_GEOMETRY
        with ShowerReader(path, default) as reader:
            name = str(reader.attrs.get("geometry", default))
    except HepganError:
        return DEFAULT_GEOMETRY  # the validation reports the problem with the file itself
    return name if name in BUILTIN_GEOMETRIES else default


def response_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The response table per incident energy with the differences' statistical errors, for the console.

    A difference outside its goal (mean 1 %, width 5 %) is marked ``!``, one outside it by less than 2σ ``?``
    (limited by statistics).
    """
    marks = {"ok": " ", "limited by statistics": "?", "outside goal": "!", "n/a": " "}
    lines = ["  E_inc           <E_tot/E_inc> ref    gen   (diff ± err)       width ref    gen   (diff ± err)"]
    for row in rows:
        mean_err, std_err = row.get("mean_rel_diff_err", float("nan")), row.get("std_rel_diff_err", float("nan"))
        lines.append(
            f"  {row['label']:>14s} {row['mean_reference']:8.4f} {row['mean_generated']:8.4f} "
            f"({100 * row['mean_rel_diff']:+6.2f} ± {100 * mean_err:4.2f}%){marks[row.get('mean_status', 'n/a')]}  "
            f"{row['std_reference']:8.4f} {row['std_generated']:8.4f} "
            f"({100 * row['std_rel_diff']:+5.1f} ± {100 * std_err:3.1f}%){marks[row.get('std_status', 'n/a')]}"
        )
    lines.append(
        "  (! outside the goal of 1 % in mean, 5 % in width; ? outside it by less than 2σ: limited by statistics)"
    )
    return lines


def global_metric_lines(report: Mapping[str, Any]) -> list[str]:
    """The report's summary table (value ± error, floor, verdict as in the report), for the console."""
    lines = [f"  {'summary metric':28s} {'value':>10s} ± {'error':<8s} {'floor':>10s}   verdict"]
    for name, entry in report.get("global_metrics", {}).items():
        if entry.get("value") is not None:
            floor = f"{entry['floor']:.4g}" if entry.get("floor") is not None else "n/a"
            error = f"{entry.get('error') or 0:.2g}"
            lines.append(f"  {name:28s} {entry['value']:10.4g} ± {error:<8s} {floor:>10s}   {entry.get('verdict', '')}")
    return lines if len(lines) > 1 else []


def check_enough_showers(path: Path, geometry: CaloGeometry, minimum: int) -> None:
    """InputFileError naming ``path`` and its count when it holds fewer than ``minimum`` showers."""
    with ShowerReader(path, geometry) as reader:
        n = len(reader)
    if n < minimum:
        raise InputFileError(
            f"{path}: {n} showers, too few to validate; the report compares at least {minimum} showers per sample"
        )


class CaloDomain:
    """Calorimeter showers (``kind: calo``)."""

    kind = KIND
    unit = "showers"
    min_samples = MIN_VALUES

    def training_data(self, config: RunConfig) -> ShowerTrainingData:
        return ShowerTrainingData(config)

    def load_generator(
        self, state: dict[str, Any], device: str | torch.device = "auto", use_ema: bool = True, source: str = ""
    ) -> ShowerGenerator:
        return ShowerGenerator.from_state(state, device=device, use_ema=use_ema, source=source or "<checkpoint>")

    def generate_to_file(
        self,
        generator: ShowerGenerator,
        job: JobPlan,
        output: str | Path,
        *,
        batch_size: int | None = None,
        energies_from: str | Path | None = None,
        compression: str | None = None,
        progress: bool = False,
    ) -> GenerationSummary:
        return generate_showers_to_file(
            generator,
            job,
            output,
            batch_size=batch_size,
            energies_from=energies_from,
            compression=compression,
            progress=progress,
        )

    def validate_run(self, run_dir: Path, generator: ShowerGenerator, seed: int = 1) -> Validation:
        """Generated showers against a reference; report and response table (``validation`` of the run's config).

        ``validation.reference: holdout``: as many generated showers as held out, at the same
        incident energies. ``simulate``: a fresh reference of 2 × ``validation.n_showers`` showers
        from the run's simulation settings with ``validation.seed`` (kept in the run folder as
        ``validation_reference.h5``; training, held-out and reference showers never overlap),
        against ``n_showers`` generated at the incident energies of its first half: the
        generated sample, the reference halves of the floor and the classifiers' samples then
        all hold ``n_showers``.
        """
        settings = generator.config.validation
        geometry = generator.geometry
        if settings.reference == "simulate":
            path = self._simulated_reference(run_dir, generator.config)
            stop: int | None = settings.n_showers
            source = f"fresh simulated reference, seed {settings.seed}"
        else:
            path, stop, source = run_dir / HOLDOUT_FILE, None, "held-out showers"
        # streamed: the reference file and the generated showers pass chunk by chunk (flat memory, dataset 3 too)
        size = file_chunk_size(GENERATION_BATCH, geometry.n_voxels)
        totals: dict[str, list[np.ndarray]] = {"reference": [], "generated": [], "reference_e": [], "generated_e": []}

        def recorded(batches: Iterator[ShowerBatch], side: str) -> Iterator[ShowerBatch]:
            for batch in batches:
                totals[side].append(np.asarray(batch.showers_mev).sum(axis=1, dtype=np.float64))
                totals[side + "_e"].append(np.asarray(batch.incident_energies_mev, np.float64).reshape(-1))
                yield batch

        def generated_batches(incident: np.ndarray) -> Iterator[ShowerBatch]:
            if incident.size and (not np.all(np.isfinite(incident)) or incident.min() <= 0):
                raise InputFileError(f"{path}: incident energies must be finite and > 0 MeV")
            rng = torch.Generator(device=generator.device)
            rng.manual_seed(int(seed))
            for start in range(0, len(incident), size):
                part = incident[start : start + size]
                cells = generator.sample_cells(torch.from_numpy(part), rng).cpu().numpy()
                generator.check_finite(cells, start)
                yield generator.to_batch(cells, part)

        out_dir = run_dir / "validation"
        with ShowerReader(path, geometry, size) as reader:
            n_reference = len(reader)
            incident = np.concatenate(
                [np.asarray(b.incident_energies_mev, np.float64).reshape(-1) for b in reader.iter_chunks(0, stop)]
                or [np.zeros(0)]
            )
            metrics = validate_streams(
                recorded(reader.iter_chunks(), "reference"),
                recorded(generated_batches(incident), "generated"),
                geometry,
                out_dir,
                classifier_protocols=settings.classifier_protocols,
            )
        ref_incident, gen_incident = np.concatenate(totals["reference_e"]), np.concatenate(totals["generated_e"])
        ref_ratio = np.concatenate(totals["reference"]) / ref_incident
        gen_ratio = np.concatenate(totals["generated"]) / gen_incident
        rows = response_per_energy(ref_ratio, ref_incident, gen_ratio, gen_incident)
        n_generated = len(gen_incident)
        summary = {
            "kind": self.kind,
            "checkpoint": generator.source,
            "reference": source,
            "n_reference": n_reference,
            "n_generated": n_generated,
            "response_per_energy": rows,
            "max_abs_mean_rel_diff": float(np.nanmax(np.abs([r["mean_rel_diff"] for r in rows]))) if rows else None,
            "max_abs_std_rel_diff": float(np.nanmax(np.abs([r["std_rel_diff"] for r in rows]))) if rows else None,
            "metrics": metrics,
        }
        write_text(out_dir / "response.json", json.dumps(json_ready(rows), indent=1, allow_nan=False))
        lines = [
            f"validation, {n_generated} generated against {n_reference} reference showers ({source}): "
            f"{out_dir / 'index.html'}",
            *global_metric_lines(metrics),
            *response_lines(rows),
        ]
        return Validation(summary, lines)

    @staticmethod
    def _simulated_reference(run_dir: Path, config: RunConfig) -> Path:
        """The run's fresh validation reference file (simulated once, then reused when it is complete).

        Returns its path: the caller streams it (a dataset-3 reference of 2e4 showers is 3 GB of float32 voxels).
        """
        settings = config.validation
        path = run_dir / VALIDATION_REFERENCE_FILE
        n = 2 * settings.n_showers
        geometry = load_geometry(config.geometry)
        complete = False
        if path.is_file():
            with ShowerReader(path, geometry) as reader:
                complete = len(reader) == n and int(reader.attrs.get("seed", -1)) == settings.seed
        if not complete:
            simulate_to_file(config, path, n=n, seed=settings.seed)
        return path

    def validate_files(self, reference: Path, generated: Path, out_dir: Path, options: ValidateOptions) -> Validation:
        geometry = load_geometry(options.geometry or geometry_named_by(reference))
        for path in (reference, generated):
            check_enough_showers(path, geometry, self.min_samples)
        extra: dict[str, Any] = {"classifier": options.classifier, "classifier_protocols": options.classifier_protocols}
        if options.all_energy_plots:
            extra["per_energy_plots"] = "all"
        if options.checkpoint:
            from hepgan.generate.stream import resolve_checkpoint
            from hepgan.validation.latent import latent_walk

            generator = ShowerGenerator.from_checkpoint(resolve_checkpoint(options.checkpoint))
            extra["latent_walk_showers"] = latent_walk(generator, options.walk_energy_mev)
            extra["latent_walk_incident_mev"] = options.walk_energy_mev
        report = validate_files(reference, generated, geometry, out_dir, **extra)
        return Validation(report, [*global_metric_lines(report), f"report: {out_dir / 'index.html'}"])

    def owns_file(self, path: Path) -> bool:
        try:
            detect_layout(path)
        except HepganError:
            return False
        return True

    def describe_file(self, path: Path) -> list[str]:
        geometry = load_geometry(geometry_named_by(path))
        with ShowerReader(path, geometry) as reader:
            attrs = reader.attrs
            n = len(reader)
            energies = np.concatenate(
                [np.asarray(b.incident_energies_mev, np.float64) for b in reader.iter_chunks(0, min(n, 100_000))]
                or [np.zeros(0)]
            )
        lines = [f"{path}: {n} calorimeter showers, geometry {geometry.name} ({geometry.n_voxels} voxels), MeV"]
        if energies.size:
            distinct = np.unique(energies)
            spread = f"{len(distinct)} distinct" if len(distinct) <= 20 else "continuous"
            lines.append(
                f"  incident energy {energies.min():.4g} - {energies.max():.4g} MeV ({spread}"
                f"{', first 100000 showers' if n > energies.size else ''})"
            )
        lines += [f"  {key}: {attrs[key]}" for key in ("generator", "seed", "checkpoint", "shard") if key in attrs]
        return lines

    def describe_checkpoint(self, state: dict[str, Any]) -> list[str]:
        model = ShowerModelState.from_entries(state, "checkpoint")
        config = state.get("config", {})
        geometry: CaloGeometry = model.geometry
        calibration = "fitted" if model.calibration is not None else "none"
        if model.response_calibration is not None:
            calibration += ", response calibration fitted"
        return [
            f"  geometry {geometry.name}: {geometry.n_layers} layers, {geometry.n_voxels} voxels"
            f" (+{model.n_extra} extra cells)",
            f"  architecture {config.get('model', {}).get('architecture')}, "
            f"loss {config.get('training', {}).get('loss')}, cell calibration {calibration}",
        ]


CALO = CaloDomain()
