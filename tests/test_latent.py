"""Latent-space walk with a freshly trained tiny generator."""

from __future__ import annotations

import numpy as np
import pytest

from hepgan.validation.latent import latent_line, latent_walk, latent_walk_plot, walk_step_sizes

from .helpers import small_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def generator(tmp_path_factory, reference_file):
    from hepgan.domains import train
    from hepgan.generate import ShowerGenerator

    tmp = tmp_path_factory.mktemp("latent")
    result = train(small_config(tmp, reference_file), progress=False)
    return ShowerGenerator.from_checkpoint(result.checkpoint, device="cpu")


def test_latent_line_is_a_segment():
    points, t = latent_line(5, 4, seed=1)
    assert points.shape == (4, 5)
    np.testing.assert_allclose(t, [0, 1 / 3, 2 / 3, 1])
    mid = points[0] + (points[-1] - points[0]) / 3
    np.testing.assert_allclose(points[1].numpy(), mid.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="n_steps"):
        latent_line(5, 1, seed=1)


def test_latent_walk_shape_determinism_and_plot(generator, tmp_path):
    showers = latent_walk(generator, 4096.0, n_steps=5, seed=3)
    assert showers.shape == (5, generator.geometry.n_voxels)
    assert np.all(np.isfinite(showers)) and np.all(showers >= 0)
    np.testing.assert_array_equal(showers, latent_walk(generator, 4096.0, n_steps=5, seed=3))
    assert not np.array_equal(showers, latent_walk(generator, 4096.0, n_steps=5, seed=4))
    assert walk_step_sizes(showers).shape == (4,)
    again, path = latent_walk_plot(generator, 4096.0, tmp_path / "walk.png", n_steps=5, seed=3)
    np.testing.assert_array_equal(again, showers)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="incident"):
        latent_walk(generator, -1.0)


def test_walk_step_sizes_by_hand():
    showers = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_allclose(walk_step_sizes(showers), [1 / (8 / 3), 0.0])
