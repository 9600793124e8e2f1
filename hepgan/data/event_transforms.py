"""Invertible preprocessing between event kinematics (GeV) and the features an event GAN sees.

Three representations (``representation``):

**"objects"** (the default, any number of objects). Each of the ``n_objects`` object slots
(pT-ordered, as :class:`hepgan.io.events.EventBatch` holds them) becomes

- ln pT and η, each mapped to a standard normal through the reference's empirical CDF
  (``continuous="quantile"``, the default: ``Φ⁻¹(F(x))``) or standardised
  (``"standard"``: ``(x − mean) / std``); the inverse ``pT = exp(...)`` is positive by
  construction;
- ``(cos φ, sin φ)``: φ as a point on the unit circle, so the features are periodic
  (φ = π and φ = −π are the same point) and any generator output maps back to an angle,
  ``φ = atan2(sin, cos)`` wrapped into (−π, π]. We keep the absolute φ of every object
  rather than φ relative to the leading one: the inverse then needs no random numbers
  and round trips are exact;
- the mass, by ``mass_mode``: "fixed" stores no feature and gives back the slot's one mass
  (e.g. 0.10566 GeV for muons, so generated masses are exact), "log" stores
  ``(ln(m + ε) − m_m) / s_m`` (m = exp(...) − ε, clipped at 0); "auto" picks "fixed" when
  every fitted mass of a slot is the same (to 1e-6 relative), else "log".

Objects that may be absent (``mask`` False somewhere in the fitted data, or
``presence="on"``) get one extra feature per slot at the end, +1 present / −1 absent;
the inverse keeps objects whose feature is > 0. Absent objects have all their other
features 0 and come back as zeros. With ``sort=True`` the inverse re-orders the present
objects by decreasing pT (generated slots may swap), which leaves pT-ordered input unchanged.
Feature layout: per slot ``[ln pT, η, cos φ, sin φ, (ln m)]`` for slots 1..n, then the n
presence features (if any).

**"pair"** (exactly two objects in every event, one fixed mass, e.g. Z/γ* → μμ). The event
is the two-body system: its four-momentum P = p₁ + p₂ and the decay direction of one
object in the pair rest frame. Features, in order:

- ``log_mass_12``: ln m₁₂, ``log_pt_12``: ln pT₁₂, ``y_12``: the pair rapidity, each mapped
  like ln pT above (quantile or standard);
- ``cos_phi_12``, ``sin_phi_12``: the pair azimuth φ₁₂ on the unit circle;
- ``cos_theta_star``: cos θ* (quantile or standard; the inverse is clipped into [−1, 1]),
  ``cos_phi_star``, ``sin_phi_star``: φ* on the unit circle, where (θ*, φ*) is the
  direction of one object after the pure boost of the lab into the pair rest frame, with
  polar axis the beam (z) axis and azimuth measured from the pair's transverse direction:
  x′ = (cos φ₁₂, sin φ₁₂, 0), y′ = ẑ × x′. A global rotation about the beam then leaves
  (θ*, φ*) unchanged, and η → −η maps cos θ* → −cos θ*, y₁₂ → −y₁₂.

Which of the two objects defines (θ*, φ*) is drawn at random per event in :meth:`forward`
(a seeded NumPy generator; the other object has −cos θ*, φ* + π), so the angles cover the
sphere without the edge that pT ordering would cut into it, and the cos θ* map is fitted
symmetric. :meth:`inverse` rebuilds both four-momenta in the rest frame (momentum
``sqrt(m₁₂²/4 − m²)`` back to back, m the fixed object mass), boosts them to the lab with
P and re-orders them by pT (``sort``). The pair mass is computed from
``mT₁ mT₂ cosh Δy − pT₁ pT₂ cos Δφ`` written as a sum of positive terms and the boosts from
``q* = q − (P·q) P / (E (E + m₁₂))`` with q = (p₁ − p₂)/2, which stay accurate for strongly
boosted, nearly collinear pairs.

**"ttbar_decays"** (the six decay quarks of a hadronic tt̄ pair in truth slots, ``objects:
top_decays``): the decay chain tt̄ → t t̄, t → W b, W → q q̄', with the tt̄ system's mass, pT,
rapidity and azimuth, every top and W mass, every decay direction in its parent's rest frame
and the light-quark masses as features (28 in all; :mod:`hepgan.data.decay_chain`), so each
resonance peak is a one-dimensional distribution. Needs all six quarks, a fixed b mass and
``sort: false``; ``mass_mode`` does not apply (the light-quark masses are standardised ln m).

**Symmetries** (``symmetries``, a subset of ``eta_flip``, ``phi_rotation``):
:meth:`apply_symmetries` maps features of an event to those of a randomly transformed
event, per event: ``eta_flip`` (probability ½: η → −η for all objects, the mirror of the
event in the beam direction; valid only for symmetric beams and detectors such as pp
collisions) and ``phi_rotation`` (a global azimuthal rotation by a uniform angle). With
``eta_flip`` the quantile (or standard) maps of η (objects), y₁₂ (pair) and y_tt̄, cos θ*_tt̄
(ttbar_decays) are fitted on the mirrored sample as well, so the mirror is the sign flip of
those features (and of cos φ* of the helicity-frame decays); the rotation turns every
(cos φ, sin φ) pair (objects), (cos φ₁₂, sin φ₁₂) (pair) or (cos φ_tt̄, sin φ_tt̄). Both are linear
isometries of the feature space (differentiable, gradient norms unchanged).

For pT-ordered batches ``inverse(forward(x)) == x`` to float64 precision (to ~1e-9 relative
through the quantile maps). All fitted numbers are in :meth:`EventTransform.state_dict`
(plain tensors, numbers and strings), stored in checkpoints so generation inverts what
training used; a state without ``representation`` (older checkpoints) is "objects".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from hepgan.data import decay_chain
from hepgan.data.event_statistics import FIXED_MASS_RTOL, KNOT_PAD, RunningStats, SampleStats
from hepgan.data.interpolation import interp_linear
from hepgan.data.pair_kinematics import (
    PAIR_CONTINUOUS,
    pair_continuous,
    pair_features,
    pair_kinematics,
    pair_values,
    wrap_angle,
)
from hepgan.errors import ConfigError, TrainingError
from hepgan.io.events import EventBatch

MASS_MODES = ("auto", "fixed", "log")
CONTINUOUS_MODES = ("quantile", "standard")
QUANTILE_KNOTS = 1025
QUANTILE_EPS = 1e-12
PRESENCE_MODES = ("auto", "on", "off")
REPRESENTATIONS = ("objects", "pair", "ttbar_decays")
SYMMETRIES = ("eta_flip", "phi_rotation")
PAIR_FEATURES = (
    "log_mass_12",
    "log_pt_12",
    "y_12",
    "cos_phi_12",
    "sin_phi_12",
    "cos_theta_star",
    "cos_phi_star",
    "sin_phi_star",
)
PAIR_CHOICE_SEED = 0
"""Seed of the object choice for (θ*, φ*) when :meth:`EventTransform.forward` is given no generator."""
FIELD = "preprocessing.events"


class EventTransform:
    """Fit once on reference events, then ``forward`` for training and ``inverse`` for generation.

    Args:
        n_objects: object slots per event.
        mass_mode: "auto", "fixed" or "log" (see the module docstring).
        mass_epsilon_gev: ε in ln(m + ε), in GeV.
        presence: "auto" (presence features when the fitted data have absent objects),
            "on" or "off" (every object must be present: fixed multiplicity).
        sort: re-order present objects by decreasing pT in :meth:`inverse`.
        continuous: "quantile" or "standard" map of the continuous quantities.
        representation: "objects" (per-object features), "pair" (two-body system) or "ttbar_decays"
            (the tt̄ decay chain of six truth-slot quarks).
        symmetries: any of "eta_flip", "phi_rotation" (see :meth:`apply_symmetries`).

    Raises:
        ConfigError: a bad option, "pair" with ``n_objects`` ≠ 2, ``presence="on"`` or
            ``mass_mode="log"``, or "ttbar_decays" with ``n_objects`` ≠ 6, ``presence="on"`` or
            ``sort=True`` (one line naming the field).
    """

    def __init__(
        self,
        n_objects: int,
        mass_mode: str = "auto",
        mass_epsilon_gev: float = 1e-3,
        presence: str = "auto",
        sort: bool = True,
        continuous: str = "quantile",
        representation: str = "objects",
        symmetries: Sequence[str] = (),
    ) -> None:
        if continuous not in CONTINUOUS_MODES:
            raise ConfigError(f"{FIELD}.continuous: expected one of {', '.join(CONTINUOUS_MODES)}, got {continuous!r}")
        self.continuous = continuous
        if int(n_objects) < 1:
            raise ConfigError(f"n_objects: expected an integer >= 1, got {n_objects}")
        if mass_mode not in MASS_MODES:
            raise ConfigError(f"{FIELD}.mass_mode: expected one of {', '.join(MASS_MODES)}, got {mass_mode!r}")
        if presence not in PRESENCE_MODES:
            quote = " (YAML reads a bare on/off as true/false: quote it)" if isinstance(presence, bool) else ""
            raise ConfigError(f"{FIELD}.presence: expected one of {', '.join(PRESENCE_MODES)}, got {presence!r}{quote}")
        if not mass_epsilon_gev > 0:
            raise ConfigError(f"{FIELD}.mass_epsilon_gev: expected a number > 0 (GeV), got {mass_epsilon_gev}")
        self.representation = check_representation(representation)
        self.symmetries = check_symmetries(symmetries)
        if self.representation == "pair":
            if int(n_objects) != 2:
                raise ConfigError(
                    f"{FIELD}.representation: 'pair' needs exactly 2 objects per event, got {int(n_objects)} "
                    f"(use 'objects')"
                )
            if presence == "on":
                raise ConfigError(
                    f"{FIELD}.representation: 'pair' needs both objects in every event, "
                    f"so presence must be 'auto' or 'off', got 'on'"
                )
            if mass_mode == "log":
                raise ConfigError(
                    f"{FIELD}.representation: 'pair' needs one fixed object mass (mass_mode auto or fixed), got 'log'"
                )
        if self.representation == "ttbar_decays":
            _check_decay_options(int(n_objects), presence, sort)
        self.n_objects = int(n_objects)
        self.mass_mode = mass_mode
        self.mass_epsilon_gev = float(mass_epsilon_gev)
        self.presence = presence
        self.sort = bool(sort)
        self.with_presence = presence == "on"
        n = self.n_objects
        self.log_pt_mean = torch.zeros(n, dtype=torch.float64)
        self.log_pt_std = torch.ones(n, dtype=torch.float64)
        self.eta_mean = torch.zeros(n, dtype=torch.float64)
        self.eta_std = torch.ones(n, dtype=torch.float64)
        self.log_mass_mean = torch.zeros(n, dtype=torch.float64)
        self.log_mass_std = torch.ones(n, dtype=torch.float64)
        self.fixed_mass = torch.zeros(n, dtype=torch.float64)
        self.quantile_levels = torch.linspace(0.0, 1.0, QUANTILE_KNOTS, dtype=torch.float64)
        self.log_pt_knots = torch.zeros(n, QUANTILE_KNOTS, dtype=torch.float64)
        self.eta_knots = torch.zeros(n, QUANTILE_KNOTS, dtype=torch.float64)
        for name in self.extra_quantities:  # one "slot" each
            setattr(self, f"{name}_mean", torch.zeros(1, dtype=torch.float64))
            setattr(self, f"{name}_std", torch.ones(1, dtype=torch.float64))
            setattr(self, f"{name}_knots", torch.zeros(1, QUANTILE_KNOTS, dtype=torch.float64))
        self.fitted = False

    # ------------------------------------------------------------------ layout
    @property
    def features_per_object(self) -> int:
        """ln pT, η, cos φ, sin φ, and ln m unless the mass is fixed ("objects" layout)."""
        return 5 if self.mass_mode == "log" else 4

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        if self.representation != "objects":
            return len(self.feature_names())
        return self.n_objects * self.features_per_object + (self.n_objects if self.with_presence else 0)

    def feature_names(self) -> list[str]:
        """One name per feature column, e.g. ``log_pt_1``, ``cos_phi_1``, ``present_2``, or :data:`PAIR_FEATURES`."""
        if self.representation != "objects":
            return list(PAIR_FEATURES if self.representation == "pair" else decay_chain.DECAY_FEATURES)
        per_object = ["log_pt", "eta", "cos_phi", "sin_phi"] + (["log_mass"] if self.mass_mode == "log" else [])
        names = [f"{name}_{i}" for i in range(1, self.n_objects + 1) for name in per_object]
        return names + ([f"present_{i}" for i in range(1, self.n_objects + 1)] if self.with_presence else [])

    @property
    def extra_quantities(self) -> tuple[str, ...]:
        """The mapped quantities of the "pair" or "ttbar_decays" representation (one slot each)."""
        return {"pair": PAIR_CONTINUOUS, "ttbar_decays": decay_chain.DECAY_CONTINUOUS}.get(self.representation, ())

    @property
    def object_mass(self) -> float:
        """The one object mass (GeV) of the "pair" representation."""
        return float(self.fixed_mass[0])

    # ------------------------------------------------------------------ fitting
    def fit(self, chunks: Iterable[EventBatch]) -> EventTransform:
        """Fit means, widths and the mass mode on batches of events, in one streaming pass.

        Raises:
            TrainingError: fewer than 2 events, or absent objects with ``presence="off"``.
            ConfigError: "pair" with events that miss an object or with varying object masses.
            ValueError: a batch has another ``n_objects``.
        """
        eta_flip = "eta_flip" in self.symmetries
        stats = RunningStats(self.n_objects)
        extra = SampleStats(self.extra_quantities) if self.extra_quantities else None
        n_missing = 0
        for batch in chunks:
            if batch.n_objects != self.n_objects:
                raise ValueError(f"batch has {batch.n_objects} objects per event, transform expects {self.n_objects}")
            stats.add(batch, self.mass_epsilon_gev)
            if extra is not None:
                n_missing += int((~batch.mask.all(axis=1)).sum())
                if n_missing == 0 and len(batch):
                    extra.add({name: v.numpy() for name, v in self._extra_quantities_of(batch).items()})
        if stats.n_events < 2:
            raise TrainingError("event preprocessing needs at least 2 reference events to fit")
        if n_missing:
            raise ConfigError(
                f"{FIELD}.representation: '{self.representation}' needs "
                f"{'both' if self.representation == 'pair' else 'all six'} objects in every event, but {n_missing} "
                f"of the reference events miss one (use 'objects', which adds presence features)"
            )
        if stats.any_absent and self.presence == "off":
            raise TrainingError("reference events have absent objects but presence='off' (fixed multiplicity)")
        self.with_presence = self.presence == "on" or (self.presence == "auto" and stats.any_absent)
        self.log_pt_mean, self.log_pt_std = stats.mean_std("log_pt")
        self.eta_mean, self.eta_std = stats.mean_std("eta")
        if eta_flip:
            self.eta_mean = torch.zeros_like(self.eta_mean)
        if self.continuous == "quantile":
            self.log_pt_knots = stats.knots("log_pt", self.quantile_levels.numpy())
            self.eta_knots = stats.knots("eta", self.quantile_levels.numpy(), symmetric=eta_flip)
        self.log_mass_mean, self.log_mass_std = stats.mean_std("log_mass")
        self.fixed_mass = torch.from_numpy(stats.slot_mass())
        if self.mass_mode == "auto":
            self.mass_mode = "fixed" if stats.masses_fixed() else "log"
        if extra is not None:
            self._fit_extra(stats, extra, eta_flip)
        self.fitted = True
        return self

    def _extra_quantities_of(self, batch: EventBatch) -> dict[str, torch.Tensor]:
        """The representation's mapped quantities of a complete batch (decay angles of the first object/daughter)."""
        if self.representation == "pair":
            mass = float(batch.mass.mean())  # the fixed mass is known after the pass; equal to 1e-6
            return pair_continuous(pair_kinematics(batch, mass))
        quantities = decay_chain.decay_quantities(batch)
        return {name: quantities[name] for name in self.extra_quantities}

    def _fit_extra(self, stats: RunningStats, extra: SampleStats, eta_flip: bool) -> None:
        """Masses checked and the mapped quantities of "pair" or "ttbar_decays" fitted."""
        masses = stats.slot_mass()
        if self.representation == "ttbar_decays":
            b = list(decay_chain.B_SLOTS)
            if not np.allclose(stats.mass_min[b], stats.mass_max[b], rtol=FIXED_MASS_RTOL, atol=0.0):
                raise ConfigError(
                    f"{FIELD}.representation: 'ttbar_decays' needs one fixed b-quark mass in slots 1 and 4, but "
                    f"they range over {stats.mass_min[b].min():.6g} to {stats.mass_max[b].max():.6g} GeV"
                )
            symmetric_names = decay_chain.symmetric_quantities(eta_flip)
        else:
            if self.mass_mode != "fixed" or not np.isclose(masses[0], masses[1], rtol=FIXED_MASS_RTOL, atol=0.0):
                raise ConfigError(
                    f"{FIELD}.representation: 'pair' needs one fixed object mass, but the reference masses vary "
                    f"({masses.min():.6g} to {masses.max():.6g} GeV per slot on average; use 'objects')"
                )
            mass = float(np.average(masses, weights=np.maximum(stats.count, 1.0)))
            self.fixed_mass = torch.full((2,), mass, dtype=torch.float64)
            symmetric_names = {"cos_theta"} | ({"pair_y"} if eta_flip else set())  # cos θ*: random object choice
        levels = self.quantile_levels.numpy()
        for name in self.extra_quantities:
            symmetric = name in symmetric_names
            mean, std = extra.mean_std(name)
            if symmetric:  # centred at 0: the width about 0, √E[x²], so the feature has unit width
                mean, std = torch.zeros(1, dtype=torch.float64), torch.sqrt(std**2 + mean**2)
            setattr(self, f"{name}_mean", mean)
            setattr(self, f"{name}_std", std)
            if self.continuous == "quantile":
                setattr(self, f"{name}_knots", extra.knots(name, levels, symmetric, KNOT_PAD))

    # ------------------------------------------------------------ conversions
    def forward(self, batch: EventBatch, generator: np.random.Generator | None = None) -> torch.Tensor:
        """Features (N, n_features), float64, from a pT-ordered batch in GeV.

        ``generator`` draws which object defines the decay angles ("pair"; the W daughter in
        "ttbar_decays"); without one, a generator seeded with :data:`PAIR_CHOICE_SEED` (the
        same features for the same batch).

        Raises:
            ValueError: another ``n_objects``, or absent objects without presence features.
        """
        if batch.n_objects != self.n_objects:
            raise ValueError(f"batch has {batch.n_objects} objects per event, transform expects {self.n_objects}")
        if self.representation == "pair":
            return self._forward_pair(batch, generator)
        if self.representation == "ttbar_decays":
            if not bool(batch.mask.all()):
                raise ValueError("batch has absent objects but representation 'ttbar_decays' needs all six quarks")
            rng = generator if generator is not None else np.random.default_rng(PAIR_CHOICE_SEED)
            return decay_chain.decay_features(self, batch, rng.random((len(batch), 2)) < 0.5)
        mask = torch.from_numpy(batch.mask)
        if not self.with_presence and not bool(mask.all()):
            raise ValueError("batch has absent objects but the transform has no presence features")
        safe_pt = torch.from_numpy(np.where(batch.mask, batch.pt, 1.0))
        phi = torch.from_numpy(batch.phi)
        columns = [
            self.to_feature("log_pt", torch.log(safe_pt)),
            self.to_feature("eta", torch.from_numpy(batch.eta)),
            torch.cos(phi),
            torch.sin(phi),
        ]
        if self.mass_mode == "log":
            log_mass = torch.log(torch.from_numpy(np.maximum(batch.mass, 0.0)) + self.mass_epsilon_gev)
            columns.append((log_mass - self.log_mass_mean) / self.log_mass_std)
        per_object = torch.stack(columns, dim=2) * mask.unsqueeze(2)  # (N, n, f); absent objects all 0
        features = [per_object.reshape(len(batch), -1)]
        if self.with_presence:
            features.append(mask.to(torch.float64) * 2.0 - 1.0)
        return torch.cat(features, dim=1)

    def _forward_pair(self, batch: EventBatch, generator: np.random.Generator | None) -> torch.Tensor:
        if not bool(batch.mask.all()):
            raise ValueError("batch has absent objects but representation 'pair' needs both objects in every event")
        rng = generator if generator is not None else np.random.default_rng(PAIR_CHOICE_SEED)
        second = rng.random(len(batch)) < 0.5
        return pair_features(self, batch, second)

    def inverse(self, features: torch.Tensor) -> EventBatch:
        """A pT-ordered batch in GeV (φ in (−π, π], pT > 0 for present objects) from features (N, n_features)."""
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"features must have shape (N, {self.n_features}), got {tuple(features.shape)}")
        feats = features.detach().to("cpu", torch.float64)
        if self.representation == "pair":
            return self._inverse_pair(feats)
        if self.representation == "ttbar_decays":
            mask = torch.ones(len(feats), self.n_objects, dtype=torch.bool)
            return _event_batch(decay_chain.decay_values(self, feats), mask)
        n, k = len(feats), self.n_objects
        per_object = feats[:, : k * self.features_per_object].reshape(n, k, self.features_per_object)
        if self.with_presence:
            mask = feats[:, k * self.features_per_object :] > 0
        else:
            mask = torch.ones(n, k, dtype=torch.bool)
        pt = torch.exp(self.from_feature("log_pt", per_object[..., 0]))
        eta = self.from_feature("eta", per_object[..., 1])
        phi = wrap_angle(torch.atan2(per_object[..., 3], per_object[..., 2]))
        if self.mass_mode == "log":
            log_mass = per_object[..., 4] * self.log_mass_std + self.log_mass_mean
            mass = torch.clamp(torch.exp(log_mass) - self.mass_epsilon_gev, min=0.0)
        else:
            mass = self.fixed_mass.expand(n, k).clone()
        values = [torch.where(mask, v, torch.zeros_like(v)) for v in (pt, eta, phi, mass)]
        if self.sort:
            values, mask = _sort_by_pt(values, mask)
        return _event_batch(values, mask)

    def _inverse_pair(self, feats: torch.Tensor) -> EventBatch:
        values, mask = pair_values(self, feats), torch.ones(len(feats), 2, dtype=torch.bool)
        if self.sort:
            values, mask = _sort_by_pt(values, mask)
        return _event_batch(values, mask)

    def to_feature(self, name: str, values: torch.Tensor, slot: int | None = None) -> torch.Tensor:
        """Feature of a continuous quantity: (N, n_objects), or (N,) for one ``slot``.

        ``name``: ``log_pt`` or ``eta`` (per object), or one of :attr:`extra_quantities`
        (slot 0). "standard": (x − mean) / std. "quantile": Φ⁻¹(F(x)) with F the
        reference's empirical CDF (piecewise linear between 1025 quantiles), so the feature
        is standard normal whatever the shape of x (flat-topped η, steep pT spectra): what
        a generator with Gaussian noise learns most easily. Differentiable; in ``values``'
        dtype and device.
        """
        if slot is None:
            return torch.stack([self.to_feature(name, values[:, j], j) for j in range(values.shape[1])], dim=1)
        if self.continuous == "standard":
            mean, std = getattr(self, f"{name}_mean")[slot], getattr(self, f"{name}_std")[slot]
            return (values - _like(mean, values)) / _like(std, values)
        knots = _like(getattr(self, f"{name}_knots")[slot], values)
        u = interp_linear(values, knots, _like(self.quantile_levels, values))
        return torch.special.ndtri(torch.clamp(u, QUANTILE_EPS, 1.0 - QUANTILE_EPS))

    def from_feature(self, name: str, features: torch.Tensor, slot: int | None = None) -> torch.Tensor:
        """Inverse of :meth:`to_feature`; quantile mode maps any feature into the reference's range."""
        if slot is None:
            return torch.stack([self.from_feature(name, features[:, j], j) for j in range(features.shape[1])], dim=1)
        if self.continuous == "standard":
            mean, std = getattr(self, f"{name}_mean")[slot], getattr(self, f"{name}_std")[slot]
            return features * _like(std, features) + _like(mean, features)
        knots = _like(getattr(self, f"{name}_knots")[slot], features)
        return interp_linear(torch.special.ndtr(features), _like(self.quantile_levels, features), knots)

    def pair_mass(self, features: torch.Tensor) -> torch.Tensor:
        """m₁₂ (N,) in GeV straight from the ``log_mass_12`` feature ("pair" only); differentiable."""
        if self.representation != "pair":
            raise ValueError("pair_mass needs representation 'pair'")
        return torch.exp(self.from_feature("pair_log_mass", features[:, 0], 0))

    def resonance_masses(self, features: torch.Tensor) -> torch.Tensor:
        """m_W1, m_t1, m_W2, m_t2 (N, 4) in GeV straight from their features ("ttbar_decays" only); differentiable."""
        if self.representation != "ttbar_decays":
            raise ValueError("resonance_masses needs representation 'ttbar_decays'")
        return decay_chain.resonance_masses(self, features)

    # ------------------------------------------------------------ symmetries
    def apply_symmetries(self, features: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Features of randomly transformed events: an independent draw of every symmetry per event.

        ``eta_flip``: with probability ½ the event's mirror η → −η (the columns of
        :meth:`eta_odd_columns` change sign: η of all objects; y₁₂ and cos θ*; or y_tt̄, cos θ*_tt̄
        and cos φ* of the top and W decays); ``phi_rotation``: every lab azimuth turned by one
        uniform angle in [−π, π) (each (cos, sin) pair of the objects, or (cos φ₁₂, sin φ₁₂), or
        (cos φ_tt̄, sin φ_tt̄)).
        Random numbers come from ``generator`` (on its device) or, without one, from torch's
        global CPU generator. Differentiable; ``features`` unchanged when no symmetry is set.
        """
        if not self.symmetries or len(features) == 0:
            return features
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"features must have shape (N, {self.n_features}), got {tuple(features.shape)}")
        device = generator.device if generator is not None else torch.device("cpu")
        n = len(features)
        columns = list(features.unbind(dim=1))
        if "eta_flip" in self.symmetries:
            flip = torch.rand(n, generator=generator, device=device).to(features.device) < 0.5
            for j in self.eta_odd_columns():
                columns[j] = torch.where(flip, -columns[j], columns[j])
        if "phi_rotation" in self.symmetries:
            angle = (2.0 * torch.rand(n, generator=generator, device=device, dtype=torch.float64) - 1.0) * torch.pi
            cos_a, sin_a = (f(angle).to(features.device, features.dtype) for f in (torch.cos, torch.sin))
            for jc, js in self._azimuth_columns():
                c, s = columns[jc], columns[js]
                columns[jc], columns[js] = c * cos_a - s * sin_a, c * sin_a + s * cos_a
        return torch.stack(columns, dim=1)

    def eta_odd_columns(self) -> list[int]:
        """Feature columns that change sign under η → −η."""
        if self.representation == "pair":
            return [PAIR_FEATURES.index("y_12"), PAIR_FEATURES.index("cos_theta_star")]
        if self.representation == "ttbar_decays":
            return list(decay_chain.ETA_ODD)
        return [i * self.features_per_object + 1 for i in range(self.n_objects)]

    def _azimuth_columns(self) -> list[tuple[int, int]]:
        """(cos, sin) column pairs of the lab azimuths (turned by a global rotation)."""
        if self.representation == "pair":
            return [(PAIR_FEATURES.index("cos_phi_12"), PAIR_FEATURES.index("sin_phi_12"))]
        if self.representation == "ttbar_decays":
            return list(decay_chain.AZIMUTH)
        k = self.features_per_object
        return [(i * k + 2, i * k + 3) for i in range(self.n_objects)]

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor | int | float | str | bool | list[str]]:
        """Plain tensors, numbers and strings, loadable with ``torch.load(weights_only=True)``."""
        state: dict[str, torch.Tensor | int | float | str | bool | list[str]] = {
            "n_objects": self.n_objects,
            "mass_mode": self.mass_mode,
            "mass_epsilon_gev": self.mass_epsilon_gev,
            "presence": self.presence,
            "with_presence": self.with_presence,
            "sort": self.sort,
            "log_pt_mean": self.log_pt_mean,
            "log_pt_std": self.log_pt_std,
            "eta_mean": self.eta_mean,
            "eta_std": self.eta_std,
            "log_mass_mean": self.log_mass_mean,
            "log_mass_std": self.log_mass_std,
            "fixed_mass": self.fixed_mass,
            "continuous": self.continuous,
            "log_pt_knots": self.log_pt_knots,
            "eta_knots": self.eta_knots,
            "representation": self.representation,
            "symmetries": list(self.symmetries),
        }
        for name in self.extra_quantities:
            for suffix in ("mean", "std", "knots"):
                state[f"{name}_{suffix}"] = getattr(self, f"{name}_{suffix}")
        return state

    @classmethod
    def from_state_dict(cls, state: dict) -> EventTransform:
        """Rebuild a fitted transform from :meth:`state_dict` output (older states: "objects", no symmetries)."""
        transform = cls(
            int(state["n_objects"]),
            str(state["mass_mode"]),
            float(state["mass_epsilon_gev"]),
            str(state["presence"]),
            bool(state["sort"]),
            str(state.get("continuous", "standard")),
            str(state.get("representation", "objects")),
            [str(s) for s in state.get("symmetries", [])],
        )
        transform.with_presence = bool(state["with_presence"])
        keys = ["log_pt_mean", "log_pt_std", "eta_mean", "eta_std", "log_mass_mean", "log_mass_std", "fixed_mass"]
        if transform.continuous == "quantile":
            keys += ["log_pt_knots", "eta_knots"]
        keys += [f"{name}_{suffix}" for name in transform.extra_quantities for suffix in ("mean", "std")]
        if transform.continuous == "quantile":
            keys += [f"{name}_knots" for name in transform.extra_quantities]
        for key in keys:
            setattr(transform, key, torch.as_tensor(state[key], dtype=torch.float64))
        transform.fitted = True
        return transform


def check_representation(value: object) -> str:
    """``value`` if it is a known representation, else ConfigError naming ``preprocessing.events.representation``."""
    if value not in REPRESENTATIONS:
        raise ConfigError(f"{FIELD}.representation: expected one of {', '.join(REPRESENTATIONS)}, got {value!r}")
    return str(value)


def _check_decay_options(n_objects: int, presence: str, sort: bool) -> None:
    """ConfigError unless "ttbar_decays" gets six truth slots, all present, kept in slot order."""
    if n_objects != decay_chain.TTBAR_DECAY_OBJECTS:
        raise ConfigError(
            f"{FIELD}.representation: 'ttbar_decays' needs the six decay quarks of a tt~ pair (objects: top_decays), "
            f"got n_objects {n_objects}"
        )
    if presence == "on" or sort:
        raise ConfigError(
            f"{FIELD}.representation: 'ttbar_decays' keeps all six quarks in their truth slots, so presence must be "
            f"'auto' or 'off' and sort false (got presence {presence!r}, sort {sort})"
        )


def check_symmetries(value: object) -> tuple[str, ...]:
    """``value`` as a tuple of distinct known symmetries, else ConfigError naming ``{FIELD}.symmetries``."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{FIELD}.symmetries: expected a list of {', '.join(SYMMETRIES)}, got {value!r}")
    for item in value:
        if item not in SYMMETRIES:
            raise ConfigError(f"{FIELD}.symmetries: expected a list of {', '.join(SYMMETRIES)}, got {item!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{FIELD}.symmetries: each symmetry at most once, got {list(value)}")
    return tuple(str(item) for item in value)


def _like(value: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return value.to(device=other.device, dtype=other.dtype)


def _sort_by_pt(values: list[torch.Tensor], mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Present objects first, in decreasing pT (stable)."""
    key = torch.where(mask, values[0], torch.full_like(values[0], -1.0))
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    return [torch.gather(v, 1, order) for v in values], torch.gather(mask, 1, order)


def _event_batch(values: list[torch.Tensor], mask: torch.Tensor) -> EventBatch:
    """An EventBatch from the (pt, eta, phi, mass) tensors and the object mask, all (N, n_objects)."""
    pt, eta, phi, mass = (v.numpy() for v in values)
    return EventBatch(pt, eta, phi, mass, mask.numpy())
