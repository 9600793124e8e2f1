"""Materials and sampling mixes against the GFlash reference sheet (shared/design/GFLASH.md §1)."""

from __future__ import annotations

import math

import pytest

from hepgan.errors import ConfigError
from hepgan.sim.materials import (
    MATERIALS,
    PDG_X0_G_CM2,
    SamplingMix,
    coulomb_correction,
    element_radiation_length_g_cm2,
    get_material,
)


@pytest.mark.parametrize("name", sorted(PDG_X0_G_CM2))
def test_tsai_radiation_length_matches_pdg(name):
    assert MATERIALS[name].x0_g_cm2 == pytest.approx(PDG_X0_G_CM2[name], rel=5e-3)


def test_lead_tsai_by_hand():
    # f(82) = 0.3316 (Coulomb correction) and X0(Pb) = 6.370 g/cm²
    assert coulomb_correction(82) == pytest.approx(0.3316, abs=2e-4)
    assert element_radiation_length_g_cm2(82, 207.217) == pytest.approx(6.370, abs=2e-3)


def test_pbwo4_effective_z_a_and_geant4_numbers():
    m = get_material("PbWO4")
    assert m.z == pytest.approx(68.3609, abs=1e-3)
    assert m.a == pytest.approx(170.881, abs=1e-2)
    assert m.x0_mm == pytest.approx(8.92453, rel=2e-4)
    assert m.critical_energy_mev("geant4") == pytest.approx(10.7858, rel=2e-4)
    assert m.moliere_radius_mm("geant4") == pytest.approx(17.542, rel=2e-4)
    assert m.critical_energy_mev() == pytest.approx(8.764, rel=1e-3)
    assert m.moliere_radius_mm("pdg") == pytest.approx(21.59, rel=1e-3)


@pytest.mark.parametrize(
    ("name", "x0_mm", "ec_g4", "rm_g4", "ec_pdg", "rm_pdg"),
    [
        ("Pb", 5.6125, 6.399, 18.60, 7.355, 16.18),
        ("W", 3.5042, 3.883, 19.13, 8.004, 9.28),
        ("Fe", 17.575, 26.86, 13.87, 20.65, 18.05),
        ("lAr", 140.03, 254.0, 11.69, 29.13, 101.9),
    ],
)
def test_sheet_material_table(name, x0_mm, ec_g4, rm_g4, ec_pdg, rm_pdg):
    m = get_material(name)
    assert m.x0_mm == pytest.approx(x0_mm, rel=5e-4)
    assert m.critical_energy_mev("geant4") == pytest.approx(ec_g4, rel=1e-3)
    assert m.moliere_radius_mm("geant4") == pytest.approx(rm_g4, rel=1e-3)
    assert m.critical_energy_mev("pdg") == pytest.approx(ec_pdg, rel=1e-3)
    assert m.moliere_radius_mm("pdg") == pytest.approx(rm_pdg, rel=1e-3)


@pytest.mark.parametrize("name", sorted(MATERIALS))
def test_conventions_differ_by_density_factor(name):
    m = MATERIALS[name]
    ratio = m.critical_energy_mev("geant4") / m.critical_energy_mev("pdg")
    assert ratio == pytest.approx((10.0 / m.density) ** 1.1, rel=1e-12)
    assert m.moliere_radius_mm() == pytest.approx(m.x0_mm * 21.2 / m.critical_energy_mev(), rel=1e-12)


def test_pb_lar_sampling_mix_example():
    mix = SamplingMix(get_material("Pb"), get_material("lAr"), 2.0, 4.0)
    assert mix.weights[0] == pytest.approx(0.8026, abs=1e-4)
    assert sum(mix.weights) == pytest.approx(1.0)
    assert mix.z == pytest.approx(69.365, abs=1e-3)
    assert mix.a == pytest.approx(174.19, abs=1e-2)
    assert mix.density == pytest.approx(4.714, abs=1e-3)
    assert mix.x0_mm == pytest.approx(15.588, abs=1e-3)
    assert mix.moliere_radius_mm("geant4") == pytest.approx(16.652, abs=1e-3)
    assert mix.critical_energy_mev("geant4") == pytest.approx(19.846, abs=1e-3)
    assert mix.sampling_frequency == pytest.approx(2.598, abs=1e-3)
    assert mix.e_over_mip == pytest.approx(0.6906, abs=1e-4)
    # the mix's X0 in g/cm² is the mass-weighted harmonic mean of the components'
    inv = mix.weights[0] / get_material("Pb").x0_g_cm2 + mix.weights[1] / get_material("lAr").x0_g_cm2
    assert mix.x0_g_cm2 == pytest.approx(1.0 / inv, rel=1e-12)


def test_mix_of_one_material_is_that_material():
    pb = get_material("Pb")
    mix = SamplingMix(pb, pb, 1.0, 3.0)
    for convention in ("pdg", "geant4"):
        assert mix.critical_energy_mev(convention) == pytest.approx(pb.critical_energy_mev(convention))
        assert mix.moliere_radius_mm(convention) == pytest.approx(pb.moliere_radius_mm(convention))
    assert mix.x0_mm == pytest.approx(pb.x0_mm)
    assert mix.e_over_mip == 1.0


def test_get_material_aliases_and_case():
    assert get_material("lar") is get_material("LAr") is MATERIALS["lAr"]
    assert get_material("scintillator") is MATERIALS["polystyrene"]
    assert get_material("pbwo4") is MATERIALS["PbWO4"]


def test_unknown_material_lists_known_names():
    with pytest.raises(ConfigError, match=r"unknown material 'Unobtainium'.*PbWO4"):
        get_material("Unobtainium")


def test_bad_convention_and_thickness():
    with pytest.raises(ConfigError, match="convention"):
        get_material("Pb").critical_energy_mev("cgs")
    with pytest.raises(ConfigError, match="absorber_thickness_mm"):
        SamplingMix(get_material("Pb"), get_material("lAr"), -1.0, 4.0)
    with pytest.raises(ConfigError, match="active_thickness_mm"):
        SamplingMix(get_material("Pb"), get_material("lAr"), 2.0, math.nan)
