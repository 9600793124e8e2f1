"""Figure conventions shared by every hepgan plot: mplhep style, constrained layout, the experiment label, saving."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.patches
import matplotlib.style
import mplhep
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec

from hepgan.errors import OutputError

log = logging.getLogger(__name__)

STYLE = {**mplhep.style.CMS, "text.usetex": False, "figure.dpi": 100, "savefig.dpi": 100}
SMALL_STYLE = {
    **STYLE,
    "font.size": 9,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "axes.linewidth": 1.0,
    "xtick.major.width": 1.0,
    "ytick.major.width": 1.0,
    "xtick.major.size": 5.0,
    "ytick.major.size": 5.0,
}
IMAGE_STYLE = {**SMALL_STYLE, "font.size": 11}
COLOUR_BAR_WIDTH = 0.06
"""Width of a colour bar column next to layer images, relative to an image column."""
REFERENCE_COLOUR = "#9ecae1"
GENERATED_COLOUR = "#d62728"
EXPERIMENT = "hepgan"
STATUS = "Simulation"
RLABEL_CHARS = 30
"""Longest line of the experiment label's right-hand text (longer lines are wrapped)."""
RATIO_LIMITS = (0.5, 1.5)
"""y range of the generated/reference ratio panels; ratios outside it are drawn as edge triangles."""
RATIO_TICKS = (0.6, 0.8, 1.0, 1.2, 1.4)
LOG_Y_DECADES = 2.0
"""A comparison histogram gets a log y axis when its non-zero reference densities span more decades."""
OFF_SCALE_HIGH = "off_scale_high"
OFF_SCALE_LOW = "off_scale_low"
"""``gid`` of the triangle markers for ratios above and below :data:`RATIO_LIMITS`."""
PARTICLE_SYMBOLS = {
    "photon": r"$\gamma$",
    "electron": "$e^-$",
    "positron": "$e^+$",
    "pion": r"$\pi^+$",
    "pi+": r"$\pi^+$",
    "pi-": r"$\pi^-$",
}


# ----------------------------------------------------------------------------- figure plumbing
_FIGURE_STYLES: weakref.WeakKeyDictionary[Figure, Mapping[str, Any]] = weakref.WeakKeyDictionary()
_LAID_OUT: weakref.WeakSet[Figure] = weakref.WeakSet()
"""Figures whose constrained layout has run since their last change that could move the axes."""


def new_figure(
    width: float,
    height: float,
    style: Mapping[str, Any],
    *,
    h_pad: float | None = None,
    hspace: float | None = None,
) -> Figure:
    """A figure with constrained layout on its own Agg canvas (``h_pad``, ``hspace``: the layout's vertical spacing).

    ``style`` (the rcParams the figure is built under) is remembered: tick labels made while
    laying out or saving the figure take their sizes from it (:func:`figure_style`).
    """
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    _FIGURE_STYLES[figure] = style
    engine = figure.get_layout_engine()
    if engine is not None and (h_pad is not None or hspace is not None):
        engine.set(**{key: value for key, value in (("h_pad", h_pad), ("hspace", hspace)) if value is not None})
    return figure


def figure_style(figure: Figure) -> contextlib.AbstractContextManager[Any]:
    """The rcParams context ``figure`` was built under (the CMS-based :data:`STYLE` by default)."""
    return matplotlib.style.context(dict(_FIGURE_STYLES.get(figure, STYLE)))


def run_layout(figure: Figure) -> None:
    """Place the axes by the figure's constrained layout (no drawing)."""
    engine = figure.get_layout_engine()
    if engine is not None:
        with figure_style(figure):
            engine.execute(figure)
        _LAID_OUT.add(figure)


def finalise_layout(figure: Figure) -> None:
    """Fix the figure's constrained layout (running it unless it is current) and remove the engine.

    Saving then draws the figure once instead of laying it out again for every draw.
    """
    if figure.get_layout_engine() is not None:
        if figure not in _LAID_OUT:
            run_layout(figure)
        figure.set_layout_engine(None)


def save_figure(figure: Figure, path: Path) -> Path:
    path = Path(path)
    try:
        finalise_layout(figure)
        path.parent.mkdir(parents=True, exist_ok=True)
        with figure_style(figure):
            figure.savefig(path, format="png")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write plot ({exc.strerror or exc})") from None
    finally:
        figure.clear()
    log.debug("wrote %s", path)
    return path


def experiment_label(ax: Axes, rlabel: str = "", fontsize: float | str | None = None) -> None:
    """Experiment label: "hepgan Simulation" above ``ax`` at the left, ``rlabel`` (sample, energy range) at the right.

    Drawn with ``mplhep.label.exp_label`` (location 0: above the axes), in the same form on
    every hepgan figure. Call it when everything else that takes room is on the figure:
    "Simulation" is placed against the axes width the layout gives. mplhep draws the figure
    to know that width; here a pass of the figure's layout engine stands in for that draw,
    which gives the same axes positions at a fraction of the cost (and leaves the figure
    laid out for :func:`finalise_layout`). Lines of ``rlabel`` longer than
    :data:`RLABEL_CHARS` are wrapped.
    """
    figure = ax.get_figure()
    canvas = figure.canvas if isinstance(figure, Figure) else None
    if isinstance(figure, Figure) and canvas is not None and figure.get_layout_engine() is not None:
        canvas.draw = lambda *args, **kwargs: run_layout(figure)  # type: ignore[method-assign]
    try:
        mplhep.label.exp_label(
            exp=EXPERIMENT,
            llabel=f" {STATUS}",
            rlabel="\n".join(wrap_label(line, RLABEL_CHARS) for line in (rlabel or "").split("\n")),
            com=None,
            loc=0,
            ax=ax,
            fontsize=fontsize,
            scilocator_adjust=False,
        )
    finally:
        if canvas is not None and "draw" in vars(canvas):
            del canvas.draw


def header_axes(figure: Figure, slot: SubplotSpec) -> Axes:
    """An invisible full-width axes in ``slot`` for the experiment label of a multi-panel figure."""
    ax = figure.add_subplot(slot)
    ax.set_axis_off()
    return ax


def sample_label(name: str, particle: str = "", energy_range_mev: tuple[float, float] | None = None) -> str:
    """Right-hand label text: the sample's name, then its particle and incident-energy range in GeV."""
    details = " ".join(
        part
        for part in (
            PARTICLE_SYMBOLS.get(particle.lower(), particle) if particle else "",
            _energy_range_text(energy_range_mev) if energy_range_mev is not None else "",
        )
        if part
    )
    name = literal_text(name)
    return f"{name}\n{details}" if details else name


def literal_text(text: str) -> str:
    """``text`` shown as written: dollar signs escaped, so matplotlib does not read it as mathtext."""
    return text.replace("$", r"\$")


def _gev(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _energy_range_text(energy_range_mev: tuple[float, float]) -> str:
    low, high = (value / 1000.0 for value in energy_range_mev)
    return f"{_gev(low)} GeV" if math.isclose(low, high) else f"{_gev(low)}–{_gev(high)} GeV"


def _visible_length(text: str) -> int:
    """Rough printed length of a mathtext string (commands, braces and ``$`` dropped)."""
    return len(re.sub(r"\\[A-Za-z]+|[${}^_]", "", text))


def wrap_label(label: str, max_chars: int) -> str:
    """``label`` broken into lines of at most ``max_chars`` printed characters, never inside ``$…$``."""
    words: list[str] = []
    current, in_math = "", False
    for char in label:
        if char == "$":
            in_math = not in_math
        if char == " " and not in_math:
            words.append(current)
            current = ""
        else:
            current += char
    words.append(current)
    lines: list[str] = []
    for word in (w for w in words if w):
        if lines and _visible_length(lines[-1]) + 1 + _visible_length(word) <= max_chars:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def _label_chars(width_in: float, fontsize_pt: float) -> int:
    """How many characters of a label fit in ``width_in`` inches at ``fontsize_pt``."""
    return max(12, int(width_in * 72.0 / (0.55 * fontsize_pt)))


# ----------------------------------------------------------------------------- comparison histograms


def layout_again(figure: Figure) -> None:
    """Mark ``figure`` to be laid out again before it is saved (its tick labels changed width)."""
    _LAID_OUT.discard(figure)
