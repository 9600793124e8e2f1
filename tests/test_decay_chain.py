"""The "ttbar_decays" representation: tt̄ → (b q q̄')(b̄ q q̄') as its decay chain, checked against hand-computed
two-body decays and the parton-truth reconstruction of the shipped Pythia sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hepgan.data.decay_chain import DECAY_FEATURES, ETA_ODD, combine, decay_angles, decay_quantities, two_body
from hepgan.data.event_transforms import EventTransform
from hepgan.data.events import check_event_transform, reconstructed_masses
from hepgan.data.resonances import reconstruct_batch
from hepgan.errors import ConfigError
from hepgan.io.events import EventBatch, read_events

PARTONS = Path(__file__).resolve().parents[1] / "data" / "ttbar_partons_pythia_small.h5"


@pytest.fixture(scope="module")
def partons() -> EventBatch:
    return read_events(PARTONS)


@pytest.fixture(scope="module")
def transform(partons: EventBatch) -> EventTransform:
    options = {"presence": "off", "sort": False, "symmetries": ["eta_flip", "phi_rotation"]}
    return EventTransform(6, representation="ttbar_decays", **options).fit([partons])


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_two_body_decay_of_a_parent_at_rest_and_boosted() -> None:
    """t → W b at rest: |p*| from the Källén function, back to back; boosted: four-momentum and masses conserved."""
    m_t, m_w, m_b = 172.5, 80.4, 4.8
    p_expected = np.sqrt((m_t**2 - (m_w + m_b) ** 2) * (m_t**2 - (m_w - m_b) ** 2)) / (2 * m_t)  # 67.82 GeV
    at_rest = (_t(m_t), _t(0.0), _t(0.0), _t(0.0), _t(m_t))
    w, b = two_body(at_rest, _t(m_w), _t(m_b), _t(0.6), _t(1.0), _t(0.0))  # θ* = acos 0.6, φ* = 0 (along x)
    assert float(torch.sqrt(w[1] ** 2 + w[2] ** 2 + w[3] ** 2)) == pytest.approx(p_expected, rel=1e-12)
    assert float(w[3]) == pytest.approx(0.6 * p_expected, rel=1e-12) and float(w[2]) == pytest.approx(0.0, abs=1e-12)
    assert float(w[1]) == pytest.approx(0.8 * p_expected, rel=1e-12)
    assert float(w[0] + b[0]) == pytest.approx(m_t, rel=1e-14)

    pt, eta, phi = 350.0, -1.7, 2.5  # a boosted top
    pz = pt * np.sinh(eta)
    top = (_t(np.sqrt(m_t**2 + pt**2 + pz**2)), _t(pt * np.cos(phi)), _t(pt * np.sin(phi)), _t(pz), _t(m_t))
    cos_theta, phi_star = -0.3, 1.1
    w, b = two_body(top, _t(m_w), _t(m_b), _t(cos_theta), _t(np.cos(phi_star)), _t(np.sin(phi_star)))
    for i in range(4):
        assert float(w[i] + b[i]) == pytest.approx(float(top[i]), rel=1e-12, abs=1e-9)
    for daughter, mass in ((w, m_w), (b, m_b)):
        m2 = daughter[0] ** 2 - daughter[1] ** 2 - daughter[2] ** 2 - daughter[3] ** 2
        assert float(torch.sqrt(m2)) == pytest.approx(mass, rel=1e-9)
    assert float(combine(w, b)[4]) == pytest.approx(m_t, rel=1e-12)
    back = decay_angles(top, w)
    assert float(back[0]) == pytest.approx(cos_theta, abs=1e-12) and float(back[1]) == pytest.approx(phi_star)


def test_helicity_frame_axes() -> None:
    """A top flying along +x: z′ = x̂, y′ = ẑ × x̂ = ŷ, x′ = y′ × z′ = −ẑ; a W at θ* = 90°, φ* = 0 leaves along −z."""
    m_t, m_w, m_b, pt = 172.5, 80.4, 4.8, 200.0
    top = (_t(np.hypot(m_t, pt)), _t(pt), _t(0.0), _t(0.0), _t(m_t))
    w, b = two_body(top, _t(m_w), _t(m_b), _t(0.0), _t(1.0), _t(0.0), helicity=True)
    p_star = np.sqrt((m_t**2 - (m_w + m_b) ** 2) * (m_t**2 - (m_w - m_b) ** 2)) / (2 * m_t)
    assert float(w[3]) == pytest.approx(-p_star, rel=1e-12) and float(w[2]) == pytest.approx(0.0, abs=1e-12)
    assert float(b[3]) == pytest.approx(p_star, rel=1e-12)
    w, _ = two_body(top, _t(m_w), _t(m_b), _t(1.0), _t(1.0), _t(0.0), helicity=True)  # forward: along +x
    assert float(w[1]) > pt * m_w / m_t and abs(float(w[3])) < 1e-9 and abs(float(w[2])) < 1e-9
    # the angles read back in either frame from a generic boosted top
    top = (_t(np.sqrt(m_t**2 + 120.0**2 + 275.0**2 + 250.0**2)), _t(-120.0), _t(275.0), _t(250.0), _t(m_t))
    for helicity in (False, True):
        w, _ = two_body(top, _t(m_w), _t(m_b), _t(-0.45), _t(np.cos(2.0)), _t(np.sin(2.0)), helicity=helicity)
        cos_theta, phi_star = decay_angles(top, w, helicity=helicity)
        assert float(cos_theta) == pytest.approx(-0.45, abs=1e-12) and float(phi_star) == pytest.approx(2.0)


def test_helicity_angles_follow_the_w_polarisation(partons: EventBatch) -> None:
    """Known answers on the shipped Pythia sample (2000 events): the W helicity angle (either daughter, so the
    distribution is symmetrised) has ⟨cos²θ⟩ = F₀/5 + 2(1 − F₀)/5 with the LO longitudinal share
    F₀ = m_t²/(m_t² + 2 m_W²) = 0.698, i.e. 0.261; unpolarised tops decay isotropically, ⟨cos²θ⟩ = 1/3."""
    q = decay_quantities(partons)
    f0 = 172.5**2 / (172.5**2 + 2 * 80.4**2)
    expected_w = f0 / 5 + 2 * (1 - f0) / 5
    n = len(partons)
    for k in (1, 2):
        cos2_w = float((q[f"w{k}_cos_theta"] ** 2).mean())
        cos2_t = float((q[f"t{k}_cos_theta"] ** 2).mean())
        assert abs(cos2_w - expected_w) < 4 * 0.264 / np.sqrt(n), (k, cos2_w)  # σ(cos²θ) = 0.264 for this shape
        assert abs(cos2_t - 1 / 3) < 4 * 0.298 / np.sqrt(n), (k, cos2_t)  # σ(cos²θ) = √(1/5 − 1/9) isotropic


def test_pair_mass_of_collinear_quarks_is_accurate() -> None:
    """Two massless 1 TeV quarks 1e-7 rad apart: m = 2√(E₁E₂) sin(θ/2) = 1e-5 GeV, which E² − p² loses entirely."""
    energy, angle = 1000.0, 1e-8

    def quark(phi: float) -> tuple[torch.Tensor, ...]:
        return (_t(energy), _t(energy * np.cos(phi)), _t(energy * np.sin(phi)), _t(0.0), _t(0.0))

    a, b = quark(0.0), quark(angle)
    expected = 2 * energy * np.sin(angle / 2)
    assert float(combine(a, b)[4]) == pytest.approx(expected, rel=1e-8)  # type: ignore[arg-type]
    naive = (2 * energy) ** 2 - (float(a[1] + b[1]) ** 2 + float(a[2] + b[2]) ** 2)
    assert abs(np.sqrt(max(naive, 0.0)) - expected) > 0.1 * expected  # what the naive formula would give


def test_round_trip_and_masses_equal_the_parton_truth_reconstruction(
    partons: EventBatch, transform: EventTransform
) -> None:
    features = transform.forward(partons, np.random.default_rng(5))
    assert features.shape == (len(partons), 28) and transform.feature_names() == list(DECAY_FEATURES)
    assert torch.all(features.abs().mean(dim=0) < 1.5)  # mapped to O(1)
    back = transform.inverse(features)
    np.testing.assert_allclose(back.pt, partons.pt, rtol=1e-8)
    np.testing.assert_allclose(back.eta, partons.eta, rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.angle(np.exp(1j * (back.phi - partons.phi))), 0.0, atol=1e-8)
    np.testing.assert_allclose(back.mass, partons.mass, rtol=1e-8)
    truth = reconstruct_batch(partons, "ttbar_partons")
    masses = reconstructed_masses(features, transform, "ttbar_partons")
    for column, name in enumerate(("m_w1", "m_t1", "m_w2", "m_t2")):
        np.testing.assert_allclose(masses[:, column].numpy(), truth[name], rtol=1e-6)
    # which W daughter defines the angles changes the angles, not the event
    other = transform.forward(partons, np.random.default_rng(6))
    assert not torch.allclose(other, features)
    np.testing.assert_allclose(transform.inverse(other).pt, partons.pt, rtol=1e-8)


def test_symmetries_are_the_mirrored_and_rotated_events(partons: EventBatch, transform: EventTransform) -> None:
    """η → −η of every quark flips exactly y_tt̄ and the cos θ* columns; a rotation about the beam moves φ_tt̄ only."""
    events = partons.subset(slice(0, 300))
    features = transform.forward(events)
    mirrored = EventBatch(events.pt, -events.eta, events.phi, events.mass, events.mask)
    flipped = features.clone()
    flipped[:, list(ETA_ODD)] *= -1.0
    torch.testing.assert_close(transform.forward(mirrored), flipped, rtol=1e-7, atol=1e-7)
    turned = EventBatch(events.pt, events.eta, np.angle(np.exp(1j * (events.phi + 0.7))), events.mass, events.mask)
    rotated = transform.forward(turned)
    unchanged = [i for i in range(28) if i not in (3, 4)]
    torch.testing.assert_close(rotated[:, unchanged], features[:, unchanged], rtol=1e-7, atol=1e-7)
    phi_tt = torch.atan2(features[:, 4], features[:, 3])
    torch.testing.assert_close(
        torch.atan2(rotated[:, 4], rotated[:, 3]), torch.remainder(phi_tt + 0.7 + np.pi, 2 * np.pi) - np.pi
    )
    # the symmetries act on features as on events: masses unchanged, a valid event back
    symmetric = transform.apply_symmetries(features, torch.Generator().manual_seed(1))
    torch.testing.assert_close(transform.resonance_masses(symmetric), transform.resonance_masses(features))


def test_standard_mode_gives_unit_width_to_the_random_daughter_angle(partons: EventBatch) -> None:
    """``continuous: standard``: cos θ* of the randomly chosen W daughter is centred at 0 and scaled by √E[x²]."""
    standard = EventTransform(6, presence="off", sort=False, continuous="standard", representation="ttbar_decays")
    features = standard.fit([partons]).forward(partons, np.random.default_rng(8))
    for column in (13, 23):  # cos_theta_w1, cos_theta_w2
        assert abs(float(features[:, column].mean())) < 0.1
        assert float(features[:, column].std()) == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(standard.inverse(features).pt, partons.pt, rtol=1e-8)


def test_state_round_trip(partons: EventBatch, transform: EventTransform) -> None:
    restored = EventTransform.from_state_dict(transform.state_dict())
    check_event_transform(restored)
    torch.testing.assert_close(restored.forward(partons), transform.forward(partons), rtol=0, atol=0)
    features = torch.randn(500, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    generated = restored.inverse(features)  # any generator output is a valid event
    assert np.all(np.isfinite(generated.pt)) and np.all(generated.pt > 0) and generated.mask.all()
    assert np.all(generated.pt[:, 1] >= generated.pt[:, 2]) and np.all(generated.pt[:, 4] >= generated.pt[:, 5])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_objects": 4}, "needs the six decay quarks"),
        ({"sort": True}, "sort false"),
        ({"presence": "on"}, "presence must be"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    settings = {"n_objects": 6, "presence": "off", "sort": False, **options}
    with pytest.raises(ConfigError, match=f"preprocessing.events.representation: 'ttbar_decays' .*{message}"):
        EventTransform(settings.pop("n_objects"), representation="ttbar_decays", **settings)


def test_varying_b_masses_and_missing_quarks_are_refused(partons: EventBatch) -> None:
    events = partons.subset(slice(0, 200))
    mass = events.mass.copy()
    mass[3, 0] = 4.5
    transform = EventTransform(6, presence="auto", sort=False, representation="ttbar_decays")
    with pytest.raises(ConfigError, match=r"one fixed b-quark mass in slots 1 and 4, but they range over 4\.5 to 4\.8"):
        transform.fit([EventBatch(events.pt, events.eta, events.phi, mass, events.mask)])
    mask = events.mask.copy()
    mask[7, 2] = False
    with pytest.raises(ConfigError, match="'ttbar_decays' needs all six objects in every event, but 1 of the"):
        transform.fit([EventBatch(events.pt, events.eta, events.phi, events.mass, mask)])
