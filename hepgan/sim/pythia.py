"""Reference event generation with Pythia 8 (the optional ``pythia8mc`` package).

Pythia generates full proton–proton collisions; hepgan keeps, per event, the
``n_objects`` highest-pT particles that pass a selection (pdgId, status, pT and |η|
cuts) as an :class:`~hepgan.io.events.EventBatch` (pT, η, φ, m in GeV), the same form
the event readers produce, so simulated files train the event GAN directly.

Built-in processes at ``sqrt_s_gev`` (default 13 TeV):

- ``zmumu``: pp → Z/γ* → μ⁺μ⁻ (``WeakSingleBoson:ffbar2gmZ``, Z decays to muons only,
  m̂ > 50 GeV); stores the two highest-pT final-state muons (pdgId ±13, status > 0);
- ``ttbar``: pp → tt̄ (``Top:gg2ttbar``, ``Top:qqbar2ttbar``); stores the two top quarks
  after showering (pdgId ±6, |status| 62, Pythia's last copy before decay);
- ``custom``: only the user's ``settings``; give ``pdg_id`` (and ``status``) yourself.

``level="parton"`` switches hadronisation off (``HadronLevel:all = off``): faster, and the
hard-process leptons are unchanged. Runs are quiet (``Print:quiet``, ``Next:numberCount = 0``)
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
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import vector

from hepgan.errors import ConfigError, HepganError
from hepgan.io.events import EventBatch, EventWriter, any_equal, batch_from_momenta, kinematic_keep
from hepgan.progress import Progress, progress_bar

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'hepgan[pythia]'"
PROCESSES = ("zmumu", "ttbar", "custom")
LEVELS = ("hadron", "parton")
SEED_MAX = 900_000_000

PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "zmumu": (
        "WeakSingleBoson:ffbar2gmZ = on",
        "23:onMode = off",
        "23:onIfAny = 13",
        "PhaseSpace:mHatMin = 50",
    ),
    "ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
    "custom": (),
}
"""Pythia settings that define each built-in process."""

DEFAULT_OBJECTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "zmumu": ((13, -13), ()),
    "ttbar": ((6, -6), (62,)),
    "custom": ((), ()),
}
"""Process -> (pdg_id, status) of the stored objects when the config gives none."""

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


@dataclass(frozen=True)
class PythiaConfig:
    """A Pythia 8 run and the objects kept from each event.

    Attributes:
        process: "zmumu", "ttbar" or "custom".
        sqrt_s_gev: proton–proton centre-of-mass energy in GeV.
        settings: extra Pythia setting strings, applied last (they override hepgan's).
        n_events: events to generate by default.
        seed: Pythia random seed, 1 … 900 000 000.
        level: "hadron" (full event) or "parton" (``HadronLevel:all = off``).
        pdg_id: stored objects' pdgIds (signed); empty keeps every particle id.
        status: empty keeps final-state particles (status > 0); else particles whose
            |status| is listed (e.g. 62 for the last top-quark copy).
        n_objects: objects stored per event, highest pT first, padded with a mask.
        pt_min_gev: stored objects have pT >= this, in GeV.
        abs_eta_max: stored objects have |η| <= this; None keeps all.
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

    def __post_init__(self) -> None:
        self.check("pythia")

    def check(self, where: str) -> None:
        """Raise ConfigError (naming ``where.field``) for an invalid configuration."""
        _check_config(self, where)

    def pythia_settings(self) -> list[str]:
        """Every setting string passed to Pythia, in order (the user's ``settings`` last)."""
        out = [*QUIET_SETTINGS, f"Beams:eCM = {self.sqrt_s_gev:g}", *PROCESS_SETTINGS[self.process]]
        out += ["HadronLevel:all = off"] if self.level == "parton" else []
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

        ``pdg_id``/``status`` default to the process's objects (see ``DEFAULT_OBJECTS``).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(names))})")
        process = _string(data.get("process", "zmumu"), f"{source}.process")
        pdg_default, status_default = DEFAULT_OBJECTS.get(process, ((), ()))
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
            "n_objects": _int(data.get("n_objects", 2), f"{source}.n_objects"),
            "pt_min_gev": _number(data.get("pt_min_gev", 0.0), f"{source}.pt_min_gev"),
            "abs_eta_max": _optional_number(data.get("abs_eta_max"), f"{source}.abs_eta_max"),
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


def _next_batch(pythia: Any, n: int) -> Any:
    events = pythia.nextBatch(n, "skip")
    if len(events) == 0:
        raise HepganError(f"Pythia produced none of {n} requested events (every event failed); check the settings")
    return events


def iter_events(config: PythiaConfig, n: int, chunk_size: int = 200, progress: bool = False) -> Iterator[EventBatch]:
    """Yield EventBatches of at most ``chunk_size`` generated events, ``n`` in total."""
    if n < 1 or chunk_size < 1:
        raise ConfigError(f"n and chunk_size must be >= 1, got {n} and {chunk_size}")
    pythia = make_pythia(config)
    bar = _progress_bar(n) if progress else None
    done = 0
    try:
        while done < n:
            batch = select_particles(_next_batch(pythia, min(chunk_size, n - done)), config)
            done += len(batch)
            if bar is not None:
                bar.update(len(batch))
            yield batch
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(n: int) -> Progress:
    return progress_bar(n, "pythia", "event")


def generate_events(config: PythiaConfig, n: int | None = None, progress: bool = False) -> EventBatch:
    """Generate ``n`` events (default ``config.n_events``) and return their stored objects (GeV).

    Raises:
        HepganError: pythia8mc missing, or Pythia fails to produce events.
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

    @property
    def events_per_second(self) -> float:
        return self.n / max(self.seconds, 1e-9)


def file_attrs(config: PythiaConfig) -> dict[str, Any]:
    """Metadata stored with simulated events (seed, process, settings, ...)."""
    import_pythia()
    version = importlib.metadata.version("pythia8mc")
    return {
        "generator": f"Pythia {version} (pythia8mc)",
        "seed": config.seed,
        "process": config.process,
        "level": config.level,
        "sqrt_s_gev": config.sqrt_s_gev,
        "pythia_settings": json.dumps(config.pythia_settings()),
        "selection": json.dumps({k: v for k, v in config.to_dict().items() if k not in ("settings", "n_events")}),
    }


def simulate_events_to_file(
    config: PythiaConfig,
    output: str | os.PathLike[str],
    n: int | None = None,
    seed: int | None = None,
    chunk_size: int = 200,
    progress: bool = False,
) -> EventSimulationSummary:
    """Generate ``n`` events (default ``config.n_events``) and stream them to HDF5 or ROOT (by extension).

    The file appears under its name only when complete (see :class:`~hepgan.io.events.EventWriter`).
    Seeded: the same configuration and seed give the same file content.

    Raises:
        HepganError, ConfigError: as :func:`generate_events`; OutputError: the file cannot be written.
    """
    if seed is not None:
        config = dataclasses.replace(config, seed=int(seed))
    n = config.n_events if n is None else int(n)
    start = time.perf_counter()
    with EventWriter(output, config.n_objects, attrs=file_attrs(config)) as writer:
        for batch in iter_events(config, n, chunk_size=chunk_size, progress=progress):
            writer.write(batch)
    summary = EventSimulationSummary(Path(output), n, time.perf_counter() - start)
    logger.info(
        "generated %d %s events (%s level) in %.1f s: %.1f events/s -> %s",
        n,
        config.process,
        config.level,
        summary.seconds,
        summary.events_per_second,
        summary.path,
    )
    return summary


__all__ = [
    "INSTALL_HINT",
    "PROCESSES",
    "EventSimulationSummary",
    "PythiaConfig",
    "generate_events",
    "import_pythia",
    "iter_events",
    "make_pythia",
    "select_particles",
    "simulate_events_to_file",
]
