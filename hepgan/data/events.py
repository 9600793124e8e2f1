"""The event data module: reads a reference event file in chunks for training an event GAN.

:class:`EventData` is the ``kind: events`` counterpart of :class:`hepgan.data.showers.ShowerData`
(see there for what a data module provides); :class:`EventModelState` is what an event
checkpoint holds besides the weights, written and read in this one place. Events (pT-ordered objects: pT, η, φ, m in
GeV/rad, :class:`~hepgan.io.events.EventBatch`) become features with
:class:`~hepgan.data.event_transforms.EventTransform` (``preprocessing.events``): per object
("objects": mapped ln pT (so generated pT is positive) and η, (cos φ, sin φ) (periodic) and,
when the masses vary, standardised ln m), or for exactly two objects the two-body system
("pair": pair mass, pT, rapidity and azimuth, and the decay angles in the pair rest frame), or
for the six decay quarks of a tt̄ pair the decay chain ("ttbar_decays": every resonance mass
and decay angle a feature, :mod:`hepgan.data.decay_chain`). The muon mass of Z → μμ is fixed and comes back exactly.

With ``preprocessing.events.symmetries`` (``eta_flip``, ``phi_rotation``) the critic sees every
event, real or generated, through a random symmetry transform
(:meth:`~hepgan.data.event_transforms.EventTransform.apply_symmetries`): the real batches are
augmented and the generated ones symmetrised; generation applies the same random transforms
to what the generator makes (:class:`hepgan.generate.events.EventGenerator`), so the generated
distribution is exactly symmetric.

The model is unconditional (``cond_dim = 0``): a whole event is one sample of the process
and there is no external quantity (unlike a shower's incident energy) that a user would
want to set at generation time.

For the optional MMD term (``training.mmd_weight``), :meth:`EventData.mmd_features` rebuilds
the invariant mass of objects 1 and 2 from the standardised features with differentiable
torch operations (in "pair" it is the inverse map of the mass feature) and maps it to O(1)
with a location and scale fitted on the training events (median and interquartile range /
1.349); sharp resonances (Z, W, top) are then learnt through the MMD's narrow kernels, as in
B. Hashemi et al., "LHC analysis-specific datasets with Generative Adversarial Networks",
arXiv:1901.05282, and A. Butter, T. Plehn, R. Winterhalder, "How to GAN LHC events", SciPost
Phys. 7 (2019) 075, arXiv:1907.03764.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepgan.config import RunConfig
from hepgan.data.event_transforms import QUANTILE_KNOTS, EventTransform
from hepgan.data.feature_calibration import FeatureCalibration
from hepgan.data.resonances import (
    check_reconstruction,
    default_reconstruction,
    four_momenta_from_arrays,
    mass_names,
    reconstruct,
)
from hepgan.data.split import holdout_mask
from hepgan.data.state_checks import (
    check_finite_entries,
    check_non_decreasing,
    check_positive,
    check_range,
    check_shape,
    one_line,
)
from hepgan.errors import ConfigError, InputFileError
from hepgan.io.events import EventBatch, EventReader, EventSelection, EventWriter

KIND = "events"
COND_DIM = 0
"""The event model is unconditional (see :data:`hepgan.models.events.EVENT_CONDITION_DIM`)."""
IQR_TO_SIGMA = 1.349
"""Interquartile range of a unit Gaussian: IQR / 1.349 estimates σ robustly (tails ignored)."""


def selection_from_config(selection: dict[str, Any]) -> EventSelection | None:
    """The configured selection; ``{}`` gives None (a hepgan event table read as stored)."""
    return EventSelection.from_dict(selection, "data.selection") if selection else None


def event_four_momenta(features: torch.Tensor, transform: EventTransform) -> torch.Tensor:
    """Four-momenta (N, n_objects, 4) = (E, px, py, pz) in GeV of every object slot ("objects" representation).

    Differentiable (gradients flow to ``features``); computed in ``features``' dtype with the
    transform's parameters moved to its device. φ comes from the (cos φ, sin φ) pair normalised
    to the unit circle, pT from exp(...), the mass from the fixed slot mass or the ln m feature.
    Presence features are ignored: absent objects enter as whatever their slot's features say.
    """
    k = transform.features_per_object
    slots = [_four_momentum(features[:, i * k : (i + 1) * k], i, transform) for i in range(transform.n_objects)]
    return torch.stack(slots, dim=1)


def leading_pair_mass(features: torch.Tensor, transform: EventTransform) -> torch.Tensor:
    """Invariant mass (N,) in GeV of objects 1 and 2 from standardised features (N, n_features).

    Differentiable; see :func:`event_four_momenta`. In the "pair" representation the mass is
    the inverse map of the ``log_mass_12`` feature.
    """
    if transform.n_objects < 2:
        raise ValueError("a pair mass needs at least 2 objects per event")
    if transform.representation == "pair":
        return transform.pair_mass(features)
    return reconstruct(event_four_momenta(features, transform)[:, :2], None, "pair")["m_12"]


def reconstructed_masses(features: torch.Tensor, transform: EventTransform, reconstruction: str) -> torch.Tensor:
    """The candidate masses of ``reconstruction`` (N, k) in GeV from standardised features, differentiable.

    Columns in the order of :func:`hepgan.data.resonances.mass_names` (``m_12``; or ``m_w1``,
    ``m_t1``, ``m_w2``, ``m_t2``). Every slot counts as present (see :func:`event_four_momenta`);
    with ``sort`` the objects are first ordered by pT (differentiably, by a gather), so the tt̄ jet
    rule pairs the six hardest as the report does after the inverse transform.
    """
    if reconstruction == "pair":
        return leading_pair_mass(features, transform).unsqueeze(1)
    if transform.representation == "ttbar_decays":  # the masses are features of their own
        return transform.resonance_masses(features)
    p4 = event_four_momenta(features, transform)
    if transform.sort:  # as the inverse transform re-orders generated objects: pair the six hardest
        order = torch.argsort(torch.hypot(p4[..., 1], p4[..., 2]), dim=1, descending=True)
        p4 = torch.gather(p4, 1, order.unsqueeze(-1).expand_as(p4))
    masses = reconstruct(p4, None, reconstruction)
    return torch.stack([masses[name] for name in mass_names(reconstruction)], dim=1)


def _param(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return value.to(device=like.device, dtype=like.dtype)


def _four_momentum(slot: torch.Tensor, index: int, transform: EventTransform) -> torch.Tensor:
    """(N, 4) = (E, px, py, pz) in GeV of object ``index`` from its feature block (N, features_per_object)."""
    t = transform
    pt = torch.exp(t.from_feature("log_pt", slot[:, 0], index))
    eta = t.from_feature("eta", slot[:, 1], index)
    radius = torch.sqrt(slot[:, 2] ** 2 + slot[:, 3] ** 2 + 1e-12)
    if t.mass_mode == "log":
        log_mass = slot[:, 4] * _param(t.log_mass_std[index], slot) + _param(t.log_mass_mean[index], slot)
        mass = torch.clamp(torch.exp(log_mass) - t.mass_epsilon_gev, min=0.0)
    else:
        mass = _param(t.fixed_mass[index], slot).expand_as(pt)
    return four_momenta_from_arrays(pt, eta, slot[:, 2] / radius, slot[:, 3] / radius, mass)


def robust_location_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and IQR / 1.349 of the finite values (scale >= 1e-6)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    q25, q50, q75 = np.quantile(finite, (0.25, 0.5, 0.75))
    return float(q50), float(max((q75 - q25) / IQR_TO_SIGMA, 1e-6))


class EventData:
    """Event kinematics: reads the reference file in chunks (``data.chunk_size``), never all at once."""

    kind = KIND
    cond_dim = COND_DIM

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.path = Path(config.data.path)
        self.selection = selection_from_config(config.data.selection)
        self.transform: EventTransform | None = None
        self.mass_centers_gev: tuple[float, ...] = ()
        self.mass_scales_gev: tuple[float, ...] = ()
        self.feature_calibration: FeatureCalibration | None = None  # refitted at checkpoints by the domain
        if not self.path.is_file():
            raise InputFileError(
                f"{self.path}: reference file not found (data.path); make it with "
                f"'hepgan simulate <config>' or point data.path at your events"
            )
        with self._reader() as reader:
            total, self.n_objects, attrs = len(reader), reader.n_objects, reader.attrs
        self.reconstruction = self._reconstruction(config.data.reconstruction, attrs)
        self._new_transform()  # check the preprocessing options against the objects per event
        self.n = min(total, config.data.max_showers) if config.data.max_showers else total
        if self.n < 10:
            raise InputFileError(f"{self.path}: {self.n} events; at least 10 are needed to train")
        self.holdout = holdout_mask(self.n, config.data.validation_fraction, config.seed)

    def _reconstruction(self, stated: str, attrs: Mapping[str, Any]) -> str:
        """``data.reconstruction``, or the file's statement for "auto"; ConfigError if the events cannot satisfy it."""
        try:
            name = default_reconstruction(attrs, self.n_objects) if stated == "auto" else stated
        except ValueError as exc:
            raise InputFileError(f"{self.path}: {exc} (data.reconstruction: auto reads it)") from None
        try:
            check_reconstruction(name, self.n_objects, "data.reconstruction")
        except ValueError as exc:
            raise ConfigError(f"{exc} (file {self.path}; auto takes the file's own statement)") from None
        options = self.config.preprocessing.events
        representation = options.get("representation", "objects")
        if representation == "pair" and name not in ("pair", "none"):
            raise ConfigError(f"data.reconstruction: {name} needs preprocessing.events.representation: objects")
        if representation == "ttbar_decays" and name not in ("ttbar_partons", "none"):
            raise ConfigError(
                f"data.reconstruction: {name} needs preprocessing.events.representation: objects (ttbar_decays "
                f"is the parton-truth chain of ttbar_partons)"
            )
        if name == "ttbar_partons" and options.get("sort", True):
            raise ConfigError(
                "preprocessing.events.sort: ttbar_partons keeps the quarks in their truth slots; set it to false"
            )
        if name == "ttbar_partons" and self.selection is not None:
            raise ConfigError("data.selection: a selection re-orders objects by pT; ttbar_partons needs {} (as stored)")
        return name

    def _reader(self) -> EventReader:
        return EventReader(self.path, self.selection, chunk_size=self.config.data.chunk_size)

    def _chunks(self, train: bool) -> Iterator[EventBatch]:
        """The training (or held-out) events, chunk by chunk.

        Raises:
            InputFileError: an event has no object at all (no jet, no muon): the GAN learns the
                kinematics of events that have objects, so such events must be selected away.
        """
        offset = 0
        with self._reader() as reader:
            for batch in reader.iter_chunks(0, self.n):
                empty = np.flatnonzero(~batch.mask.any(axis=1))
                if empty.size:
                    raise InputFileError(
                        f"{self.path}: event {offset + int(empty[0])} has no objects ({empty.size} such events in "
                        f"events {offset}-{offset + len(batch) - 1}); keep events with at least one "
                        "(simulation.pythia.min_objects, data.selection cuts)"
                    )
                held_out = self.holdout[offset : offset + len(batch)]
                offset += len(batch)
                yield batch.subset(~held_out if train else held_out)

    def _new_transform(self) -> EventTransform:
        """An unfitted transform with the configured options (ConfigError naming the field if they are bad)."""
        options = dict(self.config.preprocessing.events)
        try:
            return EventTransform(self.n_objects, **options)
        except TypeError as exc:
            raise ConfigError(f"preprocessing.events: {exc}") from None

    def _choice_rng(self) -> np.random.Generator:
        """Seeded draws of the object that defines the decay angles ("pair"), one stream over all chunks."""
        return np.random.default_rng(self.config.seed)

    def fit_transform(self) -> None:
        """Fit the preprocessing and the MMD mass scales on the training events (deterministic)."""
        transform = self._new_transform()
        self.transform = transform.fit(self._chunks(train=True))
        if self.reconstruction != "none":
            rng = self._choice_rng()
            masses = np.concatenate(
                [
                    reconstructed_masses(transform.forward(b, rng), transform, self.reconstruction).numpy()
                    for b in self._chunks(train=True)
                ]
            )
            fits = [robust_location_scale(column) for column in masses.T]
            self.mass_centers_gev = tuple(center for center, _ in fits)
            self.mass_scales_gev = tuple(scale for _, scale in fits)

    def load_transform(self, state: Mapping[str, Any]) -> None:
        """Use the preprocessing (and MMD mass scale) stored in a checkpoint."""
        model = EventModelState.from_entries(state, str(self.path))
        if model.reconstruction != self.reconstruction:
            raise ConfigError(
                f"data.reconstruction: the checkpoint was trained with {model.reconstruction}, the data give "
                f"{self.reconstruction}"
            )
        self.transform, self.mass_centers_gev, self.mass_scales_gev = (
            model.transform,
            model.mass_centers_gev,
            model.mass_scales_gev,
        )
        self.feature_calibration = model.feature_calibration

    def _fitted_transform(self) -> EventTransform:
        """The preprocessing that :meth:`fit_transform` or :meth:`load_transform` set."""
        if self.transform is None:
            raise RuntimeError("the event preprocessing is not set: call fit_transform() or load_transform() first")
        return self.transform

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, n_features) float32 and empty conditions (N, 0), built chunk by chunk."""
        transform = self._fitted_transform()
        n_train = int((~self.holdout).sum())
        features = torch.empty(n_train, transform.n_features, dtype=torch.float32)
        start = 0
        rng = self._choice_rng()
        for batch in self._chunks(train=True):
            features[start : start + len(batch)] = transform.forward(batch, rng).float()
            start += len(batch)
        return features, torch.empty(n_train, self.cond_dim, dtype=torch.float32)

    def write_holdout(self, path: Path) -> None:
        """Write the held-out reference events as an event table (GeV)."""
        attrs = {"source": str(self.path), "role": "held-out reference"}
        with EventWriter(path, self.n_objects, attrs=attrs) as out:
            for batch in self._chunks(train=False):
                out.write(batch)

    def mmd_features(
        self, features: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor | list[torch.Tensor]:
        """What the optional MMD term compares: each candidate mass standardised, one (N, 1) tensor per mass.

        The masses in GeV are :func:`reconstructed_masses` (``m_12``; or the two W and two top
        candidates); each is shifted by its median and divided by its scale (IQR / 1.349),
        fitted on the training events, so a resonance is O(1) wide and the MMD's kernels
        (0.1, 0.3, 1) resolve it. The loss takes one MMD² per mass (separate terms). Without
        a reconstruction (one object per event) the standardised first feature is compared.
        """
        transform = self._fitted_transform()
        if self.reconstruction == "none":
            return features[:, :1]
        masses = reconstructed_masses(features, transform, self.reconstruction)
        center = torch.tensor(self.mass_centers_gev, dtype=masses.dtype, device=masses.device)
        scale = torch.tensor(self.mass_scales_gev, dtype=masses.dtype, device=masses.device)
        return list(((masses - center) / scale).split(1, dim=1))

    def model_state(self) -> EventModelState:
        """What a checkpoint of this run holds besides the weights."""
        return EventModelState(
            self.n_objects,
            self._fitted_transform(),
            self.reconstruction,
            self.mass_centers_gev,
            self.mass_scales_gev,
            self.feature_calibration,
        )


def check_event_transform(transform: EventTransform, where: str = "transform") -> None:
    """ValueError (one line naming the entry) unless a loaded preprocessing fits its ``n_objects`` and makes sense.

    Per-object means and widths are (n_objects,), quantile knots (n_objects, 1025) and
    non-decreasing, widths > 0 and fixed masses >= 0 GeV; the quantities of the "pair" and
    "ttbar_decays" representations have one slot each.
    """
    n = transform.n_objects
    slots = {"log_pt": n, "eta": n, "log_mass": n}
    slots.update({name: 1 for name in transform.extra_quantities})
    for name, count in slots.items():
        why = f"one per object slot ({count})" if name in ("log_pt", "eta", "log_mass") else "one slot"
        check_shape(getattr(transform, f"{name}_mean"), (count,), f"{where}.{name}_mean", why)
        check_shape(getattr(transform, f"{name}_std"), (count,), f"{where}.{name}_std", why)
        check_positive(getattr(transform, f"{name}_std"), f"{where}.{name}_std")
        if transform.continuous == "quantile" and name != "log_mass":
            knots = getattr(transform, f"{name}_knots")
            check_shape(knots, (count, QUANTILE_KNOTS), f"{where}.{name}_knots", f"{why}, {QUANTILE_KNOTS} knots")
            check_non_decreasing(knots, f"{where}.{name}_knots")
    check_shape(transform.fixed_mass, (n,), f"{where}.fixed_mass", f"one per object slot ({n})")
    check_range(transform.fixed_mass, 0.0, math.inf, f"{where}.fixed_mass", "masses")


@dataclass
class EventModelState:
    """What an event checkpoint holds besides the weights and the config; written and read here only.

    Attributes:
        n_objects: object slots per event.
        transform: the fitted event preprocessing.
        reconstruction: the resonance rule (:mod:`hepgan.data.resonances`) of the MMD term and the validation.
        mass_centers_gev, mass_scales_gev: location and scale of each MMD candidate mass (GeV).
        feature_calibration: the fitted per-feature quantile maps (``preprocessing.feature_calibration``), or None.
    """

    n_objects: int
    transform: EventTransform
    reconstruction: str = "pair"
    mass_centers_gev: tuple[float, ...] = ()
    mass_scales_gev: tuple[float, ...] = ()
    feature_calibration: FeatureCalibration | None = None

    def entries(self) -> dict[str, Any]:
        """The checkpoint entries: kind, objects per event, preprocessing, reconstruction, MMD mass scales, and the
        fitted feature calibration if there is one."""
        entries = {
            "kind": KIND,
            "n_objects": self.n_objects,
            "transform": self.transform.state_dict(),
            "reconstruction": self.reconstruction,
            "mmd_mass_centers_gev": list(self.mass_centers_gev),
            "mmd_mass_scales_gev": list(self.mass_scales_gev),
        }
        if self.feature_calibration is not None and self.feature_calibration.fitted:
            entries["feature_calibration"] = self.feature_calibration.state_dict()
        return entries

    @classmethod
    def from_entries(cls, state: Mapping[str, Any], source: str) -> EventModelState:
        """Read the entries of :meth:`entries`.

        The preprocessing is checked before it is used: every tensor floating point and
        finite, shapes that fit ``n_objects``, widths > 0, quantile knots non-decreasing
        (:func:`check_event_transform`).

        Raises:
            InputFileError: an entry is missing or malformed, naming ``source`` and the entry.
        """
        try:
            check_finite_entries(state["transform"], "transform")
            transform = EventTransform.from_state_dict(state["transform"])
            check_event_transform(transform)
            if int(state.get("n_objects", transform.n_objects)) != transform.n_objects:
                raise ValueError(
                    f"n_objects is {state['n_objects']}, but the preprocessing has {transform.n_objects} object slots"
                )
            default = "pair" if transform.n_objects >= 2 else "none"  # checkpoints from before reconstructions
            reconstruction = str(state.get("reconstruction", default))
            check_reconstruction(reconstruction, transform.n_objects, "reconstruction")
            centers, scales = _mass_scales(state, len(mass_names(reconstruction)))
            calibration = None
            if "feature_calibration" in state:
                check_finite_entries(state["feature_calibration"], "feature_calibration")
                try:
                    calibration = FeatureCalibration.from_state_dict(state["feature_calibration"], transform.n_features)
                except KeyError as exc:
                    raise ValueError(f"feature_calibration: missing entry {exc}") from None
            n_objects = int(state.get("n_objects", transform.n_objects))
            return cls(n_objects, transform, reconstruction, centers, scales, calibration)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError, ConfigError) as exc:
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else one_line(exc)
            raise InputFileError(f"{source}: not a usable hepgan event checkpoint ({detail})") from None


def _mass_scales(state: Mapping[str, Any], n_masses: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The MMD mass locations and scales (GeV) of a checkpoint; older checkpoints hold one of each as numbers."""
    if "mmd_mass_centers_gev" in state:
        centers = tuple(float(v) for v in state["mmd_mass_centers_gev"])
        scales = tuple(float(v) for v in state["mmd_mass_scales_gev"])
    elif n_masses and "mmd_mass_center_gev" in state:
        centers, scales = (float(state["mmd_mass_center_gev"]),), (float(state["mmd_mass_scale_gev"]),)
    else:
        centers, scales = (0.0,) * n_masses, (1.0,) * n_masses
    if len(centers) != n_masses or len(scales) != n_masses:
        raise ValueError(f"mmd_mass_centers_gev/mmd_mass_scales_gev: expected {n_masses} values each")
    if not all(math.isfinite(v) for v in centers + scales) or not all(v > 0 for v in scales):
        raise ValueError("mmd_mass_centers_gev/mmd_mass_scales_gev: expected finite numbers, scales > 0")
    return centers, scales
