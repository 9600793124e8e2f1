"""Checkpoints written by an earlier hepgan still load and generate bit-identical output for the same seed.

``tests/data/golden/`` holds a calorimeter checkpoint (ds1 geometry, cell calibration on) and an
event checkpoint (Z → μμ pair representation with symmetries), each trained for 4 steps, and the
showers/events they generated when they were written (``make_golden.py`` there says how). The
expected showers were refreshed once, from the same old checkpoint, when the cell calibration
moved to its fixed node grid (``refresh_calo_expected.py``). The networks run in float32 here
(``generation.precision`` auto would pick bf16 on some machines and not on others).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgan.generate import EventGenerator, ShowerGenerator

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def test_old_calo_checkpoint_generates_identical_showers() -> None:
    expected = np.load(GOLDEN / "calo_expected.npz")
    generator = ShowerGenerator.from_checkpoint(GOLDEN / "calo_checkpoint.pt", device="cpu")
    generator.bfloat16 = False
    assert generator.calibration is not None
    batch = generator.sample(expected["incident_mev"], seed=5)
    np.testing.assert_array_equal(batch.showers_mev, expected["showers_mev"])
    assert (expected["showers_mev"] > 0).any() and (expected["showers_mev"] == 0).any()


def test_old_event_checkpoint_generates_identical_events() -> None:
    expected = np.load(GOLDEN / "events_expected.npz")
    generator = EventGenerator.from_checkpoint(GOLDEN / "events_checkpoint.pt", device="cpu")
    generator.bfloat16 = False
    events = generator.sample(len(expected["pt"]), seed=5)
    for key in ("pt", "eta", "phi", "mass", "mask"):
        np.testing.assert_array_equal(events.arrays()[key], expected[key], err_msg=key)
