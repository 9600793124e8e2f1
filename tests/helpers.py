"""Helpers shared by the test files: small configs, toy events, checkpoints, and property-case counters."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vector

from hepgan.config import RunConfig, config_from_dict, load_config
from hepgan.domains import domain_for_config
from hepgan.io.events import EventBatch
from hepgan.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from hepgan.training.trainer import Trainer, new_run_dir

ROOT = Path(__file__).resolve().parents[1]
"""The repository root."""

TEST_DATA = ROOT / "tests" / "data"
"""Data files shipped with the tests (``tests/data/README.md`` says what they are)."""

EVENT_CONFIG = ROOT / "configs" / "events.yaml"
MUON_MASS_GEV = 0.10566


def small_config(tmp: Path, data_path: Path, **training: object) -> RunConfig:
    """The default config shrunk for tests: tiny networks, a few steps, runs under ``tmp``."""
    base = load_config(ROOT / "configs" / "calo.yaml").to_dict()
    base["data"]["path"] = str(data_path)
    base["data"]["chunk_size"] = 128
    base["model"].update(latent_dim=8, generator_hidden=[32], critic_hidden=[32])
    base["training"].update(
        {
            "batch_size": 32,
            "max_steps": 6,
            "checkpoint_every": 3,
            "log_every": 1,
            "d_steps": 2,
            "runs_dir": str(tmp / "runs"),
            "threads": 1,
            **training,
        }
    )
    base["generation"]["batch_size"] = 100
    base["validation"]["reference"] = "holdout"  # tests of the fresh reference set it themselves
    return config_from_dict(base, "test config")


def small_event_config(tmp: Path, data_path: Path, **overrides: object) -> RunConfig:
    """The default event config shrunk for tests; ``overrides`` as ``section__name=value``."""
    base = load_config(EVENT_CONFIG).to_dict()
    base["data"].update(path=str(data_path), chunk_size=64)
    base["validation"].update(reference_path="")  # the hold-out: the shipped 1e5-event reference is slow to compare
    base["model"].update(latent_dim=4, generator_hidden=[16], critic_hidden=[16])
    base["training"].update(
        batch_size=32, max_steps=4, checkpoint_every=2, log_every=1, d_steps=2, runs_dir=str(tmp / "runs"), threads=1
    )
    for key, value in overrides.items():
        section, name = key.split("__")
        base[section][name] = value
    return config_from_dict(base, "test config")


def toy_zmumu(n: int, seed: int = 0) -> EventBatch:
    """Z → μμ decays: Breit-Wigner mass, isotropic decay, boosted with a Z pT and rapidity (fast stand-in), GeV."""
    rng = np.random.default_rng(seed)
    mass_z = 91.19 + 1.25 * rng.standard_cauchy(n).clip(-30, 30)
    p = np.sqrt((mass_z / 2) ** 2 - MUON_MASS_GEV**2)
    cos_t, phi = rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    rest = {"px": p * sin_t * np.cos(phi), "py": p * sin_t * np.sin(phi), "pz": p * cos_t, "E": mass_z / 2}
    z_pt, z_phi, z_y = rng.exponential(5.0, n), rng.uniform(-np.pi, np.pi, n), rng.normal(0, 1.5, n)
    m_t = np.hypot(mass_z, z_pt)
    z_p4 = {"px": z_pt * np.cos(z_phi), "py": z_pt * np.sin(z_phi), "pz": m_t * np.sinh(z_y), "E": m_t * np.cosh(z_y)}
    z = vector.array(z_p4)
    mu_1 = vector.array(rest).boost_p4(z)
    mu_2 = vector.array({**{k: -v for k, v in rest.items() if k != "E"}, "E": rest["E"]}).boost_p4(z)
    pt, eta, phis = (np.stack([getattr(mu_1, c), getattr(mu_2, c)], axis=1) for c in ("pt", "eta", "phi"))
    order = np.argsort(-pt, axis=1)
    pt, eta, phis = (np.take_along_axis(a, order, axis=1) for a in (pt, eta, phis))
    return EventBatch(pt, eta, phis, np.full((n, 2), MUON_MASS_GEV), np.ones((n, 2), dtype=bool))


def write_untrained_checkpoint(
    path: Path, config: dict, entries: dict, generator: torch.nn.Module, critic: torch.nn.Module
) -> Path:
    """A step-0 checkpoint of networks as they are (no training): ``config`` as a dict, the
    data module's ``entries`` (kind, transform, ...), the same weights as plain and EMA generator."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": 0,
        "config": config,
        **entries,
        "generator": generator.state_dict(),
        "generator_ema": generator.state_dict(),
        "critic": critic.state_dict(),
    }
    return save_checkpoint(state, path)


def use_sgd(trainer: Trainer) -> None:
    """Plain SGD for the comparison: Adam's first step, lr·g/(|g| + 1e-8), turns float-rounding
    differences of near-zero gradients into differences of order lr; SGD keeps them at lr·δg."""
    trainer.opt_d = torch.optim.SGD(trainer.critic.parameters(), lr=0.01)
    trainer.opt_g = torch.optim.SGD(trainer.generator.parameters(), lr=0.01)


_CASE_COUNTERS: dict[str, Counter[str]] = {}


def case_counter(test_file: str) -> Counter[str]:
    """The counter of cases a property suite tried, by kind, for ``test_file`` (the suite's ``__file__``).

    The ``pytest_terminal_summary`` hook in ``conftest.py`` prints every registered counter.
    """
    return _CASE_COUNTERS.setdefault(Path(test_file).name, Counter())


def case_counts() -> dict[str, Counter[str]]:
    """The registered case counters, by test file name."""
    return dict(_CASE_COUNTERS)


def make_trainer(config: RunConfig, run_dir: Path | None = None, **options: Any) -> Trainer:
    """A :class:`Trainer` of ``config`` with its domain's training data (a new run folder unless given)."""
    data = domain_for_config(config).training_data(config)
    return Trainer(config, run_dir if run_dir is not None else new_run_dir(config), data, **options)


M_TOP_GEV, M_W_GEV, M_B_GEV = 172.5, 80.4, 4.8
GAMMA_TOP_GEV, GAMMA_W_GEV = 1.42, 2.085


def _breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int) -> np.ndarray:
    """Breit-Wigner masses (GeV) around ``mass`` of full width ``width``, tails clipped at ±15 widths."""
    return mass + 0.5 * width * rng.standard_cauchy(n).clip(-30, 30)


def _two_body(parent: Any, m1: np.ndarray, m2: np.ndarray, rng: np.random.Generator) -> tuple[Any, Any]:
    """Isotropic decays of ``parent`` (vector array) into masses m1, m2 (GeV), both in the lab frame."""
    m = np.asarray(parent.mass)
    p = np.sqrt((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)) / (2 * m)
    cos_t, phi = rng.uniform(-1, 1, m.size), rng.uniform(-np.pi, np.pi, m.size)
    sin_t = np.sqrt(1 - cos_t**2)
    px, py, pz = p * sin_t * np.cos(phi), p * sin_t * np.sin(phi), p * cos_t
    a = vector.array({"px": px, "py": py, "pz": pz, "E": np.hypot(p, m1)}).boost_p4(parent)
    b = vector.array({"px": -px, "py": -py, "pz": -pz, "E": np.hypot(p, m2)}).boost_p4(parent)
    return a, b


def _top(px: np.ndarray, py: np.ndarray, rapidity: np.ndarray, mass: np.ndarray) -> Any:
    m_t = np.sqrt(mass**2 + px**2 + py**2)
    return vector.array({"px": px, "py": py, "pz": m_t * np.sinh(rapidity), "E": m_t * np.cosh(rapidity)})


def toy_ttbar(n: int, seed: int = 0, w_mass_gev: float = M_W_GEV) -> EventBatch:
    """All-hadronic tt̄ parton events in the truth slots [b, q, q̄′, b̄, q, q̄′] (W daughters pT-ordered), GeV.

    Breit-Wigner top (Γ = 1.42 GeV) and W (Γ = 2.085 GeV, around ``w_mass_gev``) masses,
    isotropic two-body decays; the first top has pT ~ 20 + Γ(2, 50) GeV, the second recoils
    against it with a Gaussian kick of 25 GeV per transverse component (so the two top pT's
    are correlated but not equal); rapidities N(0, 1) each.
    """
    rng = np.random.default_rng(seed)
    pt, phi = 20.0 + rng.gamma(2.0, 50.0, n), rng.uniform(-np.pi, np.pi, n)
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    kick_x, kick_y = rng.normal(0.0, 25.0, n), rng.normal(0.0, 25.0, n)
    tops = [
        _top(px, py, rng.normal(0, 1, n), _breit_wigner(rng, M_TOP_GEV, GAMMA_TOP_GEV, n)),
        _top(-px + kick_x, -py + kick_y, rng.normal(0, 1, n), _breit_wigner(rng, M_TOP_GEV, GAMMA_TOP_GEV, n)),
    ]
    objects = []
    for top in tops:
        w_mass = _breit_wigner(rng, w_mass_gev, GAMMA_W_GEV, n)
        b, w = _two_body(top, np.full(n, M_B_GEV), w_mass, rng)
        q1, q2 = _two_body(w, np.zeros(n), np.zeros(n), rng)
        swap = np.asarray(q2.pt) > np.asarray(q1.pt)
        components = ("px", "py", "pz", "E")
        leading = vector.array({c: np.where(swap, getattr(q2, c), getattr(q1, c)) for c in components})
        trailing = vector.array({c: np.where(swap, getattr(q1, c), getattr(q2, c)) for c in components})
        objects += [b, leading, trailing]
    pt_, eta, phis = (np.stack([np.asarray(getattr(o, c)) for o in objects], axis=1) for c in ("pt", "eta", "phi"))
    mass = np.tile([M_B_GEV, 0.0, 0.0] * 2, (n, 1))
    return EventBatch(pt_, eta, phis, mass, np.ones((n, 6), dtype=bool))


def toy_ttbar_jets(n: int, seed: int = 0, n_slots: int = 8) -> EventBatch:
    """Jet-level stand-in for all-hadronic tt̄ (GeV): the partons of :func:`toy_ttbar` with 10 % pT smearing,
    plus 0 to ``n_slots`` − 6 extra jets (pT 20 + Exp(25) GeV, η ~ N(0, 2)); pT-ordered, the rest masked."""
    rng = np.random.default_rng(seed + 1_000_003)
    partons = toy_ttbar(n, seed)
    n_extra = n_slots - 6
    extra = rng.integers(0, n_extra + 1, n)
    smeared = partons.pt * rng.normal(1.0, 0.1, (n, 6)).clip(0.5)
    pt = np.concatenate([smeared, 20.0 + rng.exponential(25.0, (n, n_extra))], axis=1)
    eta = np.concatenate([partons.eta, rng.normal(0.0, 2.0, (n, n_extra))], axis=1)
    phi = np.concatenate([partons.phi, rng.uniform(-np.pi, np.pi, (n, n_extra))], axis=1)
    mass = np.concatenate([partons.mass, np.full((n, n_extra), 5.0)], axis=1)
    mask = np.concatenate([partons.mask, np.arange(n_extra)[None, :] < extra[:, None]], axis=1)
    pt = np.where(mask, pt, 0.0)
    order = np.argsort(-pt, axis=1, kind="stable")
    arrays = [np.take_along_axis(a, order, axis=1) for a in (pt, eta, phi, mass, mask)]
    arrays[1:4] = [np.where(arrays[4], a, 0.0) for a in arrays[1:4]]
    return EventBatch(*arrays)
