"""Typed run configuration: YAML (+ ``--set key=value`` overrides) → frozen ``RunConfig``.

Unknown keys, wrong types and out-of-range values raise :class:`ConfigError` naming the
file and the dotted field (``training.batch_size``). The resolved configuration is saved
into every run folder and every checkpoint.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hepgan.errors import ConfigError
from hepgan.paths import path_problem

KINDS = ("calo", "events")
MAX_WIDTH = 65_536
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
MMD_SHOWER_FEATURES = ("response", "layer_energies", "layer_widths")
CRITIC_SHOWER_SUMMARY = ("layer_energies", "layer_widths")  # model.critic_summary (hepgan.models.summary_critic)
QUICK_METRICS = ("chi2_ndf_mean", "w1_mean", "separation_power_mean", "fpd")
LOSSES = ("wgan-gp", "minimax", "non-saturating")
ARCHITECTURES = ("mlp", "dcgan", "cylinder")
PROFILE_CALIBRATIONS = ("none", "layers", "rings")  # preprocessing.profile_calibration
# preprocessing.events.representation (hepgan.data.event_transforms)
EVENT_REPRESENTATIONS = ("objects", "pair", "ttbar_decays")
EVENT_SYMMETRIES = ("eta_flip", "phi_rotation")  # preprocessing.events.symmetries
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists a configuration may have (hepgan's own sections need 4)."""
SPECTRUM_KEYS = ("kind", "values_mev", "min_mev", "max_mev")  # hepgan.sim.spectra.EnergySpectrum
FREE_FORM_KEYS: dict[str, tuple[str, ...]] = {
    # the keys each free-form section knows; its values are checked where the section is read
    "data.selection": (  # hepgan.io.event_selection.EventSelection
        "collection", "kind", "fields", "mass_gev", "pdg_id", "status", "pt_min_gev", "abs_eta_max", "n_objects", "tree"
    ),
    "simulation.calorimeter": (  # hepgan.sim.calorimeter.CalorimeterSpec
        "mode", "material", "absorber", "active", "absorber_thickness_mm", "active_thickness_mm",
        "stochastic_term", "readout_threshold_mev", "spot_scale", "convention",
    ),
    "simulation.spectrum": SPECTRUM_KEYS,
    "simulation.pythia": (  # hepgan.sim.pythia.PythiaConfig
        "process", "sqrt_s_gev", "settings", "n_events", "seed", "level", "pdg_id", "status", "n_objects",
        "pt_min_gev", "abs_eta_max", "objects", "min_objects", "jet_radius", "jet_algorithm", "jet_input_abs_eta_max",
    ),
    "preprocessing.events": (  # hepgan.data.event_transforms.EventTransform
        "mass_mode", "mass_epsilon_gev", "presence", "sort", "continuous", "representation", "symmetries"
    ),
    "generation.spectrum": SPECTRUM_KEYS,
}  # fmt: skip


@dataclass(frozen=True)
class DataConfig:
    """Reference showers used for training (CaloChallenge/CaloGAN HDF5 or ROOT)."""

    path: str = "data/calo_ds1_photons_gflash.h5"
    validation_fraction: float = 0.1
    chunk_size: int = 20_000
    max_showers: int = 0  # 0: all showers in the file
    buffer_size: int = 0  # training samples held in memory per process, refilled from the file; 0: all of them
    selection: dict[str, Any] = field(default_factory=dict)  # events: which objects to read (hepgan.io.events)
    reconstruction: str = "auto"  # events: W/top/Z candidates (hepgan.data.resonances); auto: the file's statement

    def check(self, where: str) -> None:
        _require(0.0 <= self.validation_fraction < 0.9, where, "validation_fraction", "a number in [0, 0.9)")
        _require(self.chunk_size >= 1, where, "chunk_size", "an integer >= 1")
        _require(self.max_showers >= 0, where, "max_showers", "an integer >= 0 (0 means all)")
        _require(self.buffer_size >= 0, where, "buffer_size", "an integer >= 0 (0: hold all training samples)")
        _check_free_form(self.selection, where, "data.selection")
        _require(bool(self.reconstruction), where, "reconstruction", "auto or a reconstruction rule name")
        _check_path(self.path, where, "path")


@dataclass(frozen=True)
class SimulationConfig:
    """The reference simulator run by ``hepgan simulate`` to make ``data.path``."""

    n_showers: int = 15_000
    particle: str = "photon"
    seed: int = 20221
    calorimeter: dict[str, Any] = field(
        default_factory=lambda: {
            "mode": "sampling",
            "absorber": "Pb",
            "active": "lAr",
            "absorber_thickness_mm": 1.5,
            "active_thickness_mm": 4.0,
            "stochastic_term": 0.10,
        }
    )
    spectrum: dict[str, Any] = field(default_factory=lambda: {"kind": "discrete"})
    pythia: dict[str, Any] = field(default_factory=dict)  # events: the Pythia 8 run (hepgan.sim.pythia)

    def check(self, where: str) -> None:
        _require(self.n_showers >= 1, where, "n_showers", "an integer >= 1")
        _require(0 <= self.seed < 2**63, where, "seed", "an integer in [0, 2^63)")
        _require(self.particle in ("photon", "electron", "positron"), where, "particle", "photon, electron or positron")
        for name in ("calorimeter", "spectrum", "pythia"):
            _check_free_form(getattr(self, name), where, f"simulation.{name}")


@dataclass(frozen=True)
class PreprocessingConfig:
    """Invertible transform between showers (MeV) and network features."""

    fraction_epsilon: float = 1.0e-6
    response_bins: int = 15  # incident-energy bins used to standardise E_tot/E_inc
    response_scale: float = 1.0  # weight of the standardised response among the features
    cell_standardisation: str = "per_energy"  # per_energy | global: cell ln-fraction mean/std per E_inc bin or overall
    empty_cell_cut: bool = True  # generated cells below ε·E_tot or below the data's smallest cell read 0
    cell_calibration: bool = False  # map each generated cell's fraction onto the reference's quantiles per E_inc bin
    profile_calibration: str = "none"  # none | layers | rings: map layer (ring) energies jointly per E_inc bin
    response_calibration: bool = False  # map each generated E_tot/E_inc onto the reference's quantiles per E_inc bin
    feature_calibration: bool = False  # events: map each generated feature's marginal onto the training events'
    events: dict[str, Any] = field(default_factory=dict)  # events: options of the event transform

    def check(self, where: str) -> None:
        _require(0.0 < self.fraction_epsilon < 1e-2, where, "fraction_epsilon", "a number in (0, 0.01)")
        _require(1 <= self.response_bins <= 1000, where, "response_bins", "an integer in [1, 1000]")
        _require(0.0 < self.response_scale <= 100.0, where, "response_scale", "a number in (0, 100]")
        _check_free_form(self.events, where, "preprocessing.events")
        if "representation" in self.events:
            ok = (
                isinstance(self.events["representation"], str)
                and self.events["representation"] in EVENT_REPRESENTATIONS
            )
            _require(ok, where, "events.representation", " or ".join(EVENT_REPRESENTATIONS))
        if "symmetries" in self.events:
            values = self.events["symmetries"]
            ok = isinstance(values, list | tuple) and all(isinstance(v, str) and v in EVENT_SYMMETRIES for v in values)
            _require(
                ok and len(set(values)) == len(values),
                where,
                "events.symmetries",
                f"a list of distinct symmetries out of {', '.join(EVENT_SYMMETRIES)}, e.g. []",
            )
        _require(
            self.cell_standardisation in ("per_energy", "global"), where, "cell_standardisation", "per_energy or global"
        )
        for name in ("empty_cell_cut", "cell_calibration", "response_calibration", "feature_calibration"):
            _require(isinstance(getattr(self, name), bool), where, name, "true or false")
        ok = self.profile_calibration in PROFILE_CALIBRATIONS
        _require(ok, where, "profile_calibration", "none, layers or rings")


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator/critic networks."""

    architecture: str = "mlp"
    latent_dim: int = 64
    generator_hidden: tuple[int, ...] = (256, 512, 512)
    critic_hidden: tuple[int, ...] = (512, 256, 128)
    dcgan_channels: int = 32
    cylinder_channels: int = 8  # full-resolution channels of the cylinder networks (2x at coarser scales)
    critic_summary: tuple[str, ...] = ()  # calo: the critic also sees layer_energies / layer_widths of each shower
    summary_hidden: tuple[int, ...] = (64, 64)  # the critic's head on those summary features

    def check(self, where: str) -> None:
        _require(self.architecture in ARCHITECTURES, where, "architecture", f"one of {', '.join(ARCHITECTURES)}")
        _require(1 <= self.latent_dim <= 4096, where, "latent_dim", "an integer in [1, 4096]")
        widths = f"layer widths in [1, {MAX_WIDTH}]"
        _require(all(1 <= h <= MAX_WIDTH for h in self.generator_hidden), where, "generator_hidden", widths)
        _require(all(1 <= h <= MAX_WIDTH for h in self.critic_hidden), where, "critic_hidden", widths)
        _require(1 <= self.dcgan_channels <= 4096, where, "dcgan_channels", "an integer in [1, 4096]")
        _require(1 <= self.cylinder_channels <= 1024, where, "cylinder_channels", "an integer in [1, 1024]")
        _require(
            len(set(self.critic_summary)) == len(self.critic_summary)
            and all(name in CRITIC_SHOWER_SUMMARY for name in self.critic_summary),
            where,
            "critic_summary",
            f"a list of distinct names from {', '.join(CRITIC_SHOWER_SUMMARY)}, e.g. []",
        )
        _require(all(1 <= h <= MAX_WIDTH for h in self.summary_hidden), where, "summary_hidden", widths)


@dataclass(frozen=True)
class TrainingConfig:
    """The adversarial game and its optimisation."""

    loss: str = "wgan-gp"
    gp_lambda: float = 10.0
    mmd_weight: float = 0.0  # generator term: MMD² real vs generated (calo: mmd_shower_features; events: pair masses)
    mmd_shower_features: tuple[str, ...] = ("response",)  # calo MMD inputs: response, layer_energies, layer_widths
    mmd_bandwidths: tuple[float, ...] = (0.1, 0.3, 1.0)  # Gaussian kernel widths h of the MMD, in feature units
    mmd_condition_scale: float = 5.0  # the condition enters the MMD kernel multiplied by this
    d_steps: int = 5  # k discriminator/critic steps ...
    g_steps: int = 1  # ... then l generator steps per iteration
    batch_size: int = 256
    lr_generator: float = 1.0e-4
    lr_discriminator: float = 1.0e-4
    betas: tuple[float, float] = (0.5, 0.9)
    max_steps: int = 4000  # generator iterations
    max_seconds: float = 0.0  # wall-clock budget; training stops (with a checkpoint) once spent; 0: none
    eval_every: int = 500  # quick metrics on the held-out sample every N steps (0: never)
    eval_showers: int = 2000  # held-out showers used for them
    select_by: str = "chi2_ndf_mean"  # quick metric that picks checkpoints/best.pt (lower is better)
    checkpoint_every: int = 500
    log_every: int = 50
    keep_checkpoints: int = 3
    on_divergence: str = "stop"  # stop | rollback (to the last checkpoint, with lower learning rates)
    max_rollbacks: int = 3
    rollback_lr_factor: float = 0.5
    critic_runaway: float = 1.0e4  # |critic loss| beyond this counts as divergence
    collapse_ratio: float = 0.02  # generated diversity / data diversity below this counts as mode collapse
    collapse_check_after: int = 500  # steps before mode collapse is looked for (a new generator starts narrow)
    ema_decay: float = 0.999  # exponential moving average of generator weights (0: off)
    device: str = "auto"
    amp: bool = True  # bf16 autocast on GPU
    runs_dir: str = "runs"
    threads: int = 0  # torch CPU threads (0: torch's default)

    def check(self, where: str) -> None:
        _require(self.loss in LOSSES, where, "loss", f"one of {', '.join(LOSSES)}")
        _require(self.gp_lambda >= 0.0, where, "gp_lambda", "a number >= 0")
        _require(self.mmd_weight >= 0.0, where, "mmd_weight", "a number >= 0")
        _require(
            len(self.mmd_shower_features) >= 1
            and len(set(self.mmd_shower_features)) == len(self.mmd_shower_features)
            and all(name in MMD_SHOWER_FEATURES for name in self.mmd_shower_features),
            where,
            "mmd_shower_features",
            f"a list of distinct names from {', '.join(MMD_SHOWER_FEATURES)}",
        )
        _require(
            len(self.mmd_bandwidths) >= 1 and all(0.0 < h <= 1e3 for h in self.mmd_bandwidths),
            where,
            "mmd_bandwidths",
            "a list of kernel widths in (0, 1000], e.g. [0.1, 0.3, 1.0]",
        )
        _require(0.0 <= self.mmd_condition_scale <= 1e3, where, "mmd_condition_scale", "a number in [0, 1000]")
        _require(1 <= self.d_steps <= 100, where, "d_steps", "an integer in [1, 100]")
        _require(1 <= self.g_steps <= 100, where, "g_steps", "an integer in [1, 100]")
        _require(1 <= self.batch_size <= 1_000_000, where, "batch_size", "an integer in [1, 1000000]")
        _require(0.0 < self.lr_generator < 1.0, where, "lr_generator", "a number in (0, 1)")
        _require(0.0 < self.lr_discriminator < 1.0, where, "lr_discriminator", "a number in (0, 1)")
        _require(
            len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas), where, "betas", "two numbers in [0, 1)"
        )
        _require(self.max_steps >= 1, where, "max_steps", "an integer >= 1")
        _require(self.max_seconds >= 0.0, where, "max_seconds", "a number of seconds >= 0 (0: no limit)")
        _require(self.eval_every >= 0, where, "eval_every", "an integer >= 0 (0: never)")
        _require(self.eval_showers >= 10, where, "eval_showers", "an integer >= 10")
        _require(self.select_by in QUICK_METRICS, where, "select_by", f"one of {', '.join(QUICK_METRICS)}")
        _require(self.checkpoint_every >= 1, where, "checkpoint_every", "an integer >= 1")
        _require(self.log_every >= 1, where, "log_every", "an integer >= 1")
        _require(self.keep_checkpoints >= 1, where, "keep_checkpoints", "an integer >= 1")
        _require(0.0 <= self.ema_decay < 1.0, where, "ema_decay", "a number in [0, 1)")
        _require(self.on_divergence in ("stop", "rollback"), where, "on_divergence", "stop or rollback")
        _require(0 <= self.max_rollbacks <= 100, where, "max_rollbacks", "an integer in [0, 100]")
        _require(0.0 < self.rollback_lr_factor <= 1.0, where, "rollback_lr_factor", "a number in (0, 1]")
        _require(self.critic_runaway > 0.0, where, "critic_runaway", "a number > 0")
        _require(0.0 <= self.collapse_ratio < 1.0, where, "collapse_ratio", "a number in [0, 1)")
        _require(self.collapse_check_after >= 0, where, "collapse_check_after", "an integer >= 0")
        _require(
            self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
            where,
            "device",
            "auto, cpu, cuda or cuda:N",
        )
        _require(0 <= self.threads <= 1024, where, "threads", "an integer in [0, 1024] (0: torch's default)")
        _check_path(self.runs_dir, where, "runs_dir")


PRECISIONS = ("auto", "float32", "bfloat16")
"""``generation.precision`` choices: the generator network's arithmetic (:func:`hepgan.device.use_bfloat16`)."""


@dataclass(frozen=True)
class GenerationConfig:
    """Defaults for ``hepgan generate``."""

    batch_size: int = 10_000
    spectrum: dict[str, Any] = field(default_factory=dict)  # empty: the simulation spectrum
    compression: str = "none"  # none | gzip
    precision: str = "auto"  # auto (bfloat16 where the hardware has it) | float32 | bfloat16

    def check(self, where: str) -> None:
        _require(1 <= self.batch_size <= 10_000_000, where, "batch_size", "an integer in [1, 10000000]")
        _require(self.compression in ("none", "gzip"), where, "compression", "none or gzip")
        _require(self.precision in PRECISIONS, where, "precision", "auto, float32 or bfloat16")
        _check_free_form(self.spectrum, where, "generation.spectrum")


VALIDATION_REFERENCES = ("holdout", "simulate")
CLASSIFIER_PROTOCOLS = ("hepgan", "challenge")


@dataclass(frozen=True)
class ValidationConfig:
    """How ``hepgan train`` validates the trained model when it has finished."""

    reference: str = "holdout"  # holdout: the run's held-out samples | simulate: a fresh reference (showers only;
    # event runs always validate on their held-out events)
    n_showers: int = 10_000  # simulate: generated showers; the reference has twice as many (its halves: the floor)
    seed: int = 20_231  # simulate: the reference's seed, different from simulation.seed (the training file's)
    classifier_protocols: tuple[str, ...] = CLASSIFIER_PROTOCOLS  # hepgan (cross-validated) and/or challenge
    reference_path: str = ""  # events: a reference file made by hepgan simulate (floors from its halves); "": hold-out

    def check(self, where: str) -> None:
        _require(self.reference in VALIDATION_REFERENCES, where, "reference", "holdout or simulate")
        _require(100 <= self.n_showers <= 10_000_000, where, "n_showers", "an integer in [100, 10000000]")
        _require(0 <= self.seed < 2**63, where, "seed", "an integer in [0, 2^63)")
        _require(
            0 < len(self.classifier_protocols) and set(self.classifier_protocols) <= set(CLASSIFIER_PROTOCOLS),
            where,
            "classifier_protocols",
            "a non-empty list of hepgan, challenge",
        )
        if self.reference_path:
            _check_path(self.reference_path, where, "reference_path")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved resolved into the run folder and the checkpoints."""

    name: str = "calo"
    kind: str = "calo"  # calo (calorimeter showers) | events (event kinematics)
    seed: int = 1234
    geometry: str = "calochallenge_ds1_photons"
    data: DataConfig = field(default_factory=DataConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def check(self, where: str) -> None:
        _require(
            RUN_NAME.fullmatch(self.name) is not None,
            where,
            "name",
            "a run name of 1-100 letters, digits and _ . + - that starts with a letter or digit",
        )
        _require(0 <= self.seed < 2**63, where, "seed", "an integer in [0, 2^63)")
        _require(self.kind in KINDS, where, "kind", f"one of {', '.join(KINDS)}")
        _check_path(self.geometry, where, "geometry")
        for section in ("data", "simulation", "preprocessing", "model", "training", "generation", "validation"):
            getattr(self, section).check(f"{where}: {section}")
        _require(
            self.validation.reference == "holdout" or self.validation.seed != self.simulation.seed,
            f"{where}: validation",
            "seed",
            f"a seed different from simulation.seed ({self.simulation.seed}): the reference must not repeat "
            "the training showers",
        )
        _require(
            self.kind == "events" or not self.validation.reference_path,
            f"{where}: validation",
            "reference_path",
            '"" for showers (events only; showers use reference: simulate)',
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists instead of tuples) for YAML files and checkpoints."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _require(ok: bool, where: str, name: str, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{where}.{name}: expected {expected}")


def _check_path(value: str, where: str, name: str) -> None:
    """ConfigError naming ``where.name`` when the value cannot be a path (see :func:`path_problem`)."""
    problem = path_problem(value)
    if problem is not None:
        raise ConfigError(f"{where}.{name}: {problem}")


def _check_free_form(section: dict[str, Any], where: str, dotted: str) -> None:
    """ConfigError naming ``<section>.<key>`` for a key that the free-form section ``dotted`` does not know."""
    known = FREE_FORM_KEYS[dotted]
    for key in section:
        if key not in known:
            name = dotted.split(".", 1)[1]
            raise ConfigError(f"{where}.{name}.{key}: unknown key {key!r} (allowed: {', '.join(sorted(known))})")


def _nesting_problem(data: Any) -> str | None:
    """Where ``data`` nests deeper than :data:`MAX_DEPTH` mappings/lists, or None (walked without recursion)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict):
            items = [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels (at {_shorten(where)})"
        stack.extend((v, depth + 1, w) for w, v in items)
    return None


def _shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (long keys and values in one-line messages)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type, or raise ConfigError naming ``where``."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not value.is_integer())
        ):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        if "\x00" in value:
            raise ConfigError(f"{where}: expected a string without NUL characters")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(annotation, types.UnionType):  # pragma: no cover - not used yet
        return value
    raise ConfigError(f"{where}: unsupported field type {annotation!r}")


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(names))})")
    values = {name: _convert(data[name], hints[name], f"{where}.{name}") for name in data}
    return cls(**values)


def _apply_override(data: dict[str, Any], override: str) -> None:
    shown = repr(_shorten(override))
    if "=" not in override:
        raise ConfigError(f"--set {shown}: expected key=value, e.g. training.max_steps=100")
    key, raw = override.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) > MAX_DEPTH:
        raise ConfigError(f"--set {shown}: a key of {len(parts)} levels; configurations nest at most {MAX_DEPTH} deep")
    try:
        value = yaml.load(raw, Loader=_NoAliasLoader)
    except _OwnYAMLError as exc:
        raise ConfigError(f"--set {shown}: {exc.problem}") from None
    except yaml.YAMLError:
        raise ConfigError(f"--set {shown}: the value is not valid YAML") from None
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {shown}: {part!r} is not a section")
    node[parts[-1]] = value


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Build and check a RunConfig from plain data (as stored in YAML and checkpoints)."""
    problem = _nesting_problem(data)
    if problem is not None:
        raise ConfigError(f"{source}: {problem}")
    config = _build(RunConfig, data, source)
    config.check(source)
    return config


class _OwnYAMLError(yaml.MarkedYAMLError):
    """YAML that parses but that hepgan refuses: a repeated key, too deep nesting (``problem`` says which)."""


class _NoAliasLoader(yaml.SafeLoader):
    """A safe YAML loader that also refuses anchors/aliases (no exponential 'billion laughs' expansion),
    nesting deeper than :data:`MAX_DEPTH` and keys repeated in one mapping (the later would silently win)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._keys: list[str] = []  # dotted place of the node being composed

    def compose_node(self, parent: yaml.Node | None, index: int | yaml.Node | None) -> yaml.Node | None:
        event = self.peek_event()
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed", event.start_mark)
        if len(self._keys) >= MAX_DEPTH and self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
            line = event.start_mark.line + 1
            raise _OwnYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels (line {line})")
        if isinstance(index, yaml.ScalarNode):
            self._keys.append(f".{_shorten(index.value, 40)}")
        else:
            self._keys.append(f"[{index}]" if isinstance(index, int) else "")
        try:
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.MappingNode):
                node.hepgan_place = "".join(self._keys).lstrip(".")
        finally:
            self._keys.pop()
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # keys written in this mapping (merged-in ones may be overridden)
        written = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge" and isinstance(k, yaml.ScalarNode)]
        mapping = super().construct_mapping(node, deep)  # refuses unsafe tags and unhashable keys first
        first_line: dict[Any, int] = {}
        for key_node in written:
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                place = getattr(node, "hepgan_place", "")
                name = f"{place}.{key}" if place else str(key)
                raise _OwnYAMLError(
                    problem=f"duplicate key {_shorten(name)!r} (lines {first_line[key]} and {line}); "
                    "a repeated key would silently replace the first"
                )
            first_line[key] = line
        return mapping


# YAML 1.1 (PyYAML) reads 1e-4 and 1.0e5 as text; physicists write them as numbers
_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run configuration with a safe loader and apply ``key=value`` overrides.

    Raises:
        ConfigError: missing/unreadable file, invalid YAML, unknown key, bad type or value.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)
    except _OwnYAMLError as exc:
        raise ConfigError(f"{path}: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ConfigError(f"{path}: not valid YAML ({detail})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for override in overrides or []:
        _apply_override(data, override)
    return config_from_dict(data, str(path))


def dump_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved configuration as YAML."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
