"""Event observables against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from hepgan.validation.kinematics import (
    EVENT_OBSERVABLES,
    delta_r,
    describe_event,
    event_observable_names,
    event_observables,
    four_momenta,
    pair_mass,
    pair_pt,
    pair_rapidity,
)


def test_back_to_back_massless_muons() -> None:
    """Two 45 GeV massless muons at η = 0, φ = 0 and π: m = 90 GeV, ΔR = π, pT(pair) = 0, y = 0."""
    a = four_momenta(np.array([45.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]))
    b = four_momenta(np.array([45.0]), np.array([0.0]), np.array([np.pi]), np.array([0.0]))
    np.testing.assert_allclose(pair_mass(a, b), [90.0])
    np.testing.assert_allclose(delta_r(a, b), [np.pi])
    np.testing.assert_allclose(pair_pt(a, b), [0.0], atol=1e-12)
    np.testing.assert_allclose(pair_rapidity(a, b), [0.0], atol=1e-12)


def test_hand_computed_pair() -> None:
    """Muon mass, η = ±1, Δφ across the ±π seam: compare with explicit four-vector sums."""
    pt, eta, phi, m = np.array([30.0, 20.0]), np.array([1.0, -1.0]), np.array([3.0, -3.0]), np.array([0.10566] * 2)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    expected_m = np.sqrt(e.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2)
    expected_y = 0.5 * np.log((e.sum() + pz.sum()) / (e.sum() - pz.sum()))
    out = event_observables(pt[None], eta[None], phi[None], m[None])
    np.testing.assert_allclose(out["m_12"], [expected_m], rtol=1e-12)
    np.testing.assert_allclose(out["pt_12"], [np.hypot(px.sum(), py.sum())], rtol=1e-12)
    np.testing.assert_allclose(out["y_12"], [expected_y], rtol=1e-12)
    np.testing.assert_allclose(out["delta_r_12"], [np.hypot(2.0, 2 * np.pi - 6.0)], rtol=1e-12)
    np.testing.assert_allclose(out["phi_2"], [-3.0])


def test_absent_objects_give_nan_without_warnings() -> None:
    pt = np.array([[50.0, 40.0], [60.0, 0.0], [0.0, 0.0]])
    mask = pt > 0
    zeros = np.zeros_like(pt)
    out = event_observables(pt, zeros, zeros, zeros, mask)
    assert list(out) == event_observable_names(2)
    np.testing.assert_allclose(out["m_12"][0], 0.0, atol=1e-9)  # collinear massless pair: m = 0
    assert np.isnan(out["m_12"][1:]).all() and np.isnan(out["pt_2"][1:]).all()
    assert out["pt_1"][1] == 60.0 and np.isnan(out["pt_1"][2])


def test_single_object_has_no_pair_observables() -> None:
    out = event_observables(np.array([[10.0]]), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)))
    assert set(out) == {"pt_1", "eta_1", "phi_1"}


def test_registry_describes_every_name() -> None:
    for name in event_observable_names(3):
        info = describe_event(name)
        assert info.label and "{id}" not in info.label
    assert describe_event("pt_2").unit == "GeV" and "2" in describe_event("pt_2").label
    assert EVENT_OBSERVABLES["m_12"].unit == "GeV"
    with pytest.raises(KeyError):
        describe_event("m_13")
