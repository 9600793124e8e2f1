"""Per-feature quantile calibration of generated events onto the training events.

``preprocessing.feature_calibration: true`` turns it on.

The event GAN can get the dependence between features right and still be off in a feature's
own distribution: a top-quark mass peak a few per cent too wide, a tt̄ rapidity slightly too
central. The calibration corrects each calibrated feature's marginal, as the cell calibration
does for calorimeter cells (:mod:`hepgan.data.calibration`): a generated value f becomes
F_ref⁻¹(F_gen(f)), with F_gen and F_ref the feature's cumulative distributions in generated
and training events. The map is monotone per feature, so the generator's ordering of events
in every feature, and with it the dependence between features (the copula), is kept.

Calibrated are the mapped continuous features of the representation (:func:`calibration_layout`:
ln m, ln pT, rapidities, cos θ*, ln pT and η of objects, ln m of quarks), not the azimuths
(cos φ, sin φ) nor presence features. A feature of an object that may be absent is fitted on
the events in which that object is present. Features that change sign under η → −η (with the
``eta_flip`` symmetry), and the decay angles of a daughter drawn at random per event (cos θ* of
"pair", of the W decays of "ttbar_decays"), get odd maps fitted on both signs, so the map
commutes with the mirror and with the choice of daughter. The two W daughters' masses share
one map fitted on both (either daughter may come first).

Each map is two tables of :data:`N_LEVELS` quantiles, the reference's (fitted once from the
training features) and the generated (refitted at every checkpoint from
:data:`GENERATED_EVENTS` generated events), read by linear interpolation; generated values
beyond the fitted range map onto the reference's extremes. The levels are evenly spaced in
the Gaussian quantile z (:data:`TAIL_Z`), not in the level itself: with levels 0, 1/1024, …, 1
the last 1/1024 of the generated events would be spread evenly between the reference's
0.999 quantile and its largest value, which puts far too many events at the end of a
Breit–Wigner tail. Memory: 2 × 2049 float64 per calibrated feature (33 kB each).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from hepgan.data import decay_chain
from hepgan.data.event_statistics import quantile_knots
from hepgan.data.event_transforms import EventTransform
from hepgan.data.interpolation import interp_linear

log = logging.getLogger(__name__)

N_LEVELS = 2049
"""Quantile levels per feature: 0, Φ(z) for z evenly spaced in [−TAIL_Z, TAIL_Z], and 1."""
TAIL_Z = 5.0
"""The outermost inner level is Φ(−5) = 2.9e-7: the levels are dense in the tails, so the few extreme events of a
long tail (a Breit–Wigner's) are mapped onto the reference's extremes, not spread evenly up to its largest value."""
GENERATED_EVENTS = 200_000
"""Generated events per refit of the generated quantiles."""


class FeatureCalibration:
    """Quantile maps of some feature columns; see the module docstring.

    Args:
        columns: the calibrated feature columns.
        presence: per calibrated column, the presence-feature column of its object (> 0:
            present), or −1 for features that every event has.
        partner: per calibrated column, another feature column whose values share its map
            (fitted on both), or −1.
        odd: per calibrated column, whether its map is odd (the feature flips sign under a
            symmetry of the generated sample).
        reference_quantiles: (len(columns), N_LEVELS) strictly increasing.
        generated_quantiles: the same for generated features, or None before the first fit.
    """

    def __init__(
        self,
        columns: Sequence[int],
        presence: Sequence[int],
        odd: Sequence[bool],
        partner: Sequence[int],
        reference_quantiles: torch.Tensor,
        generated_quantiles: torch.Tensor | None = None,
    ) -> None:
        self.columns = [int(c) for c in columns]
        self.presence = [int(p) for p in presence]
        self.odd = [bool(o) for o in odd]
        self.partner = [int(p) for p in partner]
        if not len(self.columns) == len(self.presence) == len(self.odd) == len(self.partner):
            raise ValueError("feature calibration: columns, presence, odd and partner must have the same length")
        self.reference_quantiles = torch.as_tensor(reference_quantiles, dtype=torch.float64)
        self.generated_quantiles = (
            None if generated_quantiles is None else torch.as_tensor(generated_quantiles, dtype=torch.float64)
        )
        inner = torch.special.ndtr(torch.linspace(-TAIL_Z, TAIL_Z, N_LEVELS - 2, dtype=torch.float64))
        self.levels = torch.cat([torch.zeros(1, dtype=torch.float64), inner, torch.ones(1, dtype=torch.float64)])

    @property
    def fitted(self) -> bool:
        return self.generated_quantiles is not None

    def _quantiles(self, features: torch.Tensor, fallback: torch.Tensor | None = None) -> torch.Tensor:
        """(len(columns), N_LEVELS) strictly increasing quantiles of ``features`` (N, n_features).

        A column with fewer than 2 values (an object the generator never makes) takes its
        ``fallback`` row (the reference's: an identity map) with a warning, or raises without one.
        """
        values = features.detach().to("cpu", torch.float64).numpy()
        levels = self.levels.numpy()
        tables = []
        for i, (column, presence, odd) in enumerate(zip(self.columns, self.presence, self.odd, strict=True)):
            rows = values[:, presence] > 0 if presence >= 0 else slice(None)
            x = values[rows][:, [column] + ([self.partner[i]] if self.partner[i] >= 0 else [])].reshape(-1)
            x = x[np.isfinite(x)]
            if x.size >= 2:
                tables.append(quantile_knots(x, levels, symmetric=odd))
            elif fallback is not None:
                log.warning("feature calibration: column %d has %d generated values: not mapped", column, x.size)
                tables.append(fallback[i].numpy())
            else:
                raise ValueError(f"feature calibration: fewer than 2 values of feature column {column}")
        return torch.from_numpy(np.stack(tables))

    @classmethod
    def from_reference(
        cls,
        features: torch.Tensor,
        columns: Sequence[int],
        presence: Sequence[int],
        odd: Sequence[bool],
        partner: Sequence[int] | None = None,
    ) -> FeatureCalibration:
        """The reference quantiles from training features (N, n_features); not yet :attr:`fitted`."""
        partner = [-1] * len(columns) if partner is None else partner
        calibration = cls(columns, presence, odd, partner, torch.zeros(len(columns), N_LEVELS))
        calibration.reference_quantiles = calibration._quantiles(features)
        return calibration

    def fit_generated(self, features: torch.Tensor) -> None:
        """The generated quantiles from generated features (N, n_features), symmetries applied."""
        self.generated_quantiles = self._quantiles(features, fallback=self.reference_quantiles)

    def apply(self, features: torch.Tensor) -> torch.Tensor:
        """Calibrated features: each calibrated column mapped through F_ref⁻¹(F_gen(·)); other columns unchanged.

        In ``features``' dtype and device; not differentiable (a generation step).
        """
        if self.generated_quantiles is None:
            raise RuntimeError("feature calibration: fit_generated has not been run")
        out = features.clone()
        levels = self.levels.to(features.device)
        for i, column in enumerate(self.columns):
            generated = self.generated_quantiles[i].to(features.device)
            reference = self.reference_quantiles[i].to(features.device)
            u = interp_linear(features[:, column].to(torch.float64), generated, levels)
            out[:, column] = interp_linear(u, levels, reference).to(features.dtype)
        return out

    def state_dict(self) -> dict[str, torch.Tensor | list[int] | list[bool]]:
        """Plain tensors and lists, loadable with ``torch.load(weights_only=True)``."""
        if self.generated_quantiles is None:
            raise RuntimeError("feature calibration: fit_generated has not been run")
        return {
            "columns": self.columns,
            "presence": self.presence,
            "odd": self.odd,
            "partner": self.partner,
            "reference_quantiles": self.reference_quantiles,
            "generated_quantiles": self.generated_quantiles,
        }

    @classmethod
    def from_state_dict(cls, state: dict, n_features: int) -> FeatureCalibration:
        """Rebuild a fitted calibration; ValueError (one line) if the tables do not fit ``n_features`` features."""
        columns = [int(c) for c in state["columns"]]
        tables = state["reference_quantiles"], state["generated_quantiles"]
        calibration = cls(columns, state["presence"], state["odd"], state["partner"], *tables)
        expected = (len(columns), N_LEVELS)
        for name in ("reference_quantiles", "generated_quantiles"):
            table = getattr(calibration, name)
            if tuple(table.shape) != expected:
                raise ValueError(f"feature_calibration.{name}: expected shape {expected}, got {tuple(table.shape)}")
            if not bool(torch.isfinite(table).all()) or not bool((table[:, 1:] > table[:, :-1]).all()):
                raise ValueError(f"feature_calibration.{name}: expected finite, strictly increasing quantiles")
        others = [p for p in calibration.presence + calibration.partner if p >= 0]
        if any(not 0 <= c < n_features for c in columns + others):
            raise ValueError(f"feature_calibration.columns: expected columns in [0, {n_features})")
        return calibration


def calibration_layout(transform: EventTransform) -> tuple[list[int], list[int], list[bool], list[int]]:
    """The calibrated columns of a fitted transform's features, their presence columns (−1: always present),
    whether each map is odd and the column each shares its map with (−1: none); see the module docstring."""
    partners: dict[int, int] = {}
    random_daughter: set[int] = set()  # decay angles of a daughter drawn at random: odd maps
    if transform.representation == "pair":
        columns = [0, 1, 2, 5]  # ln m₁₂, ln pT₁₂, y₁₂, cos θ*
        random_daughter = {5}
    elif transform.representation == "ttbar_decays":
        columns = sorted([*decay_chain.DECAY_COLUMNS.values(), *decay_chain.QUARK_MASS_COLUMNS])
        random_daughter = {decay_chain.DECAY_COLUMNS[name] for name in decay_chain.symmetric_quantities(False)}
        a1, b1, a2, b2 = decay_chain.QUARK_MASS_COLUMNS
        partners = {a1: b1, b1: a1, a2: b2, b2: a2}
    else:
        k = transform.features_per_object
        per_object = [0, 1] + ([4] if transform.mass_mode == "log" else [])  # ln pT, η, (ln m)
        columns = [i * k + j for i in range(transform.n_objects) for j in per_object]
    presence = [-1] * len(columns)
    if transform.representation == "objects" and transform.with_presence:
        k, n = transform.features_per_object, transform.n_objects
        presence = [n * k + c // k for c in columns]
    odd_columns = set(transform.eta_odd_columns()) if "eta_flip" in transform.symmetries else set()
    odd = [c in odd_columns or c in random_daughter for c in columns]
    return columns, presence, odd, [partners.get(c, -1) for c in columns]
