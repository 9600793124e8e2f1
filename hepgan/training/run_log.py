"""What the training loop keeps while it runs: the metrics log, the rate meter, stop signals."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from hepgan.errors import OutputError


class Rate:
    """Showers (or events) per second between logging steps."""

    def __init__(self, per_iteration: int, step: int) -> None:
        self.per_iteration = per_iteration
        self.restart(step)

    def restart(self, step: int) -> None:
        self.step, self.time = step, time.perf_counter()

    def per_second(self, step: int) -> float:
        now = time.perf_counter()
        value = (step - self.step) * self.per_iteration / max(now - self.time, 1e-9)
        self.step, self.time = step, now
        return value


class MetricsLog:
    """Append-only JSON-lines log, flushed after every line (a killed run keeps what it logged)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: a rank other than 0, which logs nothing
        self.handle: TextIO | None = None

    def __enter__(self) -> MetricsLog:
        if self.path is not None:
            try:
                self.handle = open(self.path, "a", encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot open the metrics log ({exc.strerror or exc})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            handle, self.handle = self.handle, None
            try:
                handle.close()
            except OSError:  # a line that did not fit was reported by write()
                pass

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line and flush it (OutputError when the disk is full)."""
        if self.handle is not None:
            try:
                self.handle.write(json.dumps(record) + "\n")
                self.handle.flush()
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot append to the metrics log ({exc.strerror or exc})") from None


class StopSignals:
    """Turn SIGTERM (batch-system preemption) and SIGINT into a request to stop, read from ``signal``.

    Training checkpoints, then stops; generation drops its partial output, then stops.
    Handlers are installed in the main thread only and restored on exit.
    """

    def __init__(self) -> None:
        self.signal: str | None = None
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        self.signal = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
