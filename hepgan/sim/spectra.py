"""Incident-energy spectra for simulated showers (energies in MeV).

The default is the CaloChallenge dataset-1 photon set: the fifteen discrete energies
2^8 … 2^22 MeV (256 MeV – 4.194304 TeV), as used for the GFlash (NIM A290 (1990) 469;
hep-ex/0001020) reference showers of :mod:`hepgan.sim.gflash`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepgan.errors import ConfigError

KINDS = ("discrete", "uniform", "log_uniform")
CALOCHALLENGE_DS1_ENERGIES_MEV: tuple[float, ...] = tuple(float(2**k) for k in range(8, 23))
_FIELDS = ("kind", "values_mev", "min_mev", "max_mev")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class EnergySpectrum:
    """A distribution of incident energies.

    Attributes:
        kind: "discrete" (equal numbers of each of ``values_mev``), "uniform" or
            "log_uniform" on [``min_mev``, ``max_mev``].
        values_mev: the discrete energies in MeV (default: CaloChallenge dataset 1).
        min_mev, max_mev: range in MeV for the continuous kinds.
    """

    kind: str = "discrete"
    values_mev: tuple[float, ...] = CALOCHALLENGE_DS1_ENERGIES_MEV
    min_mev: float = 256.0
    max_mev: float = 4194304.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"spectrum field 'kind' must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "discrete":
            values = self.values_mev
            if not values or not all(_is_number(v) and math.isfinite(v) and v > 0 for v in values):
                raise ConfigError("spectrum field 'values_mev' must be a non-empty list of positive energies in MeV")
            return
        for name in ("min_mev", "max_mev"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise ConfigError(f"spectrum field '{name}' must be a positive energy in MeV, got {value!r}")
        if not self.min_mev < self.max_mev:
            raise ConfigError(f"spectrum fields 'min_mev' < 'max_mev' expected, got {self.min_mev} >= {self.max_mev}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<spectrum>") -> EnergySpectrum:
        """Build from plain data (unknown keys and bad values raise ConfigError naming ``source``)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: spectrum must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(
                f"{source}: unknown spectrum field(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(_FIELDS)}"
            )
        kwargs: dict[str, Any] = dict(data)
        if "values_mev" in kwargs:
            values = kwargs["values_mev"]
            if not isinstance(values, list | tuple):
                raise ConfigError(f"{source}: spectrum field 'values_mev' must be a list of energies in MeV")
            kwargs["values_mev"] = tuple(values)
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form with the fields that matter for ``kind``."""
        if self.kind == "discrete":
            return {"kind": self.kind, "values_mev": [float(v) for v in self.values_mev]}
        return {"kind": self.kind, "min_mev": float(self.min_mev), "max_mev": float(self.max_mev)}

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` energies in MeV (float64).

        Discrete: every value appears n // k or n // k + 1 times (k values), in random order.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ConfigError(f"number of energies must be a non-negative integer, got {n!r}")
        if self.kind == "discrete":
            values = np.asarray(self.values_mev, dtype=np.float64)
            repeats, extra = divmod(int(n), len(values))
            chosen = rng.choice(len(values), size=extra, replace=False)
            energies = np.concatenate([np.repeat(values, repeats), values[chosen]])
            rng.shuffle(energies)
            return energies
        if self.kind == "uniform":
            return rng.uniform(self.min_mev, self.max_mev, size=n)
        return np.exp(rng.uniform(math.log(self.min_mev), math.log(self.max_mev), size=n))
