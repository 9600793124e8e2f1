"""Hand-computed checks of the CaloGAN/CaloChallenge shower-shape additions."""

from __future__ import annotations

import numpy as np
import pytest

from hepgan.io.geometry import geometry_from_dict, load_geometry
from hepgan.validation.observables import (
    chunked_observables,
    describe,
    hottest_cells_ratio,
    observable_names,
    shower_observables,
)


@pytest.fixture(scope="module")
def grid():
    """Layer 0: 2x2 voxels of 10 mm; layer 5: 1x2 voxels of 20 mm (as in test_observables)."""
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


def test_hottest_cells_ratio():
    block = np.array([[1.0, 3.0, 0.5], [0.0, 0.0, 0.0], [2.0, 2.0, 1.0], [0.0, 4.0, 0.0]])
    np.testing.assert_allclose(hottest_cells_ratio(block), [0.5, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(hottest_cells_ratio(np.array([[3.0], [0.0]])), [1.0, 0.0])


def test_lateral_moments_by_hand(grid):
    shower = np.zeros((1, grid.n_voxels))
    shower[0, 0] = 30.0  # (-5, -5)
    shower[0, 3] = 10.0  # (5, 5)
    shower[0, 4] = 8.0  # layer 5, (-10, 0)
    shower[0, 5] = 2.0  # layer 5, (10, 0)
    obs = shower_observables(shower, np.array([50.0]), grid)
    mean = (30 * -5 + 10 * 5) / 40
    sigma = np.sqrt((30 * (-5 - mean) ** 2 + 10 * (5 - mean) ** 2) / 40)
    assert obs["width_x_0"][0] == pytest.approx(sigma)
    assert obs["width_y_0"][0] == pytest.approx(sigma)
    assert obs["width_0"][0] == pytest.approx(np.hypot(sigma, sigma))
    assert obs["centre_r_0"][0] == pytest.approx(np.hypot(5, 5))
    assert obs["width_r_0"][0] == pytest.approx(0.0, abs=1e-12)  # both voxels at the same radius
    assert obs["centre_r_5"][0] == pytest.approx(10.0)
    assert obs["width_x_5"][0] == pytest.approx(np.sqrt(0.8 * 0.2) * 20)
    assert obs["width_y_5"][0] == 0.0
    assert obs["hottest_ratio_0"][0] == pytest.approx(0.5)
    assert obs["hottest_ratio_5"][0] == pytest.approx(0.6)


def test_single_sector_layers_have_exact_zero_y():
    geometry = load_geometry("calochallenge_ds1_photons")
    rng = np.random.default_rng(0)
    showers = rng.exponential(size=(30, geometry.n_voxels))
    obs = shower_observables(showers, np.full(30, 1e4), geometry)
    assert np.all(obs["centre_y_0"] == 0.0) and np.all(obs["width_y_0"] == 0.0)
    np.testing.assert_allclose(obs["centre_r_0"], -obs["centre_x_0"])


def test_chunked_equals_whole_and_names(grid):
    rng = np.random.default_rng(1)
    showers = rng.exponential(size=(23, grid.n_voxels)).astype(np.float32)
    incident = rng.uniform(10, 100, 23)
    whole = shower_observables(showers, incident, grid)
    chunked = chunked_observables(showers, incident, grid, chunk_size=5)
    assert list(chunked) == list(whole) == observable_names(grid)
    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name])
    assert chunked_observables(showers[:0], incident[:0], grid)["e_total"].shape == (0,)
    for name in whole:
        assert describe(name).label  # every observable has a label with the layer id filled in
    assert "1st" in describe("hottest_ratio_5").label
