"""Calorimeter materials and effective sampling media for the GFlash parametrisation.

GFlash (Grindhammer, Rudowicz, Peters, NIM A290 (1990) 469; Grindhammer & Peters,
hep-ex/0001020) describes a medium by its effective Z, A, radiation length X0,
critical energy E_c and Molière radius R_M:

- effective Z and A of a compound are *mass*-fraction weighted sums;
- X0 is computed here from Tsai's formula with the Coulomb correction (the formula
  behind the PDG tables and Geant4's ``G4Material::GetRadlen``), summed over elements
  as 1/X0 = Σ wᵢ/X0ᵢ in g/cm²; the PDG table values are kept in ``PDG_X0_G_CM2`` as a
  cross-check (agreement better than 0.5 %);
- E_c = 2.66·(X0·Z/A)^1.1 MeV (Dovzhenko–Pomanskii fit). With ``convention="pdg"``
  (default) X0 is in g/cm², the fit's natural unit; ``convention="geant4"`` puts X0 in
  mm, as Geant4's GFlash does (reproduces e.g. 10.786 MeV for PbWO4);
- R_M = X0·E_s/E_c with E_s = 21.2 MeV, X0 in mm.

A sampling calorimeter (absorber d1 + active d2) is replaced by the effective medium of
:class:`SamplingMix`, following the GFlash sampling prescription.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hepgan.errors import ConfigError

CONVENTIONS = ("pdg", "geant4")
E_S_MEV = 21.2  # scale energy E_s used for the Molière radius, MeV
FINE_STRUCTURE = 1.0 / 137.035999
TSAI_CONSTANT_G_CM2 = 716.408  # 1 / (4 α r_e² N_A) in g/cm² · mol/g

# Z and atomic mass (g/mol, Geant4/NIST natural-abundance values).
ELEMENTS: dict[str, tuple[int, float]] = {
    "H": (1, 1.00794),
    "C": (6, 12.0107),
    "O": (8, 15.9994),
    "Si": (14, 28.0855),
    "Ar": (18, 39.948),
    "Fe": (26, 55.845),
    "Cu": (29, 63.546),
    "W": (74, 183.842),
    "Pb": (82, 207.217),
}

# Tsai's radiation logarithms for the light elements (Z <= 4): (L_rad, L'_rad).
_LIGHT_RADIATION_LOGS = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}

# PDG radiation lengths in g/cm² (pdg.lbl.gov atomic and nuclear properties), for cross-checks.
PDG_X0_G_CM2: dict[str, float] = {
    "PbWO4": 7.39,
    "Pb": 6.37,
    "W": 6.76,
    "Fe": 13.84,
    "Cu": 12.86,
    "lAr": 19.55,
    "Si": 21.82,
    "polystyrene": 43.79,
}


def check_convention(convention: str, field: str = "convention") -> str:
    """Return ``convention`` if it is "pdg" or "geant4", else raise ConfigError."""
    if convention not in CONVENTIONS:
        raise ConfigError(f"{field} must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return convention


def coulomb_correction(z: float) -> float:
    """Tsai's Coulomb correction f(Z) (dimensionless)."""
    a2 = (FINE_STRUCTURE * z) ** 2
    return a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)


def element_radiation_length_g_cm2(z: int, a: float) -> float:
    """Tsai radiation length of one element, in g/cm² (``a`` in g/mol)."""
    if z in _LIGHT_RADIATION_LOGS:
        l_rad, l_rad_prime = _LIGHT_RADIATION_LOGS[z]
    else:
        l_rad = math.log(184.15) - math.log(z) / 3.0
        l_rad_prime = math.log(1194.0) - 2.0 * math.log(z) / 3.0
    return TSAI_CONSTANT_G_CM2 * a / (z * z * (l_rad - coulomb_correction(z)) + z * l_rad_prime)


def critical_energy_fit_mev(x0: float, z: float, a: float) -> float:
    """Dovzhenko–Pomanskii fit E_c = 2.66·(X0·Z/A)^1.1 in MeV (X0 in the caller's unit)."""
    return 2.66 * (x0 * z / a) ** 1.1


@dataclass(frozen=True)
class Material:
    """A homogeneous medium.

    Attributes:
        name: material name.
        z: effective atomic number (mass-fraction weighted).
        a: effective atomic mass in g/mol (mass-fraction weighted).
        density: density in g/cm³.
        x0_g_cm2: radiation length in g/cm².
    """

    name: str
    z: float
    a: float
    density: float
    x0_g_cm2: float

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0_g_cm2 / self.density

    def critical_energy_mev(self, convention: str = "pdg") -> float:
        """Critical energy in MeV (fit with X0 in g/cm² for "pdg", in mm for "geant4")."""
        x0 = self.x0_g_cm2 if check_convention(convention) == "pdg" else self.x0_mm
        return critical_energy_fit_mev(x0, self.z, self.a)

    def moliere_radius_mm(self, convention: str = "pdg") -> float:
        """Molière radius R_M = X0·E_s/E_c in mm."""
        return self.x0_mm * E_S_MEV / self.critical_energy_mev(convention)


def material_from_elements(name: str, density: float, atoms: Mapping[str, float]) -> Material:
    """Build a material from its formula (atoms per molecule), with Tsai's X0.

    Args:
        name: material name.
        density: g/cm³.
        atoms: element symbol -> number of atoms in the formula unit (e.g. PbWO4: Pb 1, W 1, O 4).
    """
    masses = {sym: n * ELEMENTS[sym][1] for sym, n in atoms.items()}
    total = sum(masses.values())
    fractions = {sym: m / total for sym, m in masses.items()}
    z = sum(w * ELEMENTS[sym][0] for sym, w in fractions.items())
    a = sum(w * ELEMENTS[sym][1] for sym, w in fractions.items())
    inv_x0 = sum(w / element_radiation_length_g_cm2(*ELEMENTS[sym]) for sym, w in fractions.items())
    return Material(name=name, z=z, a=a, density=density, x0_g_cm2=1.0 / inv_x0)


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        material_from_elements("PbWO4", 8.28, {"Pb": 1, "W": 1, "O": 4}),
        material_from_elements("Pb", 11.35, {"Pb": 1}),
        material_from_elements("W", 19.30, {"W": 1}),
        material_from_elements("Fe", 7.874, {"Fe": 1}),
        material_from_elements("Cu", 8.96, {"Cu": 1}),
        material_from_elements("lAr", 1.396, {"Ar": 1}),
        material_from_elements("Si", 2.33, {"Si": 1}),
        material_from_elements("polystyrene", 1.06, {"C": 8, "H": 8}),
    )
}

_ALIASES = {"lar": "lAr", "liquid_argon": "lAr", "scintillator": "polystyrene", "pwo": "PbWO4"}


def get_material(name: str) -> Material:
    """Look up a material by name (case-insensitive; "scintillator" = polystyrene, "LAr" = lAr)."""
    key = str(name).lower()
    by_lower = {n.lower(): n for n in MATERIALS}
    canonical = by_lower.get(key) or _ALIASES.get(key)
    if canonical is None:
        known = ", ".join(sorted(MATERIALS)) + " (aliases: " + ", ".join(sorted(_ALIASES)) + ")"
        raise ConfigError(f"unknown material {name!r}; known materials: {known}")
    return MATERIALS[canonical]


@dataclass(frozen=True)
class SamplingMix:
    """Effective medium of a sampling calorimeter: absorber (passive, d1) + active layer (d2).

    Weights wᵢ = dᵢρᵢ/(d1ρ1 + d2ρ2); Z, A mass weighted; 1/X0 = Σ wᵢρ_eff/(X0ᵢρᵢ);
    R_M = E_s/Σ(wᵢE_cᵢ/X0ᵢ); E_c = X0·Σ(wᵢE_cᵢ/X0ᵢ); F_S = X0/(d1+d2);
    ê = 1/(1 + 0.007·(Z_absorber − Z_active)). Lengths in mm, energies in MeV.
    """

    absorber: Material
    active: Material
    absorber_thickness_mm: float
    active_thickness_mm: float

    def __post_init__(self) -> None:
        for field in ("absorber_thickness_mm", "active_thickness_mm"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{field} must be a positive thickness in mm, got {value!r}")

    @property
    def weights(self) -> tuple[float, float]:
        """Mass fractions (absorber, active)."""
        m1 = self.absorber_thickness_mm * self.absorber.density
        m2 = self.active_thickness_mm * self.active.density
        return m1 / (m1 + m2), m2 / (m1 + m2)

    @property
    def z(self) -> float:
        w1, w2 = self.weights
        return w1 * self.absorber.z + w2 * self.active.z

    @property
    def a(self) -> float:
        w1, w2 = self.weights
        return w1 * self.absorber.a + w2 * self.active.a

    @property
    def period_mm(self) -> float:
        """Thickness of one absorber + active period in mm."""
        return self.absorber_thickness_mm + self.active_thickness_mm

    @property
    def density(self) -> float:
        """Mean density in g/cm³."""
        m = self.absorber_thickness_mm * self.absorber.density + self.active_thickness_mm * self.active.density
        return m / self.period_mm

    @property
    def x0_mm(self) -> float:
        """Effective radiation length in mm."""
        w1, w2 = self.weights
        rho = self.density
        inv = w1 * rho / (self.absorber.x0_mm * self.absorber.density) + w2 * rho / (
            self.active.x0_mm * self.active.density
        )
        return 1.0 / inv

    @property
    def x0_g_cm2(self) -> float:
        """Effective radiation length in g/cm²."""
        return self.x0_mm * self.density / 10.0

    def _ec_over_x0(self, convention: str) -> float:
        w1, w2 = self.weights
        return sum(w * m.critical_energy_mev(convention) / m.x0_mm for w, m in ((w1, self.absorber), (w2, self.active)))

    def critical_energy_mev(self, convention: str = "pdg") -> float:
        """Effective critical energy in MeV."""
        return self.x0_mm * self._ec_over_x0(convention)

    def moliere_radius_mm(self, convention: str = "pdg") -> float:
        """Effective Molière radius in mm."""
        return E_S_MEV / self._ec_over_x0(convention)

    @property
    def sampling_frequency(self) -> float:
        """F_S = X0_eff/(d1 + d2), the number of sampling periods per X0."""
        return self.x0_mm / self.period_mm

    @property
    def e_over_mip(self) -> float:
        """ê = 1/(1 + 0.007·(Z_absorber − Z_active))."""
        return 1.0 / (1.0 + 0.007 * (self.absorber.z - self.active.z))
