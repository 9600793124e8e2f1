"""Hand-computed checks of the per-shower observables."""

from __future__ import annotations

import numpy as np
import pytest

from hepgan.io.geometry import geometry_from_dict, load_geometry
from hepgan.validation.observables import (
    OBSERVABLES,
    concatenate_observables,
    describe,
    observable_names,
    shower_observables,
)


@pytest.fixture(scope="module")
def grid():
    """Two Cartesian layers: 2x2 voxels of 10 mm at 0-2 X0 and 1x2 voxels of 20 mm at 2-6 X0."""
    return geometry_from_dict(
        {
            "name": "grid",
            "layout": "calogan",
            "layers": [
                {"id": 0, "depth_x0": [0.0, 2.0], "x_edges": [-10, 0, 10], "y_edges": [-10, 0, 10]},
                {"id": 5, "depth_x0": [2.0, 6.0], "x_edges": [-20, 0, 20], "y_edges": [-10, 10]},
            ],
        }
    )


def test_single_voxel_shower(grid):
    shower = np.zeros((1, grid.n_voxels))
    shower[0, 1] = 50.0  # layer 0, row y in (-10, 0), column x in (0, 10): centre (5, -5)
    obs = shower_observables(shower, np.array([100.0]), grid)
    assert obs["e_total"][0] == pytest.approx(50.0)
    assert obs["e_ratio"][0] == pytest.approx(0.5)
    assert obs["e_layer_0"][0] == pytest.approx(50.0)
    assert obs["e_fraction_0"][0] == pytest.approx(1.0)
    assert obs["centre_x_0"][0] == pytest.approx(5.0)
    assert obs["centre_y_0"][0] == pytest.approx(-5.0)
    assert obs["width_0"][0] == pytest.approx(0.0)
    assert obs["shower_depth"][0] == pytest.approx(1.0)  # mid depth of layer 0
    assert obs["shower_depth_width"][0] == pytest.approx(0.0)
    assert obs["sparsity_0"][0] == pytest.approx(0.25)
    # the empty layer gets defined zeros, not NaN
    for name in ("e_layer_5", "e_fraction_5", "centre_x_5", "centre_y_5", "width_5", "sparsity_5"):
        assert obs[name][0] == 0.0


def test_two_voxels_width_and_depth(grid):
    shower = np.zeros((1, grid.n_voxels))
    shower[0, 4] = 30.0  # layer 5, x centre -10
    shower[0, 5] = 10.0  # layer 5, x centre +10
    obs = shower_observables(shower, np.array([40.0]), grid)
    mean_x = (30 * -10 + 10 * 10) / 40.0
    rms_x = np.sqrt((30 * (-10 - mean_x) ** 2 + 10 * (10 - mean_x) ** 2) / 40.0)
    assert obs["centre_x_5"][0] == pytest.approx(mean_x)
    assert obs["centre_y_5"][0] == pytest.approx(0.0)
    assert obs["width_5"][0] == pytest.approx(rms_x)  # = sqrt(300) mm
    assert obs["shower_depth"][0] == pytest.approx(4.0)
    assert obs["sparsity_5"][0] == pytest.approx(1.0)


def test_depth_over_layers_and_combined_width(grid):
    shower = np.zeros((1, grid.n_voxels))
    shower[0, 0] = 10.0  # layer 0 at (-5, -5), depth 1 X0
    shower[0, 3] = 10.0  # layer 0 at (5, 5)
    shower[0, 4] = 20.0  # layer 5, depth 4 X0
    obs = shower_observables(shower, np.array([40.0]), grid)
    assert obs["shower_depth"][0] == pytest.approx((20 * 1 + 20 * 4) / 40.0)
    assert obs["shower_depth_width"][0] == pytest.approx(1.5)
    assert obs["width_0"][0] == pytest.approx(np.hypot(5.0, 5.0))
    assert obs["e_fraction_0"][0] == pytest.approx(0.5)


def test_empty_shower_and_zero_incident_give_zeros(grid):
    obs = shower_observables(np.zeros((2, grid.n_voxels)), np.array([0.0, 10.0]), grid)
    for name, values in obs.items():
        assert np.all(values == 0.0), name


def test_threshold_and_float32_input(grid):
    shower = np.zeros((1, grid.n_voxels), dtype=np.float32)
    shower[0, :4] = [0.05, 0.2, 1.0, 0.0]
    obs = shower_observables(shower, np.array([10.0]), grid, threshold_mev=0.1)
    assert obs["sparsity_0"][0] == pytest.approx(0.5)
    assert obs["e_total"].dtype == np.float64


def test_polar_geometry_names_and_chunking():
    geometry = load_geometry("calochallenge_ds1_photons")
    rng = np.random.default_rng(1)
    showers = rng.exponential(1.0, size=(20, geometry.n_voxels)) * (rng.random((20, geometry.n_voxels)) < 0.3)
    incident = rng.uniform(1e3, 1e4, size=20)
    whole = shower_observables(showers, incident, geometry)
    parts = concatenate_observables(
        [
            shower_observables(showers[:7], incident[:7], geometry),
            shower_observables(showers[7:], incident[7:], geometry),
        ]
    )
    assert list(whole) == observable_names(geometry)
    for name in whole:
        np.testing.assert_allclose(parts[name], whole[name])
        assert whole[name].shape == (20,)
        assert np.all(np.isfinite(whole[name]))
    # single-sector polar layer: centres lie on one ray, so |centre_x| is the mean radius
    layer_0 = geometry.layer_slices[0]
    radius = geometry.voxel_radius()[layer_0]
    block = showers[:, layer_0]
    mean_radius = np.divide(block @ radius, block.sum(axis=1), out=np.zeros(20), where=block.sum(axis=1) > 0)
    np.testing.assert_allclose(np.abs(whole["centre_x_0"]), mean_radius)
    np.testing.assert_allclose(whole["centre_y_0"], 0.0, atol=1e-9)


def test_describe_fills_layer_id():
    assert describe("e_layer_12").label == "Energy in layer 12 [MeV]"
    assert describe("e_layer_12").unit == "MeV"
    assert describe("e_total") is OBSERVABLES["e_total"]
    with pytest.raises(KeyError):
        describe("nonsense_3")
    with pytest.raises(KeyError):
        describe("e_total_3")


def test_shape_mismatch_is_rejected(grid):
    with pytest.raises(ValueError, match="shape"):
        shower_observables(np.zeros((2, 3)), np.ones(2), grid)
    with pytest.raises(ValueError, match="incident"):
        shower_observables(np.zeros((2, grid.n_voxels)), np.ones(3), grid)
