"""CaloChallenge datasets 2 and 3: the challenge's own files, simulation in the W/Si calorimeter, bounded tables."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hepgan.config import config_from_dict, load_config
from hepgan.data.calibration import MAX_TABLE_BYTES, table_bytes
from hepgan.data.showers import ShowerData
from hepgan.domains.calo import geometry_named_by
from hepgan.errors import ConfigError
from hepgan.io import ShowerReader
from hepgan.io.geometry import load_geometry
from hepgan.simulate import simulate_to_file

from .helpers import ROOT


def ds_config(dataset: int, *overrides: str):
    return load_config(ROOT / "configs" / f"calo_ds{dataset}.yaml", list(overrides))


@pytest.fixture(scope="module")
def ds2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 GFlash electron showers in the dataset-2 geometry, log-uniform 1 GeV - 1 TeV."""
    out = tmp_path_factory.mktemp("ds2") / "ds2.h5"
    simulate_to_file(ds_config(2), out, n=120, seed=3)
    return out


def test_simulated_ds2_showers_are_w_si_electron_showers(ds2_file: Path) -> None:
    geometry = load_geometry("calochallenge_ds2")
    with ShowerReader(ds2_file, geometry) as reader:
        batch = reader.read()
        attrs = reader.attrs
    incident = np.asarray(batch.incident_energies_mev)
    showers = np.asarray(batch.showers_mev)
    assert showers.shape == (120, 6480) and attrs["particle"] == "electron"
    assert 1e3 <= incident.min() and incident.max() <= 1e6
    # log-uniform: ln E uniform on [ln 1e3, ln 1e6]; its mean is the middle within 4 standard errors
    log_e = np.log(incident)
    assert abs(log_e.mean() - np.log(np.sqrt(1e9))) < 4 * (np.log(1e3) / np.sqrt(12)) / np.sqrt(120)
    # the 15 keV readout threshold: no voxel reads between 0 and 0.015 MeV
    assert not ((showers > 0) & (showers < 0.015)).any()
    # an electron shower in ~36 X0 of W/Si: nearly all of its energy inside the 41.85 mm readout
    response = showers.sum(axis=1) / incident
    assert 0.9 < np.median(response) < 1.05
    # the longitudinal profile peaks well inside the stack (t_max ~ ln(E/E_c) ~ 5-11 X0 = layers 6-14)
    layers = showers.reshape(120, 45, 16 * 9).sum(axis=2)
    peak = layers.argmax(axis=1)
    assert 2 <= np.median(peak) <= 16


def test_a_challenge_download_is_read_unchanged(ds2_file: Path, tmp_path: Path) -> None:
    """The challenge's files: gzip-compressed, no attributes, float64 energies; the voxel count names the geometry."""
    with h5py.File(ds2_file) as f:
        incident, showers = f["incident_energies"][:], f["showers"][:]
    download = tmp_path / "dataset_2_1.hdf5"
    with h5py.File(download, "w") as f:
        f.create_dataset("incident_energies", data=incident.astype(np.float64), compression="gzip")
        f.create_dataset("showers", data=showers.astype(np.float64), compression="gzip")
    assert geometry_named_by(download) == "calochallenge_ds2"
    with ShowerReader(download, load_geometry("calochallenge_ds2")) as reader:
        batch = reader.read()
    np.testing.assert_array_equal(np.asarray(batch.showers_mev), showers)
    np.testing.assert_array_equal(np.asarray(batch.incident_energies_mev), incident.reshape(-1))


def test_cell_calibration_tables_are_bounded(tmp_path: Path) -> None:
    # 20 energy bins x cells x 620 float32: 17 MiB for dataset 1 (368 cells), 1.9 GiB for dataset 3
    assert table_bytes(20, 368) == 4 * 20 * 368 * 620
    assert table_bytes(20, 368) < MAX_TABLE_BYTES < table_bytes(20, 40500)
    data = ds_config(3).to_dict()
    data["preprocessing"]["cell_calibration"] = True
    data["data"]["path"] = str(tmp_path / "absent.h5")
    with pytest.raises(ConfigError, match=r"preprocessing.cell_calibration: .*40500 cells would take 1916 MiB"):
        ShowerData(config_from_dict(data, "test"))


@pytest.mark.parametrize("dataset", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_the_cylinder_model_trains_and_generates_on_both_geometries(tmp_path: Path, dataset: int) -> None:
    """Simulate → train (bounded buffer, cylinder networks) → generate, a few steps on 60 showers."""
    import torch

    from hepgan.domains import train
    from hepgan.generate import ShowerGenerator

    config = ds_config(dataset).to_dict()
    data = tmp_path / "showers.h5"
    simulate_to_file(config_from_dict(config, "test"), data, n=60, seed=4)
    config["data"].update(path=str(data), chunk_size=20, buffer_size=20)  # 54 training showers, 40 held at a time
    config["model"].update(cylinder_channels=2, latent_dim=8)
    # the calibration fit generates >= 500 showers per energy bin at each checkpoint: tested on dataset 1
    config["preprocessing"]["response_calibration"] = False
    config["training"].update(
        batch_size=8,
        max_steps=2,
        checkpoint_every=2,
        eval_every=0,
        eval_showers=10,
        log_every=1,
        d_steps=1,
        runs_dir=str(tmp_path / "runs"),
        threads=1,
        max_seconds=0,
    )
    config["validation"]["reference"] = "holdout"
    previous_threads = torch.get_num_threads()
    try:
        result = train(config_from_dict(config, "test"), progress=False)
        generator = ShowerGenerator.from_checkpoint(result.checkpoint, device="cpu")
        batch = generator.sample(np.array([2e3, 2e5]), seed=1)
    finally:
        torch.set_num_threads(previous_threads)
    showers = np.asarray(batch.showers_mev)
    n_voxels = {2: 6480, 3: 40500}[dataset]
    assert showers.shape == (2, n_voxels) and np.isfinite(showers).all() and (showers >= 0).all()
    # the inverse preprocessing puts E_tot/E_inc near the training showers' (0.9 - 1.05 for W/Si electrons)
    assert ((0.5 < showers.sum(axis=1) / [2e3, 2e5]) & (showers.sum(axis=1) / [2e3, 2e5] < 1.5)).all()
