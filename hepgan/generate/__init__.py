"""Generation: checkpoint → batches on the device → inverse transform → streamed file.

- :mod:`hepgan.generate.stream`: the path shared by showers and events (job plan and
  shards, background writer, summary);
- :mod:`hepgan.generate.showers`: :class:`ShowerGenerator` and shower files;
- :mod:`hepgan.generate.events`: :class:`EventGenerator` and event tables.

Which of the two a checkpoint needs is decided once, by its domain
(:func:`hepgan.domains.generate_to_file`, :func:`hepgan.domains.load_generator`).
"""

from __future__ import annotations

from hepgan.generate.events import EventGenerator, events_per_second, generate_events_to_file
from hepgan.generate.showers import (
    ShowerGenerator,
    energies_from_file,
    generate_showers_to_file,
    incident_energy_batches,
)
from hepgan.generate.stream import (
    MAX_ITEMS,
    GenerationSummary,
    JobPlan,
    resolve_checkpoint,
    shard_plan,
    stream_batches,
    write_in_background,
)

__all__ = [
    "MAX_ITEMS",
    "EventGenerator",
    "GenerationSummary",
    "JobPlan",
    "ShowerGenerator",
    "energies_from_file",
    "events_per_second",
    "generate_events_to_file",
    "generate_showers_to_file",
    "incident_energy_batches",
    "resolve_checkpoint",
    "shard_plan",
    "stream_batches",
    "write_in_background",
]
