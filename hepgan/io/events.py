"""Event kinematics I/O: ROOT trees (flat or jagged branches) and hepgan event tables (HDF5, ROOT).

Events are held as :class:`EventBatch` es: pT (GeV), η, φ (rad, in (−π, π]) and m (GeV)
of up to ``n_objects`` objects per event, ordered by decreasing pT, with a ``mask``.

This module gathers the public names; each lives in a module with one job:

- :mod:`hepgan.io.event_batch`: :class:`EventBatch`, :func:`wrap_phi` and the event-table
  layout (``TABLE_KEYS``, ``TABLE_LAYOUT``, ``DEFAULT_TREE``);
- :mod:`hepgan.io.event_selection`: :class:`EventSelection`, which objects of a ROOT tree to
  read and keep, checked from config;
- :mod:`hepgan.io.four_vectors`: :func:`kinematic_keep`, :func:`batch_from_momenta`,
  :func:`any_equal` on awkward ``vector`` arrays;
- :mod:`hepgan.io.event_sources`: the ROOT-tree, ROOT-table and HDF5-table sources;
- :mod:`hepgan.io.event_readers`: :func:`detect_format`, :class:`EventReader`, :func:`read_events`;
- :mod:`hepgan.io.event_writers`: :class:`EventWriter`, :func:`write_events` (atomic, see
  :mod:`hepgan.io.atomic`).

Every problem with an input raises one :class:`~hepgan.errors.InputFileError` line naming
the file and the branch/dataset; every problem with an output one
:class:`~hepgan.errors.OutputError` line naming the file.
"""

from __future__ import annotations

from hepgan.io.event_batch import DEFAULT_TREE, TABLE_KEYS, TABLE_LAYOUT, EventBatch, wrap_phi
from hepgan.io.event_readers import ROOT_MAGIC, EventReader, detect_format, read_events
from hepgan.io.event_selection import DEFAULT_FIELDS, ID_QUANTITIES, KINDS, MOMENTUM_QUANTITIES, EventSelection
from hepgan.io.event_sources import HDF5TableSource, RootSelectionSource, RootTableSource
from hepgan.io.event_writers import HDF5_SUFFIXES, RESERVED_ATTRS, ROOT_SUFFIXES, EventWriter, write_events
from hepgan.io.four_vectors import VECTOR_NAMES, any_equal, batch_from_momenta, kinematic_keep

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_TREE",
    "HDF5_SUFFIXES",
    "ID_QUANTITIES",
    "KINDS",
    "MOMENTUM_QUANTITIES",
    "RESERVED_ATTRS",
    "ROOT_MAGIC",
    "ROOT_SUFFIXES",
    "TABLE_KEYS",
    "TABLE_LAYOUT",
    "VECTOR_NAMES",
    "EventBatch",
    "EventReader",
    "EventSelection",
    "EventWriter",
    "HDF5TableSource",
    "RootSelectionSource",
    "RootTableSource",
    "any_equal",
    "batch_from_momenta",
    "detect_format",
    "kinematic_keep",
    "read_events",
    "wrap_phi",
    "write_events",
]
