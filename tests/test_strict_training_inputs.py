"""Inputs that readers let through must not pass where they do harm.

- The shower readers accept voxel energies down to ``-NEGATIVE_TOLERANCE_MEV`` (rounding
  in other tools' files); training data must hold no negative energy at all, and
  ``hepgan train`` says so in one line naming the file, the event (row), the cell and
  the value, instead of running into NaN losses.
- A ROOT boolean branch (``bool[368]``) where showers or incident energies belong is
  refused, as an HDF5 boolean dataset is; integer branches are read like integer datasets.
"""

from __future__ import annotations

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from hepgan.config import config_from_dict, load_config
from hepgan.data.showers import ShowerData
from hepgan.errors import InputFileError
from hepgan.io import ShowerBatch, load_geometry, read_showers, write_showers
from hepgan.io.checks import NEGATIVE_TOLERANCE_MEV

from .cli_checks import assert_one_error_line, run_cli
from .helpers import ROOT, case_counter

CASES = case_counter(__file__)
CC = load_geometry("calochallenge_ds1_photons")
GAN = load_geometry("calogan")
TINY_TRAINING = [
    "model.latent_dim=4",
    "model.generator_hidden=[8]",
    "model.critic_hidden=[8]",
    "training.batch_size=8",
    "training.d_steps=1",
    "training.max_steps=2",
    "training.checkpoint_every=2",
    "training.threads=1",
    "data.chunk_size=16",
]


def showers(geometry, n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Incident energies (n,) MeV and sparse showers (n, n_voxels) MeV holding 0.9 x the incident energy."""
    rng = np.random.default_rng(seed)
    incident = rng.choice(np.array([1024.0, 4096.0, 16384.0]), n)
    cells = rng.exponential(1.0, (n, geometry.n_voxels)) * (rng.random((n, geometry.n_voxels)) < 0.3)
    cells = (cells / cells.sum(axis=1, keepdims=True) * 0.9 * incident[:, None]).astype(np.float32)
    return incident, cells


def train_argv(data, runs) -> list[str]:
    argv = ["train", str(ROOT / "configs" / "calo.yaml"), "--no-progress", "--no-validate"]
    for override in [f"data.path={data}", f"training.runs_dir={runs}", *TINY_TRAINING]:
        argv += ["--set", override]
    return argv


# --------------------------------------------------------------------------- negative energies in training data
@pytest.mark.parametrize("value", [-NEGATIVE_TOLERANCE_MEV / 2, -1e-6, -NEGATIVE_TOLERANCE_MEV])
@pytest.mark.parametrize("event", [0, 23, 39])
def test_training_refuses_slightly_negative_voxels(tmp_path, capsys, caplog, value: float, event: int) -> None:
    """A voxel within the readers' tolerance is refused for training: file, event, voxel and value named."""
    CASES["negative voxel, train"] += 1
    incident, cells = showers(CC)
    cells[event, 117] = value
    path = tmp_path / "slightly-negative.h5"
    write_showers(path, ShowerBatch(incident, cells), CC)
    assert len(read_showers(path, CC)) == 40  # the readers' tolerance is kept for other uses
    result = run_cli(train_argv(path, tmp_path / "runs"), capsys, caplog)
    line = assert_one_error_line(result, str(path), f"event {event}", "voxel 117", f"{np.float32(value):g} MeV")
    assert "diverged" not in line and "learning rate" not in line
    assert not (tmp_path / "runs").exists()


def test_training_refuses_negative_overflow_cells(tmp_path) -> None:
    """CaloGAN overflow cells are training cells too: a slightly negative one is refused by the data module."""
    CASES["negative overflow, train"] += 1
    incident, cells = showers(GAN)
    overflow = np.full((len(incident), GAN.n_layers), 0.5, np.float32)
    overflow[7, 2] = -2e-4
    path = tmp_path / "calogan.h5"
    write_showers(path, ShowerBatch(incident, cells, overflow), GAN)
    base = load_config(ROOT / "configs" / "calo.yaml").to_dict()
    base["geometry"] = "calogan"
    base["data"].update(path=str(path), chunk_size=16)
    data = ShowerData(config_from_dict(base, "test config"))
    with pytest.raises(InputFileError, match=r"overflow cell energy -0\.0002 MeV at event 7, overflow cell 2") as info:
        data.fit_transform()
    assert str(path) in str(info.value)


def test_training_still_accepts_zero_and_positive_energies(tmp_path, capsys, caplog) -> None:
    """Exact zeros (and -0.0) are energies >= 0: the same file without the negative voxel trains."""
    CASES["zero voxel, train"] += 1
    incident, cells = showers(CC)
    cells[3, 5] = -0.0
    path = tmp_path / "fine.h5"
    write_showers(path, ShowerBatch(incident, cells), CC)
    result = run_cli(train_argv(path, tmp_path / "runs"), capsys, caplog)
    assert result.code == 0, result.err


# --------------------------------------------------------------------------- ROOT boolean branches
def write_root(path, branches: dict[str, object]) -> None:
    types = {}
    for key, value in branches.items():
        if isinstance(value, ak.Array):
            types[key] = value.type.content
        else:
            array = np.asarray(value)
            types[key] = array.dtype if array.ndim == 1 else (array.dtype, array.shape[1:])
    with uproot.recreate(path) as file:
        file.mktree("showers", types).extend(branches)


@pytest.mark.parametrize("form", ["fixed-size", "jagged"])
def test_root_boolean_showers_are_refused(tmp_path, capsys, caplog, form: str) -> None:
    """A ``bool[368]`` (or jagged bool) showers branch is refused, not read as 0/1 MeV."""
    CASES["ROOT bool showers"] += 1
    incident, cells = showers(CC, 12)
    flags = cells > 0
    path = tmp_path / f"bool-{form}.root"
    write_root(path, {"incident_energy": incident, "showers": flags if form == "fixed-size" else ak.Array(flags)})
    with pytest.raises(InputFileError, match="'showers' holds bool values, expected numbers"):
        read_showers(path, CC)
    out = tmp_path / "out.h5"
    argv = ["generate", "--n", "5", "-o", str(out), "--energies-from", str(path)]
    argv += ["--checkpoint", str(ROOT / "tests" / "data" / "golden" / "calo_checkpoint.pt"), "--device", "cpu"]
    assert_one_error_line(run_cli([*argv, "--no-progress"], capsys, caplog), str(path), "'showers'", "bool")
    assert not out.exists()


def test_root_boolean_incident_energy_is_refused(tmp_path) -> None:
    """A boolean incident-energy branch is refused naming the branch."""
    CASES["ROOT bool incident"] += 1
    incident, cells = showers(CC, 12)
    path = tmp_path / "bool-energy.root"
    write_root(path, {"incident_energy": incident > 0, "showers": cells})
    with pytest.raises(InputFileError, match="'incident_energy' holds bool values"):
        read_showers(path, CC)


def test_integer_showers_read_alike_in_root_and_hdf5(tmp_path) -> None:
    """Integer energies (MeV) are numbers in both formats and read to the same showers."""
    CASES["integer showers"] += 1
    incident, cells = showers(CC, 12)
    counts = np.round(cells).astype(np.int32)
    root_path, h5_path = tmp_path / "int.root", tmp_path / "int.h5"
    write_root(root_path, {"incident_energy": incident, "showers": counts})
    with h5py.File(h5_path, "w") as file:
        file["incident_energies"] = incident[:, None]
        file["showers"] = counts
    from_root, from_h5 = read_showers(root_path, CC), read_showers(h5_path, CC)
    np.testing.assert_array_equal(from_root.showers_mev, from_h5.showers_mev)
    np.testing.assert_array_equal(from_root.showers_mev, counts.astype(np.float32))
