"""Resonance reconstruction: which objects of an event form the W, top or Z candidates, and their masses.

An event table holds up to ``n_objects`` objects per event (pT, η, φ, m in GeV/rad and a
mask, :class:`~hepgan.io.events.EventBatch`). A *reconstruction* names a rule that groups
object slots into resonance candidates. It is stated in the config (``data.reconstruction``)
or, by default, read from the event file's ``reconstruction`` attribute that
``hepgan simulate`` writes:

- ``pair``: the invariant mass ``m_12`` of objects 1 and 2 (Z/γ* → μμ); peak window 80–100 GeV.
- ``ttbar_partons``: the six decay quarks of pp → tt̄ → (b q q̄′)(b̄ q q̄′) in their truth slots
  [b, W⁺ daughters (pT-ordered), b̄, W⁻ daughters]: W candidates (slots 2, 3) and (5, 6),
  top candidates (1, 2, 3) and (4, 5, 6), counted from 1; top 1 is the t, top 2 the t̄.
- ``ttbar_jets``: the six leading jets of an all-hadronic tt̄ event. They are split into two
  triplets of one b candidate and a W candidate pair each; among the 90 ways (10 splits ×
  3 × 3 choices of the b jet) the one with the smallest
  χ² = ((m_W1 − 80.4)/10)² + ((m_W2 − 80.4)/10)² + ((m_t1 − m_t2)/20)² (GeV) is taken.
  The rule constrains the W masses but not the top mass (only the two tops' equality), so
  the top peak is not sculpted toward a nominal value. Top 1 is the candidate with the
  larger pT. Events with fewer than six jets have no candidates (NaN).
- ``none``: no candidates.

Outputs (:func:`reconstruct`): ``m_12`` for ``pair``; ``m_w1``, ``m_w2``, ``m_t1``, ``m_t2``
(GeV) and ``pt_t1``, ``pt_t2`` (GeV, the top candidates' transverse momenta) for the tt̄
rules. :data:`PEAKS` gives, per rule, the peaks the validation compares (the W peak fills
both W candidates into one histogram, the top peak both tops) with their windows and targets.

The same torch code serves the training (the MMD term rebuilds the masses from generated
features, with gradients: the χ² choice is a non-differentiable ``argmin`` and the masses of
the chosen candidates are differentiable) and the validation (:func:`reconstruct_batch`, in
float64).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from hepgan.io.events import EventBatch

RECONSTRUCTIONS = ("none", "pair", "ttbar_partons", "ttbar_jets")
W_MASS_GEV = 80.4
"""Nominal W mass in the jet pairing χ² (GeV)."""
PAIRING_SIGMA_W_GEV = 10.0
"""W-candidate mass resolution assumed by the jet pairing χ² (GeV)."""
PAIRING_SIGMA_TOP_DIFFERENCE_GEV = 20.0
"""Resolution of the difference of the two top-candidate masses in the jet pairing χ² (GeV)."""
TTBAR_OBJECTS = 6
PARTON_SLOTS = {"w1": (1, 2), "t1": (0, 1, 2), "w2": (4, 5), "t2": (3, 4, 5)}
"""0-based truth slots of the ``ttbar_partons`` candidates."""
MASS_OUTPUTS = {"none": (), "pair": ("m_12",), "ttbar_partons": ("m_w1", "m_t1", "m_w2", "m_t2")}
MASS_OUTPUTS["ttbar_jets"] = MASS_OUTPUTS["ttbar_partons"]


@dataclass(frozen=True)
class PeakSpec:
    """A resonance peak the validation compares.

    Attributes:
        name: peak name (``m_12``, ``m_w``, ``m_t``).
        candidates: the reconstructed masses filled into its histogram.
        window_gev: (low, high) window in GeV for the median (position) and interquartile range (width).
        target_position_rel, target_width_rel: allowed relative differences generated vs reference.
    """

    name: str
    candidates: tuple[str, ...]
    window_gev: tuple[float, float]
    target_position_rel: float
    target_width_rel: float


PEAKS: dict[str, tuple[PeakSpec, ...]] = {
    "none": (),
    "pair": (PeakSpec("m_12", ("m_12",), (80.0, 100.0), 0.005, 0.10),),
    "ttbar_partons": (
        PeakSpec("m_w", ("m_w1", "m_w2"), (70.0, 90.0), 0.01, 0.10),
        PeakSpec("m_t", ("m_t1", "m_t2"), (160.0, 185.0), 0.01, 0.10),
    ),
    "ttbar_jets": (
        PeakSpec("m_w", ("m_w1", "m_w2"), (50.0, 110.0), 0.01, 0.10),
        PeakSpec("m_t", ("m_t1", "m_t2"), (120.0, 230.0), 0.01, 0.10),
    ),
}
"""Peaks per reconstruction. Windows: the Breit–Wigner core at parton level, the jet resolution at jet level."""


def check_reconstruction(name: str, n_objects: int, where: str) -> None:
    """ValueError naming ``where`` unless ``name`` is a known rule that ``n_objects`` slots can satisfy."""
    if name not in RECONSTRUCTIONS:
        raise ValueError(f"{where}: expected one of {', '.join(RECONSTRUCTIONS)}, got {name!r}")
    needed = {"none": 0, "pair": 2, "ttbar_partons": TTBAR_OBJECTS, "ttbar_jets": TTBAR_OBJECTS}[name]
    if n_objects < needed or (name == "ttbar_partons" and n_objects != TTBAR_OBJECTS):
        exact = "exactly" if name == "ttbar_partons" else "at least"
        raise ValueError(f"{where}: {name} needs {exact} {needed} objects per event, the events have {n_objects}")


def default_reconstruction(attrs: Mapping[str, object], n_objects: int) -> str:
    """The rule an event file states (attribute ``reconstruction``), else ``pair`` for ≥ 2 objects, else ``none``.

    Raises:
        ValueError: the file states a rule hepgan does not know.
    """
    stated = attrs.get("reconstruction")
    if isinstance(stated, bytes):
        stated = stated.decode("utf-8", "replace")
    if stated is None:
        return "pair" if n_objects >= 2 else "none"
    if stated not in RECONSTRUCTIONS:
        raise ValueError(f"attribute reconstruction is {stated!r}, expected one of {', '.join(RECONSTRUCTIONS)}")
    return str(stated)


def mass_names(name: str) -> tuple[str, ...]:
    """The reconstructed masses of rule ``name``, in the column order of :func:`mass_columns`."""
    return MASS_OUTPUTS[name]


def _mass(p4: torch.Tensor) -> torch.Tensor:
    """Invariant mass (...,) in GeV of four-momenta (..., 4) = (E, px, py, pz); differentiable at m = 0."""
    m2 = p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2 - p4[..., 3] ** 2
    return torch.sqrt(torch.clamp(m2, min=0.0) + 1e-12)


def _pt(p4: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(p4[..., 1] ** 2 + p4[..., 2] ** 2 + 1e-12)


def _triplet_splits() -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The 10 ways to split jets 0..5 into two triplets (jet 0 in the first), then 3 × 3 choices of the b jets.

    Returns two lists of 90 (b, q, q) index triplets: first top, second top.
    """
    first, second = [], []
    for rest in itertools.combinations(range(1, TTBAR_OBJECTS), 2):
        a = (0, *rest)
        b = tuple(i for i in range(TTBAR_OBJECTS) if i not in a)
        for ia, ib in itertools.product(range(3), range(3)):
            first.append((a[ia], *(a[j] for j in range(3) if j != ia)))
            second.append((b[ib], *(b[j] for j in range(3) if j != ib)))
    return first, second


_FIRST, _SECOND = _triplet_splits()


@functools.cache
def _index_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    """The (b, q, q) index triplets on ``device``, made once per device (not once per training step)."""
    return {
        "first": torch.tensor(_FIRST, device=device),  # (90, 3) jet splits
        "second": torch.tensor(_SECOND, device=device),
        "t1": torch.tensor([PARTON_SLOTS["t1"]], device=device),  # (1, 3) parton truth slots
        "t2": torch.tensor([PARTON_SLOTS["t2"]], device=device),
    }


def _top_candidates(p4: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masses and pT of the W and top candidates for (b, q, q) index triplets ``first``/``second`` (N, 3)."""
    out: dict[str, torch.Tensor] = {}
    for label, triplet in (("1", first), ("2", second)):
        objects = torch.gather(p4, 1, triplet.unsqueeze(-1).expand(-1, -1, 4))  # (N, 3, 4)
        out[f"m_w{label}"] = _mass(objects[:, 1] + objects[:, 2])
        top = objects.sum(dim=1)
        out[f"m_t{label}"], out[f"pt_t{label}"] = _mass(top), _pt(top)
    return out


def _jet_pairing(p4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per event the (b, q, q) jet indices (N, 3) of the two top candidates by the χ² rule (no gradients)."""
    indices = _index_tensors(p4.device)
    first, second = indices["first"], indices["second"]
    with torch.no_grad():
        jets = p4[:, :TTBAR_OBJECTS].detach()
        w1 = _mass(jets[:, first[:, 1]] + jets[:, first[:, 2]])  # (N, 90)
        w2 = _mass(jets[:, second[:, 1]] + jets[:, second[:, 2]])
        t1 = _mass(jets[:, first].sum(dim=2))
        t2 = _mass(jets[:, second].sum(dim=2))
        chi2 = ((w1 - W_MASS_GEV) / PAIRING_SIGMA_W_GEV) ** 2 + ((w2 - W_MASS_GEV) / PAIRING_SIGMA_W_GEV) ** 2
        chi2 = chi2 + ((t1 - t2) / PAIRING_SIGMA_TOP_DIFFERENCE_GEV) ** 2
        best = torch.argmin(chi2, dim=1)
    return first[best], second[best]


def reconstruct(p4: torch.Tensor, mask: torch.Tensor | None, name: str) -> dict[str, torch.Tensor]:
    """The candidates of rule ``name`` from four-momenta ``p4`` (N, n_objects, 4) = (E, px, py, pz) in GeV.

    Args:
        p4: object four-momenta, slots as stored (pT order for jets, truth order for partons).
        mask: (N, n_objects) bool, True where an object exists; None: all exist.
        name: one of :data:`RECONSTRUCTIONS`.

    Returns:
        name → (N,) tensor in GeV (see the module docstring); NaN where the needed objects are absent.
    """
    n, slots = p4.shape[0], p4.shape[1]
    check_reconstruction(name, slots, "reconstruction")
    present = torch.ones(n, slots, dtype=torch.bool, device=p4.device) if mask is None else mask.bool()
    if name == "none":
        return {}
    if name == "pair":
        valid = present[:, 0] & present[:, 1]
        out = {"m_12": _mass(p4[:, 0] + p4[:, 1])}
    elif name == "ttbar_partons":
        valid = present.all(dim=1)
        indices = _index_tensors(p4.device)
        first, second = indices["t1"].expand(n, 3), indices["t2"].expand(n, 3)
        out = _top_candidates(p4, first, second)
    else:
        valid = present[:, :TTBAR_OBJECTS].all(dim=1)
        first, second = _jet_pairing(p4)
        out = _top_candidates(p4, first, second)
        swap = out["pt_t2"] > out["pt_t1"]  # top 1: the harder candidate
        for a, b in (("m_w1", "m_w2"), ("m_t1", "m_t2"), ("pt_t1", "pt_t2")):
            out[a], out[b] = torch.where(swap, out[b], out[a]), torch.where(swap, out[a], out[b])
    nan = torch.full_like(next(iter(out.values())), math.nan)
    return {key: torch.where(valid, value, nan) for key, value in out.items()}


def four_momenta_from_arrays(
    pt: torch.Tensor, eta: torch.Tensor, cos_phi: torch.Tensor, sin_phi: torch.Tensor, mass: torch.Tensor
) -> torch.Tensor:
    """(..., 4) four-momenta (E, px, py, pz) in GeV from pT, η, (cos φ, sin φ) and m (GeV); differentiable."""
    pz = pt * torch.sinh(eta)
    energy = torch.sqrt(mass**2 + pt**2 + pz**2)
    return torch.stack([energy, pt * cos_phi, pt * sin_phi, pz], dim=-1)


def reconstruct_batch(batch: EventBatch, name: str) -> dict[str, np.ndarray]:
    """:func:`reconstruct` for an event batch in float64: name → (N,) NumPy arrays in GeV (NaN: no candidate)."""
    arrays = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in batch.arrays().items()}
    with torch.no_grad():
        p4 = four_momenta_from_arrays(
            arrays["pt"], arrays["eta"], torch.cos(arrays["phi"]), torch.sin(arrays["phi"]), arrays["mass"]
        )
        out = reconstruct(p4, arrays["mask"], name)
    return {key: value.numpy() for key, value in out.items()}


__all__ = [
    "PEAKS",
    "RECONSTRUCTIONS",
    "PeakSpec",
    "check_reconstruction",
    "default_reconstruction",
    "four_momenta_from_arrays",
    "mass_names",
    "reconstruct",
    "reconstruct_batch",
]
