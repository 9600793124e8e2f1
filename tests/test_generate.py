"""Generation: notebook API, streamed files, reproducibility, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hepgan import __version__
from hepgan.domains import generate_to_file, train
from hepgan.errors import ConfigError
from hepgan.generate import ShowerGenerator, resolve_checkpoint
from hepgan.io import ShowerBatch, read_showers, write_showers

from .cli_checks import assert_one_error_line, run_cli
from .helpers import ROOT, small_config

GOLDEN_CHECKPOINT = ROOT / "tests" / "data" / "golden" / "calo_checkpoint.pt"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_file: Path) -> Path:
    tmp = tmp_path_factory.mktemp("gen")
    return train(small_config(tmp, reference_file), progress=False).checkpoint


def test_sample_returns_showers_in_mev(checkpoint: Path) -> None:
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    energies = np.array([1024.0, 4096.0, 16384.0] * 5)
    batch = generator.sample(energies, seed=3)
    assert batch.showers_mev.shape == (15, 368)
    assert np.all(np.isfinite(batch.showers_mev)) and np.all(batch.showers_mev >= 0)
    np.testing.assert_array_equal(batch.incident_energies_mev, energies)
    # the same seed gives bit-identical showers after reloading the checkpoint
    again = ShowerGenerator.from_checkpoint(checkpoint, device="cpu").sample(energies, seed=3)
    np.testing.assert_array_equal(batch.showers_mev, again.showers_mev)
    other = generator.sample(energies, seed=4)
    assert not np.array_equal(batch.showers_mev, other.showers_mev)
    with pytest.raises(ConfigError, match="incident energies"):
        generator.sample(np.array([1000.0, -5.0]))


def test_generate_to_file_streams_with_attributes(tmp_path: Path, checkpoint: Path) -> None:
    out = tmp_path / "events.h5"
    summary = generate_to_file(checkpoint, 1234, out, seed=9, batch_size=500)
    assert summary.n == 1234 and out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["events.h5"]  # no temporary left behind
    with h5py.File(out) as f:
        assert f["showers"].shape == (1234, 368) and f["incident_energies"].shape == (1234, 1)
        assert f.attrs["seed"] == 9 and f.attrs["hepgan_version"] == __version__
        assert str(checkpoint) in str(f.attrs["checkpoint"])
        energies = f["incident_energies"][:, 0]
    # the spectrum is the config's: powers of two in [256 MeV, 4.2 TeV]
    assert set(np.unique(energies)) <= {2.0**k for k in range(8, 23)}
    again = tmp_path / "again.h5"
    generate_to_file(checkpoint, 1234, again, seed=9, batch_size=500)
    np.testing.assert_array_equal(
        read_showers(out, "calochallenge_ds1_photons").showers_mev,
        read_showers(again, "calochallenge_ds1_photons").showers_mev,
    )


def test_energies_from_reference_file(tmp_path: Path, checkpoint: Path, reference_file: Path) -> None:
    out = tmp_path / "matched.h5"
    generate_to_file(checkpoint, 50, out, energies_from=reference_file)
    reference = read_showers(reference_file, "calochallenge_ds1_photons", max_events=50)
    np.testing.assert_array_equal(
        read_showers(out, "calochallenge_ds1_photons").incident_energies_mev, reference.incident_energies_mev
    )


def test_failed_generation_keeps_the_earlier_output(tmp_path: Path, checkpoint: Path) -> None:
    out = tmp_path / "events.h5"
    out.write_bytes(b"earlier output")
    with pytest.raises(ConfigError):
        generate_to_file(checkpoint, 0, out)
    with pytest.raises(ConfigError):
        generate_to_file(checkpoint, 100, out, batch_size=0)
    assert out.read_bytes() == b"earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.h5"]


def test_resolve_checkpoint_takes_the_runs_best(checkpoint: Path) -> None:
    run_dir = checkpoint.parents[1]
    best = run_dir / "checkpoints" / "best.pt"
    assert best.is_file()
    assert resolve_checkpoint(run_dir) == best
    assert resolve_checkpoint(None, run_dir.parent) == best
    assert resolve_checkpoint(None, run_dir.parent, kind="calo") == best
    assert resolve_checkpoint(checkpoint) == checkpoint


def test_sample_refuses_energies_outside_the_trained_range(checkpoint: Path) -> None:
    """Explicit energies beyond the fitted range: one line with the count, the offending extreme and the range."""
    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    assert generator.transform.incident_range_mev == (1024.0, 16384.0)  # the reference's 1, 4 and 16 GeV
    with pytest.raises(ConfigError) as info:
        generator.sample(np.array([4096.0, 2 * 16384.0, 1024.0]), seed=1)
    message = str(info.value)
    assert message == (
        "1 of 3 incident energies lie outside the trained range 1.024 to 16.384 GeV (largest 32.768 GeV); "
        "the model was trained on that range only"
    )
    with pytest.raises(ConfigError, match=r"^2 of 2 incident energies .*\(smallest 0\.512 GeV, largest 65\.536 GeV\)"):
        generator.sample(np.array([512.0, 65536.0]))
    # the ends themselves, in float32, still generate
    batch = generator.sample(np.float32([1024.0, 16384.0]), seed=1)
    assert batch.showers_mev.shape == (2, 368)


def test_checkpoints_without_a_recorded_range_are_not_checked() -> None:
    """The golden checkpoint predates the recorded range: it loads and generates beyond its 1-16 GeV as before."""
    generator = ShowerGenerator.from_checkpoint(GOLDEN_CHECKPOINT, device="cpu")
    assert generator.transform.incident_range_mev is None
    batch = generator.sample(np.array([4 * 16384.0, 256.0]), seed=1)
    assert batch.showers_mev.shape == (2, 368) and np.all(np.isfinite(batch.showers_mev))


def test_generate_refuses_an_energies_file_outside_the_trained_range(
    tmp_path: Path, checkpoint: Path, capsys, caplog
) -> None:
    """``hepgan generate --energies-from FILE`` with 2 of 10 energies outside: one error line, no output file."""
    energies = np.array([1024.0, 4096.0, 16384.0, 1024.0, 300.0, 4096.0, 16384.0, 1024.0, 4096.0, 50000.0])
    source = tmp_path / "wider.h5"
    write_showers(source, ShowerBatch(energies, np.zeros((10, 368), np.float32)), "calochallenge_ds1_photons")
    out = tmp_path / "generated.h5"
    argv = ["generate", "--n", "5", "-o", str(out), "--checkpoint", str(checkpoint), "--energies-from", str(source)]
    result = run_cli([*argv, "--device", "cpu", "--no-progress"], capsys, caplog)
    line = assert_one_error_line(
        result,
        f"{source}: 2 of 10 incident energies lie outside the trained range 1.024 to 16.384 GeV",
        "(smallest 0.3 GeV, largest 50 GeV)",
    )
    assert line.endswith("the model was trained on that range only")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wider.h5"]  # the first 5 are inside: still refused
    with pytest.raises(ConfigError, match=r"wider\.h5: 2 of 10"):
        generate_to_file(checkpoint, 5, out, energies_from=source)
    assert not out.exists()
