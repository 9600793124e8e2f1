"""The event data module: reads a reference event file in chunks for training an event GAN.

:class:`EventData` is the ``kind: events`` counterpart of :class:`hepgan.data.showers.ShowerData`
(see there for what a data module provides); :class:`EventModelState` is what an event
checkpoint holds besides the weights, written and read in this one place. Events (pT-ordered objects: pT, η, φ, m in
GeV/rad, :class:`~hepgan.io.events.EventBatch`) become features with
:class:`~hepgan.data.event_transforms.EventTransform` (``preprocessing.events``): per object
("objects": mapped ln pT (so generated pT is positive) and η, (cos φ, sin φ) (periodic) and,
when the masses vary, standardised ln m), or for exactly two objects the two-body system
("pair": pair mass, pT, rapidity and azimuth, and the decay angles in the pair rest frame).
The muon mass of Z → μμ is fixed and comes back exactly.

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
from hepgan.data.event_transforms import PAIR_CONTINUOUS, QUANTILE_KNOTS, EventTransform
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


def leading_pair_mass(features: torch.Tensor, transform: EventTransform) -> torch.Tensor:
    """Invariant mass (N,) in GeV of objects 1 and 2 from standardised features (N, n_features).

    Differentiable (gradients flow to ``features``); computed in ``features``' dtype with the
    transform's parameters moved to its device. φ comes from the (cos φ, sin φ) pair normalised
    to the unit circle, pT from exp(...), the mass from the fixed slot mass or the ln m feature.
    Presence features are ignored: absent objects enter as the slot's mean object. In the
    "pair" representation the mass is the inverse map of the ``log_mass_12`` feature.
    """
    if transform.n_objects < 2:
        raise ValueError("a pair mass needs at least 2 objects per event")
    if transform.representation == "pair":
        return transform.pair_mass(features)
    k = transform.features_per_object
    p4 = [_four_momentum(features[:, i * k : (i + 1) * k], i, transform) for i in (0, 1)]
    energy, px, py, pz = (a + b for a, b in zip(*p4, strict=True))
    return torch.sqrt(torch.clamp(energy**2 - px**2 - py**2 - pz**2, min=0.0) + 1e-12)


def _param(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return value.to(device=like.device, dtype=like.dtype)


def _four_momentum(
    slot: torch.Tensor, index: int, transform: EventTransform
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(E, px, py, pz) in GeV of object ``index`` from its feature block (N, features_per_object)."""
    t = transform
    pt = torch.exp(t.from_feature("log_pt", slot[:, 0], index))
    eta = t.from_feature("eta", slot[:, 1], index)
    radius = torch.sqrt(slot[:, 2] ** 2 + slot[:, 3] ** 2 + 1e-12)
    cos_phi, sin_phi = slot[:, 2] / radius, slot[:, 3] / radius
    if t.mass_mode == "log":
        log_mass = slot[:, 4] * _param(t.log_mass_std[index], slot) + _param(t.log_mass_mean[index], slot)
        mass = torch.clamp(torch.exp(log_mass) - t.mass_epsilon_gev, min=0.0)
    else:
        mass = _param(t.fixed_mass[index], slot).expand_as(pt)
    pz = pt * torch.sinh(eta)
    energy = torch.sqrt(mass**2 + pt**2 + pz**2)
    return energy, pt * cos_phi, pt * sin_phi, pz


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
        self.mass_center_gev = 0.0
        self.mass_scale_gev = 1.0
        if not self.path.is_file():
            raise InputFileError(
                f"{self.path}: reference file not found (data.path); make it with "
                f"'hepgan simulate <config>' or point data.path at your events"
            )
        with self._reader() as reader:
            total, self.n_objects = len(reader), reader.n_objects
        self._new_transform()  # check the preprocessing options against the objects per event
        self.n = min(total, config.data.max_showers) if config.data.max_showers else total
        if self.n < 10:
            raise InputFileError(f"{self.path}: {self.n} events; at least 10 are needed to train")
        self.holdout = holdout_mask(self.n, config.data.validation_fraction, config.seed)

    def _reader(self) -> EventReader:
        return EventReader(self.path, self.selection, chunk_size=self.config.data.chunk_size)

    def _chunks(self, train: bool) -> Iterator[EventBatch]:
        """The training (or held-out) events, chunk by chunk."""
        offset = 0
        with self._reader() as reader:
            for batch in reader.iter_chunks(0, self.n):
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
        """Fit the preprocessing and the MMD mass scale on the training events (deterministic)."""
        transform = self._new_transform()
        self.transform = transform.fit(self._chunks(train=True))
        if self.n_objects >= 2:
            rng = self._choice_rng()
            masses = [leading_pair_mass(transform.forward(b, rng), transform).numpy() for b in self._chunks(train=True)]
            self.mass_center_gev, self.mass_scale_gev = robust_location_scale(np.concatenate(masses))

    def load_transform(self, state: Mapping[str, Any]) -> None:
        """Use the preprocessing (and MMD mass scale) stored in a checkpoint."""
        model = EventModelState.from_entries(state, str(self.path))
        self.transform, self.mass_center_gev, self.mass_scale_gev = (
            model.transform,
            model.mass_center_gev,
            model.mass_scale_gev,
        )

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

    def mmd_features(self, features: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """What the optional MMD term compares: (m_12 − median) / scale, (N, 1), differentiable.

        m_12 is the invariant mass of objects 1 and 2 in GeV (:func:`leading_pair_mass`);
        median and scale (IQR / 1.349) are fitted on the training events, so the Z peak is
        O(1) wide and the MMD's kernels (0.1, 0.3, 1) resolve it. With one object per event
        the standardised ln pT of the object is compared instead.
        """
        transform = self._fitted_transform()
        if transform.n_objects < 2:
            return features[:, :1]
        mass = leading_pair_mass(features, transform)
        return ((mass - self.mass_center_gev) / self.mass_scale_gev).unsqueeze(1)

    def model_state(self) -> EventModelState:
        """What a checkpoint of this run holds besides the weights."""
        return EventModelState(self.n_objects, self._fitted_transform(), self.mass_center_gev, self.mass_scale_gev)


def check_event_transform(transform: EventTransform, where: str = "transform") -> None:
    """ValueError (one line naming the entry) unless a loaded preprocessing fits its ``n_objects`` and makes sense.

    Per-object means and widths are (n_objects,), quantile knots (n_objects, 1025) and
    non-decreasing, widths > 0 and fixed masses >= 0 GeV; the pair quantities of the
    "pair" representation have one slot each.
    """
    n = transform.n_objects
    slots = {"log_pt": n, "eta": n, "log_mass": n}
    if transform.representation == "pair":
        slots.update({name: 1 for name in PAIR_CONTINUOUS})
    for name, count in slots.items():
        why = f"one per object slot ({count})" if name in ("log_pt", "eta", "log_mass") else "one pair slot"
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
        mass_center_gev, mass_scale_gev: location and scale of the MMD term's pair mass (GeV).
    """

    n_objects: int
    transform: EventTransform
    mass_center_gev: float = 0.0
    mass_scale_gev: float = 1.0

    def entries(self) -> dict[str, Any]:
        """The checkpoint entries: kind, objects per event, preprocessing, MMD mass scale."""
        return {
            "kind": KIND,
            "n_objects": self.n_objects,
            "transform": self.transform.state_dict(),
            "mmd_mass_center_gev": self.mass_center_gev,
            "mmd_mass_scale_gev": self.mass_scale_gev,
        }

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
            for key in ("mmd_mass_center_gev", "mmd_mass_scale_gev"):
                if key in state and not math.isfinite(float(state[key])):
                    raise ValueError(f"{key} is {state[key]}, expected a finite number")
            return cls(
                n_objects=int(state.get("n_objects", transform.n_objects)),
                transform=transform,
                mass_center_gev=float(state.get("mmd_mass_center_gev", 0.0)),
                mass_scale_gev=float(state.get("mmd_mass_scale_gev", 1.0)),
            )
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError, ConfigError) as exc:
            detail = f"missing entry {exc}" if isinstance(exc, KeyError) else one_line(exc)
            raise InputFileError(f"{source}: not a usable hepgan event checkpoint ({detail})") from None
