"""The full report: global metrics with floors, verdicts, low-level sampling, layouts, training history."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepgan.io import ShowerBatch, write_showers
from hepgan.io.geometry import load_geometry
from hepgan.validation.plots import plot_training_history
from hepgan.validation.report import (
    ShowerReservoir,
    subsample_low_level,
    validate_arrays,
    validate_files,
    verdict,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GLOBAL = {
    "chi2_ndf_mean",
    "w1_normalised_mean",
    "separation_power_mean",
    "fpd",
    "kpd",
    "classifier_auc_high_level",
    "classifier_auc_low_level",
    "challenge_auc_high_level",
    "challenge_auc_low_level",
}


def toy_showers(geometry, incident, rng, scale=1.0):
    """Energy shared over voxels with a steep radial fall-off and a layer profile."""
    n = len(incident)
    radius = geometry.voxel_radius()
    profile = np.exp(-radius / 30.0) * (1 + geometry.layer_of_voxel)
    weights = rng.gamma(2.0, 1.0, (n, geometry.n_voxels)) * profile * (rng.random((n, geometry.n_voxels)) < 0.6)
    weights /= weights.sum(axis=1, keepdims=True)
    return (weights * (scale * incident * rng.normal(0.9, 0.03, n))[:, None]).astype(np.float32)


@pytest.fixture(scope="module")
def calogan():
    return load_geometry("calogan")


@pytest.fixture(scope="module")
def samples(calogan):
    rng = np.random.default_rng(0)
    energies = np.array([1e4, 5e4])
    ref_inc, gen_inc = rng.choice(energies, 600), rng.choice(energies, 400)
    return ref_inc, toy_showers(calogan, ref_inc, rng), gen_inc, toy_showers(calogan, gen_inc, rng, scale=1.1)


@pytest.fixture(scope="module")
def report(tmp_path_factory, calogan, samples):
    out = tmp_path_factory.mktemp("full")
    ref_inc, ref, gen_inc, gen = samples
    walk = toy_showers(calogan, np.full(4, 2e4), np.random.default_rng(1))
    result = validate_arrays(
        ref,
        ref_inc,
        gen,
        gen_inc,
        calogan,
        out,
        per_energy_plots=("e_ratio",),
        latent_walk_showers=walk,
        latent_walk_incident_mev=2e4,
        max_showers_low_level=500,
    )
    return out, result


def test_global_metrics_have_values_errors_floors(report):
    out, result = report
    assert set(result["global_metrics"]) == GLOBAL
    for name, entry in result["global_metrics"].items():
        assert {"value", "error", "floor", "floor_error", "verdict"} <= set(entry), name
        assert entry["verdict"] in ("ok", "tension", "fail"), name
    # a 10 % energy-scale error is seen by the response and the high-level classifier
    assert result["global_metrics"]["classifier_auc_high_level"]["value"] > 0.8
    assert result["global_metrics"]["classifier_auc_high_level"]["verdict"] == "fail"
    # the challenge's recipe (50 epochs of one batch here: 240 training showers) learns less, but sees it too
    challenge = result["global_metrics"]["challenge_auc_high_level"]
    assert challenge["n_test"] == 160 and "jsd" in challenge  # 20 % of 2 x 400
    assert challenge["value"] - 0.5 > 1.5 * challenge["error"], challenge
    assert result["observables"]["e_ratio"]["overall"]["verdict"] == "fail"
    assert result["low_level"]["reference"] == {"n_used": 500, "n_total": 600}
    assert result["low_level"]["generated"] == {"n_used": 400, "n_total": 400}
    assert json.loads((out / "metrics.json").read_text()) == result


def test_observable_entries_carry_errors_and_floor(report):
    _, result = report
    overall = result["observables"]["shower_depth"]["overall"]
    for key in ("w1", "w1_err", "separation_power_err", "chi2_ndf_err", "w1_normalised"):
        assert overall[key] is not None and overall[key] >= 0, key
    assert {"w1", "chi2_ndf", "separation_power"} <= set(overall["floor"])
    assert "hottest_ratio_1" in result["observables"]


def test_plots_and_html(report):
    out, result = report
    assert result["plots_per_energy"] == {"e_ratio": "plots/energy/e_ratio.png"}
    for relative in [*result["plots"].values(), *result["plots_per_energy"].values()]:
        assert (out / relative).read_bytes().startswith(PNG_SIGNATURE), relative
    assert {"latent_walk", "average_layer_images", "response_per_energy"} <= set(result["plots"])
    assert result["latent_walk"]["n_steps"] == 4
    text = (out / "index.html").read_text()
    assert "classifier_auc_low_level" in text and "floor" in text and "±" in text
    assert "$" not in text.split("<h2>Observables</h2>")[1].split("</table>")[0]  # mathtext made plain


def test_same_sample_passes(tmp_path, calogan):
    rng = np.random.default_rng(5)
    incident = rng.choice([1e4, 5e4], 600)
    showers = toy_showers(calogan, incident, rng)
    result = validate_arrays(
        showers[:300], incident[:300], showers[300:], incident[300:], calogan, tmp_path, make_plots=False
    )
    verdicts = [entry["verdict"] for entry in result["global_metrics"].values()]
    assert verdicts.count("fail") == 0, result["global_metrics"]
    assert result["global_metrics"]["classifier_auc_low_level"]["value"] == pytest.approx(0.5, abs=0.1)


def test_classifier_auc_per_energy_points_at_the_bad_energy(tmp_path, calogan):
    """Generated showers 10 % too energetic at 50 GeV only: the per-bin AUC is high there, ~½ at 10 GeV."""
    rng = np.random.default_rng(9)
    ref_inc, gen_inc = rng.choice([1e4, 5e4], 800), rng.choice([1e4, 5e4], 800)
    ref = toy_showers(calogan, ref_inc, rng)
    gen = toy_showers(calogan, gen_inc, rng) * np.where(gen_inc > 2e4, 1.1, 1.0)[:, None].astype(np.float32)
    result = validate_arrays(ref, ref_inc, gen, gen_inc, calogan, tmp_path, make_plots=False, physics_distances=False)
    for key in ("classifier_auc_high_level", "classifier_auc_low_level"):
        low, high = result["global_metrics"][key]["per_energy_bin"]
        assert (low["energy_bin"], high["energy_bin"]) == ("10 GeV", "50 GeV")
        assert low["n_reference"] + high["n_reference"] == 800 and low["n_generated"] + high["n_generated"] == 800
        assert low["value"] == pytest.approx(0.5, abs=max(3 * low["error"], 0.06)), key
        assert low["floor"] == pytest.approx(0.5, abs=max(3 * low["floor_error"], 0.08)), key
        assert low["verdict"] == "ok", key
    high = result["global_metrics"]["classifier_auc_high_level"]["per_energy_bin"][1]
    assert high["value"] > 0.9 and high["verdict"] == "fail"
    text = (tmp_path / "index.html").read_text()
    assert "Classifier AUC per incident energy" in text and "50 GeV" in text


def test_verdict_rules():
    assert verdict(0.1, 0.01, 0.1, 0.01) == "ok"
    assert verdict(0.15, 0.01, 0.1, 0.01) == "tension"
    assert verdict(0.5, 0.01, 0.1, 0.01) == "fail"
    assert verdict(0.5, 0.01, 0.49, 0.01, ideal=0.5) == "ok"
    assert verdict(None, None, 0.1, 0.01) == "n/a"
    assert verdict(0.1, 0.01, None, None) == "no floor"


def test_reservoir_is_uniform_and_bounded():
    counts = np.zeros(100)
    for seed in range(200):
        reservoir = ShowerReservoir(10, 1, seed)
        for start in range(0, 100, 7):
            index = np.arange(start, min(start + 7, 100))
            reservoir.add(index[:, None].astype(np.float32), index.astype(float))
        sample = reservoir.sample()
        assert sample.n_total == 100 and len(sample.incident_mev) == 10
        assert len(np.unique(sample.incident_mev)) == 10
        np.testing.assert_array_equal(sample.showers_mev[:, 0], sample.incident_mev)
        counts[sample.incident_mev.astype(int)] += 1
    # each shower is kept with probability 1/10: 20 times in 200 runs on average
    assert counts.min() > 5 and counts.max() < 40
    small = ShowerReservoir(50, 2, 0)
    small.add(np.ones((3, 2)), np.ones(3))
    assert small.sample().showers_mev.shape == (3, 2)
    assert len(subsample_low_level(np.ones((30, 2)), np.ones(30), 7, seed=0).incident_mev) == 7


def test_validate_files_root_and_calogan(tmp_path, calogan, samples):
    ref_inc, ref, gen_inc, gen = samples
    write_showers(tmp_path / "ref.h5", ShowerBatch(ref_inc, ref), calogan)
    write_showers(tmp_path / "gen.root", ShowerBatch(gen_inc, gen), calogan)
    result = validate_files(
        tmp_path / "ref.h5",
        tmp_path / "gen.root",
        calogan,
        tmp_path / "out",
        chunk_size=128,
        make_plots=False,
        max_showers_low_level=200,
        classifier=True,
        physics_distances=False,
    )
    assert result["low_level"]["reference"] == {"n_used": 200, "n_total": 600}
    assert "fpd" not in result["global_metrics"]
    assert result["global_metrics"]["classifier_auc_low_level"]["value"] is not None
    in_memory = validate_arrays(
        ref, ref_inc, gen, gen_inc, calogan, tmp_path / "mem", make_plots=False, classifier=False
    )
    for name, entry in in_memory["observables"].items():
        assert result["observables"][name]["overall"]["w1"] == pytest.approx(entry["overall"]["w1"], rel=1e-5)


def test_training_history_plot(tmp_path):
    log = tmp_path / "metrics.jsonl"
    lines = [
        {"step": 10, "d_loss": 1.3, "g_loss": 0.7, "value": -1.3, "d_real": 0.6, "d_fake": 0.4},
        {"step": 20, "d_loss": 1.35, "g_loss": 0.69, "value": -1.37, "d_real": 0.52, "d_fake": 0.49, "fpd": 0.3},
        {"step": 30, "d_loss": -5.0, "g_loss": 1.0, "wasserstein": 4.0, "gradient_penalty": 0.1, "mmd": 0.01},
        {"step": 40, "chi2_ndf_mean": 3.0, "w1_mean": 0.2, "fpd": 0.1, "note": "text is ignored"},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    path = plot_training_history(log, tmp_path / "history.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    log.write_text(json.dumps({"d_loss": 1.0}) + "\n")
    with pytest.raises(ValueError, match="step"):
        plot_training_history(log, tmp_path / "bad.png")
