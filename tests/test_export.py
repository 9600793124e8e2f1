"""ONNX export: onnxruntime reproduces torch's showers (MeV), dynamic batch, metadata, atomic write."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hepgan import __version__
from hepgan.domains import train
from hepgan.errors import HepganError, InputFileError, OutputError
from hepgan.generate import ShowerGenerator

from .helpers import small_config

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


def _run_onnx(path: Path, noise: np.ndarray, incident: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (showers,) = session.run(["showers"], {"noise": noise, "incident_energy": incident})
    return showers


@pytest.mark.parametrize("n", [1, 37])
def test_onnxruntime_matches_torch(checkpoint: Path, exported: Path, n: int) -> None:
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    assert generator.calibration is not None  # the default config calibrates; the graph leaves it out
    generator.calibration = None
    noise, incident = _inputs(n, generator.latent_dim, seed=n)
    showers = _run_onnx(exported, noise, incident)
    expected = generator.cells_from_noise(torch.from_numpy(noise), torch.from_numpy(incident[:, 0]).double()).numpy()
    assert showers.shape == (n, generator.geometry.n_voxels) and showers.dtype == np.float32
    assert np.all(np.isfinite(showers)) and np.all(showers >= 0)
    # float32 pre/post-processing vs torch's float64 one: per-mille of a per-mille, in MeV
    np.testing.assert_allclose(showers, expected, rtol=1e-4, atol=1e-6 * float(incident.max()))
    np.testing.assert_allclose(showers.sum(axis=1), expected.sum(axis=1), rtol=1e-5)


def test_graph_has_named_dynamic_batch_and_metadata(checkpoint: Path, exported: Path) -> None:
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["noise", "incident_energy"]
    assert [o.name for o in model.graph.output] == ["showers"]
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and not dims[0].dim_value  # symbolic batch axis
    assert {op.domain: op.version for op in model.opset_import}[""] == 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["geometry"] == "calochallenge_ds1_photons"
    assert meta["latent_dim"] == "8" and meta["n_voxels"] == "368" and meta["n_extra"] == "0"
    assert meta["energy_unit"] == "MeV" and meta["hepgan_version"] == __version__
    assert meta["checkpoint_step"] == str(ShowerGenerator.from_checkpoint(checkpoint, device="cpu").step)
    assert meta["weights"] == "ema" and meta["cell_calibration"] == "not included"


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


def test_dcgan_exports_with_dynamic_batch(tmp_path: Path, reference_file: Path) -> None:
    config = small_config(tmp_path, reference_file, max_steps=2)
    model = dataclasses.replace(config.model, architecture="dcgan", dcgan_channels=4)
    config = dataclasses.replace(config, model=model)
    checkpoint = train(config, progress=False).checkpoint
    out = export_onnx(checkpoint, tmp_path / "dcgan.onnx")
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    generator.calibration = None
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
