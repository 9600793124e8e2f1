"""The two-body system of a pair of objects: mass, pT, rapidity, azimuth and the decay angles in its rest frame."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from hepgan.io.events import EventBatch

PAIR_CONTINUOUS = ("pair_log_mass", "pair_log_pt", "pair_y", "cos_theta")
"""Mapped (quantile or standard) pair quantities, in feature order: columns 0, 1, 2, 5."""
PAIR_PT_MIN_GEV = 1e-9
"""Smallest pair pT (GeV) fed to the logarithm; a pair exactly at rest comes back with this pT."""


class QuantityMaps(Protocol):
    """What the feature maps of a representation need of :class:`hepgan.data.event_transforms.EventTransform`."""

    log_mass_mean: torch.Tensor
    log_mass_std: torch.Tensor
    fixed_mass: torch.Tensor
    mass_epsilon_gev: float

    def to_feature(self, name: str, values: torch.Tensor, slot: int | None = None) -> torch.Tensor: ...

    def from_feature(self, name: str, features: torch.Tensor, slot: int | None = None) -> torch.Tensor: ...


def pair_kinematics(batch: EventBatch, mass: float, second: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """The "pair" representation's physical quantities of a two-object batch, objects of ``mass`` (GeV).

    Returns float64 tensors (N,): ``m_12`` and ``pt_12`` (GeV), ``y_12``, ``phi_12`` (rad),
    and ``cos_theta_star``, ``phi_star`` (rad, in [−π, π]) of object 1 (object 2 where
    ``second`` is True) in the pair rest frame: after the pure boost of the lab by −P/E,
    θ* is the polar angle to the beam (z) axis and φ* the azimuth measured from the pair's
    transverse direction (see the module docstring). The masses stored in ``batch`` are
    not used.
    """
    if second is None:
        second = np.zeros(len(batch), dtype=bool)
    pt, eta, phi = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (batch.pt, batch.eta, batch.phi))
    m2 = mass * mass
    px, py, pz = pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)
    m_t = torch.sqrt(m2 + pt**2)
    y = torch.asinh(pz / m_t)
    # p1·p2 (Minkowski) = mT1 mT2 cosh Δy − pT1 pT2 cos Δφ as a sum of non-negative terms
    pt1, pt2, mt1, mt2 = pt[:, 0], pt[:, 1], m_t[:, 0], m_t[:, 1]
    dot = (
        (m2 * (pt1**2 + pt2**2) + m2 * m2) / torch.clamp(mt1 * mt2 + pt1 * pt2, min=1e-300)
        + 2.0 * mt1 * mt2 * torch.sinh((y[:, 0] - y[:, 1]) / 2.0) ** 2
        + 2.0 * pt1 * pt2 * torch.sin((phi[:, 0] - phi[:, 1]) / 2.0) ** 2
    )
    mass_12 = torch.sqrt(2.0 * m2 + 2.0 * dot)
    total = (px.sum(dim=1), py.sum(dim=1), pz.sum(dim=1))
    pt_12 = torch.hypot(total[0], total[1])
    phi_12 = torch.atan2(total[1], total[0])
    y_12 = torch.asinh(total[2] / torch.sqrt(mass_12**2 + pt_12**2))
    energy = torch.sqrt(mass_12**2 + pt_12**2 + total[2] ** 2)
    sign = 1.0 - 2.0 * torch.from_numpy(np.asarray(second, dtype=np.float64))  # +1: object 1 defines the angles
    q = [sign * (c[:, 0] - c[:, 1]) / 2.0 for c in (px, py, pz)]
    k = sum(a * b for a, b in zip(total, q, strict=True)) / (energy * (energy + mass_12))
    q_star = [qc - k * p for qc, p in zip(q, total, strict=True)]  # boosted into the pair rest frame
    along = q_star[0] * torch.cos(phi_12) + q_star[1] * torch.sin(phi_12)
    across = -q_star[0] * torch.sin(phi_12) + q_star[1] * torch.cos(phi_12)
    norm = torch.sqrt(along**2 + across**2 + q_star[2] ** 2)
    return {
        "m_12": mass_12,
        "pt_12": pt_12,
        "y_12": y_12,
        "phi_12": phi_12,
        "cos_theta_star": torch.clamp(q_star[2] / torch.clamp(norm, min=1e-300), -1.0, 1.0),
        "phi_star": torch.atan2(across, along),
    }


def pair_momenta(
    mass_12: torch.Tensor,
    pt_12: torch.Tensor,
    y_12: torch.Tensor,
    phi_12: tuple[torch.Tensor, torch.Tensor],
    cos_theta: torch.Tensor,
    phi_star: tuple[torch.Tensor, torch.Tensor],
    mass: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """px, py, pz (N, 2) in GeV of the two objects of mass ``mass`` rebuilt from the pair quantities; inverse of
    :func:`pair_kinematics`. ``phi_12`` and ``phi_star`` are (cos, sin) pairs on the unit circle."""
    (cos_phi_12, sin_phi_12), (cos_phi_star, sin_phi_star) = phi_12, phi_star
    p_star = torch.sqrt(torch.clamp(mass_12**2 / 4.0 - mass**2, min=0.0))
    sin_theta = torch.sqrt(torch.clamp(1.0 - cos_theta**2, min=0.0))
    along, across = p_star * sin_theta * cos_phi_star, p_star * sin_theta * sin_phi_star  # along x′, y′
    q_star = (
        along * cos_phi_12 - across * sin_phi_12,
        along * sin_phi_12 + across * cos_phi_12,
        p_star * cos_theta,
    )
    m_t = torch.sqrt(mass_12**2 + pt_12**2)
    total = (pt_12 * cos_phi_12, pt_12 * sin_phi_12, m_t * torch.sinh(y_12))
    energy = m_t * torch.cosh(y_12)
    # rest frame -> lab: q = q* + (P·q*) P / (m12 (E + m12)), the time component of q* being 0
    k = sum(a * b for a, b in zip(total, q_star, strict=True)) / torch.clamp(mass_12 * (energy + mass_12), 1e-300)
    q_lab = [qs + k * p for qs, p in zip(q_star, total, strict=True)]
    momenta = [
        torch.stack([p / 2.0 + sign * q for p, q in zip(total, q_lab, strict=True)], dim=1) for sign in (1.0, -1.0)
    ]  # (N, 3) for objects a and b
    px, py, pz = (torch.stack([m[:, i] for m in momenta], dim=1) for i in range(3))
    return px, py, pz


def unit_circle(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) scaled onto the unit circle; (1, 0) for the origin."""
    radius = torch.hypot(cos, sin)
    zero = radius == 0
    safe = torch.where(zero, torch.ones_like(radius), radius)
    return torch.where(zero, torch.ones_like(cos), cos / safe), sin / safe


def wrap_angle(phi: torch.Tensor) -> torch.Tensor:
    """atan2 output in [−π, π] mapped into (−π, π] (−π becomes π)."""
    return torch.where(phi <= -torch.pi, torch.full_like(phi, torch.pi), phi)


def pair_continuous(kinematics: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mapped pair quantities (:data:`PAIR_CONTINUOUS`) from :func:`pair_kinematics` output."""
    return {
        "pair_log_mass": torch.log(kinematics["m_12"]),
        "pair_log_pt": torch.log(torch.clamp(kinematics["pt_12"], min=PAIR_PT_MIN_GEV)),
        "pair_y": kinematics["y_12"],
        "cos_theta": kinematics["cos_theta_star"],
    }


def pair_features(maps: QuantityMaps, batch: EventBatch, second: np.ndarray) -> torch.Tensor:
    """The "pair" features (N, 8) float64 of a complete two-object batch; ``second`` as in :func:`pair_kinematics`."""
    kinematics = pair_kinematics(batch, float(maps.fixed_mass[0]), second)
    q = pair_continuous(kinematics)
    return torch.stack(
        [
            maps.to_feature("pair_log_mass", q["pair_log_mass"], 0),
            maps.to_feature("pair_log_pt", q["pair_log_pt"], 0),
            maps.to_feature("pair_y", q["pair_y"], 0),
            torch.cos(kinematics["phi_12"]),
            torch.sin(kinematics["phi_12"]),
            maps.to_feature("cos_theta", q["cos_theta"], 0),
            torch.cos(kinematics["phi_star"]),
            torch.sin(kinematics["phi_star"]),
        ],
        dim=1,
    )


def pair_values(maps: QuantityMaps, feats: torch.Tensor) -> list[torch.Tensor]:
    """(pT, η, φ, m), each (N, 2) in GeV and rad (objects a, b; not yet pT-ordered), from "pair" features (N, 8)."""
    n = len(feats)
    mass_12 = torch.exp(maps.from_feature("pair_log_mass", feats[:, 0], 0))
    pt_12 = torch.exp(maps.from_feature("pair_log_pt", feats[:, 1], 0))
    y_12 = maps.from_feature("pair_y", feats[:, 2], 0)
    cos_theta = torch.clamp(maps.from_feature("cos_theta", feats[:, 5], 0), -1.0, 1.0)
    phi_12, phi_star = unit_circle(feats[:, 3], feats[:, 4]), unit_circle(feats[:, 6], feats[:, 7])
    mass = float(maps.fixed_mass[0])
    px, py, pz = pair_momenta(mass_12, pt_12, y_12, phi_12, cos_theta, phi_star, mass)
    pt = torch.hypot(px, py)
    eta = torch.asinh(pz / torch.clamp(pt, min=1e-300))
    return [pt, eta, wrap_angle(torch.atan2(py, px)), torch.full((n, 2), mass, dtype=torch.float64)]
