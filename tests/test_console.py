"""The console says what the report says: summary tables with value ± error, floor and verdict."""

from __future__ import annotations

import re
from pathlib import Path

from hepgan.domains.calo import global_metric_lines
from hepgan.domains.events import target_lines
from hepgan.validation.event_report import validate_event_arrays

from .helpers import toy_zmumu


def test_the_shower_summary_table_has_errors_floors_and_verdicts() -> None:
    report = {
        "global_metrics": {
            "chi2_ndf_mean": {"value": 3.434, "error": 0.034, "floor": 1.015, "verdict": "fail"},
            "kpd": {"value": 0.7783, "error": 0.18, "floor": 0.06759, "verdict": "tension"},
            "classifier_auc_low_level": {"value": None, "error": None, "floor": None, "verdict": "n/a"},
        }
    }
    lines = global_metric_lines(report)
    assert lines[0].split() == ["summary", "metric", "value", "±", "error", "floor", "verdict"]
    assert [line.split() for line in lines[1:]] == [
        ["chi2_ndf_mean", "3.434", "±", "0.034", "1.015", "fail"],
        ["kpd", "0.7783", "±", "0.18", "0.06759", "tension"],
    ]
    assert global_metric_lines({"global_metrics": {}}) == []


def test_the_event_table_has_the_report_verdict_per_observable(tmp_path: Path) -> None:
    reference, generated = toy_zmumu(3000, seed=1), toy_zmumu(3000, seed=2)
    generated.pt[:, 0] *= 1.08  # the leading muon's pT off by 8 %: its observables fail
    report = validate_event_arrays(reference, generated, tmp_path, make_plots=False)
    lines = target_lines(report)
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in report["observables"]}
    assert set(rows) == set(report["observables"])
    for name, line in rows.items():
        entry = report["observables"][name]
        assert line.rstrip().endswith(f"  {entry['verdict']}"), line
        assert re.search(rf"^\s+{name}\s+\S+ ± \S+\s+\S+", line), line
    assert report["observables"]["pt_1"]["verdict"] == "fail"
    assert report["observables"]["phi_2"]["verdict"] == "ok"
    counts = report["summary"]["verdicts"]
    assert f"verdicts (W1 and chi2/ndf against their floors): {counts['ok']} ok" in "\n".join(lines)
