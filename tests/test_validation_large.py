"""Validation at CaloChallenge dataset-2/3 size: chunked observables, on-disk store, caps, grouped report.

Two small GFlash files in the 45-layer dataset-2 geometry (6480 voxels) are simulated once per
module; the streamed (small chunks, observables on disk) and the all-in-memory paths must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepgan.config import load_config
from hepgan.io import ShowerReader, read_showers
from hepgan.io.geometry import load_geometry
from hepgan.simulate import simulate_to_file
from hepgan.validation.calo_report import file_chunk_size, summarise_batches
from hepgan.validation.layer_summary import group_names, plot_per_layer_summary
from hepgan.validation.observable_store import ObservableStore, take_rows
from hepgan.validation.observables import chunked_observables, observable_names, shower_observables
from hepgan.validation.physics_distances import HIGH_LEVEL_PER_LAYER, high_level_names
from hepgan.validation.report import validate_arrays, validate_files
from hepgan.validation.sampling import MAX_LOW_LEVEL_VALUES, row_subsample

N_SHOWERS = 240
CHUNK = 50  # not a divisor of N_SHOWERS: the last chunk is short
FAST = {"make_plots": False, "n_bins": 20, "energy_bins": 2, "metrics": ("chi2", "w1")}
"""Report options that keep ~500 observables × energy bins cheap (no plots, two energy bins)."""


@pytest.fixture(scope="module")
def ds2_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ds2")
    config = load_config("configs/calo_ds2.yaml", ["model.architecture=mlp"])
    paths = folder / "reference.h5", folder / "generated.h5"
    for path, seed in zip(paths, (11, 12), strict=True):
        simulate_to_file(config, path, n=N_SHOWERS, seed=seed)
    return paths


@pytest.fixture(scope="module")
def geometry():
    return load_geometry("calochallenge_ds2")


def test_file_chunk_size_bounds_voxels_per_read():
    assert file_chunk_size(10_000, 40_500) == 1024  # dataset 3: one HDF5 chunk of hepgan's files per read
    assert file_chunk_size(10_000, 6_480) == 7 * 1024
    assert file_chunk_size(10_000, 368) == 10_000
    assert file_chunk_size(64, 40_500) == 64
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        file_chunk_size(0, 368)


def test_streamed_observables_equal_all_at_once(ds2_files, geometry, tmp_path):
    batch = read_showers(ds2_files[0], geometry)
    whole = shower_observables(batch.showers_mev, batch.incident_energies_mev, geometry)
    with ShowerReader(ds2_files[0], geometry, CHUNK) as reader:
        streamed = summarise_batches(reader.iter_chunks(), geometry, store_dir=tmp_path / "store")
    assert isinstance(streamed.observables, ObservableStore)
    assert list(streamed.observables) == observable_names(geometry) == list(whole)
    for name, values in whole.items():
        np.testing.assert_allclose(streamed.observables[name], values, rtol=1e-10, atol=1e-12, err_msg=name)
    # float32 input read layer by layer gives the same numbers as a float64 copy of the whole array
    # (chunks differ from the whole only by BLAS rounding in the matrix products: ~1e-16 mm)
    as_float64 = shower_observables(batch.showers_mev.astype(np.float64), batch.incident_energies_mev, geometry)
    in_chunks = chunked_observables(batch.showers_mev, batch.incident_energies_mev, geometry, chunk_size=7)
    for name in whole:
        np.testing.assert_array_equal(whole[name], as_float64[name], err_msg=name)
        np.testing.assert_allclose(in_chunks[name], whole[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(streamed.mean_shower_mev, batch.showers_mev.mean(axis=0, dtype=np.float64), rtol=1e-9)


def test_high_level_features_for_all_45_layers(ds2_files, geometry, tmp_path):
    assert geometry.n_layers == 45
    with ShowerReader(ds2_files[1], geometry, CHUNK) as reader:
        sample = summarise_batches(reader.iter_chunks(), geometry, store_dir=tmp_path / "store")
    names = high_level_names(list(sample.observables))
    assert len(names) == 1 + len(HIGH_LEVEL_PER_LAYER) * 45
    for base in HIGH_LEVEL_PER_LAYER:
        for layer in geometry.layers:
            values = sample.observables[f"{base}_{layer.id}"]
            assert values.shape == (N_SHOWERS,) and np.all(np.isfinite(values))
    # the showers are electrons: the first layers hold energy, and the centres of energy scatter about the axis
    assert sample.observables["e_layer_5"].mean() > 0
    assert sample.observables["width_x_10"].mean() > 0


def test_store_rejects_chunks_with_other_names(tmp_path):
    store = ObservableStore(tmp_path)
    store.append({"a": np.arange(3.0), "b": np.ones(3)})
    store.append({"a": np.arange(2.0), "b": np.zeros(2)})
    np.testing.assert_array_equal(store["a"], [0, 1, 2, 0, 1])
    assert store.n_rows == 5 and "b" in store and "c" not in store
    with pytest.raises(ValueError, match="same names"):
        store.append({"a": np.arange(2.0)})
    with pytest.raises(KeyError):
        store["c"]
    rows = row_subsample(5, 3, seed=0)
    assert rows is not None and len(rows) == 3 and np.all(np.diff(rows) > 0)
    assert row_subsample(5, 5, seed=0) is None
    np.testing.assert_array_equal(take_rows(store, ["a", "c"], rows)["a"], store["a"][rows])


def _assert_close(a: object, b: object, where: str) -> None:
    """Equal structure and strings; numbers equal to float rounding (rel. 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, where


def _without_timings(report: dict) -> dict:
    return {key: value for key, value in report.items() if key not in ("timings_s", "low_level")}


def test_streamed_report_equals_in_memory_report(ds2_files, geometry, tmp_path):
    options = {**FAST, "classifier": False, "physics_distances": False}
    streamed = validate_files(*ds2_files, geometry, tmp_path / "files", chunk_size=CHUNK, **options)
    reference, generated = read_showers(ds2_files[0], geometry), read_showers(ds2_files[1], geometry)
    in_memory = validate_arrays(
        reference.showers_mev,
        reference.incident_energies_mev,
        generated.showers_mev,
        generated.incident_energies_mev,
        geometry,
        tmp_path / "arrays",
        **options,
    )
    assert streamed["n_reference"] == streamed["n_generated"] == N_SHOWERS
    assert set(streamed["observables"]) == set(observable_names(geometry))
    _assert_close(_without_timings(streamed), _without_timings(in_memory), "report")
    assert streamed["global_metrics"]["chi2_ndf_mean"]["n_observables"] > 400
    assert streamed["observables"]["e_layer_10"]["overall"]["chi2_ndf"] is not None
    # the per-layer overview covers all 45 layers and the page groups them by 5
    overview = streamed["per_layer_summary"]
    assert overview["layers"] == list(range(45))
    assert len(overview["per_base"]["width_x"]["chi2_ndf"]) == 45
    html = (tmp_path / "files" / "index.html").read_text()
    summary, overview_at = html.index("<h2>Summary</h2>"), html.index("Per-layer observables: overview")
    assert summary < overview_at < html.index("<h2>Observables")
    assert "<summary>layers 40-44</summary>" in html and "<summary>layers 0-4</summary>" in html
    global_names, groups = group_names(list(streamed["observables"]))
    assert global_names == ["e_total", "e_ratio", "shower_depth", "shower_depth_width"]
    assert len(groups) == 9 and all(len(names) == 5 * 11 for _, names in groups)
    figure = plot_per_layer_summary(overview, tmp_path / "per_layer.png", "test")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_voxel_classifier_cap_is_honoured_and_reported(ds2_files, geometry, tmp_path):
    cap = 150  # below the 240 showers per file, above the 100 reference showers the classifier's floor needs
    report = validate_files(
        *ds2_files,
        geometry,
        tmp_path / "report",
        chunk_size=CHUNK,
        max_showers_low_level=cap,
        max_showers_high_level=100,
        classifier_protocols=["hepgan"],
        physics_distances=False,
        **{**FAST, "metrics": ("chi2",), "energy_bins": 1},
    )
    low = report["low_level"]
    assert low["max_showers_low_level"] == cap and low["capacity"] == cap
    assert low["max_voxel_values"] == MAX_LOW_LEVEL_VALUES and low["max_showers_high_level"] == 100
    assert low["reference"] == {"n_used": cap, "n_total": N_SHOWERS}
    assert low["generated"] == {"n_used": cap, "n_total": N_SHOWERS}
    auc = report["global_metrics"]["classifier_auc_low_level"]
    assert 0.0 <= auc["value"] <= 1.0 and auc["floor"] is not None
    assert report["global_metrics"]["classifier_auc_high_level"]["value"] is not None
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["low_level"]["capacity"] == cap
    html = (tmp_path / "report" / "index.html").read_text()
    assert f"{cap} reference and {cap} generated showers" in html
    assert "a seeded uniform subsample of at most 100 showers per sample" in html
    # the high-level classifier saw the 100-shower subsample (not the 150 of the voxel cap): its per-bin counts
    per_bin = report["global_metrics"]["classifier_auc_high_level"]["per_energy_bin"]
    assert sum(b["n_reference"] for b in per_bin) == 100 and sum(b["n_generated"] for b in per_bin) == 100
