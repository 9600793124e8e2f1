"""End-to-end checks of the validation report on small synthetic samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepgan.io import ShowerBatch, write_showers
from hepgan.io.geometry import geometry_from_dict
from hepgan.validation.report import make_energy_binning, validate_arrays, validate_files

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def geometry():
    return geometry_from_dict(
        {
            "name": f"tiny {EVIL}",
            "layout": "calochallenge",
            "description": f"two layers & {EVIL}",
            "layers": [
                {"id": 0, "depth_x0": [0.0, 4.0], "r_edges": [0, 5, 20, 50], "n_alpha": 4},
                {"id": 1, "depth_x0": [4.0, 20.0], "r_edges": [0, 10, 40], "n_alpha": 1},
            ],
        }
    )


def fake_showers(geometry, incident, rng):
    """Exponential radial profile, 60 % of the energy in layer 0, ~95 % response."""
    n = len(incident)
    energy = incident * rng.normal(0.95, 0.03, n)
    weights = rng.gamma(2.0, 1.0, size=(n, geometry.n_voxels)) * (rng.random((n, geometry.n_voxels)) < 0.8)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return (weights * energy[:, None]).astype(np.float32)


@pytest.fixture(scope="module")
def samples(geometry):
    rng = np.random.default_rng(11)
    energies = np.array([1000.0, 4000.0, 16000.0])
    ref_inc, gen_inc = rng.choice(energies, 300), rng.choice(energies, 240)
    return ref_inc, fake_showers(geometry, ref_inc, rng), gen_inc, fake_showers(geometry, gen_inc, rng)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, geometry, samples):
    out_dir = tmp_path_factory.mktemp("report")
    ref_inc, ref, gen_inc, gen = samples
    report = validate_arrays(ref, ref_inc, gen, gen_inc, geometry, out_dir)
    return out_dir, report


def test_pngs_written_and_valid(report_dir):
    out_dir, report = report_dir
    assert set(report["plots"]) >= {"e_total", "e_ratio", "width_0", "response_per_energy", "average_layer_images"}
    for relative in report["plots"].values():
        data = (out_dir / relative).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, relative


def test_metrics_json(report_dir, geometry):
    out_dir, report = report_dir
    data = json.loads((out_dir / "metrics.json").read_text())
    assert data == report
    assert data["geometry"]["name"] == geometry.name
    assert data["n_reference"] == 300 and data["n_generated"] == 240
    assert data["energy_binning"]["mode"] == "discrete"
    assert data["energy_binning"]["centres"] == [1000.0, 4000.0, 16000.0]
    assert "e_layer_1" in data["observables"] and "shower_depth" in data["observables"]
    entry = data["observables"]["e_total"]
    assert entry["unit"] == "MeV"
    assert {"chi2", "ndf", "p_value", "w1", "separation_power", "n_reference", "n_generated"} <= set(entry["overall"])
    assert len(entry["per_energy_bin"]) == 3
    assert entry["per_energy_bin"][0]["energy_bin"] == "1 GeV"
    # same generator for both samples: the energy response should agree
    assert data["observables"]["e_ratio"]["overall"]["p_value"] > 1e-3
    assert set(data["summary"]) >= {"n_observables", "n_p_below_alarm", "mean_separation_power"}
    assert len(data["response_per_energy"]["reference"]["mean"]) == 3


def test_html_escapes_strings(report_dir):
    out_dir, _ = report_dir
    text = (out_dir / "index.html").read_text()
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert 'src="plots/e_total.png"' in text


def test_continuous_energies_use_quantile_bins(tmp_path, geometry):
    rng = np.random.default_rng(2)
    ref_inc, gen_inc = rng.uniform(1e3, 1e4, 200), rng.uniform(1e3, 1e4, 200)
    report = validate_arrays(
        fake_showers(geometry, ref_inc, rng),
        ref_inc,
        fake_showers(geometry, gen_inc, rng),
        gen_inc,
        geometry,
        tmp_path,
        energy_bins=2,
        make_plots=False,
    )
    assert report["energy_binning"]["mode"] == "quantile"
    assert len(report["observables"]["e_total"]["per_energy_bin"]) == 2
    assert report["plots"] == {}
    assert (tmp_path / "index.html").is_file()


def test_energy_binning_assign():
    discrete = make_energy_binning(np.array([1e3, 1e3, 2e3]))
    np.testing.assert_array_equal(discrete.assign(np.array([1e3, 2000.5, 1500.0])), [0, 1, -1])
    quantile = make_energy_binning(np.linspace(1.0, 100.0, 101), energy_bins=4)
    index = quantile.assign(np.array([-5.0, 1.0, 50.0, 100.0, 1e6]))
    np.testing.assert_array_equal(index, [0, 0, 1, 3, 3])


def test_validate_files_reads_in_chunks(tmp_path, geometry, samples):
    ref_inc, ref, gen_inc, gen = samples
    write_showers(tmp_path / "ref.h5", ShowerBatch(ref_inc, ref), geometry)
    write_showers(tmp_path / "gen.h5", ShowerBatch(gen_inc, gen), geometry)
    fast = {"make_plots": False, "classifier": False, "physics_distances": False}
    from_files = validate_files(
        tmp_path / "ref.h5", tmp_path / "gen.h5", geometry, tmp_path / "out", chunk_size=70, **fast
    )
    in_memory = validate_arrays(ref, ref_inc, gen, gen_inc, geometry, tmp_path / "mem", **fast)
    assert from_files["observables"].keys() == in_memory["observables"].keys()
    for name, entry in in_memory["observables"].items():
        overall = from_files["observables"][name]["overall"]
        assert overall.get("degenerate") == entry["overall"].get("degenerate")
        keys = ("n_reference", "n_generated")
        if not entry["overall"].get("degenerate"):  # both samples constant: nothing else to compare
            keys += ("chi2", "ndf", "w1", "w1_err")
        for key in keys:
            assert overall[key] == pytest.approx(entry["overall"][key], rel=1e-6)
