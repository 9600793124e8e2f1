"""ONNX export: onnxruntime reproduces torch's calibrated showers (MeV), dynamic batch, metadata, atomic write,
the onnxruntime example."""

from __future__ import annotations

import dataclasses
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hepgan import __version__
from hepgan.data.calibration import CellCalibration, draw_ranks
from hepgan.domains import train
from hepgan.errors import HepganError, InputFileError, OutputError
from hepgan.generate import ShowerGenerator

from .helpers import ROOT, small_config

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from hepgan import export as export_module  # noqa: E402  (after the skips: needs the onnx extra)
from hepgan.export import MissingDependencyError, export_onnx  # noqa: E402

# incident energies (MeV): below, at, between and above the training energies (1, 4, 16 GeV)
ENERGIES_MEV = np.array([300.0, 1024.0, 2000.0, 4096.0, 9000.0, 16384.0, 1.0e5, 4.2e6])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    return train(small_config(tmp, reference_file), progress=False).checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    return export_onnx(checkpoint, tmp_path_factory.mktemp("onnx") / "generator.onnx")


def _inputs(n: int, latent_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    incident = np.resize(ENERGIES_MEV, n).astype(np.float32).reshape(n, 1)
    return noise, incident


def _run_onnx(path: Path, noise: np.ndarray, incident: np.ndarray, ranks: np.ndarray | None = None) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"noise": noise, "incident_energy": incident}
    if ranks is not None:
        feeds["calibration_ranks"] = ranks
    (showers,) = session.run(["showers"], feeds)
    return showers


def _float32_generator(checkpoint: Path) -> ShowerGenerator:
    """The checkpoint's generator with its network in float32, as in the graph (no bf16 autocast)."""
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    generator.bfloat16 = False
    return generator


@pytest.mark.parametrize("n", [1, 37])
def test_onnxruntime_matches_calibrated_torch(checkpoint: Path, exported: Path, n: int) -> None:
    generator = _float32_generator(checkpoint)
    assert generator.calibration is not None and generator.calibration.fitted  # the default config calibrates
    assert generator.profile_calibration is not None and generator.profile_calibration.fitted  # cells, rings, E_tot
    assert generator.response_calibration is not None and generator.response_calibration.fitted
    n_cells = generator.geometry.n_voxels
    noise, incident = _inputs(n, generator.latent_dim, seed=n)
    ranks = draw_ranks((n, n_cells), torch.device("cpu"), torch.Generator().manual_seed(n)).numpy()  # as hepgan's
    showers = _run_onnx(exported, noise, incident, ranks)
    noise_t, incident_t = torch.from_numpy(noise), torch.from_numpy(incident[:, 0]).double()
    expected = generator.cells_from_noise(noise_t, incident_t, ranks=torch.from_numpy(ranks)).numpy()
    assert showers.shape == (n, n_cells) and showers.dtype == np.float32
    assert np.all(np.isfinite(showers)) and np.all(showers >= 0)
    # the calibration moves every hit, and its empty-cell ranks fill some empty cells: it is really in the graph
    raw = generator.cells_from_noise(noise_t, incident_t, calibrations=()).numpy()
    assert not np.allclose(showers, raw, rtol=1e-2)
    # torch's inverse transform works in float64, the graph's in float32: energy fractions differ by a few float32
    # ulps, and the calibration's node position a·ln f + c (a up to a few hundred nodes per unit of ln f) turns that
    # into ~1e-3 of a node: per-mille of a small cell's value, ~1e-5 of the shower's energy at worst
    totals = expected.sum(axis=1, keepdims=True)
    assert np.all(np.abs(showers - expected) <= 1e-4 * np.abs(expected) + 5e-5 * totals)
    np.testing.assert_allclose(showers.sum(axis=1), expected.sum(axis=1), rtol=1e-5)  # calibration keeps E_tot
    # a cell whose node position lies on the border between an empty and a hit interval of the map (the map jumps
    # from 0 to the reference's smallest hit there) may fall on either side with the float32 rounding above; that
    # takes a position within ~1e-3 of a node of the border, so at most a handful of the cells disagree
    disagree = int(np.count_nonzero((showers > 0) != (expected > 0)))
    assert disagree <= max(1, 1e-3 * showers.size)


def test_graph_has_named_dynamic_batch_and_metadata(checkpoint: Path, exported: Path) -> None:
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["noise", "incident_energy", "calibration_ranks"]
    assert [o.name for o in model.graph.output] == ["showers"]
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and not dims[0].dim_value  # symbolic batch axis
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {op.domain: op.version for op in model.opset_import}[""] == 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["geometry"] == "calochallenge_ds1_photons"
    assert meta["latent_dim"] == "8" and meta["n_voxels"] == "368" and meta["n_extra"] == "0"
    assert meta["energy_unit"] == "MeV" and meta["hepgan_version"] == __version__
    assert meta["checkpoint_step"] == str(ShowerGenerator.from_checkpoint(checkpoint, device="cpu").step)
    assert meta["weights"] == "ema" and meta["cell_calibration"] == "included"
    assert meta["profile_calibration"] == "included" and meta["response_calibration"] == "included"
    assert meta["opset"] == "17" and meta["precision"] == "float32" and "bf16" in meta["precision_note"]
    assert meta["input_names"] == "noise,incident_energy,calibration_ranks"
    assert "calibration_ranks (N, 368) float32: uniform [0,1)" in meta["inputs"] and "MeV" in meta["inputs"]


def test_one_energy_bin_calibration_in_onnx() -> None:
    """A calibration fitted at one incident energy (no bin edges) exports and matches CellCalibration.apply."""
    rng = np.random.default_rng(0)

    def cells(n: int, outer_rate: float) -> np.ndarray:  # MeV: a core, a middle and a sometimes-hit outer cell
        outer = np.where(rng.random(n) < outer_rate, rng.exponential(4.0, n), 0.0)
        return np.c_[rng.uniform(60.0, 80.0, n), rng.gamma(4.0, 5.0, n), outer]

    calibration, kept = CellCalibration.from_reference([(cells(600, 0.4), np.full(600, 5e3))])
    calibration.fit_generated(cells(len(kept), 0.1), kept)
    assert calibration.n_bins == 1
    module = export_module.ExportableCalibration(calibration).eval()
    test = torch.from_numpy(cells(40, 0.1)).float()
    log_e = torch.full((40, 1), float(np.log(5e3)))
    ranks = torch.rand(40, 3, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch")
    with export_module._quiet_exporter():
        program = torch.onnx.export(
            module,
            (test, log_e, ranks),
            input_names=["cells", "log_e", "ranks"],
            dynamic_shapes={"cells": {0: batch}, "log_e": {0: batch}, "ranks": {0: batch}},
            dynamo=True,
            verbose=False,
        )
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"cells": test.numpy(), "log_e": log_e.numpy(), "ranks": ranks.numpy()})
    expected = calibration.apply(test, torch.full((40,), 5e3, dtype=torch.float64), ranks=ranks).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert np.any((out[:, 2] > 0) != (test[:, 2].numpy() > 0))  # the outer cell's occupancy was changed


def test_example_runs_the_exported_graph(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = runpy.run_path(str(ROOT / "examples" / "onnx_generate.py"), run_name="onnx_example")
    out = tmp_path / "showers.npy"
    showers = example["main"]([str(exported), "--n", "5", "--energy", "4096", "--seed", "3", "-o", str(out)])
    assert showers.shape == (5, 368) and showers.dtype == np.float32 and np.all(showers >= 0)
    assert np.array_equal(np.load(out), showers)
    assert "calibration_ranks" in capsys.readouterr().out


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_failed_export_leaves_no_file(tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded\nwith a long story")

    monkeypatch.setattr(export_module, "_export_proto", broken)
    with pytest.raises(HepganError, match="ONNX export failed") as exc:
        export_onnx(checkpoint, tmp_path / "generator.onnx")
    assert "exporter exploded" in _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file(
    tmp_path: Path, checkpoint: Path, exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "_export_proto", lambda *args: onnx.load(str(exported)))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_module.os, "replace", full_disk)
    with pytest.raises(OutputError, match="No space left") as exc:
        export_onnx(checkpoint, tmp_path / "generator.onnx")
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_bad_checkpoint_and_output_errors(tmp_path: Path, checkpoint: Path) -> None:
    with pytest.raises(InputFileError, match="no such checkpoint") as exc:
        export_onnx(tmp_path / "missing.pt", tmp_path / "g.onnx")
    _one_line(exc)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError, match=r"garbage\.pt: .*checkpoint") as exc:
        export_onnx(garbage, tmp_path / "g.onnx")
    _one_line(exc)
    with pytest.raises(OutputError, match="does not exist") as exc:
        export_onnx(checkpoint, tmp_path / "no" / "such" / "g.onnx")
    _one_line(exc)
    with pytest.raises(HepganError, match="opset") as exc:
        export_onnx(checkpoint, tmp_path / "g.onnx", opset=9)
    _one_line(exc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.pt"]


def test_missing_onnx_gives_install_line(tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'hepgan\[onnx\]'") as exc:
        export_onnx(checkpoint, tmp_path / "g.onnx")
    _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_dcgan_without_calibration_exports_two_inputs(tmp_path: Path, reference_file: Path) -> None:
    """A checkpoint without cell and profile calibration: two inputs, metadata "none"; a DCGAN's batch axis stays
    dynamic."""
    config = small_config(tmp_path, reference_file, max_steps=2)
    model = dataclasses.replace(config.model, architecture="dcgan", dcgan_channels=4)
    preprocessing = dataclasses.replace(config.preprocessing, cell_calibration=False, profile_calibration="none")
    config = dataclasses.replace(config, model=model, preprocessing=preprocessing)
    checkpoint = train(config, progress=False).checkpoint
    out = export_onnx(checkpoint, tmp_path / "dcgan.onnx")
    graph = onnx.load(str(out))
    assert [i.name for i in graph.graph.input] == ["noise", "incident_energy"]
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["cell_calibration"] == "none" and "calibration_ranks" not in meta["inputs"]
    assert meta["profile_calibration"] == "none"
    generator = _float32_generator(checkpoint)
    assert generator.calibration is None
    for n in (2, 9):
        noise, incident = _inputs(n, generator.latent_dim, seed=n)
        expected = generator.cells_from_noise(torch.from_numpy(noise), torch.from_numpy(incident[:, 0]).double())
        np.testing.assert_allclose(
            _run_onnx(out, noise, incident), expected.numpy(), rtol=1e-4, atol=1e-6 * float(incident.max())
        )


def test_cli_export(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hepgan.cli import main

    out = tmp_path / "generator.onnx"
    assert main(["export", "--format", "onnx", "-o", str(out), "--checkpoint", str(checkpoint)]) == 0
    assert out.is_file() and "incident_energy" in capsys.readouterr().out
    assert (
        main(
            ["export", "--format", "onnx", "-o", str(tmp_path / "missing" / "g.onnx"), "--checkpoint", str(checkpoint)]
        )
        == 2
    )
