"""Reference event generation with Pythia 8 (the optional ``pythia8mc`` package).

Pythia generates full proton–proton collisions; hepgan keeps per event up to ``n_objects``
objects as an :class:`~hepgan.io.events.EventBatch` (pT, η, φ, m in GeV), the same form the
event readers produce, so simulated files train the event GAN directly. ``objects`` says which:

- ``particles`` (default): the highest-pT particles that pass a selection (pdgId, status,
  pT and |η| cuts);
- ``top_decays`` (process ``ttbar_hadronic`` only): the six tt̄ decay quarks in a fixed
  truth order, not pT order (:mod:`hepgan.sim.top_decays`); ``n_objects`` is 6;
- ``jets``: the highest-pT anti-kT (or kT, Cambridge/Aachen) jets of radius ``jet_radius``
  of the visible final state, with pT and |η| cuts (:mod:`hepgan.sim.jets`, FastJet).

``min_objects`` drops events with fewer stored objects and generates more until
``n_events`` pass; the number tried and the acceptance are logged and stored in the file.

Built-in processes at ``sqrt_s_gev`` (default 13 TeV):

- ``zmumu``: pp → Z/γ* → μ⁺μ⁻ (``WeakSingleBoson:ffbar2gmZ``, Z decays to muons only,
  m̂ > 50 GeV); stores the two highest-pT final-state muons (pdgId ±13, status > 0);
- ``ttbar``: pp → tt̄ (``Top:gg2ttbar``, ``Top:qqbar2ttbar``); stores the two top quarks
  after showering (pdgId ±6, |status| 62, Pythia's last copy before decay);
- ``ttbar_hadronic``: pp → tt̄ with t → W b and both W's decaying to quarks only (all-hadronic);
  as particles it stores the two top quarks like ``ttbar``;
- ``custom``: only the user's ``settings``; give ``pdg_id`` (and ``status``) yourself.

``level="parton"`` switches hadronisation off (``HadronLevel:all = off``): faster, and the
hard-process leptons are unchanged. ``level="hard"`` also switches initial- and final-state
radiation and multiparton interactions off: the hard process and its resonance decays only
(as in A. Butter, T. Plehn, R. Winterhalder, "How to GAN LHC events", SciPost Phys. 7 (2019)
075, arXiv:1907.03764). Runs are quiet (``Print:quiet``, ``Next:numberCount = 0``)
and seeded (``Random:setSeed = on``, ``Random:seed``): the same configuration and seed give
the same events. Pythia's seed 0 means "from the clock", so seeds are 1 … 900 000 000.

Reference: C. Bierlich et al., "A comprehensive guide to the physics and usage of PYTHIA 8.3",
SciPost Phys. Codebases 8 (2022), arXiv:2203.11601.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import vector

from hepgan.errors import ConfigError, HepganError
from hepgan.io.atomic import check_folder, check_target, output_path
from hepgan.io.events import EventBatch, EventWriter, any_equal, batch_from_momenta, kinematic_keep
from hepgan.progress import Progress, progress_bar
from hepgan.sim.jets import (
    DEFAULT_INPUT_ABS_ETA_MAX,
    DEFAULT_RADIUS,
    INSTALL_HINT,
    JET_DEFAULTS,
    check_jet_settings,
    fastjet_version,
    import_fastjet,
    select_jets,
)
from hepgan.sim.top_decays import N_TRUTH, check_top_decay_config, select_top_decays

logger = logging.getLogger(__name__)

PROCESSES = ("zmumu", "ttbar", "ttbar_hadronic", "custom")
LEVELS = ("hadron", "parton", "hard")
OBJECTS = ("particles", "top_decays", "jets")
SEED_MAX = 900_000_000
NO_PASS_CHUNKS = 20
"""A run stops when this many chunks' worth of events in a row have no event with ``min_objects`` objects."""

PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "zmumu": (
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off",
        "23:onIfAny = 13",
        "PhaseSpace:mHatMin = 50",
    ),
    "ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
    "ttbar_hadronic": (
        "Top:gg2ttbar = on",
        "Top:qqbar2ttbar = on",
        "6:onMode = off",
        "6:onIfMatch = 5 24",
        "24:onMode = off",
        "24:onIfAny = 1 2 3 4 5",
    ),
    "custom": (),
}
"""Pythia settings that define each built-in process."""

LEVEL_SETTINGS: dict[str, tuple[str, ...]] = {
    "hadron": (),
    "parton": ("HadronLevel:all = off",),
    "hard": ("PartonLevel:ISR = off", "PartonLevel:FSR = off", "PartonLevel:MPI = off", "HadronLevel:all = off"),
}
"""Pythia settings of each event level."""

DEFAULT_OBJECTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "zmumu": ((13, -13), ()),
    "ttbar": ((6, -6), (62,)),
    "ttbar_hadronic": ((6, -6), (62,)),
    "custom": ((), ()),
}
"""Process -> (pdg_id, status) of the stored particles when the config gives none (``objects: particles``;
other objects take no pdg_id/status)."""

QUIET_SETTINGS = ("Print:quiet = on", "Next:numberCount = 0")


def _check_config(c: Any, where: str) -> None:
    """Raise ConfigError (naming ``where.field``) for invalid PythiaConfig values (attributes of ``c``)."""
    if c.process not in PROCESSES:
        raise ConfigError(f"{where}.process: expected one of {', '.join(PROCESSES)}, got {c.process!r}")
    if c.level not in LEVELS:
        raise ConfigError(f"{where}.level: expected one of {', '.join(LEVELS)}, got {c.level!r}")
    if not c.sqrt_s_gev > 0:
        raise ConfigError(f"{where}.sqrt_s_gev: expected a number > 0 (GeV), got {c.sqrt_s_gev}")
    if not 1 <= c.seed <= SEED_MAX:
        raise ConfigError(f"{where}.seed: expected an integer in 1..{SEED_MAX} (0 means a clock seed in Pythia)")
    if c.n_events < 1:
        raise ConfigError(f"{where}.n_events: expected an integer >= 1, got {c.n_events}")
    if c.n_objects < 1:
        raise ConfigError(f"{where}.n_objects: expected an integer >= 1, got {c.n_objects}")
    if c.pt_min_gev < 0:
        raise ConfigError(f"{where}.pt_min_gev: expected a number >= 0 (GeV), got {c.pt_min_gev}")
    if c.abs_eta_max is not None and not c.abs_eta_max > 0:
        raise ConfigError(f"{where}.abs_eta_max: expected a number > 0, got {c.abs_eta_max}")
    if c.process == "custom" and not c.settings:
        raise ConfigError(f"{where}.settings: a custom process needs Pythia settings that switch a process on")
    for setting in c.settings:
        if "=" not in setting:
            raise ConfigError(f"{where}.settings: expected 'Key:name = value', got {setting!r}")
    _check_objects(c, where)


def _check_objects(c: Any, where: str) -> None:
    """Raise ConfigError for ``objects`` and the fields that go with it (min_objects, jet settings)."""
    if c.objects not in OBJECTS:
        raise ConfigError(f"{where}.objects: expected one of {', '.join(OBJECTS)}, got {c.objects!r}")
    if not 0 <= c.min_objects <= c.n_objects:
        raise ConfigError(
            f"{where}.min_objects: expected an integer in 0..n_objects ({c.n_objects}), got {c.min_objects}"
        )
    if c.objects != "particles":
        for name in ("pdg_id", "status"):
            if getattr(c, name):
                raise ConfigError(f"{where}.{name}: applies to objects 'particles' only, not {c.objects!r}; remove it")
    if c.objects == "top_decays":
        check_top_decay_config(c.process, c.n_objects, c.pt_min_gev, c.abs_eta_max, where)
    jets = {name: getattr(c, name) for name in JET_DEFAULTS}
    if c.objects == "jets":
        check_jet_settings(where=where, **jets)
        return
    for name, value in jets.items():
        if value != JET_DEFAULTS[name]:
            raise ConfigError(f"{where}.{name}: applies to objects 'jets' only, not {c.objects!r}; remove it")


@dataclass(frozen=True)
class PythiaConfig:
    """A Pythia 8 run and the objects kept from each event.

    Attributes:
        process: "zmumu", "ttbar", "ttbar_hadronic" or "custom".
        sqrt_s_gev: proton–proton centre-of-mass energy in GeV.
        settings: extra Pythia setting strings, applied last (they override hepgan's).
        n_events: events to generate by default.
        seed: Pythia random seed, 1 … 900 000 000.
        level: "hadron" (full event), "parton" (``HadronLevel:all = off``) or "hard" (no ISR,
            FSR, MPI nor hadronisation).
        pdg_id: stored particles' pdgIds (signed); empty keeps every particle id (objects
            "particles" only; other objects set it empty).
        status: empty keeps final-state particles (status > 0); else particles whose
            |status| is listed (e.g. 62 for the last top-quark copy) (objects "particles" only).
        n_objects: objects stored per event, padded with a mask; highest pT first except
            for "top_decays" (exactly 6, in truth order).
        pt_min_gev: stored particles or jets have pT >= this, in GeV (not for "top_decays").
        abs_eta_max: stored particles or jets have |η| <= this; None keeps all (not for "top_decays").
        objects: "particles", "top_decays" (process "ttbar_hadronic") or "jets".
        min_objects: events with fewer stored objects are dropped (and more generated); 0 keeps all.
        jet_radius: jet radius R, 0 < R <= 2 ("jets" only).
        jet_algorithm: "antikt", "kt" or "cambridge" ("jets" only).
        jet_input_abs_eta_max: particles with |η| at or above this are not clustered ("jets" only).
    """

    process: str = "zmumu"
    sqrt_s_gev: float = 13_000.0
    settings: tuple[str, ...] = ()
    n_events: int = 10_000
    seed: int = 12345
    level: str = "hadron"
    pdg_id: tuple[int, ...] = (13, -13)
    status: tuple[int, ...] = ()
    n_objects: int = 2
    pt_min_gev: float = 0.0
    abs_eta_max: float | None = None
    objects: str = "particles"
    min_objects: int = 0
    jet_radius: float = DEFAULT_RADIUS
    jet_algorithm: str = "antikt"
    jet_input_abs_eta_max: float = DEFAULT_INPUT_ABS_ETA_MAX

    def __post_init__(self) -> None:
        if self.objects != "particles" and (self.pdg_id, self.status) == ((13, -13), ()):  # untouched defaults
            object.__setattr__(self, "pdg_id", ())
        self.check("pythia")

    def check(self, where: str) -> None:
        """Raise ConfigError (naming ``where.field``) for an invalid configuration."""
        _check_config(self, where)

    def pythia_settings(self) -> list[str]:
        """Every setting string passed to Pythia, in order (the user's ``settings`` last)."""
        out = [*QUIET_SETTINGS, f"Beams:eCM = {self.sqrt_s_gev:g}", *PROCESS_SETTINGS[self.process]]
        out += LEVEL_SETTINGS[self.level]
        out += ["Random:setSeed = on", f"Random:seed = {self.seed}"]
        return out + list(self.settings)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that :meth:`from_dict` reads back."""
        out = dataclasses.asdict(self)
        out.update(settings=list(self.settings), pdg_id=list(self.pdg_id), status=list(self.status))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "simulation.pythia") -> PythiaConfig:
        """A checked configuration from a config mapping; errors name ``source.field``.

        ``pdg_id``/``status`` default to the process's particles (see ``DEFAULT_OBJECTS``) for
        objects "particles" and to empty otherwise; ``n_objects`` defaults to 6 for "top_decays".
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(names))})")
        process = _string(data.get("process", "zmumu"), f"{source}.process")
        objects = _string(data.get("objects", "particles"), f"{source}.objects")
        particles = objects == "particles"
        pdg_default, status_default = DEFAULT_OBJECTS.get(process, ((), ())) if particles else ((), ())
        values: dict[str, Any] = {
            "process": process,
            "sqrt_s_gev": _number(data.get("sqrt_s_gev", 13_000.0), f"{source}.sqrt_s_gev"),
            "settings": tuple(
                _string(s, f"{source}.settings") for s in _list(data.get("settings"), f"{source}.settings")
            ),
            "n_events": _int(data.get("n_events", 10_000), f"{source}.n_events"),
            "seed": _int(data.get("seed", 12345), f"{source}.seed"),
            "level": _string(data.get("level", "hadron"), f"{source}.level"),
            "pdg_id": _ints(data.get("pdg_id", pdg_default), source, "pdg_id"),
            "status": _ints(data.get("status", status_default), source, "status"),
            "n_objects": _int(data.get("n_objects", N_TRUTH if objects == "top_decays" else 2), f"{source}.n_objects"),
            "pt_min_gev": _number(data.get("pt_min_gev", 0.0), f"{source}.pt_min_gev"),
            "abs_eta_max": _optional_number(data.get("abs_eta_max"), f"{source}.abs_eta_max"),
            "objects": objects,
            "min_objects": _int(data.get("min_objects", 0), f"{source}.min_objects"),
            "jet_radius": _number(data.get("jet_radius", DEFAULT_RADIUS), f"{source}.jet_radius"),
            "jet_algorithm": _string(data.get("jet_algorithm", "antikt"), f"{source}.jet_algorithm"),
            "jet_input_abs_eta_max": _number(
                data.get("jet_input_abs_eta_max", DEFAULT_INPUT_ABS_ETA_MAX), f"{source}.jet_input_abs_eta_max"
            ),
        }
        _check_config(SimpleNamespace(**values), source)
        return cls(**values)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _optional_number(value: Any, where: str) -> float | None:
    return None if value is None else _number(value, where)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return list(value)


def _ints(value: Any, source: str, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    return tuple(_int(v, f"{source}.{name}") for v in _list(value, f"{source}.{name}"))


# --------------------------------------------------------------------------- running Pythia
def import_pythia() -> Any:
    """The ``pythia8mc`` module.

    Raises:
        HepganError: when it is not installed (with the install line).
    """
    try:
        import pythia8mc
    except ImportError:
        raise HepganError(f"Pythia 8 (package pythia8mc) is not installed; install it with: {INSTALL_HINT}") from None
    return pythia8mc


def make_pythia(config: PythiaConfig) -> Any:
    """An initialised, quiet, seeded ``pythia8mc.Pythia`` for ``config``.

    Raises:
        HepganError: pythia8mc missing.
        ConfigError: Pythia rejects a setting or fails to initialise.
    """
    pythia8mc = import_pythia()
    pythia = pythia8mc.Pythia("", False)  # no banner
    for setting in config.pythia_settings():
        if not pythia.readString(setting, False):
            raise ConfigError(f"simulation.pythia.settings: Pythia does not accept {setting!r}")
    if not pythia.init():
        raise ConfigError(f"simulation.pythia: Pythia failed to initialise with settings {config.pythia_settings()}")
    return pythia


def select_particles(events: Any, config: PythiaConfig) -> EventBatch:
    """The stored objects of a ``Pythia.nextBatch`` awkward array of events, as an EventBatch (GeV)."""
    particles = events["prt"]
    p = particles["p"]
    momenta = vector.zip({"px": p["px"], "py": p["py"], "pz": p["pz"], "E": p["e"]})
    keep = kinematic_keep(momenta.pt, momenta.eta, config.pt_min_gev, config.abs_eta_max)
    ids, status = particles["id"], particles["status"]
    keep = keep & (any_equal(abs(status), config.status) if config.status else status > 0)
    if config.pdg_id:
        keep = keep & any_equal(ids, config.pdg_id)
    return batch_from_momenta(momenta, config.n_objects, keep)


def select_objects(events: Any, config: PythiaConfig) -> EventBatch:
    """The stored objects (``config.objects``) of a ``Pythia.nextBatch`` awkward array of events (GeV)."""
    particles = events["prt"]
    if config.objects == "top_decays":
        return select_top_decays(particles)
    if config.objects == "jets":
        jets = (config.jet_radius, config.jet_algorithm, config.pt_min_gev, config.abs_eta_max)
        return select_jets(particles, config.n_objects, *jets, input_abs_eta_max=config.jet_input_abs_eta_max)
    return select_particles(events, config)


@dataclass
class GenerationCounts:
    """Events a run generated (``tried``) and stored (``accepted``, those with >= ``min_objects`` objects)."""

    tried: int = 0
    accepted: int = 0

    @property
    def acceptance(self) -> float:
        """Fraction of generated events that were stored (0 before any)."""
        return self.accepted / self.tried if self.tried else 0.0


def describe_selection(config: PythiaConfig) -> str:
    """The object selection in words, for messages (e.g. ">= 6 jets (antikt R=0.4) with pT >= 25 GeV, |η| <= 2.5")."""
    what = f"jets ({config.jet_algorithm} R={config.jet_radius:g})" if config.objects == "jets" else config.objects
    cuts = [f"pT >= {config.pt_min_gev:g} GeV"] + ([f"|η| <= {config.abs_eta_max:g}"] if config.abs_eta_max else [])
    return f">= {config.min_objects} {what} with {', '.join(cuts)}"


def _next_batch(pythia: Any, n: int) -> Any:
    events = pythia.nextBatch(n, "skip")
    if len(events) == 0:
        raise HepganError(f"Pythia produced none of {n} requested events (every event failed); check the settings")
    return events


def _request(config: PythiaConfig, remaining: int, counts: GenerationCounts, chunk_size: int) -> int:
    """Events to ask Pythia for next: enough for ``remaining`` stored ones at the acceptance so far."""
    if config.min_objects == 0:
        return min(chunk_size, remaining)
    if counts.accepted == 0:
        return chunk_size
    return min(chunk_size, math.ceil(1.1 * remaining / counts.acceptance))


def iter_events(
    config: PythiaConfig,
    n: int,
    chunk_size: int = 200,
    progress: bool = False,
    counts: GenerationCounts | None = None,
) -> Iterator[EventBatch]:
    """Yield EventBatches of stored events (at most ``chunk_size`` generated each), ``n`` stored in total.

    Events with fewer than ``config.min_objects`` objects are dropped and more are generated;
    ``counts`` (when given) is updated with the events tried and stored.

    Raises:
        HepganError: pythia8mc or fastjet missing, Pythia fails, or no event of
            ``NO_PASS_CHUNKS * chunk_size`` in a row passes ``min_objects``.
        ConfigError: Pythia rejects the settings.
    """
    if n < 1 or chunk_size < 1:
        raise ConfigError(f"n and chunk_size must be >= 1, got {n} and {chunk_size}")
    counts = GenerationCounts() if counts is None else counts
    if config.objects == "jets":
        import_fastjet()  # fail before Pythia starts
    pythia = make_pythia(config)
    bar = _progress_bar(n) if progress else None
    failed = 0  # generated events in a row without one stored
    try:
        while counts.accepted < n:
            events = _next_batch(pythia, _request(config, n - counts.accepted, counts, chunk_size))
            batch = select_objects(events, config)
            passing = np.flatnonzero(batch.mask.sum(axis=1) >= config.min_objects)[: n - counts.accepted]
            # tried: the events up to the last one stored (all of them when more are needed)
            counts.tried += len(batch) if counts.accepted + len(passing) < n else int(passing[-1]) + 1
            failed = 0 if len(passing) else failed + len(batch)
            if failed >= NO_PASS_CHUNKS * chunk_size:
                raise HepganError(
                    f"no event passes the selection: none of the last {failed} generated events has "
                    f"{describe_selection(config)} ({counts.accepted} of {counts.tried} passed); loosen "
                    "simulation.pythia.min_objects, pt_min_gev or abs_eta_max"
                )
            batch = batch.subset(passing) if len(passing) < len(batch) else batch
            counts.accepted += len(batch)
            if bar is not None:
                bar.update(len(batch))
            if len(batch):
                yield batch
    finally:
        if bar is not None:
            bar.close()
    if config.min_objects:
        passed = f"{counts.accepted} of {counts.tried} generated events have {describe_selection(config)}"
        logger.info("%s: acceptance %.4f", passed, counts.acceptance)


def _progress_bar(n: int) -> Progress:
    return progress_bar(n, "pythia", "event")


def generate_events(config: PythiaConfig, n: int | None = None, progress: bool = False) -> EventBatch:
    """Generate events until ``n`` (default ``config.n_events``) are stored and return their objects (GeV).

    Raises:
        HepganError: pythia8mc or fastjet missing, Pythia fails, or no event passes ``min_objects``.
        ConfigError: Pythia rejects the settings.
    """
    n = config.n_events if n is None else int(n)
    return EventBatch.concatenate(list(iter_events(config, n, progress=progress)))


@dataclass
class EventSimulationSummary:
    """What :func:`simulate_events_to_file` wrote, and how fast."""

    path: Path
    n: int
    seconds: float
    tried: int = 0  # events generated to store n

    @property
    def events_per_second(self) -> float:
        """Stored events per second of wall time."""
        return self.n / max(self.seconds, 1e-9)


def reconstruction(config: PythiaConfig) -> str:
    """How the stored objects form resonance candidates (the file's ``reconstruction`` attribute).

    "ttbar_partons" (top_decays), "ttbar_jets" (jets of ttbar_hadronic), "pair" (zmumu particles)
    or "none".
    """
    if config.objects == "top_decays":
        return "ttbar_partons"
    if config.objects == "jets" and config.process == "ttbar_hadronic":
        return "ttbar_jets"
    if config.objects == "particles" and config.process == "zmumu":
        return "pair"
    return "none"


def file_attrs(config: PythiaConfig, counts: GenerationCounts | None = None) -> dict[str, Any]:
    """Metadata stored with simulated events (seed, process, settings, objects, jets, acceptance ...)."""
    import_pythia()
    version = importlib.metadata.version("pythia8mc")
    attrs: dict[str, Any] = {
        "generator": f"Pythia {version} (pythia8mc)",
        "seed": config.seed,
        "process": config.process,
        "level": config.level,
        "sqrt_s_gev": config.sqrt_s_gev,
        "pythia_settings": json.dumps(config.pythia_settings()),
        "selection": json.dumps({k: v for k, v in config.to_dict().items() if k not in ("settings", "n_events")}),
        "objects": config.objects,
        "reconstruction": reconstruction(config),
        "min_objects": config.min_objects,
    }
    if config.objects == "jets":
        attrs.update(
            jet_clustering=f"FastJet (fastjet {fastjet_version()})",
            jet_algorithm=config.jet_algorithm,
            jet_radius=config.jet_radius,
            jet_input_abs_eta_max=config.jet_input_abs_eta_max,
        )
    if counts is not None:
        attrs.update(events_tried=counts.tried, acceptance=counts.acceptance)
    return attrs


def simulate_events_to_file(
    config: PythiaConfig,
    output: str | os.PathLike[str],
    n: int | None = None,
    seed: int | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
) -> EventSimulationSummary:
    """Generate events until ``n`` (default ``config.n_events``) are stored and write them to HDF5 or ROOT.

    The file appears under its name only when complete (see :class:`~hepgan.io.events.EventWriter`);
    its attributes hold ``events_tried`` and ``acceptance``. Without ``min_objects`` the events
    are streamed to the file; with it the stored objects (n × n_objects × 33 bytes) are held in
    memory until the acceptance is known. ``chunk_size`` (events per Pythia call and write; default
    2000 at level "hard", else 200) does not change the events. Seeded: the same configuration and
    seed give the same file content.

    Raises:
        HepganError, ConfigError: as :func:`generate_events`; OutputError: the file cannot be written.
    """
    if seed is not None:
        config = dataclasses.replace(config, seed=int(seed))
    n = config.n_events if n is None else int(n)
    chunk_size = (2000 if config.level == "hard" else 200) if chunk_size is None else chunk_size
    start = time.perf_counter()
    counts = GenerationCounts()
    if config.min_objects == 0:  # every generated event is stored
        with EventWriter(output, config.n_objects, attrs=file_attrs(config, GenerationCounts(n, n))) as writer:
            for batch in iter_events(config, n, chunk_size=chunk_size, progress=progress, counts=counts):
                writer.write(batch)
    else:
        file_attrs(config)  # pythia8mc and fastjet are there
        target = output_path(output, EventWriter.example_name)
        check_folder(target)
        check_target(target)
        batches = list(iter_events(config, n, chunk_size=chunk_size, progress=progress, counts=counts))
        with EventWriter(output, config.n_objects, attrs=file_attrs(config, counts)) as writer:
            for batch in batches:
                writer.write(batch)
    summary = EventSimulationSummary(Path(output), n, time.perf_counter() - start, tried=counts.tried)
    what = f"{config.process} {config.objects} ({config.level} level; {counts.tried} tried, acceptance"
    logger.info(
        "generated %d %s %.4f) in %.1f s: %.1f events/s -> %s",
        *(n, what, counts.acceptance, summary.seconds, summary.events_per_second, summary.path),
    )
    return summary


__all__ = [
    "INSTALL_HINT",
    "LEVELS",
    "OBJECTS",
    "PROCESSES",
    "EventSimulationSummary",
    "GenerationCounts",
    "PythiaConfig",
    "file_attrs",
    "generate_events",
    "import_pythia",
    "iter_events",
    "make_pythia",
    "reconstruction",
    "select_objects",
    "select_particles",
    "simulate_events_to_file",
]
