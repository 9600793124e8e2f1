"""Shared fixtures (small reference shower files made with hepgan's own simulator) and reporting hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepgan.config import load_config

from .helpers import ROOT, case_counts


@pytest.fixture(scope="session")
def reference_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 GFlash photon showers on the CaloChallenge ds1 geometry at 1, 4 and 16 GeV."""
    from hepgan.simulate import simulate_to_file

    out = tmp_path_factory.mktemp("reference") / "reference.h5"
    config = load_config(
        ROOT / "configs" / "calo.yaml", ["simulation.spectrum={kind: discrete, values_mev: [1024, 4096, 16384]}"]
    )
    simulate_to_file(config, out, n=400, seed=7)
    return out


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many cases each property suite tried, for the suites with tests in this session."""
    ran = {
        Path(report.nodeid.split("::")[0]).name
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport)
    }
    counts = {name: cases for name, cases in sorted(case_counts().items()) if name in ran}
    if not counts:
        return
    terminalreporter.write_sep("-", "property cases tried")
    for name, cases in counts.items():
        kinds = ", ".join(f"{kind} {n}" for kind, n in cases.items())
        terminalreporter.write_line(f"{name}: {sum(cases.values())} ({kinds})")
    terminalreporter.write_line(f"total: {sum(sum(cases.values()) for cases in counts.values())}")
