"""Voxel geometries: the built-in files against the official CaloChallenge XML, and voxel indexing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepgan.errors import ConfigError, InputFileError
from hepgan.io.geometry import geometry_from_dict, load_calochallenge_xml, load_geometry

# The official CaloChallenge 2022 voxel binning (github.com/CaloChallenge/homepage, code/binning_dataset_1_photons.xml,
# code/binning_dataset_1_pions.xml, code/binning_dataset_2.xml, code/binning_dataset_3.xml), transcribed: per layer
# id, the radial edges in mm as written there and n_bin_alpha. The ds1 files list layer ids 0-23; every id not given
# here has r_edges="0" and n_bin_alpha="1" there (no voxels). Datasets 2 and 3 use the same edges in all 45 layers.
DS1_PHOTON_LAYERS: dict[int, tuple[str, int]] = {
    0: ("0,5,10,30,50,100,200,400,600", 1),
    1: ("0,2,4,6,8,10,12,15,20,30,40,50,70,90,120,150,200", 10),
    2: ("0,2,5,10,15,20,25,30,40,50,60,80,100,130,160,200,250,300,350,400", 10),
    3: ("0,50,100,200,400,600", 1),
    12: ("0,100,200,400,1000,2000", 1),
}
DS1_PION_LAYERS: dict[int, tuple[str, int]] = {
    0: ("0,5,10,30,50,100,200,400,600", 1),
    1: ("0,1,4,7,10,15,30,50,90,150,200", 10),
    2: ("0,5,10,20,30,50,80,130,200,300,400", 10),
    3: ("0,50,100,200,400,600", 1),
    12: ("0,10,20,30,50,80,100,130,160,200,250,300,350,400,1000,2000", 10),
    13: ("0,10,20,30,50,80,100,130,160,200,250,300,350,400,600,1000,2000", 10),
    14: ("0,50,100,150,200,250,300,400,600,1000,2000", 1),
}
DS2_R_EDGES = "0,4.65,9.3,13.95,18.6,23.25,27.9,32.55,37.2,41.85"  # 9 radial bins, 16 alpha
DS3_R_EDGES = (  # 18 radial bins, 50 alpha
    "0,2.325,4.65,6.975,9.3,11.625,13.95,16.275,18.6,20.925,23.25,25.575,27.9,30.225,32.55,34.875,37.2,39.525,41.85"
)

OFFICIAL_BINNING: dict[str, tuple[dict[str, str], int, dict[int, tuple[str, int]]]] = {
    # dataset: (<Bin> attributes, number of layer ids, the layers with voxels)
    "ds1_photons": ({"pid": "22", "etaMin": "0", "etaMax": "130", "name": "photon"}, 24, DS1_PHOTON_LAYERS),
    "ds1_pions": ({"pid": "211", "etaMin": "0", "etaMax": "80", "name": "pion"}, 24, DS1_PION_LAYERS),
    "ds2": ({"pid": "11", "name": "electron"}, 45, dict.fromkeys(range(45), (DS2_R_EDGES, 16))),
    "ds3": ({"pid": "11", "name": "electron"}, 45, dict.fromkeys(range(45), (DS3_R_EDGES, 50))),
}


def write_official_binning(path: Path, dataset: str) -> Path:
    """The binning of ``dataset`` as a file in the official CaloChallenge XML format, empty layers included."""
    attributes, n_ids, layers = OFFICIAL_BINNING[dataset]
    lines = ["<Bins>", "   <Bin " + " ".join(f'{key}="{value}"' for key, value in attributes.items()) + ">"]
    for layer_id in range(n_ids):
        r_edges, n_alpha = layers.get(layer_id, ("0", 1))
        lines.append(f'      <Layer id="{layer_id}" r_edges="{r_edges}" n_bin_alpha="{n_alpha}" />')
    lines += ["   </Bin>", "</Bins>", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_builtin_ds1_photon_geometry_matches_the_official_binning(tmp_path: Path) -> None:
    official = load_calochallenge_xml(write_official_binning(tmp_path / "binning_dataset_1_photons.xml", "ds1_photons"))
    geometry = load_geometry("calochallenge_ds1_photons")
    assert [layer["id"] for layer in official] == [layer.id for layer in geometry.layers] == [0, 1, 2, 3, 12]
    for ours, theirs in zip(geometry.layers, official, strict=True):
        assert list(ours.r_edges) == theirs["r_edges"]
        assert ours.n_alpha == theirs["n_alpha"]
    assert geometry.n_voxels == 368


@pytest.mark.parametrize(("dataset", "n_alpha", "n_r"), [("ds2", 16, 9), ("ds3", 50, 18)])
def test_builtin_ds2_ds3_geometries_match_the_official_binning(
    tmp_path: Path, dataset: str, n_alpha: int, n_r: int
) -> None:
    official = load_calochallenge_xml(write_official_binning(tmp_path / f"{dataset}.xml", dataset))
    geometry = load_geometry(f"calochallenge_{dataset}")
    assert [layer["id"] for layer in official] == [layer.id for layer in geometry.layers] == list(range(45))
    for ours, theirs in zip(geometry.layers, official, strict=True):
        assert list(ours.r_edges) == theirs["r_edges"]  # the same floats as the XML's decimal strings
        assert ours.n_alpha == theirs["n_alpha"] == n_alpha
        assert ours.shape == (n_alpha, n_r)
    assert geometry.n_voxels == 45 * n_alpha * n_r
    # voxel order (layer, alpha, r): flat index = (layer * n_alpha + alpha) * n_r + r, as the challenge reshapes
    flat = np.arange(geometry.n_voxels, dtype=float)[None]
    reshaped = flat.reshape(1, 45, n_alpha, n_r)
    for layer_index, image in enumerate(geometry.layer_images(flat)):
        np.testing.assert_array_equal(image, reshaped[:, layer_index])
    layer = geometry.layers[7]
    angle = (3 + 0.5) * 2 * np.pi / n_alpha  # middle of sector 3
    radius = 0.5 * (layer.r_edges[4] + layer.r_edges[5])  # middle of radial bin 4
    assert layer.voxel_index(np.array([radius * np.cos(angle)]), np.array([radius * np.sin(angle)])).tolist() == [
        3 * n_r + 4
    ]


def test_ds2_ds3_depths_are_the_w_si_stack_in_effective_radiation_lengths() -> None:
    from hepgan.sim.materials import SamplingMix, get_material

    mix = SamplingMix(get_material("W"), get_material("Si"), 1.4, 0.3)
    for name in ("calochallenge_ds2", "calochallenge_ds3"):
        depths = load_geometry(name).depth_edges_x0
        # 45 readout layers of W-Si-W-Si (2 x 1.7 mm), contiguous from the front face
        np.testing.assert_allclose(depths[:, 1] - depths[:, 0], 3.4 / mix.x0_mm, atol=2e-6)
        np.testing.assert_allclose(depths[1:, 0], depths[:-1, 1])
        assert depths[0, 0] == 0.0
        assert depths[-1, 1] == pytest.approx(153.0 / mix.x0_mm, abs=1e-5)


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ('id="0" r_edges="0,5,3" n_bin_alpha="4"', "r_edges must increase"),
        ('id="0" r_edges="0,5,10" n_bin_alpha="0"', "n_bin_alpha is 0"),
        ('id="0" r_edges="0,five" n_bin_alpha="4"', "comma-separated numbers"),
        ('id="0" n_bin_alpha="4"', "lacks the attribute"),
    ],
)
def test_inconsistent_binning_xml_gives_one_line(tmp_path: Path, attributes: str, problem: str) -> None:
    path = tmp_path / "binning.xml"
    path.write_text(f'<Bins><Bin pid="11"><Layer {attributes} /></Bin></Bins>')
    with pytest.raises(InputFileError, match=problem) as caught:
        load_calochallenge_xml(path)
    assert "\n" not in str(caught.value) and "binning.xml" in str(caught.value)


def test_binning_xml_with_a_repeated_layer_id(tmp_path: Path) -> None:
    path = tmp_path / "binning.xml"
    layer = '<Layer id="3" r_edges="0,5" n_bin_alpha="1" />'
    path.write_text(f"<Bins><Bin>{layer}{layer}</Bin></Bins>")
    with pytest.raises(InputFileError, match="appears twice"):
        load_calochallenge_xml(path)


@pytest.mark.parametrize(
    ("dataset", "layer_ids", "n_voxels"),
    [
        ("ds1_photons", [0, 1, 2, 3, 12], 368),
        ("ds1_pions", [0, 1, 2, 3, 12, 13, 14], 533),
        ("ds2", list(range(45)), 6480),  # 45 layers x 16 alpha x 9 r
        ("ds3", list(range(45)), 40500),  # 45 layers x 50 alpha x 18 r
    ],
)
def test_official_binning_voxel_counts(tmp_path: Path, dataset: str, layer_ids: list[int], n_voxels: int) -> None:
    path = write_official_binning(tmp_path / f"{dataset}.xml", dataset)
    layers = load_calochallenge_xml(path)
    assert [layer["id"] for layer in layers] == layer_ids  # layers with r_edges="0" dropped
    depths = [[float(i), float(i) + 1.0] for i in range(len(layers))]
    layers = load_calochallenge_xml(path, depths_x0=depths)
    geometry = geometry_from_dict({"name": dataset, "layout": "calochallenge", "layers": layers})
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
