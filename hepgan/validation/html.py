"""The HTML renderer of the validation reports: jinja2 templates shipped in ``hepgan/validation/templates``.

Every report page extends ``base.html.j2``: title, introduction, the summary (the verdict rule
of :mod:`hepgan.validation.verdicts`, then the domain's summary table), then the domain's
sections. Autoescaping is on, so every string from the data (geometry names and descriptions,
file attributes, observable names) is HTML-escaped; pages are standalone and open from disk.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from hepgan.validation.verdicts import VERDICT_SIGMAS

VERDICT_COLOURS = {"ok": "#d9f2d9", "tension": "#fff2cc", "fail": "#f8d0d0"}
MISSING = "–"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not np.isfinite(value))


def format_number(value: Any, spec: str = ".3g") -> str:
    """``value`` formatted with ``spec``; "–" when it is None or not finite."""
    return MISSING if _missing(value) else format(value, spec)


def plus_minus(value: Any, error: Any, spec: str = ".3g") -> str:
    """``value ± error`` text; the error is left out when unknown, "–" without a value."""
    if _missing(value):
        return MISSING
    return f"{value:{spec}} ± {error:.2g}" if not _missing(error) else format(value, spec)


def percent(fraction: Any, spec: str = "+.2f") -> str:
    """A fraction as a percentage ("+1.23 %"); "–" when unknown."""
    return MISSING if _missing(fraction) else f"{100 * fraction:{spec}} %"


def plain_label(label: str) -> str:
    """A matplotlib mathtext label as plain text for HTML ("$E_{tot}$ [MeV]" → "E_tot [MeV]")."""
    return label.replace("$", "").replace("\\", "").replace("{", "").replace("}", "")


@functools.cache
def environment() -> Environment:
    """The jinja2 environment: package templates, autoescaping, undefined names are errors."""
    env = Environment(
        loader=PackageLoader("hepgan.validation", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=format_number, pm=plus_minus, percent=percent, plain=plain_label)
    env.globals.update(verdict_colours=VERDICT_COLOURS, verdict_sigmas=VERDICT_SIGMAS)
    return env


def render(template: str, **context: Any) -> str:
    """Render the package template ``template`` (e.g. ``"calo_report.html.j2"``) with ``context``."""
    return environment().get_template(template).render(**context)
