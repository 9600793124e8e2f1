"""Jets from generated events: sequential-recombination clustering with FastJet (the optional ``fastjet`` package).

The inputs are the visible final-state particles of each event: status > 0, no neutrinos
(|pdgId| 12, 14, 16), |η| < ``input_abs_eta_max`` (default 4.9, the reach of the ATLAS and
CMS calorimeters). They are clustered with the anti-kT (default), kT or Cambridge/Aachen
algorithm of radius R in the E recombination scheme (four-momenta add), a whole batch of
events in one call to FastJet's awkward-array interface. Jets with pT >= ``pt_min_gev`` and
|η| <= ``abs_eta_max`` are kept, the ``n_objects`` highest-pT ones, as an
:class:`~hepgan.io.events.EventBatch` (pT, η, φ in GeV/rad; m the jet's invariant mass in GeV).

References: M. Cacciari, G. P. Salam, G. Soyez, "The anti-kt jet clustering algorithm",
JHEP 04 (2008) 063, arXiv:0802.1189; "FastJet user manual", Eur. Phys. J. C72 (2012) 1896,
arXiv:1111.6097.
"""

from __future__ import annotations

import warnings
from typing import Any

import awkward as ak
import vector

from hepgan.errors import ConfigError, HepganError
from hepgan.io.events import EventBatch, any_equal, batch_from_momenta, kinematic_keep

INSTALL_HINT = "pip install 'hepgan[pythia]'"
JET_ALGORITHMS: dict[str, str] = {
    "antikt": "antikt_algorithm",
    "kt": "kt_algorithm",
    "cambridge": "cambridge_algorithm",
}
"""hepgan's name of each clustering algorithm -> FastJet's."""
NEUTRINO_IDS = (12, 14, 16)
"""|pdgId| of the particles that leave no trace in a detector and are not clustered."""
DEFAULT_RADIUS = 0.4
DEFAULT_INPUT_ABS_ETA_MAX = 4.9
MAX_RADIUS = 2.0
JET_DEFAULTS: dict[str, float | str] = {
    "jet_radius": DEFAULT_RADIUS,
    "jet_algorithm": "antikt",
    "jet_input_abs_eta_max": DEFAULT_INPUT_ABS_ETA_MAX,
}
"""The jet settings of a config section and their defaults."""


def check_jet_settings(jet_radius: Any, jet_algorithm: Any, jet_input_abs_eta_max: Any, where: str) -> None:
    """Raise ConfigError naming ``where.jet_*`` for a bad radius (0 < R <= 2), algorithm or input |η| limit."""
    if jet_algorithm not in JET_ALGORITHMS:
        raise ConfigError(f"{where}.jet_algorithm: expected one of {', '.join(JET_ALGORITHMS)}, got {jet_algorithm!r}")
    if not 0 < jet_radius <= MAX_RADIUS:
        raise ConfigError(f"{where}.jet_radius: expected a number in (0, {MAX_RADIUS:g}], got {jet_radius}")
    if not jet_input_abs_eta_max > 0:
        raise ConfigError(f"{where}.jet_input_abs_eta_max: expected a number > 0, got {jet_input_abs_eta_max}")


def import_fastjet() -> Any:
    """The ``fastjet`` module, with its banner switched off.

    Raises:
        HepganError: when it is not installed (with the install line).
    """
    try:
        with warnings.catch_warnings():  # SWIG's module set-up warns; as an error it would crash the import
            warnings.filterwarnings("ignore", r"builtin type \S+ has no __module__ attribute", DeprecationWarning)
            import fastjet
            import fastjet._swig as fastjet_swig
    except ImportError:
        raise HepganError(f"FastJet (package fastjet) is not installed; install it with: {INSTALL_HINT}") from None
    fastjet_swig.ClusterSequence.set_fastjet_banner_stream(None)  # no banner on stdout at the first clustering
    return fastjet


def visible_final_state(particles: Any, input_abs_eta_max: float = DEFAULT_INPUT_ABS_ETA_MAX) -> Any:
    """The clustering inputs: awkward (N, var) records ``px``, ``py``, ``pz``, ``E`` (GeV).

    Args:
        particles: awkward (N, var) particle records with ``id``, ``status`` and ``p``
            (``px``, ``py``, ``pz``, ``e`` in GeV), as in ``Pythia.nextBatch(...)["prt"]``.
        input_abs_eta_max: particles with |η| at or above this are not clustered.
    """
    p = particles["p"]
    momenta = vector.zip({"px": p["px"], "py": p["py"], "pz": p["pz"], "E": p["e"]})
    keep = (particles["status"] > 0) & ~any_equal(abs(particles["id"]), NEUTRINO_IDS)
    keep = keep & (abs(momenta.eta) < input_abs_eta_max)  # NaN η (pT = 0) is dropped too
    kept = p[keep]
    return ak.zip({"px": kept["px"], "py": kept["py"], "pz": kept["pz"], "E": kept["e"]})


def cluster_jets(
    inputs: Any, radius: float = DEFAULT_RADIUS, algorithm: str = "antikt", pt_min_gev: float = 0.0
) -> Any:
    """Inclusive jets with pT >= ``pt_min_gev`` (GeV) of each event, as awkward (N, var) ``vector`` four-momenta.

    Args:
        inputs: awkward (N, var) records ``px``, ``py``, ``pz``, ``E`` (GeV), see :func:`visible_final_state`.
        radius: jet radius R (0 < R <= 2).
        algorithm: "antikt", "kt" or "cambridge".

    Raises:
        HepganError: fastjet missing; ConfigError: bad radius or algorithm.
    """
    check_jet_settings(radius, algorithm, DEFAULT_INPUT_ABS_ETA_MAX, "jets")
    fastjet = import_fastjet()
    definition = fastjet.JetDefinition(getattr(fastjet, JET_ALGORITHMS[algorithm]), float(radius))
    jets = fastjet.ClusterSequence(inputs, definition).inclusive_jets(float(pt_min_gev))
    return vector.zip({"px": jets["px"], "py": jets["py"], "pz": jets["pz"], "E": jets["E"]})


def select_jets(
    particles: Any,
    n_objects: int,
    radius: float = DEFAULT_RADIUS,
    algorithm: str = "antikt",
    pt_min_gev: float = 0.0,
    abs_eta_max: float | None = None,
    input_abs_eta_max: float = DEFAULT_INPUT_ABS_ETA_MAX,
) -> EventBatch:
    """The ``n_objects`` highest-pT jets with pT >= ``pt_min_gev`` (GeV) and |η| <= ``abs_eta_max`` per event.

    ``particles`` are Pythia particle records (see :func:`visible_final_state`); the jets are
    pT-ordered, padded with a mask, with their invariant masses (GeV).
    """
    jets = cluster_jets(visible_final_state(particles, input_abs_eta_max), radius, algorithm, pt_min_gev)
    return batch_from_momenta(jets, n_objects, kinematic_keep(jets.pt, jets.eta, pt_min_gev, abs_eta_max))


def fastjet_version() -> str:
    """The installed FastJet Python package's version."""
    import importlib.metadata

    import_fastjet()
    return importlib.metadata.version("fastjet")


__all__ = [
    "JET_ALGORITHMS",
    "JET_DEFAULTS",
    "NEUTRINO_IDS",
    "check_jet_settings",
    "cluster_jets",
    "fastjet_version",
    "import_fastjet",
    "select_jets",
    "visible_final_state",
]
