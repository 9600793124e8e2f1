"""The two-body system of a pair of objects: mass, pT, rapidity, azimuth and the decay angles in its rest frame."""

from __future__ import annotations

import numpy as np
import torch

from hepgan.io.events import EventBatch


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
