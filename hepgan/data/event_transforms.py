"""Invertible preprocessing between event kinematics (GeV) and the features an event GAN sees.

Each of the ``n_objects`` object slots (pT-ordered, as :class:`hepgan.io.events.EventBatch`
holds them) becomes

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
presence features (if any). For pT-ordered batches ``inverse(forward(x)) == x`` to float64
precision. All fitted numbers are in :meth:`EventTransform.state_dict` (plain tensors,
numbers and strings), stored in checkpoints so generation inverts what training used.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from hepgan.data.transforms import interp_linear
from hepgan.errors import ConfigError, TrainingError
from hepgan.io.events import EventBatch

MASS_MODES = ("auto", "fixed", "log")
CONTINUOUS_MODES = ("quantile", "standard")
QUANTILE_KNOTS = 1025
QUANTILE_SAMPLE = 1_000_000  # values per slot used to place the quantile knots
QUANTILE_EPS = 1e-12
PRESENCE_MODES = ("auto", "on", "off")
FIXED_MASS_RTOL = 1e-6
"""Masses of one slot equal to this relative tolerance count as one fixed mass."""


class EventTransform:
    """Fit once on reference events, then ``forward`` for training and ``inverse`` for generation.

    Args:
        n_objects: object slots per event.
        mass_mode: "auto", "fixed" or "log" (see the module docstring).
        mass_epsilon_gev: ε in ln(m + ε), in GeV.
        presence: "auto" (presence features when the fitted data have absent objects),
            "on" or "off" (every object must be present: fixed multiplicity).
        sort: re-order present objects by decreasing pT in :meth:`inverse`.
    """

    def __init__(
        self,
        n_objects: int,
        mass_mode: str = "auto",
        mass_epsilon_gev: float = 1e-3,
        presence: str = "auto",
        sort: bool = True,
        continuous: str = "quantile",
    ) -> None:
        if continuous not in CONTINUOUS_MODES:
            raise ConfigError(f"continuous: expected one of {', '.join(CONTINUOUS_MODES)}, got {continuous!r}")
        self.continuous = continuous
        if int(n_objects) < 1:
            raise ConfigError(f"n_objects: expected an integer >= 1, got {n_objects}")
        if mass_mode not in MASS_MODES:
            raise ConfigError(f"mass_mode: expected one of {', '.join(MASS_MODES)}, got {mass_mode!r}")
        if presence not in PRESENCE_MODES:
            raise ConfigError(f"presence: expected one of {', '.join(PRESENCE_MODES)}, got {presence!r}")
        if not mass_epsilon_gev > 0:
            raise ConfigError(f"mass_epsilon_gev: expected a number > 0 (GeV), got {mass_epsilon_gev}")
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
        self.fitted = False

    # ------------------------------------------------------------------ layout
    @property
    def features_per_object(self) -> int:
        """ln pT, η, cos φ, sin φ, and ln m unless the mass is fixed."""
        return 5 if self.mass_mode == "log" else 4

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        return self.n_objects * self.features_per_object + (self.n_objects if self.with_presence else 0)

    def feature_names(self) -> list[str]:
        """One name per feature column, e.g. ``log_pt_1``, ``cos_phi_1``, ``present_2``."""
        per_object = ["log_pt", "eta", "cos_phi", "sin_phi"] + (["log_mass"] if self.mass_mode == "log" else [])
        names = [f"{name}_{i}" for i in range(1, self.n_objects + 1) for name in per_object]
        return names + ([f"present_{i}" for i in range(1, self.n_objects + 1)] if self.with_presence else [])

    # ------------------------------------------------------------------ fitting
    def fit(self, chunks: Iterable[EventBatch]) -> EventTransform:
        """Fit means, widths and the mass mode on batches of events, in one streaming pass.

        Raises:
            TrainingError: fewer than 2 events, or absent objects with ``presence="off"``.
            ValueError: a batch has another ``n_objects``.
        """
        stats = _RunningStats(self.n_objects)
        for batch in chunks:
            if batch.n_objects != self.n_objects:
                raise ValueError(f"batch has {batch.n_objects} objects per event, transform expects {self.n_objects}")
            stats.add(batch, self.mass_epsilon_gev)
        if stats.n_events < 2:
            raise TrainingError("event preprocessing needs at least 2 reference events to fit")
        if stats.any_absent and self.presence == "off":
            raise TrainingError("reference events have absent objects but presence='off' (fixed multiplicity)")
        self.with_presence = self.presence == "on" or (self.presence == "auto" and stats.any_absent)
        self.log_pt_mean, self.log_pt_std = stats.mean_std("log_pt")
        self.eta_mean, self.eta_std = stats.mean_std("eta")
        if self.continuous == "quantile":
            self.log_pt_knots = stats.knots("log_pt", self.quantile_levels.numpy())
            self.eta_knots = stats.knots("eta", self.quantile_levels.numpy())
        self.log_mass_mean, self.log_mass_std = stats.mean_std("log_mass")
        self.fixed_mass = torch.from_numpy(stats.slot_mass())
        if self.mass_mode == "auto":
            self.mass_mode = "fixed" if stats.masses_fixed() else "log"
        self.fitted = True
        return self

    # ------------------------------------------------------------ conversions
    def forward(self, batch: EventBatch) -> torch.Tensor:
        """Features (N, n_features), float64, from a pT-ordered batch in GeV.

        Raises:
            ValueError: another ``n_objects``, or absent objects without presence features.
        """
        if batch.n_objects != self.n_objects:
            raise ValueError(f"batch has {batch.n_objects} objects per event, transform expects {self.n_objects}")
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

    def inverse(self, features: torch.Tensor) -> EventBatch:
        """A pT-ordered batch in GeV (φ in (−π, π], pT > 0 for present objects) from features (N, n_features)."""
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"features must have shape (N, {self.n_features}), got {tuple(features.shape)}")
        feats = features.detach().to("cpu", torch.float64)
        n, k = len(feats), self.n_objects
        per_object = feats[:, : k * self.features_per_object].reshape(n, k, self.features_per_object)
        if self.with_presence:
            mask = feats[:, k * self.features_per_object :] > 0
        else:
            mask = torch.ones(n, k, dtype=torch.bool)
        pt = torch.exp(self.from_feature("log_pt", per_object[..., 0]))
        eta = self.from_feature("eta", per_object[..., 1])
        phi = _wrap_angle(torch.atan2(per_object[..., 3], per_object[..., 2]))
        if self.mass_mode == "log":
            log_mass = per_object[..., 4] * self.log_mass_std + self.log_mass_mean
            mass = torch.clamp(torch.exp(log_mass) - self.mass_epsilon_gev, min=0.0)
        else:
            mass = self.fixed_mass.expand(n, k).clone()
        values = [torch.where(mask, v, torch.zeros_like(v)) for v in (pt, eta, phi, mass)]
        if self.sort:
            values, mask = _sort_by_pt(values, mask)
        return EventBatch(*(v.numpy() for v in values), mask.numpy())

    def to_feature(self, name: str, values: torch.Tensor, slot: int | None = None) -> torch.Tensor:
        """Feature of a continuous quantity (``log_pt`` or ``eta``): (N, n_objects), or (N,) for one ``slot``.

        "standard": (x − mean) / std. "quantile": Φ⁻¹(F(x)) with F the reference's empirical
        CDF (piecewise linear between 1025 quantiles), so the feature is standard normal
        whatever the shape of x (flat-topped η, steep pT spectra): what a generator with
        Gaussian noise learns most easily. Differentiable; in ``values``' dtype and device.
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

    # ------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor | int | float | str | bool]:
        """Plain tensors, numbers and strings, loadable with ``torch.load(weights_only=True)``."""
        return {
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
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> EventTransform:
        """Rebuild a fitted transform from :meth:`state_dict` output."""
        transform = cls(
            int(state["n_objects"]),
            str(state["mass_mode"]),
            float(state["mass_epsilon_gev"]),
            str(state["presence"]),
            bool(state["sort"]),
            str(state.get("continuous", "standard")),
        )
        transform.with_presence = bool(state["with_presence"])
        keys = ["log_pt_mean", "log_pt_std", "eta_mean", "eta_std", "log_mass_mean", "log_mass_std", "fixed_mass"]
        if transform.continuous == "quantile":
            keys += ["log_pt_knots", "eta_knots"]
        for key in keys:
            setattr(transform, key, torch.as_tensor(state[key], dtype=torch.float64))
        transform.fitted = True
        return transform


class _RunningStats:
    """Per-slot sums over present objects for means and widths, and the mass range."""

    def __init__(self, n_objects: int) -> None:
        self.n_events = 0
        self.any_absent = False
        self.count = np.zeros(n_objects)
        self.sums = {key: np.zeros(n_objects) for key in ("log_pt", "eta", "log_mass", "mass")}
        self.squares = {key: np.zeros(n_objects) for key in ("log_pt", "eta", "log_mass")}
        self.mass_min = np.full(n_objects, np.inf)
        self.mass_max = np.full(n_objects, -np.inf)
        self.samples: dict[str, list[list[np.ndarray]]] = {
            key: [[] for _ in range(n_objects)] for key in ("log_pt", "eta")
        }
        self.sampled = np.zeros(n_objects, dtype=np.int64)

    def add(self, batch: EventBatch, mass_epsilon_gev: float) -> None:
        mask = batch.mask
        mass = np.maximum(batch.mass, 0.0)
        values = {
            "log_pt": np.log(np.where(mask, batch.pt, 1.0)),
            "eta": batch.eta,
            "log_mass": np.log(mass + mass_epsilon_gev),
            "mass": mass,
        }
        self.n_events += len(batch)
        self.any_absent = self.any_absent or not bool(mask.all())
        self.count += mask.sum(axis=0)
        for key, value in values.items():
            present = np.where(mask, value, 0.0)
            self.sums[key] += present.sum(axis=0)
            if key in self.squares:
                self.squares[key] += (present * present).sum(axis=0)
        for j in range(mask.shape[1]):  # the first QUANTILE_SAMPLE present values of each slot
            room = QUANTILE_SAMPLE - int(self.sampled[j])
            if room > 0:
                for key in ("log_pt", "eta"):
                    self.samples[key][j].append(values[key][mask[:, j], j][:room])
                self.sampled[j] += min(room, int(mask[:, j].sum()))
        self.mass_min = np.minimum(self.mass_min, np.where(mask, mass, np.inf).min(axis=0, initial=np.inf))
        self.mass_max = np.maximum(self.mass_max, np.where(mask, mass, -np.inf).max(axis=0, initial=-np.inf))

    def mean_std(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-slot mean and standard deviation (0 and 1 for slots never present; width >= 1e-6)."""
        n = np.maximum(self.count, 1.0)
        mean = self.sums[key] / n
        var = np.maximum(self.squares[key] / n - mean**2, 0.0)
        std = np.where(var > 1e-12, np.sqrt(var), 1.0)
        return torch.from_numpy(np.where(self.count > 0, mean, 0.0)), torch.from_numpy(std)

    def knots(self, key: str, levels: np.ndarray) -> torch.Tensor:
        """(n_objects, len(levels)) strictly increasing quantiles of ``key`` per slot (0..1 for empty slots)."""
        rows = []
        for parts in self.samples[key]:
            values = np.concatenate(parts) if parts else np.zeros(0)
            q = np.quantile(values, levels) if values.size else levels.copy()
            span = max(float(q[-1] - q[0]), 1.0)
            rows.append(q + np.arange(len(q)) * 1e-12 * span)  # ties (discrete values) made strictly increasing
        return torch.from_numpy(np.array(rows))

    def slot_mass(self) -> np.ndarray:
        """Per-slot mass in GeV: the one value where all agree (exactly as read), else the mean; 0 if never present."""
        mean = self.sums["mass"] / np.maximum(self.count, 1.0)
        return np.where(self.count > 0, np.where(self._fixed_slots(), self.mass_min, mean), 0.0)

    def _fixed_slots(self) -> np.ndarray:
        spread = np.where(self.count > 0, self.mass_max - self.mass_min, 0.0)
        scale = np.where(self.count > 0, np.maximum(np.abs(self.mass_max), 1e-12), 1.0)
        return spread <= FIXED_MASS_RTOL * scale

    def masses_fixed(self) -> bool:
        """Whether every slot's present masses agree to ``FIXED_MASS_RTOL``."""
        return bool(np.all(self._fixed_slots()))


def _like(value: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return value.to(device=other.device, dtype=other.dtype)


def _wrap_angle(phi: torch.Tensor) -> torch.Tensor:
    """atan2 output in [−π, π] mapped into (−π, π] (−π becomes π)."""
    return torch.where(phi <= -torch.pi, torch.full_like(phi, torch.pi), phi)


def _sort_by_pt(values: list[torch.Tensor], mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Present objects first, in decreasing pT (stable)."""
    key = torch.where(mask, values[0], torch.full_like(values[0], -1.0))
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    return [torch.gather(v, 1, order) for v in values], torch.gather(mask, 1, order)
