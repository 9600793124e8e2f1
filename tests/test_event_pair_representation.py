"""The "pair" event representation (two-body system + decay angles) and the event symmetries."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from hepgan.config import load_config
from hepgan.data.event_transforms import EventTransform, pair_kinematics
from hepgan.data.events import leading_pair_mass
from hepgan.domains import EVENTS
from hepgan.errors import ConfigError
from hepgan.generate import EventGenerator
from hepgan.io.events import EventBatch, read_events, write_events
from hepgan.models.events import SymmetrisedCritic
from hepgan.models.mlp import MLPCritic
from hepgan.validation.kinematics import decay_angles, four_momenta, pair_mass, pair_rapidity

from .cli_checks import assert_one_error_line, run_cli
from .helpers import write_untrained_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "events.yaml"
PYTHIA_EVENTS = ROOT / "data" / "zmumu_pythia.h5"
MUON_MASS_GEV = 0.10566
Z_MASS_GEV = 91.1876


@pytest.fixture(scope="module")
def pythia_events() -> EventBatch:
    """The first 6000 Pythia 8 Z/γ* → μμ events of the shipped reference (GeV)."""
    return read_events(PYTHIA_EVENTS).subset(slice(0, 6000))


@pytest.fixture(scope="module")
def pair_transform(pythia_events: EventBatch) -> EventTransform:
    transform = EventTransform(2, representation="pair", symmetries=("eta_flip", "phi_rotation"))
    return transform.fit([pythia_events.subset(slice(0, 4000)), pythia_events.subset(slice(4000, None))])


def muons(p1: tuple[float, float, float], p2: tuple[float, float, float]) -> EventBatch:
    """One event of two muons from their (px, py, pz) in GeV, pT-ordered."""
    rows = []
    for px, py, pz in (p1, p2):
        pt = np.hypot(px, py)
        rows.append((pt, np.arcsinh(pz / pt), np.arctan2(py, px)))
    rows.sort(key=lambda row: -row[0])
    pt, eta, phi = (np.array([[row[i] for row in rows]]) for i in range(3))
    return EventBatch(pt, eta, phi, np.full((1, 2), MUON_MASS_GEV), np.ones((1, 2), dtype=bool))


def angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b))))


def test_round_trip_of_pythia_events(pythia_events: EventBatch, pair_transform: EventTransform) -> None:
    t = pair_transform
    assert t.mass_mode == "fixed" and t.n_features == 8
    assert t.feature_names()[:3] == ["log_mass_12", "log_pt_12", "y_12"]
    np.testing.assert_allclose(t.object_mass, MUON_MASS_GEV, rtol=1e-6)
    features = t.forward(pythia_events, np.random.default_rng(7))
    assert features.shape == (6000, 8) and features.dtype == torch.float64
    back = t.inverse(features)
    np.testing.assert_array_equal(back.mask, True)
    np.testing.assert_allclose(back.pt, pythia_events.pt, rtol=1e-9)
    np.testing.assert_allclose(back.eta, pythia_events.eta, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(angle_diff(back.phi, pythia_events.phi), 0.0, atol=1e-9)
    np.testing.assert_array_equal(back.mass, t.object_mass)
    # the object choice only changes the decay angles, never the events
    other = t.inverse(t.forward(pythia_events, np.random.default_rng(8)))
    np.testing.assert_allclose(other.pt, back.pt, rtol=1e-12)
    # the quantile-mapped features are close to standard normal; the angles lie on the unit circle
    assert torch.all(features[:, [0, 1, 2, 5]].mean(dim=0).abs() < 0.05)
    np.testing.assert_allclose((features[:, 3] ** 2 + features[:, 4] ** 2).numpy(), 1.0, rtol=1e-12)


def test_pair_mass_feature_is_the_four_vector_mass(pythia_events: EventBatch, pair_transform: EventTransform) -> None:
    features = pair_transform.forward(pythia_events).requires_grad_(True)
    p4 = four_momenta(pythia_events.pt, pythia_events.eta, pythia_events.phi, np.full((6000, 2), MUON_MASS_GEV))
    expected = pair_mass(p4[:, 0], p4[:, 1])
    mass = leading_pair_mass(features, pair_transform)
    np.testing.assert_allclose(mass.detach().numpy(), expected, rtol=1e-8)
    mass.sum().backward()  # the MMD term's mass stays differentiable
    assert torch.isfinite(features.grad).all() and features.grad[:, 0].abs().min() > 0
    assert features.grad[:, 1:].abs().max() == 0
    kin = pair_kinematics(pythia_events, MUON_MASS_GEV)
    np.testing.assert_allclose(kin["m_12"].numpy(), expected, rtol=1e-11)
    np.testing.assert_allclose(kin["y_12"].numpy(), pair_rapidity(p4[:, 0], p4[:, 1]), rtol=1e-9, atol=1e-12)


def test_decay_angles_agree_with_vector_boosts(pythia_events: EventBatch) -> None:
    second = np.random.default_rng(3).random(len(pythia_events)) < 0.5
    kin = pair_kinematics(pythia_events, MUON_MASS_GEV, second)
    p4 = four_momenta(pythia_events.pt, pythia_events.eta, pythia_events.phi, np.full((6000, 2), MUON_MASS_GEV))
    cos_1, phi_1 = decay_angles(p4[:, 0], p4[:, 1])
    cos_2, phi_2 = decay_angles(p4[:, 1], p4[:, 0])
    np.testing.assert_allclose(cos_2, -cos_1, atol=1e-9)  # back to back in the rest frame
    np.testing.assert_allclose(angle_diff(phi_2, phi_1 + np.pi), 0.0, atol=1e-9)
    np.testing.assert_allclose(kin["cos_theta_star"].numpy(), np.where(second, cos_2, cos_1), atol=1e-9)
    np.testing.assert_allclose(angle_diff(kin["phi_star"].numpy(), np.where(second, phi_2, phi_1)), 0.0, atol=1e-8)


def test_cos_theta_star_of_a_z_at_rest() -> None:
    """Z at rest decaying along the beam: muon 1 along +z has cos θ* = +1, the other −1."""
    p = np.sqrt(Z_MASS_GEV**2 / 4 - MUON_MASS_GEV**2)
    tiny = 1e-7  # pT > 0 so that η is finite
    batch = muons((tiny, 0.0, p), (-tiny, 0.0, -p))
    kin = pair_kinematics(batch, MUON_MASS_GEV)
    np.testing.assert_allclose(kin["m_12"].numpy(), Z_MASS_GEV, rtol=1e-12)
    assert float(kin["pt_12"]) < 1e-12 and abs(float(kin["y_12"])) < 1e-12
    np.testing.assert_allclose(kin["cos_theta_star"].numpy(), 1.0, atol=1e-12)
    swapped = pair_kinematics(batch, MUON_MASS_GEV, np.array([True]))
    np.testing.assert_allclose(swapped["cos_theta_star"].numpy(), -1.0, atol=1e-12)


@pytest.mark.parametrize(("phi_star", "azimuth"), [(0.0, 0.0), (np.pi / 2, 0.0), (np.pi / 2, 2.0), (-2.5, -1.0)])
def test_decay_angles_of_a_boosted_z_by_hand(phi_star: float, azimuth: float) -> None:
    """A Z with pT = 30 GeV at y = 0, muon 1 at θ* = 60° in its rest frame, boosted by hand.

    Rest frame: q* = p (sin θ* cos φ*, sin θ* sin φ*, cos θ*) along (x′ = pair direction, y′, z).
    A boost along x′ with γ = E/m, γβ = pT/m gives the lab muons
    (γ q*_x′ ± pT/2, ±q*_y′, ±q*_z) (the ± for muon 1 and 2), then the event is turned by
    ``azimuth``.
    """
    pt_z, cos_t = 30.0, 0.5
    energy = np.hypot(Z_MASS_GEV, pt_z)
    p = np.sqrt(Z_MASS_GEV**2 / 4 - MUON_MASS_GEV**2)
    sin_t = np.sqrt(1 - cos_t**2)
    q = (p * sin_t * np.cos(phi_star), p * sin_t * np.sin(phi_star), p * cos_t)
    mu = [(energy / Z_MASS_GEV * s * q[0] + pt_z / 2, s * q[1], s * q[2]) for s in (1.0, -1.0)]
    c, s = np.cos(azimuth), np.sin(azimuth)
    mu = [(x * c - y * s, x * s + y * c, z) for x, y, z in mu]
    batch = muons(*mu)
    first_is_muon_1 = bool(np.isclose(batch.pt[0, 0], np.hypot(*mu[0][:2])))
    kin = pair_kinematics(batch, MUON_MASS_GEV, np.array([not first_is_muon_1]))  # angles of muon 1
    np.testing.assert_allclose(kin["m_12"].numpy(), Z_MASS_GEV, rtol=1e-12)
    np.testing.assert_allclose(kin["pt_12"].numpy(), pt_z, rtol=1e-12)
    np.testing.assert_allclose(kin["y_12"].numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(angle_diff(kin["phi_12"].numpy(), azimuth), 0.0, atol=1e-12)
    np.testing.assert_allclose(kin["cos_theta_star"].numpy(), cos_t, rtol=1e-12)
    np.testing.assert_allclose(angle_diff(kin["phi_star"].numpy(), phi_star), 0.0, atol=1e-12)
    other = pair_kinematics(batch, MUON_MASS_GEV, np.array([first_is_muon_1]))  # muon 2: the opposite direction
    np.testing.assert_allclose(other["cos_theta_star"].numpy(), -cos_t, rtol=1e-12)
    np.testing.assert_allclose(angle_diff(other["phi_star"].numpy(), phi_star + np.pi), 0.0, atol=1e-12)


def test_eta_flip_maps_an_event_to_its_mirror(pair_transform: EventTransform) -> None:
    event = muons((30.0, 20.0, 80.0), (-25.0, -15.0, -10.0))
    mirror = EventBatch(event.pt, -event.eta, event.phi, event.mass, event.mask)
    copies = event.subset(np.zeros(400, dtype=int))
    only_flip = EventTransform.from_state_dict({**pair_transform.state_dict(), "symmetries": ["eta_flip"]})
    features = only_flip.forward(copies)
    out = only_flip.inverse(only_flip.apply_symmetries(features, torch.Generator().manual_seed(2)))
    flipped = out.eta[:, 0] * event.eta[0, 0] < 0
    assert 150 < flipped.sum() < 250  # probability ½ each
    for got, want in ((out.subset(flipped), mirror), (out.subset(~flipped), event)):
        np.testing.assert_allclose(got.pt, np.repeat(want.pt, len(got), axis=0), rtol=1e-9)
        np.testing.assert_allclose(got.eta, np.repeat(want.eta, len(got), axis=0), rtol=1e-9)
        np.testing.assert_allclose(angle_diff(got.phi, np.repeat(want.phi, len(got), axis=0)), 0.0, atol=1e-9)
    # the mirrored event's features are the sign-flipped y_12 and cos θ* (odd quantile maps)
    f_event, f_mirror = only_flip.forward(event), only_flip.forward(mirror)
    torch.testing.assert_close(f_mirror[:, [2, 5]], -f_event[:, [2, 5]], rtol=0, atol=1e-9)
    torch.testing.assert_close(f_mirror[:, [0, 1, 3, 4, 6, 7]], f_event[:, [0, 1, 3, 4, 6, 7]], rtol=0, atol=1e-9)


def test_phi_rotation_turns_the_whole_event(pair_transform: EventTransform) -> None:
    event = muons((30.0, 20.0, 80.0), (-25.0, -15.0, -10.0))
    copies = event.subset(np.zeros(200, dtype=int))
    only_rotation = EventTransform.from_state_dict({**pair_transform.state_dict(), "symmetries": ["phi_rotation"]})
    rotated = only_rotation.apply_symmetries(only_rotation.forward(copies), torch.Generator().manual_seed(5))
    out = only_rotation.inverse(rotated)
    np.testing.assert_allclose(out.pt, np.repeat(event.pt, 200, axis=0), rtol=1e-9)
    np.testing.assert_allclose(out.eta, np.repeat(event.eta, 200, axis=0), rtol=1e-9)
    turn = angle_diff(out.phi[:, 0], event.phi[0, 0])
    np.testing.assert_allclose(angle_diff(out.phi[:, 1] - turn, event.phi[0, 1]), 0.0, atol=1e-9)
    assert turn.std() > 1.5  # uniform angles: std π/√3 ≈ 1.8


def test_eta_flip_in_the_objects_representation() -> None:
    rng = np.random.default_rng(4)
    pt = -np.sort(-(rng.exponential(25.0, (500, 3)) + 5.0), axis=1)
    batch = EventBatch(pt, rng.normal(0.4, 1.5, pt.shape), rng.uniform(-3, 3, pt.shape), np.zeros(pt.shape), pt > 0)
    transform = EventTransform(3, symmetries=["eta_flip"]).fit([batch])
    mirror = EventBatch(batch.pt, -batch.eta, batch.phi, batch.mass, batch.mask)
    features, mirrored = transform.forward(batch), transform.forward(mirror)
    torch.testing.assert_close(mirrored[:, [1, 5, 9]], -features[:, [1, 5, 9]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(transform.inverse(features).eta, batch.eta, rtol=1e-9, atol=1e-9)


def test_state_dict_round_trip_and_old_states(pythia_events: EventBatch, pair_transform: EventTransform) -> None:
    buffer = io.BytesIO()
    torch.save(pair_transform.state_dict(), buffer)
    buffer.seek(0)
    restored = EventTransform.from_state_dict(torch.load(buffer, weights_only=True))
    assert restored.representation == "pair" and restored.symmetries == ("eta_flip", "phi_rotation")
    features = pair_transform.forward(pythia_events)
    torch.testing.assert_close(restored.forward(pythia_events), features, rtol=0, atol=0)
    np.testing.assert_array_equal(restored.inverse(features).pt, pair_transform.inverse(features).pt)
    # a state written before representations and symmetries existed is the per-object transform
    objects = EventTransform(2).fit([pythia_events])
    old_state = {k: v for k, v in objects.state_dict().items() if k not in ("representation", "symmetries")}
    old = EventTransform.from_state_dict(old_state)
    assert old.representation == "objects" and old.symmetries == () and old.n_features == 8
    torch.testing.assert_close(old.forward(pythia_events), objects.forward(pythia_events), rtol=0, atol=0)
    raw = torch.randn(10, 8, generator=torch.Generator().manual_seed(0))
    assert old.apply_symmetries(raw) is raw


def test_the_symmetrised_critic_sees_transformed_events(pair_transform: EventTransform) -> None:
    torch.manual_seed(3)
    critic = SymmetrisedCritic(0, 8, (16,), pair_transform.apply_symmetries)
    plain = MLPCritic(0, 8, (16,))
    plain.load_state_dict(critic.state_dict())  # the same parameters and state-dict keys
    features = torch.randn(64, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    cond = features.new_zeros(64, 0)
    torch.manual_seed(11)
    scores = critic(features, cond)
    torch.manual_seed(11)
    expected = plain(pair_transform.apply_symmetries(features), cond)
    torch.testing.assert_close(scores, expected)
    assert not torch.allclose(scores, plain(features, cond))
    scores.sum().backward()  # gradients reach the input through the isometry
    assert torch.isfinite(features.grad).all()


def small_config(tmp_path: Path, data_path: Path, *overrides: str):
    settings = [
        f"data.path={data_path}",
        "model.latent_dim=4",
        "model.generator_hidden=[16]",
        "model.critic_hidden=[16]",
        f"training.runs_dir={tmp_path / 'runs'}",
        *overrides,
    ]
    return load_config(CONFIG, settings)


def test_symmetric_generation_and_old_checkpoints(tmp_path: Path, pythia_events: EventBatch) -> None:
    path = tmp_path / "zmumu.h5"
    write_events(path, pythia_events.subset(slice(0, 2000)))
    for symmetries in ("[eta_flip,phi_rotation]", "[]"):
        config = small_config(tmp_path, path, f"preprocessing.events.symmetries={symmetries}")
        data = EVENTS.training_data(config)
        data.fit_transform()
        torch.manual_seed(0)
        generator, critic = data.build_networks()
        assert isinstance(critic, SymmetrisedCritic) == (symmetries != "[]")
        generator.net[-1].bias.data[2] += 1.5  # an untrained generator, strongly asymmetric in y_12
        checkpoint = write_untrained_checkpoint(
            tmp_path / f"sym{len(symmetries)}.pt", config.to_dict(), data.checkpoint_entries(), generator, critic
        )
        events = EventGenerator.from_checkpoint(checkpoint, device="cpu").sample(20_000, seed=1)
        p4 = four_momenta(events.pt, events.eta, events.phi, events.mass)
        forward = float(np.mean(pair_rapidity(p4[:, 0], p4[:, 1]) > 0))
        if symmetries == "[]":
            assert forward > 0.7
        else:
            assert abs(forward - 0.5) < 0.015  # 4.2 σ of a fair coin
            again = EventGenerator.from_checkpoint(checkpoint, device="cpu").sample(20_000, seed=1)
            np.testing.assert_array_equal(again.eta, events.eta)  # the same seed, the same transforms
    # an event checkpoint written before representations existed generates as "objects"
    config = small_config(tmp_path, path, "preprocessing.events.representation=objects")
    data = EVENTS.training_data(config)
    data.fit_transform()
    generator, critic = data.build_networks()
    entries = data.checkpoint_entries()
    entries["transform"] = {k: v for k, v in entries["transform"].items() if k not in ("representation", "symmetries")}
    old_config = config.to_dict()
    old_config["preprocessing"]["events"] = {
        k: v for k, v in old_config["preprocessing"]["events"].items() if k not in ("representation", "symmetries")
    }
    old_checkpoint = write_untrained_checkpoint(tmp_path / "old.pt", old_config, entries, generator, critic)
    old = EventGenerator.from_checkpoint(old_checkpoint, device="cpu")
    assert old.transform.representation == "objects" and old.transform.n_features == 8
    assert len(old.sample(100, seed=2)) == 100


def test_pair_config_errors_are_one_line(
    tmp_path: Path, pythia_events: EventBatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match=r"preprocessing\.events\.representation"):
        EventTransform(3, representation="pair")
    with pytest.raises(ConfigError, match=r"preprocessing\.events\.symmetries"):
        EventTransform(2, symmetries=["eta_flip", "z_flip"])
    rng = np.random.default_rng(0)
    three = tmp_path / "three.h5"
    pt = -np.sort(-rng.exponential(30.0, (50, 3)) - 1.0, axis=1)
    write_events(three, EventBatch(pt, rng.normal(size=pt.shape), rng.uniform(-3, 3, pt.shape), pt * 0, pt > 0))
    missing = tmp_path / "missing.h5"
    some = pythia_events.subset(slice(0, 50))
    mask = some.mask.copy()
    mask[::7, 1] = False
    write_events(missing, EventBatch(*(np.where(mask, a, 0.0) for a in (some.pt, some.eta, some.phi, some.mass)), mask))
    small = ["--set", "training.max_steps=2", "--set", f"training.runs_dir={tmp_path / 'runs'}", "--no-progress"]
    for path, extra in (
        (three, ["--set", "data.selection.n_objects=3"]),
        (missing, []),
        (PYTHIA_EVENTS, ["--set", "preprocessing.events.representation=pairs"]),
    ):
        result = run_cli(["train", str(CONFIG), "--set", f"data.path={path}", *extra, *small], capsys, caplog)
        assert_one_error_line(result, "preprocessing.events.representation")
    assert not (tmp_path / "runs").exists()  # nothing written
    result = run_cli(
        ["train", str(CONFIG), "--set", "preprocessing.events.symmetries=[eta_flip, eta_flip]", *small], capsys, caplog
    )
    assert_one_error_line(result, "preprocessing.events.symmetries")
