"""The calorimeter the GFlash simulator showers in: homogeneous or sampling, its effective medium and geometry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from hepgan.errors import ConfigError
from hepgan.sim.materials import SamplingMix, check_convention, get_material

MODES = ("homogeneous", "sampling")
K4_SLOPE_PAPER = 0.0421
"""Slope of the sampling-fluctuation term k4 (Grindhammer–Peters paper)."""
K4_SLOPE_GEANT4 = 0.0412
"""The same slope as Geant4's GFlash implementation uses."""


@dataclass(frozen=True)
class EffectiveMedium:
    """Parameters of the medium the shower develops in (lengths in mm, energies in MeV).

    ``sampling_frequency`` and ``e_over_mip`` are None for a homogeneous calorimeter.
    """

    z: float
    x0_mm: float
    critical_energy_mev: float
    moliere_radius_mm: float
    sampling_frequency: float | None = None
    e_over_mip: float | None = None


@dataclass(frozen=True)
class CalorimeterSpec:
    """The calorimeter GFlash simulates.

    Attributes:
        mode: "homogeneous" (uses ``material``) or "sampling" (absorber + active).
        material: homogeneous medium name (see ``hepgan.sim.materials.MATERIALS``).
        absorber, active: sampling media names.
        absorber_thickness_mm, active_thickness_mm: sampling layer thicknesses in mm.
        stochastic_term: c_S in σ/E = c_S/√(E/GeV) (sampling only), e.g. 0.10.
        convention: "pdg" (E_c fit with X0 in g/cm², paper k4) or "geant4" (X0 in mm, Geant4 k4).
        spot_scale: multiplier on the number of spots N_spot.
        readout_threshold_mev: voxels with less visible energy than this (MeV) read 0, as a
            cell readout with a noise threshold does (e.g. 0.015 MeV, the 15 keV cut of the
            CaloChallenge 2022 datasets 2 and 3). 0 keeps every deposit, however small: the
            gamma smearing of sampling mode then leaves many voxels with < 1e-30 MeV.
    """

    mode: str = "homogeneous"
    material: str = "PbWO4"
    absorber: str = "Pb"
    active: str = "lAr"
    absorber_thickness_mm: float = 2.0
    active_thickness_mm: float = 4.0
    stochastic_term: float = 0.10
    convention: str = "pdg"
    spot_scale: float = 1.0
    readout_threshold_mev: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"calorimeter field 'mode' must be one of {', '.join(MODES)}, got {self.mode!r}")
        check_convention(self.convention, "calorimeter field 'convention'")
        names = ("material",) if self.mode == "homogeneous" else ("absorber", "active")
        for name in names:
            try:
                get_material(getattr(self, name))
            except ConfigError as exc:
                raise ConfigError(f"calorimeter field '{name}': {exc}") from None
        positive = ["spot_scale"]
        if self.mode == "sampling":
            positive += ["absorber_thickness_mm", "active_thickness_mm", "stochastic_term"]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"calorimeter field '{name}' must be a positive number, got {value!r}")
        threshold = self.readout_threshold_mev
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold < math.inf:
            raise ConfigError(
                f"calorimeter field 'readout_threshold_mev' must be a number >= 0 (MeV), got {threshold!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<calorimeter>") -> CalorimeterSpec:
        """Build from plain data, rejecting unknown keys (ConfigError names ``source`` and the field)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: calorimeter must be a mapping, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown calorimeter field(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            default = cls.__dataclass_fields__[key].default
            if isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(f"{source}: calorimeter field '{key}' must be a number, got {value!r}")
                value = float(value)
            elif not isinstance(value, str):
                raise ConfigError(f"{source}: calorimeter field '{key}' must be a string, got {value!r}")
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form holding the fields that matter for ``mode``."""
        out = asdict(self)
        drop = ("absorber", "active", "absorber_thickness_mm", "active_thickness_mm", "stochastic_term")
        if self.mode == "homogeneous":
            for key in drop:
                out.pop(key)
        else:
            out.pop("material")
        return out

    @property
    def k4_slope(self) -> float:
        """Slope of k4 = 0.3585 + slope·ln(E/GeV): paper 0.0421 ("pdg"), Geant4 0.0412 ("geant4")."""
        return K4_SLOPE_GEANT4 if self.convention == "geant4" else K4_SLOPE_PAPER

    def sampling_mix(self) -> SamplingMix:
        """The absorber/active mix (sampling mode)."""
        return SamplingMix(
            get_material(self.absorber),
            get_material(self.active),
            float(self.absorber_thickness_mm),
            float(self.active_thickness_mm),
        )

    def medium(self) -> EffectiveMedium:
        """Effective Z, X0 (mm), E_c (MeV), R_M (mm) and, for sampling, F_S and ê."""
        if self.mode == "homogeneous":
            m = get_material(self.material)
            return EffectiveMedium(
                m.z, m.x0_mm, m.critical_energy_mev(self.convention), m.moliere_radius_mm(self.convention)
            )
        mix = self.sampling_mix()
        return EffectiveMedium(
            mix.z,
            mix.x0_mm,
            mix.critical_energy_mev(self.convention),
            mix.moliere_radius_mm(self.convention),
            mix.sampling_frequency,
            mix.e_over_mip,
        )
