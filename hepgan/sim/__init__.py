"""Reference shower simulation: the GFlash parametrisation (NIM A290 (1990) 469; hep-ex/0001020).

Public API: materials and sampling media (:mod:`hepgan.sim.materials`), the GFlash
profiles and :class:`ShowerSimulator` (:mod:`hepgan.sim.gflash`) and incident-energy
spectra (:mod:`hepgan.sim.spectra`). Energies in MeV, lengths in mm, depths in X0.
"""

from __future__ import annotations

from hepgan.sim.calorimeter import CalorimeterSpec, EffectiveMedium
from hepgan.sim.gflash import (
    FluctuatedProfile,
    ProfileParameters,
    ShowerSimulator,
    SimulatedShowers,
    average_profile_parameters,
    correlated_lognormal_pair,
    homogeneous_profile_parameters,
    longitudinal_cdf,
    n_spots,
    n_spots_homogeneous,
    n_spots_sampling,
    profile_parameters,
    radial_cdf,
    radial_parameters,
    sample_profile_parameters,
    sampling_profile_parameters,
    scaled_depth,
    spot_profile_parameters,
)
from hepgan.sim.materials import MATERIALS, Material, SamplingMix, get_material, material_from_elements
from hepgan.sim.spectra import CALOCHALLENGE_DS1_ENERGIES_MEV, EnergySpectrum

__all__ = [
    "CALOCHALLENGE_DS1_ENERGIES_MEV",
    "MATERIALS",
    "CalorimeterSpec",
    "EffectiveMedium",
    "EnergySpectrum",
    "FluctuatedProfile",
    "Material",
    "ProfileParameters",
    "SamplingMix",
    "ShowerSimulator",
    "SimulatedShowers",
    "average_profile_parameters",
    "correlated_lognormal_pair",
    "get_material",
    "homogeneous_profile_parameters",
    "longitudinal_cdf",
    "material_from_elements",
    "n_spots",
    "n_spots_homogeneous",
    "n_spots_sampling",
    "profile_parameters",
    "radial_cdf",
    "radial_parameters",
    "sample_profile_parameters",
    "sampling_profile_parameters",
    "scaled_depth",
    "spot_profile_parameters",
]
