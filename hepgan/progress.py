"""Progress for training, generation and simulation: a tqdm bar on a terminal, plain lines in a log file.

A tqdm bar redraws itself with carriage returns; in a batch job's log file every frame stays,
and the log grows by hundreds of kilobytes of unreadable text. :func:`progress_bar` therefore
returns a tqdm bar only when standard error is a terminal (or in a Jupyter kernel) and
otherwise a :class:`LineProgress`, which writes one plain line every :data:`LINE_STEP_PERCENT`
percent of the total or every :data:`LINE_INTERVAL_S` seconds, whichever comes first::

    train calo: 1200/4000 it (30%), 95 s, 12.6 it/s, ETA 3.7 min, d_loss=-1.2, g_loss=3.4

Both have the same interface: ``update(n)``, ``set_postfix(dict)``, ``close()`` and the
attribute ``n`` (items done).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

LINE_STEP_PERCENT = 10.0
"""A line is written each time progress crosses another multiple of this percentage ..."""
LINE_INTERVAL_S = 30.0
"""... or when this many seconds have passed since the last line."""


class Progress(Protocol):
    """What training, generation and simulation call on a progress display."""

    n: Any

    def update(self, n: float = 1) -> Any: ...

    def set_postfix(self, ordered_dict: Mapping[str, Any] | None = None, refresh: bool = True) -> Any: ...

    def close(self) -> None: ...


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _count(value: float, scale: bool) -> str:
    if not scale or abs(value) < 1000:
        return f"{value:.0f}" if value == int(value) else f"{value:.3g}"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.0f}"


def _rate(value: float, scale: bool) -> str:
    if scale and value >= 1000:
        return _count(value, True)
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


class LineProgress:
    """Progress as plain lines: one per :data:`LINE_STEP_PERCENT` % of ``total``, or per ``interval_s`` seconds.

    Args:
        total: items expected (``None`` or 0: unknown; lines then come only by time).
        desc: what is counted, at the start of each line.
        unit: the unit of one item ("it", "shower", "event").
        initial: items already done (a resumed run).
        unit_scale: write large counts as 1.2M, 35k.
        stream: where the lines go (default: ``sys.stderr`` at construction).
        step_percent, interval_s: the two line triggers.
        clock: seconds from an arbitrary origin (``time.monotonic``).
    """

    def __init__(
        self,
        total: float | None,
        desc: str = "",
        unit: str = "it",
        initial: float = 0,
        unit_scale: bool = False,
        stream: TextIO | None = None,
        step_percent: float = LINE_STEP_PERCENT,
        interval_s: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total or None
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.unit_scale = unit_scale
        self.stream = sys.stderr if stream is None else stream
        self.step_percent = step_percent
        self.interval_s = interval_s
        self.clock = clock
        self.postfix: dict[str, str] = {}
        self.closed = False
        self._start = self._last_time = clock()
        self._start_n = initial
        self._last_n = initial
        self._last_step = self._step(initial)

    def _step(self, n: float) -> int:
        """How many whole ``step_percent`` steps ``n`` items are of the total."""
        if not self.total:
            return 0
        return math.floor(100.0 * n / self.total / self.step_percent + 1e-9)

    def update(self, n: float = 1) -> None:
        """Count ``n`` more items; write a line when a percentage step is crossed or the interval has passed."""
        self.n += n
        now = self.clock()
        step = self._step(self.n)
        if step > self._last_step or now - self._last_time >= self.interval_s:
            self._write(now)
            self._last_step = step

    def set_postfix(self, ordered_dict: Mapping[str, Any] | None = None, refresh: bool = True) -> None:
        """Values appended to the following lines (``name=value``), as tqdm's postfix."""
        self.postfix = {str(key): str(value) for key, value in (ordered_dict or {}).items()}

    def line(self, now: float | None = None) -> str:
        """The progress line for the current count."""
        now = self.clock() if now is None else now
        elapsed = now - self._start
        done = self.n - self._start_n
        rate = done / elapsed if elapsed > 0 else float("nan")
        count = _count(self.n, self.unit_scale)
        if self.total:
            parts = [f"{count}/{_count(self.total, self.unit_scale)} {self.unit} ({100.0 * self.n / self.total:.0f}%)"]
        else:
            parts = [f"{count} {self.unit}"]
        parts.append(_duration(elapsed))
        if math.isfinite(rate) and rate > 0:
            parts.append(f"{_rate(rate, self.unit_scale)} {self.unit}/s")
            if self.total and self.n < self.total:
                parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        parts += [f"{key}={value}" for key, value in self.postfix.items()]
        head = f"{self.desc}: " if self.desc else ""
        return head + ", ".join(parts)

    def _write(self, now: float) -> None:
        self.stream.write(self.line(now) + "\n")
        self.stream.flush()
        self._last_time, self._last_n = now, self.n

    def close(self) -> None:
        """Write a last line if the count moved since the previous one."""
        if self.closed:
            return
        self.closed = True
        if self.n != self._last_n:
            self._write(self.clock())


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (whose output is no terminal but shows tqdm's widget)."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and type(get_ipython()).__name__ == "ZMQInteractiveShell"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(
    total: float | None,
    desc: str,
    unit: str = "it",
    *,
    initial: float = 0,
    unit_scale: bool = False,
    stream: TextIO | None = None,
) -> Progress:
    """A tqdm bar when ``stream`` (default ``sys.stderr``) is a terminal or in Jupyter, else a :class:`LineProgress`."""
    stream = sys.stderr if stream is None else stream
    if _is_terminal(stream) or _in_notebook():
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            unit_scale=unit_scale,
            dynamic_ncols=True,
            file=stream,
        )
    return LineProgress(total, desc, unit, initial=initial, unit_scale=unit_scale, stream=stream)
