"""Vectorised sanity checks on shower data as it is read.

Every check raises one :class:`~hepgan.errors.InputFileError` line naming the file
(``source``), the dataset or branch (``key``), what was expected and what was found.
Event indices in messages are absolute (``offset`` is the index of the chunk's first event).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hepgan.errors import InputFileError
from hepgan.io.geometry import CaloGeometry, voxel_count_hint

NEGATIVE_TOLERANCE_MEV = 1e-3
"""Voxel energies below ``-NEGATIVE_TOLERANCE_MEV`` (MeV) are rejected as negative."""

GEV_LIKE_MAX_MEV = 20.0
"""MeV incident energies all below this, with showers far above them, look like GeV."""

GEV_LIKE_RATIO = 100.0
"""Median (shower sum / incident energy) above which MeV incident energies look like GeV."""

MEV_LIKE_MIN_GEV = 1e4
"""Incident energies in a GeV field above this (10 TeV) look like MeV."""

MAX_INCIDENT_MEV = MEV_LIKE_MIN_GEV * 1000.0
"""Incident energies above this (1e7 MeV = 10 TeV) are refused as absurd."""

MAX_SHOWER_RATIO = 10.0
"""Events whose deposited energy exceeds this multiple of the incident energy are refused."""

MAX_VOXEL_MEV = MAX_SHOWER_RATIO * MAX_INCIDENT_MEV
"""Single values above this (MeV) cannot pass the shower/incident check; refused before summing."""

MAX_REASON_CHARS = 200
"""Quoted exception texts are cut to this many characters."""


def one_line(exc: BaseException, limit: int = MAX_REASON_CHARS) -> str:
    """An exception as a single line: ``Type: message``, newlines folded, cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= limit else line[: max(limit - 3, 0)].rstrip() + "..."


def _first_bad_row(bad: np.ndarray) -> tuple[int, int]:
    """(number of bad events, index of the first one) for a boolean array (n, ...)."""
    rows = bad.reshape(len(bad), -1).any(axis=1)
    indices = np.flatnonzero(rows)
    return len(indices), int(indices[0]) if len(indices) else -1


def check_not_empty(source: str, key: str, n_events: int) -> None:
    """Reject a file with no events."""
    if n_events == 0:
        raise InputFileError(f"{source}: '{key}' holds 0 events; expected a non-empty shower file")


def check_same_length(source: str, key: str, n_key: int, ref_key: str, n_ref: int) -> None:
    """Reject datasets/branches whose event counts differ."""
    if n_key != n_ref:
        raise InputFileError(f"{source}: '{key}' holds {n_key} events but '{ref_key}' holds {n_ref}; expected equal")


def check_voxel_count(source: str, key: str, found: int, geometry: CaloGeometry) -> None:
    """Reject showers whose per-event voxel count does not match the geometry."""
    if found != geometry.n_voxels:
        raise InputFileError(
            f"{source}: '{key}' has {found} voxels per event, geometry {geometry.name} expects {geometry.n_voxels} "
            f"({voxel_count_hint(found)})"
        )


def check_row_shape(source: str, key: str, shape: tuple[int, ...], expected: tuple[int, ...], what: str) -> None:
    """Reject an array whose per-event shape (``shape[1:]``) differs from ``expected``."""
    if tuple(shape[1:]) != tuple(expected):
        found = ", ".join(["N", *map(str, shape[1:])])
        want = ", ".join(["N", *map(str, expected)])
        raise InputFileError(f"{source}: '{key}' has shape ({found}), expected ({want}) for {what}")


def check_finite(source: str, key: str, values: np.ndarray, offset: int = 0) -> None:
    """Reject NaN or infinite values; report how many events and the first one."""
    bad = ~np.isfinite(values)
    if bad.any():
        count, first = _first_bad_row(bad)
        raise InputFileError(
            f"{source}: '{key}' has NaN/inf values in {count} event(s), first at event {offset + first}; "
            "expected finite numbers"
        )


def check_positive_energies(source: str, key: str, energies: np.ndarray, offset: int = 0) -> None:
    """Reject incident energies that are zero or negative."""
    bad = energies <= 0
    if bad.any():
        count, first = _first_bad_row(bad)
        raise InputFileError(
            f"{source}: '{key}' has {count} non-positive incident energies, first at event {offset + first} "
            f"(value {float(energies.reshape(len(energies), -1)[first].min()):g}); expected > 0"
        )


def check_non_negative(
    source: str, key: str, deposits_mev: np.ndarray, offset: int = 0, tolerance_mev: float = NEGATIVE_TOLERANCE_MEV
) -> None:
    """Reject voxel energies below ``-tolerance_mev`` (MeV)."""
    bad = deposits_mev < -tolerance_mev
    if bad.any():
        count, first = _first_bad_row(bad)
        low = float(deposits_mev[first].min())
        raise InputFileError(
            f"{source}: '{key}' has negative energies in {count} event(s), first at event {offset + first} "
            f"(minimum {low:g} MeV); expected >= -{tolerance_mev:g} MeV"
        )


def check_training_energies(source: str, what: str, energies_mev: np.ndarray, offset: int = 0) -> None:
    """Reject any negative energy (MeV) in showers used for training: no tolerance, unlike :func:`check_non_negative`.

    ``what`` names the cells in the message ("voxel", "overflow cell"); the message gives
    the first event (absolute index), the cell within it and the value.
    """
    bad = energies_mev < 0
    if bad.any():
        _, first = _first_bad_row(bad)
        cell = int(np.flatnonzero(bad[first].reshape(-1))[0])
        value = float(energies_mev[first].reshape(-1)[cell])
        raise InputFileError(
            f"{source}: negative {what} energy {value:g} MeV at event {offset + first}, {what} {cell}; "
            "training needs every cell energy >= 0 MeV"
        )


def check_max_incident(source: str, key: str, incident_mev: np.ndarray, offset: int = 0) -> None:
    """Reject incident energies above ``MAX_INCIDENT_MEV`` (10 TeV)."""
    bad = incident_mev > MAX_INCIDENT_MEV
    if bad.any():
        count, first = _first_bad_row(bad)
        raise InputFileError(
            f"{source}: '{key}' has {count} incident energies above {MAX_INCIDENT_MEV:g} MeV (10 TeV), "
            f"first at event {offset + first} (value {float(incident_mev[first]):g} MeV); "
            f"expected at most {MAX_INCIDENT_MEV:g} MeV"
        )


def check_max_deposit(source: str, key: str, deposits_mev: np.ndarray, offset: int = 0) -> None:
    """Reject single energies above ``MAX_VOXEL_MEV`` (also beyond float32 range), before any sum."""
    bad = deposits_mev > MAX_VOXEL_MEV
    if bad.any():
        count, first = _first_bad_row(bad)
        high = float(deposits_mev[first].max())
        raise InputFileError(
            f"{source}: '{key}' has energies above {MAX_VOXEL_MEV:g} MeV in {count} event(s), first at event "
            f"{offset + first} (maximum {high:g} MeV); expected at most {MAX_SHOWER_RATIO:g}x the largest "
            f"incident energy ({MAX_INCIDENT_MEV:g} MeV)"
        )


def check_shower_sums(
    source: str, keys: str, incident_mev: np.ndarray, deposited_mev: np.ndarray, offset: int = 0
) -> None:
    """Reject events whose deposited energy exceeds ``MAX_SHOWER_RATIO`` times the incident energy."""
    bad = deposited_mev > MAX_SHOWER_RATIO * incident_mev
    if bad.any():
        count, first = _first_bad_row(bad)
        raise InputFileError(
            f"{source}: {keys} sum to more than {MAX_SHOWER_RATIO:g}x the incident energy in {count} event(s), "
            f"first at event {offset + first} ({float(deposited_mev[first]):g} MeV deposited, "
            f"{float(incident_mev[first]):g} MeV incident); expected at most {MAX_SHOWER_RATIO:g}x"
        )


def check_mev_units(source: str, key: str, incident_mev: np.ndarray, deposited_mev: np.ndarray) -> None:
    """Reject incident energies that look like GeV stored in an MeV field.

    Args:
        incident_mev: incident energies (n,) as read, supposedly in MeV.
        deposited_mev: total deposited energy per event (n,) in MeV.
    """
    if len(incident_mev) == 0 or incident_mev.max() >= GEV_LIKE_MAX_MEV:
        return
    ratio = float(np.median(deposited_mev / incident_mev))
    if ratio > GEV_LIKE_RATIO:
        raise InputFileError(
            f"{source}: '{key}' looks like GeV, expected MeV: all incident energies < {GEV_LIKE_MAX_MEV:g} "
            f"but showers hold a median {ratio:.3g}x the incident energy"
        )


def check_gev_units(source: str, key: str, incident_gev: np.ndarray, offset: int = 0) -> None:
    """Reject incident energies that look like MeV stored in a GeV field (values above 1e4)."""
    bad = incident_gev > MEV_LIKE_MIN_GEV
    if bad.any():
        count, first = _first_bad_row(bad)
        raise InputFileError(
            f"{source}: '{key}' looks like MeV, expected GeV: {count} incident energies above "
            f"{MEV_LIKE_MIN_GEV:g} GeV, first at event {offset + first} (value {float(incident_gev[first]):g})"
        )


def check_chunk(
    source: str,
    offset: int,
    energy_key: str,
    incident: np.ndarray,
    energy_units: str,
    deposits_mev: Mapping[str, np.ndarray],
) -> None:
    """Run every per-event check on one chunk as read from the file.

    Args:
        source: file name for messages.
        offset: absolute index of the chunk's first event.
        energy_key: name of the incident-energy dataset/branch.
        incident: incident energies (n,) in ``energy_units`` ("MeV" or "GeV").
        deposits_mev: per dataset/branch name, energies (n, ...) in MeV, all summed into the
            deposited energy for the unit check (showers, layer images, overflow).

    Incident energies above ``MAX_INCIDENT_MEV``, single values above ``MAX_VOXEL_MEV`` and
    events depositing more than ``MAX_SHOWER_RATIO`` times their incident energy are refused.
    """
    check_finite(source, energy_key, incident, offset)
    check_positive_energies(source, energy_key, incident, offset)
    if energy_units == "GeV":
        check_gev_units(source, energy_key, incident, offset)
        incident_mev = np.asarray(incident, dtype=np.float64) * 1000.0
    else:
        check_max_incident(source, energy_key, incident, offset)
        incident_mev = np.asarray(incident, dtype=np.float64)
    deposited = np.zeros(len(incident), dtype=np.float64)
    for key, values in deposits_mev.items():
        check_finite(source, key, values, offset)
        check_non_negative(source, key, values, offset)
        check_max_deposit(source, key, values, offset)
        deposited += values.reshape(len(values), -1).sum(axis=1, dtype=np.float64)
    if energy_units == "MeV":
        check_mev_units(source, energy_key, incident, deposited)
    keys = "+".join(f"'{key}'" for key in deposits_mev)
    check_shower_sums(source, keys, incident_mev.reshape(-1), deposited, offset)
