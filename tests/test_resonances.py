"""Resonance reconstruction rules (hepgan.data.resonances) against hand-built top-quark decays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vector

from hepgan.data.resonances import PEAKS, check_reconstruction, default_reconstruction, reconstruct, reconstruct_batch
from hepgan.io.events import EventBatch

M_TOP, M_W, M_B = 172.5, 80.4, 4.8


def _two_body(parent: vector.MomentumObject4D, m1: float, m2: float, rng: np.random.Generator) -> tuple:
    """Isotropic decay of ``parent`` into masses m1, m2 (GeV), returned in the lab frame."""
    m = parent.mass
    p = np.sqrt((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)) / (2 * m)
    cos_t, phi = rng.uniform(-1, 1), rng.uniform(-np.pi, np.pi)
    sin_t = np.sqrt(1 - cos_t**2)
    px, py, pz = p * sin_t * np.cos(phi), p * sin_t * np.sin(phi), p * cos_t
    a = vector.obj(px=px, py=py, pz=pz, E=np.hypot(p, m1)).boost_p4(parent)
    b = vector.obj(px=-px, py=-py, pz=-pz, E=np.hypot(p, m2)).boost_p4(parent)
    return a, b


def _ttbar_events(n: int, seed: int) -> tuple[EventBatch, np.ndarray]:
    """n events of t → b (W → q q̄) and t̄ likewise, in truth slots; and the two tops' pT (GeV)."""
    rng = np.random.default_rng(seed)
    rows, top_pt = [], []
    for _ in range(n):
        pt, eta, phi = rng.uniform(20, 300), rng.normal(0, 1), rng.uniform(-np.pi, np.pi)
        t1 = vector.obj(pt=pt, eta=eta, phi=phi, mass=M_TOP)
        t2 = vector.obj(pt=rng.uniform(20, 300), eta=-eta + rng.normal(0, 0.5), phi=phi + np.pi, mass=M_TOP)
        event = []
        for top in (t1, t2):
            b, w = _two_body(top, M_B, M_W, rng)
            q1, q2 = _two_body(w, 0.0, 0.0, rng)
            q1, q2 = (q1, q2) if q1.pt >= q2.pt else (q2, q1)
            event += [b, q1, q2]
        rows.append([(o.pt, o.eta, o.phi, max(o.mass, 0.0)) for o in event])
        top_pt.append((t1.pt, t2.pt))
    values = np.array(rows)
    batch = EventBatch(
        pt=values[..., 0], eta=values[..., 1], phi=values[..., 2], mass=values[..., 3], mask=np.ones((n, 6), bool)
    )
    return batch, np.array(top_pt)


def test_pair_mass_of_back_to_back_objects() -> None:
    """Two massless objects of pT 45 GeV back to back at η = 0: m_12 = 90 GeV."""
    batch = EventBatch(
        pt=np.array([[45.0, 45.0]]),
        eta=np.zeros((1, 2)),
        phi=np.array([[0.0, np.pi]]),
        mass=np.zeros((1, 2)),
        mask=np.ones((1, 2), bool),
    )
    assert reconstruct_batch(batch, "pair")["m_12"] == pytest.approx([90.0], rel=1e-9)


def test_parton_slots_give_the_generated_w_and_top_masses() -> None:
    batch, top_pt = _ttbar_events(50, seed=1)
    out = reconstruct_batch(batch, "ttbar_partons")
    for key in ("m_w1", "m_w2"):
        np.testing.assert_allclose(out[key], M_W, rtol=1e-6)
    for key in ("m_t1", "m_t2"):
        np.testing.assert_allclose(out[key], M_TOP, rtol=1e-6)
    np.testing.assert_allclose(out["pt_t1"], top_pt[:, 0], rtol=1e-6)
    np.testing.assert_allclose(out["pt_t2"], top_pt[:, 1], rtol=1e-6)


def test_jet_pairing_recovers_the_decay_from_pt_ordered_objects() -> None:
    """The χ² rule finds the true triplets among 90 when the six objects are shuffled into pT order."""
    batch, top_pt = _ttbar_events(200, seed=2)
    order = np.argsort(-batch.pt, axis=1)
    jets = EventBatch(
        *(np.take_along_axis(a, order, axis=1) for a in (batch.pt, batch.eta, batch.phi, batch.mass)), mask=batch.mask
    )
    out = reconstruct_batch(jets, "ttbar_jets")
    correct = np.isclose(out["m_w1"], M_W, rtol=1e-5) & np.isclose(out["m_w2"], M_W, rtol=1e-5)
    correct &= np.isclose(out["m_t1"], M_TOP, rtol=1e-5) & np.isclose(out["m_t2"], M_TOP, rtol=1e-5)
    # a wrong split can also give two W masses near 80.4 and equal tops only by accident
    assert correct.mean() >= 0.97
    assert np.all(out["pt_t1"] >= out["pt_t2"])
    np.testing.assert_allclose(
        np.sort(top_pt[correct], axis=1)[:, ::-1], np.c_[out["pt_t1"], out["pt_t2"]][correct], rtol=1e-5
    )


def test_missing_objects_give_nan_and_gradients_flow() -> None:
    batch, _ = _ttbar_events(4, seed=3)
    batch.mask[0, 5] = False
    out = reconstruct_batch(batch, "ttbar_jets")
    assert np.isnan(out["m_w1"][0]) and np.all(np.isfinite(out["m_w1"][1:]))
    p4 = torch.randn(8, 6, 4, dtype=torch.float64)
    p4[..., 0] = p4[..., 1:].norm(dim=-1) + 1.0
    p4.requires_grad_(True)
    masses = reconstruct(p4, None, "ttbar_jets")
    sum(value.sum() for value in masses.values()).backward()
    assert p4.grad is not None and torch.isfinite(p4.grad).all() and p4.grad.abs().sum() > 0


def test_rule_names_and_object_counts_are_checked() -> None:
    with pytest.raises(ValueError, match=r"data\.reconstruction: expected one of"):
        check_reconstruction("ttbar", 6, "data.reconstruction")
    with pytest.raises(ValueError, match="exactly 6 objects per event, the events have 8"):
        check_reconstruction("ttbar_partons", 8, "data.reconstruction")
    with pytest.raises(ValueError, match="at least 6 objects per event, the events have 4"):
        check_reconstruction("ttbar_jets", 4, "data.reconstruction")
    assert default_reconstruction({"reconstruction": b"ttbar_jets"}, 8) == "ttbar_jets"
    assert default_reconstruction({}, 2) == "pair" and default_reconstruction({}, 1) == "none"
    assert [peak.name for peak in PEAKS["ttbar_partons"]] == ["m_w", "m_t"]
