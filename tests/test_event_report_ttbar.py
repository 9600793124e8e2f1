"""The event report for all-hadronic tt̄: W and top peaks, ΔR between objects, multiplicity and the
correlation of the two top pT's, each with its floor, on hand-made tt̄ events with known masses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hepgan.data.resonances import PEAKS
from hepgan.domains.events import target_lines
from hepgan.io.events import EventBatch, write_events
from hepgan.validation.event_peaks import compare_correlation, correlation_floor, correlation_summary, plot_peak
from hepgan.validation.event_report import (
    batch_observables,
    file_reconstruction,
    observable_edges,
    render_event_html,
    validate_event_arrays,
    validate_event_files,
)
from hepgan.validation.kinematics import describe_event

from .helpers import M_TOP_GEV, M_W_GEV, toy_ttbar, toy_ttbar_jets, toy_zmumu

N_EVENTS = 5000
TTBAR_MASSES = ("m_w1", "m_t1", "m_w2", "m_t2", "pt_t1", "pt_t2")
DELTA_R_6 = [f"delta_r_{i}{j}" for i in range(1, 7) for j in range(i + 1, 7)]


def _strict_json(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def reference() -> EventBatch:
    return toy_ttbar(N_EVENTS, seed=1)


@pytest.fixture(scope="module")
def same_generator(tmp_path_factory: pytest.TempPathFactory, reference: EventBatch) -> tuple[dict[str, Any], Path]:
    """The report of an independent sample of the same generator against the reference."""
    out = tmp_path_factory.mktemp("same")
    report = validate_event_arrays(
        reference, toy_ttbar(N_EVENTS, seed=2), out, make_plots=False, reconstruction="ttbar_partons"
    )
    return report, out


def test_same_generator_meets_every_target(same_generator: tuple[dict[str, Any], Path]) -> None:
    report, out = same_generator
    assert report["reconstruction"] == "ttbar_partons"
    assert report["summary"]["all_targets_met"], report["summary"]
    assert report["summary"]["peaks_within_target"] == report["summary"]["peaks_compared"] == 2
    assert set(TTBAR_MASSES) | set(DELTA_R_6) <= set(report["observables"])
    assert not {"m_12", "pt_12", "y_12", "n_objects_present"} & set(report["observables"])  # mask constant
    assert all(entry["w1_within_target"] for entry in report["observables"].values())
    assert [peak["name"] for peak in report["peaks"]] == ["m_w", "m_t"]
    assert report["peak"] == report["peaks"][0]
    for peak, spec, mass in zip(report["peaks"], PEAKS["ttbar_partons"], (M_W_GEV, M_TOP_GEV), strict=True):
        ref, gen = peak["reference"], peak["generated"]
        assert peak["window_gev"] == list(spec.window_gev) and peak["candidates"] == list(spec.candidates)
        assert (peak["target_position_rel"], peak["target_width_rel"]) == (0.01, 0.10)
        error = np.hypot(ref["position_err_gev"], gen["position_err_gev"])
        assert abs(gen["position_gev"] - ref["position_gev"]) <= 3 * error, peak
        assert ref["position_gev"] == pytest.approx(mass, abs=3 * ref["position_err_gev"])  # median of a Breit-Wigner
        assert abs(peak["position_rel_diff"]) <= 3 * peak["position_rel_err"]
        assert {"position_rel_diff", "position_rel_err", "width_rel_diff", "width_rel_err"} <= set(peak["floor"])
    (corr,) = report["correlations"]
    assert corr["observables"] == ["pt_t1", "pt_t2"] and corr["within_target"]
    assert abs(corr["difference"]) <= 3 * corr["difference_err"]
    assert 0.8 < corr["reference"]["value"] < 1.0 and corr["floor"] > 0
    assert report["summary"]["correlations_within_target"] == 1
    assert _strict_json(out / "metrics.json") == report
    text = "\n".join(target_lines(report))
    assert "m_w peak" in text and "m_t peak" in text and "corr(pt_t1, pt_t2)" in text


def test_w_mass_shifted_by_2_percent_misses_the_w_peak(tmp_path: Path, reference: EventBatch) -> None:
    shifted = toy_ttbar(N_EVENTS, seed=2, w_mass_gev=1.02 * M_W_GEV)
    report = validate_event_arrays(reference, shifted, tmp_path, make_plots=False, reconstruction="ttbar_partons")
    w_peak, top_peak = report["peaks"]
    assert w_peak["position_rel_diff"] == pytest.approx(0.02, abs=0.003)
    assert not w_peak["position_within_target"]
    assert top_peak["position_within_target"] and top_peak["width_within_target"]  # the tops keep their mass
    for name in ("m_w1", "m_w2"):
        assert report["observables"][name]["verdict"] == "fail" and not report["observables"][name]["w1_within_target"]
    assert report["summary"]["peaks_within_target"] == 1 and not report["summary"]["all_targets_met"]
    assert any("missed" in line for line in target_lines(report)[:3])


def test_correlation_of_a_bivariate_gaussian() -> None:
    """ρ = 0.6, n = 20000: the estimate within 3σ, σ_boot ≈ (1 − ρ²)/√n, floor ≈ √(2/π) · 2(1 − ρ²)/√n."""
    rho, n = 0.6, 20_000
    rng = np.random.default_rng(12)
    x, y = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], n).T
    summary = correlation_summary(x, y, seed=3)
    analytic = (1 - rho**2) / np.sqrt(n)
    assert summary["n"] == n and abs(summary["value"] - rho) <= 3 * summary["err"]
    assert summary["err"] == pytest.approx(analytic, rel=0.3)
    floor, floor_err = correlation_floor(x, y, seed=4)  # halves of n/2: |difference| ~ half-normal
    assert floor == pytest.approx(np.sqrt(2 / np.pi) * 2 * analytic, rel=0.2) and 0 < floor_err < 0.2 * floor
    same = dict(zip(("a", "b"), rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], n).T, strict=True))
    other = dict(zip(("a", "b"), rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], n).T, strict=True))
    reference = {"a": x, "b": y}
    assert compare_correlation(reference, same, ("a", "b"))["within_target"]
    missed = compare_correlation(reference, other, ("a", "b"))
    assert not missed["within_target"] and missed["difference"] == pytest.approx(-0.1, abs=0.03)


def test_jets_with_a_varying_mask_get_an_integer_multiplicity(tmp_path: Path) -> None:
    reference, generated = toy_ttbar_jets(2000, seed=1), toy_ttbar_jets(2000, seed=2)
    assert set(np.unique(reference.mask.sum(axis=1))) == {6, 7, 8}
    report = validate_event_arrays(reference, generated, tmp_path, make_plots=False, reconstruction="ttbar_jets")
    entry = report["observables"]["n_objects_present"]
    assert "skipped" not in entry and "degenerate" not in entry and entry["verdict"] in ("ok", "tension")
    observables = batch_observables(reference, "ttbar_jets"), batch_observables(generated, "ttbar_jets")
    assert np.array_equal(observables[0]["n_objects_present"], reference.mask.sum(axis=1))
    counts = [values["n_objects_present"] for values in observables]
    np.testing.assert_allclose(observable_edges("n_objects_present", *counts), [5.5, 6.5, 7.5, 8.5])
    assert [name for name in report["observables"] if name.startswith("delta_r_")] == DELTA_R_6
    assert {"pt_7", "pt_8", *TTBAR_MASSES} <= set(report["observables"])
    assert [peak["window_gev"] for peak in report["peaks"]] == [list(spec.window_gev) for spec in PEAKS["ttbar_jets"]]
    assert report["peaks"][0]["reference"]["position_gev"] == pytest.approx(M_W_GEV, rel=0.03)
    assert report["correlations"][0]["reference"]["n"] == 2000
    page = render_event_html(report)
    assert page.index("<h2>Resonance peaks</h2>") < page.index("<h2>Correlations</h2>") < page.index("Observables</h2>")
    assert page.count("<td>m_w</td>") == page.count("<td>m_t</td>") == 2
    path = plot_peak(observables[0]["m_w1"], observables[1]["m_w1"], PEAKS["ttbar_jets"][0], tmp_path, "tt̄")
    assert path == "plots/m_w_peak.png" and (tmp_path / "m_w_peak.png").is_file()
    assert describe_event("delta_r_36").label == r"$\Delta R_{36}$"


def test_the_files_state_the_reconstruction(tmp_path: Path) -> None:
    """validate_event_files takes the rule a file states (here the generated one; the hold-out states none)."""
    events = toy_ttbar(600, seed=7)
    reference, generated = tmp_path / "ref.h5", tmp_path / "gen.h5"
    write_events(reference, events.subset(slice(0, 300)))
    write_events(generated, events.subset(slice(300, 600)), attrs={"reconstruction": "ttbar_partons"})
    assert file_reconstruction(reference, reference) == "pair"
    report = validate_event_files(reference, generated, tmp_path / "report")
    assert report["reconstruction"] == "ttbar_partons" and [p["name"] for p in report["peaks"]] == ["m_w", "m_t"]
    assert (tmp_path / "report" / "plots" / "m_t_peak.png").is_file()


def test_pair_and_single_object_reports(tmp_path: Path) -> None:
    """Z → μμ: one m_12 peak in ``peaks`` and ``peak``, no correlation; one object: no peak at all."""
    events = toy_zmumu(2000, seed=3)
    pair = validate_event_arrays(
        events.subset(slice(0, 1000)), events.subset(slice(1000, 2000)), tmp_path / "z", make_plots=False
    )
    assert pair["reconstruction"] == "pair" and pair["correlations"] == []
    assert [peak["name"] for peak in pair["peaks"]] == ["m_12"] and pair["peak"] == pair["peaks"][0]
    single = EventBatch(events.pt[:, :1], events.eta[:, :1], events.phi[:, :1], events.mass[:, :1], events.mask[:, :1])
    report = validate_event_arrays(
        single.subset(slice(0, 1000)), single.subset(slice(1000, 2000)), tmp_path / "one", make_plots=False
    )
    assert report["reconstruction"] == "none" and report["peaks"] == [] and report["peak"] is None
    assert set(report["observables"]) == {"pt_1", "eta_1", "phi_1"} and report["summary"]["all_targets_met"]
    assert "all targets met: yes" in target_lines(report)[-1]
