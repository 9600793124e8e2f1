"""Voxel geometries: the built-in files against the official CaloChallenge XML, and voxel indexing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepgan.errors import ConfigError, InputFileError
from hepgan.io.geometry import geometry_from_dict, load_calochallenge_xml, load_geometry

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "calochallenge"


@pytest.mark.skipif(not (SHARED / "binning_dataset_1_photons.xml").is_file(), reason="shared/data not present")
def test_builtin_ds1_photon_geometry_matches_the_official_binning() -> None:
    official = load_calochallenge_xml(SHARED / "binning_dataset_1_photons.xml")
    geometry = load_geometry("calochallenge_ds1_photons")
    assert [layer["id"] for layer in official] == [layer.id for layer in geometry.layers] == [0, 1, 2, 3, 12]
    for ours, theirs in zip(geometry.layers, official, strict=True):
        assert list(ours.r_edges) == theirs["r_edges"]
        assert ours.n_alpha == theirs["n_alpha"]
    assert geometry.n_voxels == 368


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data not present")
@pytest.mark.parametrize(
    ("name", "n_voxels"),
    [("binning_dataset_1_pions.xml", 533), ("binning_dataset_2.xml", 6480), ("binning_dataset_3.xml", 40500)],
)
def test_official_xml_voxel_counts(name: str, n_voxels: int) -> None:
    layers = load_calochallenge_xml(SHARED / name, depths_x0=None)
    depths = [[float(i), float(i) + 1.0] for i in range(len(layers))]
    layers = load_calochallenge_xml(SHARED / name, depths_x0=depths)
    geometry = geometry_from_dict({"name": name, "layout": "calochallenge", "layers": layers})
    assert geometry.n_voxels == n_voxels


def test_calogan_geometry_shapes() -> None:
    geometry = load_geometry("calogan")
    assert [layer.shape for layer in geometry.layers] == [(3, 96), (12, 12), (12, 6)]
    assert geometry.n_voxels == 504 and geometry.layout == "calogan"


def test_polar_voxel_index_follows_alpha_then_r() -> None:
    layer = load_geometry("calochallenge_ds1_photons").layers[1]  # 10 alpha x 16 r, r edges 0,2,4,...
    n_r = len(layer.r_edges) - 1
    # r = 3 mm (bin 1), alpha = 0.05 * 2pi (sector 0); r = 3 mm at alpha = 0.55 * 2pi (sector 5)
    angles = np.array([0.05, 0.55]) * 2 * np.pi
    idx = layer.voxel_index(3.0 * np.cos(angles), 3.0 * np.sin(angles))
    assert idx.tolist() == [0 * n_r + 1, 5 * n_r + 1]
    assert layer.voxel_index(np.array([250.0]), np.array([0.0])).tolist() == [-1]  # beyond 200 mm


def test_cartesian_voxel_index_is_row_major_with_outside() -> None:
    layer = load_geometry("calogan").layers[2]  # 12 rows (y, 40 mm) x 6 columns (x, 80 mm), centred
    idx = layer.voxel_index(np.array([-239.0, 239.0, 0.0, 300.0]), np.array([-239.0, 239.0, 1.0, 0.0]))
    assert idx.tolist() == [0, 11 * 6 + 5, 6 * 6 + 3, -1]


def test_layer_images_split_flat_showers() -> None:
    geometry = load_geometry("calochallenge_ds1_photons")
    showers = np.arange(2 * 368, dtype=float).reshape(2, 368)
    images = geometry.layer_images(showers)
    assert [img.shape[1:] for img in images] == [(1, 8), (10, 16), (10, 19), (1, 5), (1, 5)]
    assert images[1][1, 0, 0] == 368 + 8 and images[4][0, 0, -1] == 367


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"layout": "atlas"}, "layout"),
        ({"layers": []}, "layers"),
        ({"layers": [{"depth_x0": [3, 2], "r_edges": [0, 1], "n_alpha": 1}]}, "depth_x0"),
        ({"layers": [{"depth_x0": [0, 2], "r_edges": [0, 5, 3], "n_alpha": 1}]}, "r_edges"),
        ({"layers": [{"depth_x0": [0, 2]}]}, "layers\\[0\\]"),
    ],
)
def test_bad_geometry_fields_are_named(change: dict, field: str) -> None:
    data = {"name": "g", "layout": "calochallenge", "layers": [{"depth_x0": [0, 1], "r_edges": [0, 1]}], **change}
    with pytest.raises(ConfigError, match=field):
        geometry_from_dict(data, "geo.yaml")


def test_missing_geometry_and_xml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a built-in geometry"):
        load_geometry(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<Bins><Bin>")
    with pytest.raises(InputFileError, match=r"bad\.xml"):
        load_calochallenge_xml(bad)
