"""Checkpoints written by an earlier hepgan still load and generate the same output for the same seed.

``tests/data/golden/`` holds a calorimeter checkpoint (ds1 geometry, cell calibration on) and an
event checkpoint (Z → μμ pair representation with symmetries), each trained for 4 steps, and the
showers/events they generated when they were written (``make_golden.py`` there says how). The
expected showers were refreshed once, from the same old checkpoint, when the cell calibration
moved to its fixed node grid (``refresh_calo_expected.py``). The networks run in float32 here
(``generation.precision`` auto would pick bf16 on some machines and not on others). Output is
bit-identical on the CPU that wrote it; on another CPU torch's float32 matrix products may sum in
another order (measured: up to 3e-5 relative after the calibration, 4e-7 absolute in η), so the
values are compared to ``RTOL``/``ATOL`` and the empty cells and event masks exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgan.generate import EventGenerator, ShowerGenerator

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
RTOL = 1e-4  # float32 rounding of the network's products, amplified at most ~10× by the calibration maps
ATOL = 1e-5  # η, φ (rad) near 0


def test_old_calo_checkpoint_generates_identical_showers() -> None:
    expected = np.load(GOLDEN / "calo_expected.npz")
    generator = ShowerGenerator.from_checkpoint(GOLDEN / "calo_checkpoint.pt", device="cpu")
    generator.bfloat16 = False
    assert generator.calibration is not None
    batch = generator.sample(expected["incident_mev"], seed=5)
    np.testing.assert_array_equal(batch.showers_mev > 0, expected["showers_mev"] > 0)
    np.testing.assert_allclose(batch.showers_mev, expected["showers_mev"], rtol=RTOL, atol=0.0)
    assert (expected["showers_mev"] > 0).any() and (expected["showers_mev"] == 0).any()


def test_old_event_checkpoint_generates_identical_events() -> None:
    expected = np.load(GOLDEN / "events_expected.npz")
    generator = EventGenerator.from_checkpoint(GOLDEN / "events_checkpoint.pt", device="cpu")
    generator.bfloat16 = False
    events = generator.sample(len(expected["pt"]), seed=5)
    for key in ("mass", "mask"):
        np.testing.assert_array_equal(events.arrays()[key], expected[key], err_msg=key)
    for key in ("pt", "eta", "phi"):
        np.testing.assert_allclose(events.arrays()[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=key)
