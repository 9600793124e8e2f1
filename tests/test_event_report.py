"""The event report: negative controls, one verdict rule shared with the shower report, one W1 normalisation,
strict JSON and escaped HTML."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepgan.io.events import EventBatch
from hepgan.io.geometry import geometry_from_dict
from hepgan.validation import report as shower_report_api
from hepgan.validation import verdicts
from hepgan.validation.comparison import compare_observable
from hepgan.validation.event_report import (
    compare_event_observable,
    observable_edges,
    validate_event_arrays,
    validate_event_observables,
)
from hepgan.validation.html import render
from hepgan.validation.metrics import normalised_w1, quick_metrics, w1_scale, wasserstein_1d
from hepgan.validation.report import validate_observables
from hepgan.validation.report_files import write_json
from tests.test_event_pipeline import toy_zmumu

N_EVENTS = 20_000  # two halves of 10^4: enough statistics for a 5 % pT scale to be a many-σ effect


def _strict_json(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _scaled_pt(batch: EventBatch, factor: float) -> EventBatch:
    return EventBatch(batch.pt * factor, batch.eta, batch.phi, batch.mass, batch.mask)


@pytest.fixture(scope="module")
def halves() -> tuple[EventBatch, EventBatch]:
    """Two disjoint halves of one toy Z → μμ sample (reference, and a perfect "generator")."""
    events = toy_zmumu(N_EVENTS, seed=21)
    return events.subset(slice(0, N_EVENTS // 2)), events.subset(slice(N_EVENTS // 2, N_EVENTS))


def test_same_sample_passes(tmp_path: Path, halves: tuple[EventBatch, EventBatch]) -> None:
    reference, generated = halves
    report = validate_event_arrays(reference, generated, tmp_path, make_plots=False)
    summary = report["summary"]
    assert summary["all_targets_met"], summary
    assert summary["observables_compared"] == len(report["observables"]) == 10
    assert "fail" not in summary["verdicts"], summary["verdicts"]
    assert summary["verdicts"].get("ok", 0) >= 8
    for name, entry in report["observables"].items():
        assert entry["verdict"] in ("ok", "tension"), name
        assert entry["w1_within_target"] and entry["w1_over_floor"] < 3, name
    assert _strict_json(tmp_path / "metrics.json") == report


def test_muon_pt_scaled_by_5_percent_fails(tmp_path: Path, halves: tuple[EventBatch, EventBatch]) -> None:
    reference, generated = halves
    report = validate_event_arrays(reference, _scaled_pt(generated, 1.05), tmp_path, make_plots=False)
    for name in ("pt_1", "pt_2", "m_12"):
        assert report["observables"][name]["verdict"] == "fail", name
        assert not report["observables"][name]["w1_within_target"], name
    for name in ("eta_1", "eta_2", "phi_1", "phi_2", "delta_r_12", "y_12"):  # angles do not scale with pT
        assert report["observables"][name]["verdict"] != "fail", name
    peak = report["peak"]
    assert peak["position_rel_diff"] == pytest.approx(0.05, abs=0.005)
    assert not peak["position_within_target"]
    assert not report["summary"]["all_targets_met"]
    assert report["summary"]["verdicts"]["fail"] >= 3


def test_report_keys_and_html(tmp_path: Path) -> None:
    events = toy_zmumu(2000, seed=4)
    report = validate_event_arrays(events.subset(slice(0, 1000)), events.subset(slice(1000, 2000)), tmp_path)
    peak = report["peak"]
    for side in ("reference", "generated"):
        assert {"position_gev", "width_gev"} <= set(peak[side])
    for key in ("position_rel_diff", "width_rel_diff", "position_within_target", "width_within_target"):
        assert key in peak
    assert (peak["target_position_rel"], peak["target_width_rel"]) == (0.005, 0.10)
    entry = report["observables"]["pt_1"]
    assert {"w1", "w1_err", "w1_floor", "w1_over_floor", "w1_within_target", "verdict", "floor"} <= set(entry)
    assert {"all_targets_met", "observables_within_target", "observables_compared"} <= set(report["summary"])
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Resonance peak</h2>") < page.index("<h2>Observables</h2>")
    assert page.count("<img") == len(report["plots"])
    assert all((tmp_path / path).is_file() for path in report["plots"].values())


@pytest.mark.parametrize(("shift", "expected"), [(0.0, "ok"), (0.15, "tension"), (0.5, "fail")])
def test_one_verdict_rule_for_showers_and_events(tmp_path: Path, shift: float, expected: str) -> None:
    """The same numbers through both reports: the same metrics, floors and verdict, by the one rule."""
    rng = np.random.default_rng(7)
    ref, gen = rng.normal(0.0, 1.0, 3000), rng.normal(shift, 1.0, 2000)
    masses_ref, masses_gen = 91.19 + rng.standard_cauchy(3000), 91.19 + rng.standard_cauchy(2000)
    event = validate_event_observables(
        {"m_12": masses_ref, "y_12": ref}, {"m_12": masses_gen, "y_12": gen}, tmp_path / "events", make_plots=False
    )["observables"]["y_12"]
    geometry = geometry_from_dict(
        {
            "name": "one layer",
            "layout": "calochallenge",
            "layers": [{"id": 0, "depth_x0": [0.0, 20.0], "r_edges": [0, 10], "n_alpha": 1}],
        }
    )
    shower = validate_observables(
        {"shower_depth": ref},  # unbinned in log, like y_12: the same common bins
        np.full(ref.size, 1e3),
        {"shower_depth": gen},
        np.full(gen.size, 1e3),
        geometry,
        tmp_path / "showers",
        make_plots=False,
        classifier=False,
        physics_distances=False,
    )["observables"]["shower_depth"]["overall"]
    for key in ("chi2", "ndf", "w1", "w1_err", "chi2_ndf_err", "w1_normalised"):
        assert event[key] == shower[key], key
    assert event["floor"] == shower["floor"]
    assert event["verdict"] == shower["verdict"]
    floor = event["floor"]
    by_rule = [
        verdicts.verdict(event[key], event[f"{key}_err"], floor[key], floor[f"{key}_err"]) for key in ("w1", "chi2_ndf")
    ]
    assert event["verdict"] == max(by_rule, key=verdicts.VERDICT_ORDER.index)
    assert event["verdict"] == expected


@pytest.mark.parametrize(
    ("value", "error", "floor", "floor_error", "expected"),
    [
        (0.10, 0.01, 0.10, 0.01, "ok"),
        (0.12, 0.01, 0.10, 0.01, "ok"),  # excess 0.02 < 2σ = 0.028
        (0.15, 0.01, 0.10, 0.01, "tension"),  # 0.05: between 2σ and 5σ
        (0.20, 0.01, 0.10, 0.01, "fail"),  # 0.10 > 5σ = 0.071
        (0.05, 0.01, 0.10, 0.01, "ok"),  # better than the floor
        (None, None, 0.10, 0.01, "n/a"),
        (0.10, 0.01, None, None, "no floor"),
    ],
)
def test_verdict_rule_table(value, error, floor, floor_error, expected) -> None:
    assert shower_report_api.verdict is verdicts.verdict  # the shower report's rule is the shared one
    assert verdicts.verdict(value, error, floor, floor_error) == expected
    results = {"w1": value, "w1_err": error, "floor": {"w1": floor, "w1_err": floor_error}}
    assert verdicts.observable_verdict(results) == expected


def test_quick_metrics_w1_is_the_report_normalised_w1() -> None:
    rng = np.random.default_rng(3)
    ref = {"a": rng.normal(2.0, 3.0, 1500), "b": rng.exponential(2.0, 1500)}
    gen = {"a": rng.normal(2.3, 3.0, 1200), "b": rng.exponential(2.2, 1200)}
    report_w1 = []
    for name in ref:
        results, _ = compare_observable(ref[name], gen[name], seed=0)
        assert results["w1_normalised"] == pytest.approx(wasserstein_1d(ref[name], gen[name]) / np.std(ref[name]))
        assert quick_metrics({name: ref[name]}, {name: gen[name]})["w1_mean"] == results["w1_normalised"]
        report_w1.append(results["w1_normalised"])
    assert quick_metrics(ref, gen)["w1_mean"] == pytest.approx(np.mean(report_w1), rel=1e-12)
    event = compare_event_observable("y_12", ref["a"], gen["a"])
    assert event["w1_normalised"] == report_w1[0]


def test_w1_normalisation_of_a_constant_reference() -> None:
    assert np.isnan(w1_scale(np.ones(10)))
    assert np.isnan(normalised_w1(0.3, w1_scale(np.ones(10))))
    assert normalised_w1(0.3, w1_scale(np.array([0.0, 2.0]))) == pytest.approx(0.3)
    results, _ = compare_observable(np.ones(40), np.linspace(0.5, 1.5, 40))
    assert results["w1_normalised"] is None and results["w1"] > 0.0
    results, _ = compare_observable(np.ones(40), np.ones(40))  # nothing to compare: n/a, no metric values
    assert results["verdict"] == "n/a" and results["degenerate"] and "w1" not in results


def test_json_writer_is_strict_and_atomic(tmp_path: Path) -> None:
    written = write_json(
        tmp_path / "metrics.json",
        {"nan": float("nan"), "inf": np.float32(np.inf), "n": np.int64(3), "ok": np.bool_(True), "a": np.arange(2.0)},
    )
    assert written == {"nan": None, "inf": None, "n": 3, "ok": True, "a": [0.0, 1.0]}
    assert _strict_json(tmp_path / "metrics.json") == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temporary file left


def test_templates_escape_every_string() -> None:
    page = render("base.html.j2", title="<script>alert(1)</script>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.index("<h2>Summary</h2>") < page.index("</body>")


def test_observable_edges_follow_fixed_ranges() -> None:
    rng = np.random.default_rng(0)
    phi = rng.uniform(-np.pi, np.pi, 500)
    edges = observable_edges("phi_1", phi, phi)
    assert edges[0] == pytest.approx(-np.pi) and edges[-1] == pytest.approx(np.pi)
