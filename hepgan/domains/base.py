"""The typed interface every domain (calorimeter showers, event kinematics) provides.

A domain owns what differs between kinds of data: its training data (preprocessing,
networks, checkpoint entries, domain steps during training), its generator built from a
checkpoint, how generated samples are written, and its validation. The kind is decided
once (:mod:`hepgan.domains`), and the domain object is handed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from hepgan.config import CLASSIFIER_PROTOCOLS, RunConfig
from hepgan.generate.stream import GenerationSummary, JobPlan
from hepgan.training.protocols import TrainingData


@dataclass
class Validation:
    """A validation's machine-readable summary and the lines to print on the console."""

    summary: dict[str, Any]
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ValidateOptions:
    """Options of ``hepgan validate`` (those a domain does not use must be left at their defaults).

    Attributes:
        geometry: built-in geometry name or YAML (showers; default: the one the reference names).
        checkpoint: add a latent-space walk drawn with this checkpoint (showers).
        walk_energy_mev: incident energy of the walk in MeV.
        classifier: run the classifier two-sample tests.
        classifier_protocols: which (showers): "hepgan" and/or "challenge" (the CaloChallenge's recipe).
        all_energy_plots: draw every observable per incident energy.
    """

    geometry: str | None = None
    checkpoint: str | None = None
    walk_energy_mev: float = 65536.0
    classifier: bool = True
    classifier_protocols: tuple[str, ...] = CLASSIFIER_PROTOCOLS
    all_energy_plots: bool = False


class Generator(Protocol):
    """A loaded generator of either domain (:class:`~hepgan.generate.ShowerGenerator`, ``EventGenerator``)."""

    config: RunConfig
    step: int
    device: torch.device
    source: str


class Domain(Protocol):
    """Everything that differs between calorimeter showers and event kinematics."""

    kind: str
    """The config's and checkpoint's ``kind``: "calo" or "events"."""
    unit: str
    """What one sample is called: "showers" or "events"."""
    min_samples: int
    """Fewest samples a reference or generated file needs to be validated."""

    def training_data(self, config: RunConfig) -> TrainingData:
        """The data side of a training run of ``config`` (reads and checks the reference file)."""
        ...

    def load_generator(
        self, state: dict[str, Any], device: str | torch.device = "auto", use_ema: bool = True, source: str = ""
    ) -> Any:
        """The generator of a loaded checkpoint of this domain."""
        ...

    def generate_to_file(
        self,
        generator: Any,
        job: JobPlan,
        output: str | Path,
        *,
        batch_size: int | None = None,
        energies_from: str | Path | None = None,
        compression: str | None = None,
        progress: bool = False,
    ) -> GenerationSummary:
        """Write the job's samples to ``output``."""
        ...

    def validate_run(self, run_dir: Path, generator: Any, seed: int = 1) -> Validation:
        """Validate a trained run on its held-out sample, into ``run_dir/validation``."""
        ...

    def validate_files(self, reference: Path, generated: Path, out_dir: Path, options: ValidateOptions) -> Validation:
        """Compare a generated file with a reference file, into ``out_dir``."""
        ...

    def owns_file(self, path: Path) -> bool:
        """Whether a data file holds this domain's samples."""
        ...

    def describe_file(self, path: Path) -> list[str]:
        """A few lines saying what a data file of this domain holds."""
        ...

    def describe_checkpoint(self, state: dict[str, Any]) -> list[str]:
        """A few lines saying what a checkpoint of this domain holds."""
        ...
