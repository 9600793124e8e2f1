"""Property-based tests: a checkpoint whose numbers no training writes is refused before anything is generated.

Hypothesis corrupts an otherwise valid checkpoint (copies of the golden calorimeter
checkpoint, ds1 geometry with the cell calibration, and the golden event checkpoint, Z → μμ
pair representation): NaN/inf in a random float tensor of the generator weights, the
preprocessing or the calibration; a negative or decreasing row of a calibration quantile
table (or of the event quantile knots); calibration shares outside [0, 1]; a tensor of a
wrong shape; a tensor of a wrong (non-floating) dtype; a non-finite or non-positive number
of the preprocessing. ``hepgan generate`` must exit with code 2 and print one line
``hepgan: error: ...`` naming the checkpoint (and the corrupted entry where the corruption
is in one tensor), no traceback, and write nothing: no file appears under the output name
and an existing file there is byte-identical.

Explicit cases at the end: networks that give NaN although every stored number is finite
are stopped by the check of each generated batch, and valid checkpoints (golden ones, a
DCGAN with batch-norm counters) still generate.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from hepgan.config import config_from_dict
from hepgan.domains import CALO, EVENTS
from hepgan.errors import InputFileError
from hepgan.generate import EventGenerator, ShowerGenerator
from hepgan.generate.showers import shower_networks
from hepgan.generate.stream import JobPlan
from hepgan.io import load_geometry, read_showers

from .cli_checks import assert_one_error_line, run_cli
from .helpers import TEST_DATA, case_counter, small_config, write_untrained_checkpoint

CASES = case_counter(__file__)
"""Cases tried per test (every hypothesis example, including shrinking, and every explicit case)."""

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
GOLDEN = TEST_DATA / "golden"
SECTIONS = {
    "calo": ("generator", "generator_ema", "transform", "cell_calibration"),
    "events": ("generator", "generator_ema", "transform"),
}
"""The checkpoint entries that generation reads, per kind."""


@cache
def golden_state(kind: str) -> dict[str, Any]:
    """The golden checkpoint of ``kind`` ("calo" or "events"), loaded once (read-only: corrupt copies)."""
    return torch.load(GOLDEN / f"{kind}_checkpoint.pt", weights_only=True)


def float_tensors(kind: str) -> list[tuple[str, str]]:
    """(section, key) of every float tensor that generation reads."""
    state = golden_state(kind)
    return [
        (section, key)
        for section in SECTIONS[kind]
        for key, value in state[section].items()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
    ]


QUANTILE_TABLES = ("reference_quantiles", "generated_quantiles")
EVENT_KNOTS = (
    "log_pt_knots",
    "eta_knots",
    "pair_log_mass_knots",
    "pair_log_pt_knots",
    "pair_y_knots",
    "cos_theta_knots",
)


@dataclass
class Corruption:
    """One change to a valid checkpoint and what the error line must name besides the checkpoint."""

    label: str
    kind: str  # calo | events
    what: str  # non-finite | shape | dtype | table | number
    entry: str | None  # e.g. "transform.cell_mean": named in the line (None: only the checkpoint)
    apply: Callable[[dict[str, Any]], None] = field(repr=False)


def _flat_index(draw: st.DrawFn, tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(draw(st.integers(0, size - 1)) for size in tensor.shape)


@st.composite
def corruptions(draw: st.DrawFn, kind: str) -> Corruption:
    state = golden_state(kind)
    section, key = draw(st.sampled_from(float_tensors(kind)))
    tensor = state[section][key]
    entry = f"{section}.{key}"
    what = draw(st.sampled_from(["non-finite", "shape", "dtype", "table", "number"]))
    if what == "non-finite":
        value = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        index = _flat_index(draw, tensor)

        def apply(s: dict[str, Any]) -> None:
            s[section][key][index] = value

        return Corruption(f"{value} in {entry}{list(index)}", kind, what, entry, apply)
    if what == "shape":
        how = draw(st.sampled_from(["shrink", "grow", "extra axis"]))
        axis = draw(st.integers(0, max(tensor.dim() - 1, 0)))

        def reshaped(t: torch.Tensor) -> torch.Tensor:
            if t.dim() == 0 or how == "extra axis":
                return torch.stack([t, t])
            if how == "grow":
                return torch.cat([t, t.narrow(axis, 0, 1)], dim=axis)
            return t.narrow(axis, 0, t.shape[axis] - 1)

        def apply(s: dict[str, Any]) -> None:
            s[section][key] = reshaped(s[section][key])

        return Corruption(f"{entry} {how} along axis {axis}", kind, what, None, apply)
    if what == "dtype":
        dtype = draw(st.sampled_from([torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64]))

        def apply(s: dict[str, Any]) -> None:
            s[section][key] = s[section][key].to(dtype)

        return Corruption(f"{entry} as {dtype}", kind, what, entry, apply)
    if what == "table" and kind == "calo":
        table = draw(st.sampled_from([*QUANTILE_TABLES, "reference_zero", "generated_zero", "reference_floor"]))
        values = state["cell_calibration"][table]
        row = _flat_index(draw, values[..., 0] if table in QUANTILE_TABLES else values)
        entry = f"cell_calibration.{table}"
        if table in QUANTILE_TABLES:
            level = draw(st.integers(0, values.shape[-1] - 2))
            shape = draw(st.sampled_from(["negative", "decreasing"]))
            amount = draw(st.floats(1e-3, 0.5))

            def apply(s: dict[str, Any]) -> None:
                q = s["cell_calibration"][table][row]
                if shape == "negative":
                    q[: level + 1] = -amount  # below every later entry: negative, still non-decreasing
                else:
                    q[level] = q[level + 1] + amount

            return Corruption(f"{shape} {entry}{list(row)} at level {level}", kind, what, entry, apply)
        value = draw(st.one_of(st.floats(-1e3, -1e-3), st.floats(1.01, 1e3)))

        def apply(s: dict[str, Any]) -> None:
            s["cell_calibration"][table][row] = value

        return Corruption(f"{entry}{list(row)} = {value}", kind, what, entry, apply)
    if what == "table":
        name = draw(st.sampled_from(EVENT_KNOTS))
        knots = state["transform"][name]
        slot, level = draw(st.integers(0, knots.shape[0] - 1)), draw(st.integers(0, knots.shape[1] - 2))
        amount = draw(st.floats(1e-3, 10.0))

        def apply(s: dict[str, Any]) -> None:
            k = s["transform"][name][slot]
            k[level] = k[level + 1] + amount

        label = f"decreasing transform.{name}[{slot}] at {level}"
        return Corruption(label, kind, what, f"transform.{name}", apply)
    # a number of the preprocessing (a plain float or a width) that no fit gives
    names = ["fraction_epsilon", "response_scale", "min_cell_mev"] if kind == "calo" else ["mass_epsilon_gev"]
    name = draw(st.sampled_from(names))
    value = draw(st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 0.0] if name != "min_cell_mev" else [np.nan, -0.5]))

    def apply(s: dict[str, Any]) -> None:
        s["transform"][name] = float(value)

    return Corruption(f"transform.{name} = {value}", kind, what, None, apply)


def fresh_dir(parent: Path) -> Path:
    """A new empty folder per hypothesis example (function-scoped tmp_path is shared by all examples)."""
    return Path(tempfile.mkdtemp(dir=parent))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_refused(tmp_path: Path, capsys, caplog, corruption: Corruption, existing: bool) -> None:
    """Write the corrupted checkpoint, run ``hepgan generate``: one error line, nothing written."""
    work = fresh_dir(tmp_path)
    state = copy.deepcopy(golden_state(corruption.kind))
    corruption.apply(state)
    checkpoint = work / "corrupt.pt"
    torch.save(state, checkpoint)
    output = work / "out.h5"
    if existing:
        output.write_bytes(b"an earlier output")
    before = {p.name: digest(p) for p in work.iterdir()}
    argv = ["generate", "--n", "20", "-o", str(output), "--checkpoint", str(checkpoint), "--device", "cpu"]
    result = run_cli([*argv, "--no-progress"], capsys, caplog)
    line = assert_one_error_line(result, str(checkpoint))
    if corruption.entry is not None:
        assert corruption.entry in line, (corruption.label, line)
    assert {p.name: digest(p) for p in work.iterdir()} == before, corruption.label


@settings(max_examples=150, **SETTINGS)
@given(corruption=corruptions("calo"), existing=st.booleans())
def test_corrupt_calo_checkpoint_is_refused(
    tmp_path: Path, capsys, caplog, corruption: Corruption, existing: bool
) -> None:
    """A corrupted calorimeter checkpoint (weights, preprocessing or calibration) is refused in one line."""
    CASES[f"calo {corruption.what}"] += 1
    check_refused(tmp_path, capsys, caplog, corruption, existing)


@settings(max_examples=80, **SETTINGS)
@given(corruption=corruptions("events"), existing=st.booleans())
def test_corrupt_event_checkpoint_is_refused(
    tmp_path: Path, capsys, caplog, corruption: Corruption, existing: bool
) -> None:
    """A corrupted event checkpoint (weights or preprocessing) is refused in one line."""
    CASES[f"events {corruption.what}"] += 1
    check_refused(tmp_path, capsys, caplog, corruption, existing)


# --------------------------------------------------------------------------- explicit cases
class NaNNetwork(nn.Module):
    """Stands for a network whose finite weights still give NaN (e.g. overflowing activations)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = n_features

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(noise), self.n_features)
        out[-1, -1] = torch.nan  # one value in the batch's last row
        return out


def test_nan_showers_are_not_written(tmp_path: Path) -> None:
    """Generated showers with NaN stop the job with an error naming the checkpoint; the earlier file stays."""
    CASES["explicit"] += 1
    generator = ShowerGenerator.from_checkpoint(GOLDEN / "calo_checkpoint.pt", device="cpu")
    generator.network = NaNNetwork(generator.transform.n_features)
    output = tmp_path / "out.h5"
    output.write_bytes(b"earlier")
    job = JobPlan.make(250, 1, None, "golden.pt")
    with pytest.raises(InputFileError, match="non-finite values in generated showers") as info:
        CALO.generate_to_file(generator, job, output, batch_size=100)
    assert str(generator.source) in str(info.value) and "shower 99" in str(info.value)
    assert output.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]
    with pytest.raises(InputFileError, match="non-finite"):
        generator.sample(np.full(5, 1024.0), seed=1)


def test_nan_events_are_not_written(tmp_path: Path) -> None:
    """The same for events: a NaN event stops the job before its batch is written."""
    CASES["explicit"] += 1
    generator = EventGenerator.from_checkpoint(GOLDEN / "events_checkpoint.pt", device="cpu")
    generator.network = NaNNetwork(generator.transform.n_features)
    job = JobPlan.make(30, 1, None, "golden.pt")
    with pytest.raises(InputFileError, match="non-finite values in generated events"):
        EVENTS.generate_to_file(generator, job, tmp_path / "events.h5", batch_size=10)
    assert list(tmp_path.iterdir()) == []


def test_overflowing_weights_are_refused_by_the_cli(tmp_path: Path, capsys, caplog) -> None:
    """Finite but enormous weights give NaN showers: one line naming the checkpoint, nothing written."""
    CASES["explicit"] += 1
    state = copy.deepcopy(golden_state("calo"))
    state["generator_ema"]["net.2.weight"] *= 1e38
    checkpoint = tmp_path / "huge.pt"
    torch.save(state, checkpoint)
    argv = ["generate", "--n", "20", "-o", str(tmp_path / "out.h5"), "--checkpoint", str(checkpoint)]
    result = run_cli([*argv, "--device", "cpu", "--no-progress"], capsys, caplog)
    assert_one_error_line(result, str(checkpoint), "non-finite values in generated showers")
    assert not (tmp_path / "out.h5").exists()


def test_valid_checkpoints_still_generate(tmp_path: Path, reference_file: Path, capsys, caplog) -> None:
    """The golden checkpoints and a DCGAN checkpoint (integer batch-norm counters) pass the checks."""
    CASES["explicit"] += 1
    for name in ("calo_checkpoint.pt", "events_checkpoint.pt"):
        output = tmp_path / f"{name}.h5"
        argv = ["generate", "--n", "30", "-o", str(output), "--checkpoint", str(GOLDEN / name), "--device", "cpu"]
        assert run_cli([*argv, "--no-progress"], capsys, caplog).code == 0
        assert output.is_file()
    config_dict = small_config(tmp_path, reference_file).to_dict()
    config_dict["model"]["architecture"] = "dcgan"
    dcgan = config_from_dict(config_dict, "dcgan test config")
    golden = golden_state("calo")
    entries = {key: golden[key] for key in ("kind", "geometry", "n_extra", "transform")}
    generator, critic = shower_networks(dcgan, load_geometry("calochallenge_ds1_photons"), 0)
    assert any(not t.is_floating_point() for t in generator.state_dict().values())  # num_batches_tracked
    checkpoint = write_untrained_checkpoint(tmp_path / "dcgan.pt", config_dict, entries, generator, critic)
    output = tmp_path / "dcgan.h5"
    argv = ["generate", "--n", "10", "-o", str(output), "--checkpoint", str(checkpoint), "--device", "cpu"]
    result = run_cli([*argv, "--no-progress"], capsys, caplog)
    assert result.code == 0, result.err
    assert len(read_showers(output, "calochallenge_ds1_photons")) == 10
