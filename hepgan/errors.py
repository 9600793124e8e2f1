"""Exceptions that the command line turns into one clear error line."""

from __future__ import annotations


class HepganError(Exception):
    """Base class for every error hepgan reports to the user without a traceback."""


class ConfigError(HepganError):
    """A configuration file or value is invalid (names the field and what was expected)."""


class InputFileError(HepganError):
    """An input file is missing, unreadable, corrupt or holds data of the wrong form."""


class OutputError(HepganError):
    """An output could not be written (unwritable directory, disk full, ...)."""


class TrainingError(HepganError):
    """Training cannot continue (NaN/inf losses, divergence, missing checkpoint)."""


class Interrupted(HepganError):
    """A job was stopped by a signal (SIGTERM from the batch system, SIGINT); the message names the signal."""


class TrainingInterrupted(Interrupted):
    """Training was stopped by a signal (SIGTERM from the batch system, SIGINT) after a checkpoint."""


class GenerationInterrupted(Interrupted):
    """Generation was stopped by a signal (SIGTERM, SIGINT); the partial output file was removed."""
