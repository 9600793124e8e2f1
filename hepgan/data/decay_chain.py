"""The "ttbar_decays" event representation: a hadronic tt̄ pair as its decay chain, t → W b, W → q q̄'.

The six decay quarks of a tt̄ event in truth slots (b, W₁ daughters by pT, b̄, W₂ daughters by
pT; ``objects: top_decays`` of :mod:`hepgan.sim.pythia`) are rewritten as the chain of
two-body decays that made them, so that every resonance mass is a feature of its own:

- the tt̄ system: ln m_tt̄, ln pT_tt̄, y_tt̄, φ_tt̄ (as cos, sin), and the direction (cos θ*, φ*)
  of the top (slot 1–3) in the tt̄ rest frame;
- per top k = 1, 2: ln m_t, the direction of its W in the top rest frame, ln m_W, the
  direction of one W daughter in the W rest frame, and ln m of both W daughters
  (``log_mass_q{k}a`` for the daughter that defines the angles, ``…b`` for the other).

Every decay angle is taken in the parent's rest frame. The tt̄ decay (after the pure boost of the
lab into the tt̄ rest frame) uses the beam frame: the beam (z) as polar axis and the azimuth measured from the
parent's transverse direction x′ = (cos φ_P, sin φ_P, 0), y′ = ẑ × x′ (the convention of the
"pair" representation, :mod:`hepgan.data.pair_kinematics`), so cos θ* is the production angle.
The top and W decays use helicity frames, reached by successive pure boosts, lab → tt̄ rest
frame → top rest frame → W rest frame: the top decay's polar axis z′ is the top's direction in
the tt̄ rest frame, the W decay's is the W's direction in the top rest frame, with
y′ = ẑ × z′ / |ẑ × z′| (ẑ the beam) and x′ = y′ × z′. The W decay's cos θ* is then the W
helicity angle, whose distribution the W polarisation fixes (longitudinal share ≈ 0.7 in
t → W b). A rotation of the event about the beam changes φ_tt̄ only; the mirror η → −η flips y_tt̄, the tt̄
cos θ* and cos φ* of the top and W decays (φ* → π − φ* in the helicity frame). The W daughters
are stored by pT, so which of them defines the W angles is drawn at random per event; the
inverse re-orders them by pT. The b-quark masses must be fixed (one value per b slot).

A Breit–Wigner peak is then a one-dimensional distribution (the ln m features, mapped to a
standard normal through their quantiles like every continuous feature), and the top pT's come
from the boosts, so a generator cannot trade peak widths against kinematics. Inverse
kinematics rebuild each daughter pair back to back in its parent's rest frame, with the
momentum √λ(M², m_a², m_b²)/(2M), and boost it to the lab with
p = p* + P((P·p*)/(M(E + M)) + E*/M). Masses of composite systems come from
m² = m_a² + m_b² + 2 p_a·p_b with the Minkowski product written as a sum of non-negative terms
in (pT, y, φ), accurate for collimated pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from hepgan.data.pair_kinematics import QuantityMaps, unit_circle, wrap_angle
from hepgan.data.resonances import four_momenta_from_arrays
from hepgan.io.events import EventBatch

TTBAR_DECAY_OBJECTS = 6
B_SLOTS = (0, 3)
W_DAUGHTER_SLOTS = ((1, 2), (4, 5))
TT_FEATURES = (
    "log_mass_tt",
    "log_pt_tt",
    "y_tt",
    "cos_phi_tt",
    "sin_phi_tt",
    "cos_theta_tt",
    "cos_phi_star_tt",
    "sin_phi_star_tt",
)
TOP_FEATURES = (
    "log_mass_t",
    "cos_theta_t",
    "cos_phi_star_t",
    "sin_phi_star_t",
    "log_mass_w",
    "cos_theta_w",
    "cos_phi_star_w",
    "sin_phi_star_w",
    "log_mass_q{k}a",
    "log_mass_q{k}b",
)
DECAY_FEATURES = TT_FEATURES + tuple(
    (name.format(k=k) if "{k}" in name else f"{name}{k}") for k in (1, 2) for name in TOP_FEATURES
)
"""The 28 feature names in column order."""
TOP_BLOCK = len(TT_FEATURES)
"""Column of top 1's first feature; top 2's block follows after len(TOP_FEATURES) columns."""
MAPPED_PER_DECAY = ("log_mass", "cos_theta")
"""Mapped quantities of each top and W decay, in feature order (then φ* as cos, sin)."""
DECAY_CONTINUOUS = (
    "tt_log_mass",
    "tt_log_pt",
    "tt_y",
    "tt_cos_theta",
    *(f"{part}{k}_{what}" for k in (1, 2) for part in ("t", "w") for what in MAPPED_PER_DECAY),
)
"""Quantities mapped like ln pT (quantile or standard), one slot each, in feature order."""
DECAY_COLUMNS = dict(zip(DECAY_CONTINUOUS, (0, 1, 2, 5, 8, 9, 12, 13, 18, 19, 22, 23), strict=True))
"""Feature column of each mapped quantity."""
QUARK_MASS_COLUMNS = (16, 17, 26, 27)
"""Feature columns of the four W daughters' standardised ln m."""
MASS_COLUMNS = {"m_w1": 12, "m_t1": 8, "m_w2": 22, "m_t2": 18}
"""Feature columns of the four resonance masses (their ln m)."""
ETA_ODD = (2, 5, 10, 14, 20, 24)
"""Columns that change sign under η → −η: y_tt̄, cos θ* of the tt̄ decay (beam frame) and cos φ* of the top and W
decays (helicity frame: φ* → π − φ*, cos θ* unchanged)."""
AZIMUTH = ((3, 4),)
"""The one lab azimuth, φ_tt̄ (turned by a rotation about the beam)."""
PT_MIN_GEV = 1e-9
"""Smallest tt̄ pT (GeV) fed to the logarithm."""

Vector = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""(E, px, py, pz, m) in GeV: a four-momentum with its mass kept accurately."""


def symmetric_quantities(eta_flip: bool) -> set[str]:
    """Quantities whose maps are fitted odd: the W angles (random daughter), with ``eta_flip`` also y_tt̄ and θ*_tt̄."""
    odd = {"w1_cos_theta", "w2_cos_theta"}
    return odd | ({"tt_y", "tt_cos_theta"} if eta_flip else set())


def _rapidity_form(v: Vector) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pT, transverse mass, rapidity) of a vector."""
    pt = torch.hypot(v[1], v[2])
    m_t = torch.sqrt(v[4] ** 2 + pt**2)
    return pt, m_t, torch.asinh(v[3] / torch.clamp(m_t, min=1e-300))


def combine(a: Vector, b: Vector) -> Vector:
    """a + b, its mass from m² = m_a² + m_b² + 2 a·b with a·b a sum of non-negative terms."""
    pt_a, mt_a, y_a = _rapidity_form(a)
    pt_b, mt_b, y_b = _rapidity_form(b)
    ma2, mb2 = a[4] ** 2, b[4] ** 2
    dphi = torch.atan2(a[2] * b[1] - a[1] * b[2], a[1] * b[1] + a[2] * b[2])
    dot = (
        (ma2 * pt_b**2 + mb2 * pt_a**2 + ma2 * mb2) / torch.clamp(mt_a * mt_b + pt_a * pt_b, min=1e-300)
        + 2.0 * mt_a * mt_b * torch.sinh((y_a - y_b) / 2.0) ** 2
        + 2.0 * pt_a * pt_b * torch.sin(dphi / 2.0) ** 2
    )
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], torch.sqrt(ma2 + mb2 + 2.0 * dot))


def _polar_tilt(parent: Vector) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos α, sin α) of the parent's polar angle α to the beam: the helicity axis is the beam axis tilted by α."""
    p_t = torch.hypot(parent[1], parent[2])
    norm = torch.hypot(p_t, parent[3])
    at_rest = norm <= 0  # no flight direction: the beam axis itself
    safe = torch.where(at_rest, torch.ones_like(norm), norm)
    return torch.where(at_rest, torch.ones_like(norm), parent[3] / safe), torch.where(at_rest, 0.0 * norm, p_t / safe)


def to_rest(v: Vector, parent: Vector) -> Vector:
    """``v`` after the pure boost into ``parent``'s rest frame (both given in one frame)."""
    energy, px, py, pz, mass = parent
    dot = px * v[1] + py * v[2] + pz * v[3]
    k = dot / (mass * (energy + mass)) - v[0] / mass
    return ((energy * v[0] - dot) / mass, v[1] + k * px, v[2] + k * py, v[3] + k * pz, v[4])


def from_rest(v: Vector, parent: Vector) -> Vector:
    """``v``, given in ``parent``'s rest frame, in the frame where ``parent`` is given (inverse of :func:`to_rest`)."""
    energy, px, py, pz, mass = parent
    dot = px * v[1] + py * v[2] + pz * v[3]
    k = dot / (mass * (energy + mass)) + v[0] / mass
    return ((energy * v[0] + dot) / mass, v[1] + k * px, v[2] + k * py, v[3] + k * pz, v[4])


def decay_angles(parent: Vector, daughter: Vector, helicity: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos θ*, φ*) of ``daughter`` after the pure boost of the lab into ``parent``'s rest frame, in the beam frame
    or (``helicity``) the helicity frame (module docstring)."""
    energy, px, py, pz, mass = parent
    k = (px * daughter[1] + py * daughter[2] + pz * daughter[3]) / (mass * (energy + mass)) - daughter[0] / mass
    star = (daughter[1] + k * px, daughter[2] + k * py, daughter[3] + k * pz)
    phi_p = torch.atan2(py, px)
    along = star[0] * torch.cos(phi_p) + star[1] * torch.sin(phi_p)
    across = -star[0] * torch.sin(phi_p) + star[1] * torch.cos(phi_p)
    polar = star[2]
    if helicity:  # x′ = (cos φ_P cos α, sin φ_P cos α, −sin α), z′ = P/|P|
        cos_a, sin_a = _polar_tilt(parent)
        along, polar = along * cos_a - polar * sin_a, along * sin_a + polar * cos_a
    norm = torch.sqrt(along**2 + across**2 + polar**2)
    return torch.clamp(polar / torch.clamp(norm, min=1e-300), -1.0, 1.0), torch.atan2(across, along)


def two_body(
    parent: Vector,
    mass_a: torch.Tensor,
    mass_b: torch.Tensor,
    cos_theta: torch.Tensor,
    cos_phi: torch.Tensor,
    sin_phi: torch.Tensor,
    helicity: bool = False,
) -> tuple[Vector, Vector]:
    """Daughters a and b in the lab of ``parent`` → a b, a at (cos θ*, φ*) in the parent rest frame (beam or
    ``helicity`` frame)."""
    _, px, py, _, mass = parent
    m2 = mass**2
    lam = (m2 - (mass_a + mass_b) ** 2) * (m2 - (mass_a - mass_b) ** 2)
    p_star = torch.sqrt(torch.clamp(lam, min=0.0)) / (2.0 * mass)
    sin_theta = torch.sqrt(torch.clamp(1.0 - cos_theta**2, min=0.0))
    along, across = p_star * sin_theta * cos_phi, p_star * sin_theta * sin_phi
    polar = p_star * cos_theta
    if helicity:
        cos_a, sin_a = _polar_tilt(parent)
        along, polar = along * cos_a + polar * sin_a, polar * cos_a - along * sin_a
    phi_p = torch.atan2(py, px)
    c, s = torch.cos(phi_p), torch.sin(phi_p)
    star = (along * c - across * s, along * s + across * c, polar)
    a = (torch.sqrt(mass_a**2 + p_star**2), star[0], star[1], star[2], mass_a)
    b = (torch.sqrt(mass_b**2 + p_star**2), -star[0], -star[1], -star[2], mass_b)
    return from_rest(a, parent), from_rest(b, parent)


def decay_quantities(batch: EventBatch, choice: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """The chain's quantities (N,) float64 from six truth-slot quarks: every name of :data:`DECAY_CONTINUOUS`, the
    angles ``tt_phi``, ``tt_phi_star``, ``t{k}_phi_star``, ``w{k}_phi_star`` (rad) and ``q{k}{a,b}_mass`` (GeV).

    ``choice`` (N, 2) bool: for W k, True takes its second (softer) daughter as the one
    that defines the W angles; None takes the first.
    """
    n = len(batch)
    choice = np.zeros((n, 2), dtype=bool) if choice is None else np.asarray(choice, dtype=bool)
    pt, eta, phi, mass = (
        torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (batch.pt, batch.eta, batch.phi, batch.mass)
    )
    p4 = four_momenta_from_arrays(pt, eta, torch.cos(phi), torch.sin(phi), mass)  # (N, 6, 4)
    quarks: list[Vector] = [(*p4[:, j].unbind(dim=1), mass[:, j]) for j in range(TTBAR_DECAY_OBJECTS)]  # type: ignore[misc]
    out: dict[str, torch.Tensor] = {}
    chains = []
    for k, (b_slot, (first, second)) in enumerate(zip(B_SLOTS, W_DAUGHTER_SLOTS, strict=True), start=1):
        swap = torch.from_numpy(choice[:, k - 1])
        qa = _where(swap, quarks[second], quarks[first])
        qb = _where(swap, quarks[first], quarks[second])
        w = combine(qa, qb)
        chains.append((combine(w, quarks[b_slot]), w, qa))
        out[f"t{k}_log_mass"], out[f"w{k}_log_mass"] = torch.log(chains[-1][0][4]), torch.log(w[4])
        out[f"q{k}a_mass"], out[f"q{k}b_mass"] = qa[4], qb[4]
    tt = combine(chains[0][0], chains[1][0])
    for k, (top, w, qa) in enumerate(chains, start=1):  # helicity frames: lab -> tt~ -> top -> W
        top_tt, w_tt = to_rest(top, tt), to_rest(w, tt)
        out[f"t{k}_cos_theta"], out[f"t{k}_phi_star"] = decay_angles(top_tt, w_tt, helicity=True)
        w_top, qa_top = to_rest(w_tt, top_tt), to_rest(to_rest(qa, tt), top_tt)
        out[f"w{k}_cos_theta"], out[f"w{k}_phi_star"] = decay_angles(w_top, qa_top, helicity=True)
    tt_pt, _, out["tt_y"] = _rapidity_form(tt)
    out["tt_log_mass"], out["tt_log_pt"] = torch.log(tt[4]), torch.log(torch.clamp(tt_pt, PT_MIN_GEV))
    out["tt_phi"] = torch.atan2(tt[2], tt[1])
    out["tt_cos_theta"], out["tt_phi_star"] = decay_angles(tt, chains[0][0])
    return out


def _where(condition: torch.Tensor, a: Vector, b: Vector) -> Vector:
    """``a`` where ``condition`` holds, else ``b``, component by component."""
    x = [torch.where(condition, u, v) for u, v in zip(a, b, strict=True)]
    return (x[0], x[1], x[2], x[3], x[4])


def decay_momenta(q: dict[str, torch.Tensor], b_mass: tuple[float, float]) -> list[Vector]:
    """The six quarks in truth slots (W daughters by pT) from the chain's quantities; inverse of
    :func:`decay_quantities`. ``q`` holds ``tt_mass``, ``tt_pt``, ``tt_y``, ``tt_phi``, ``t{k}_mass``,
    ``w{k}_mass``, ``q{k}{a,b}_mass`` (GeV) and for every decay ``{tt,t1,t2,w1,w2}_cos_theta``,
    ``…_cos_phi``, ``…_sin_phi`` (the angle φ* on the unit circle)."""
    m_t = torch.sqrt(q["tt_mass"] ** 2 + q["tt_pt"] ** 2)
    tt = (m_t * torch.cosh(q["tt_y"]), q["tt_pt"] * torch.cos(q["tt_phi"]), q["tt_pt"] * torch.sin(q["tt_phi"]),
          m_t * torch.sinh(q["tt_y"]), q["tt_mass"])  # fmt: skip

    def angles(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return q[f"{name}_cos_theta"], q[f"{name}_cos_phi"], q[f"{name}_sin_phi"]

    tops = two_body(tt, q["t1_mass"], q["t2_mass"], *angles("tt"))
    slots: list[Vector] = []
    for k, top in enumerate(tops, start=1):
        b_fixed = torch.full_like(q["tt_mass"], b_mass[k - 1])
        top_tt = to_rest(top, tt)
        w_tt, b_tt = two_body(top_tt, q[f"w{k}_mass"], b_fixed, *angles(f"t{k}"), helicity=True)
        qa_top, qb_top = two_body(
            to_rest(w_tt, top_tt), q[f"q{k}a_mass"], q[f"q{k}b_mass"], *angles(f"w{k}"), helicity=True
        )
        qa, qb = (from_rest(from_rest(x, top_tt), tt) for x in (qa_top, qb_top))
        harder = torch.hypot(qa[1], qa[2]) >= torch.hypot(qb[1], qb[2])
        slots += [from_rest(b_tt, tt), _where(harder, qa, qb), _where(harder, qb, qa)]
    return slots


def _quark_mass_scale(maps: QuantityMaps, k: int) -> tuple[float, float]:
    """Mean and width of ln(m + ε) pooled over W k's two daughter slots (either daughter may define the angles)."""
    slots = list(W_DAUGHTER_SLOTS[k - 1])
    return float(maps.log_mass_mean[slots].mean()), float(maps.log_mass_std[slots].mean())


def decay_features(maps: QuantityMaps, batch: EventBatch, choice: np.ndarray | None) -> torch.Tensor:
    """Features (N, 28) float64 in the order of :data:`DECAY_FEATURES`; ``choice`` as in :func:`decay_quantities`."""
    q = decay_quantities(batch, choice)
    columns: list[torch.Tensor] = [maps.to_feature(name, q[name], 0) for name in DECAY_CONTINUOUS[:3]]
    columns += [torch.cos(q["tt_phi"]), torch.sin(q["tt_phi"]), maps.to_feature("tt_cos_theta", q["tt_cos_theta"], 0)]
    columns += [torch.cos(q["tt_phi_star"]), torch.sin(q["tt_phi_star"])]
    for k in (1, 2):
        mean, std = _quark_mass_scale(maps, k)
        for part in ("t", "w"):
            columns += [maps.to_feature(f"{part}{k}_{name}", q[f"{part}{k}_{name}"], 0) for name in MAPPED_PER_DECAY]
            columns += [torch.cos(q[f"{part}{k}_phi_star"]), torch.sin(q[f"{part}{k}_phi_star"])]
        columns += [(torch.log(q[f"q{k}{x}_mass"] + maps.mass_epsilon_gev) - mean) / std for x in "ab"]
    return torch.stack(columns, dim=1)


def decay_values(maps: QuantityMaps, feats: torch.Tensor) -> list[torch.Tensor]:
    """(pT, η, φ, m), each (N, 6) in GeV and rad, in truth slots, from features (N, 28); inverse of
    :func:`decay_features` (W daughters re-ordered by pT)."""

    def mapped(name: str) -> torch.Tensor:
        return maps.from_feature(name, feats[:, DECAY_COLUMNS[name]], 0)

    q = {"tt_mass": torch.exp(mapped("tt_log_mass")), "tt_pt": torch.exp(mapped("tt_log_pt")), "tt_y": mapped("tt_y")}
    cos_phi, sin_phi = unit_circle(feats[:, 3], feats[:, 4])
    q["tt_phi"] = torch.atan2(sin_phi, cos_phi)
    for name, column in (("tt", 5), ("t1", 9), ("w1", 13), ("t2", 19), ("w2", 23)):
        q[f"{name}_cos_theta"] = torch.clamp(mapped(f"{name}_cos_theta"), -1.0, 1.0)
        q[f"{name}_cos_phi"], q[f"{name}_sin_phi"] = unit_circle(feats[:, column + 1], feats[:, column + 2])
    for k in (1, 2):
        q[f"t{k}_mass"], q[f"w{k}_mass"] = torch.exp(mapped(f"t{k}_log_mass")), torch.exp(mapped(f"w{k}_log_mass"))
        mean, std = _quark_mass_scale(maps, k)
        base = TOP_BLOCK + len(TOP_FEATURES) * (k - 1) + 8
        for offset, x in enumerate("ab"):
            log_mass = feats[:, base + offset] * std + mean
            q[f"q{k}{x}_mass"] = torch.clamp(torch.exp(log_mass) - maps.mass_epsilon_gev, min=0.0)
    b_mass = (float(maps.fixed_mass[B_SLOTS[0]]), float(maps.fixed_mass[B_SLOTS[1]]))
    slots = decay_momenta(q, b_mass)
    pt = torch.stack([torch.hypot(v[1], v[2]) for v in slots], dim=1)
    eta = torch.asinh(torch.stack([v[3] for v in slots], dim=1) / torch.clamp(pt, min=1e-300))
    phi = wrap_angle(torch.atan2(torch.stack([v[2] for v in slots], dim=1), torch.stack([v[1] for v in slots], dim=1)))
    return [pt, eta, phi, torch.stack([v[4] for v in slots], dim=1)]


def resonance_masses(maps: QuantityMaps, features: torch.Tensor) -> torch.Tensor:
    """(N, 4) m_W1, m_t1, m_W2, m_t2 in GeV straight from their ln m features; differentiable."""
    names = {"m_w1": "w1_log_mass", "m_t1": "t1_log_mass", "m_w2": "w2_log_mass", "m_t2": "t2_log_mass"}
    return torch.stack(
        [torch.exp(maps.from_feature(name, features[:, MASS_COLUMNS[key]], 0)) for key, name in names.items()], dim=1
    )
