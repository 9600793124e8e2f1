"""Checkpoints written by an earlier hepgan still load and generate bit-identical output for the same seed.

``tests/data/golden/`` holds a calorimeter checkpoint (ds1 geometry, cell calibration on) and an
event checkpoint (Z → μμ pair representation with symmetries), each trained for 4 steps, and the
showers/events they generated when they were written (``make_golden.py`` there says how).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgan.generate import EventGenerator, ShowerGenerator

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def test_old_calo_checkpoint_generates_identical_showers() -> None:
    expected = np.load(GOLDEN / "calo_expected.npz")
    generator = ShowerGenerator.from_checkpoint(GOLDEN / "calo_checkpoint.pt", device="cpu")
    assert generator.calibration is not None
    batch = generator.sample(expected["incident_mev"], seed=5)
    np.testing.assert_array_equal(batch.showers_mev, expected["showers_mev"])
    assert (expected["showers_mev"] > 0).any() and (expected["showers_mev"] == 0).any()


def test_old_event_checkpoint_generates_identical_events() -> None:
    expected = np.load(GOLDEN / "events_expected.npz")
    generator = EventGenerator.from_checkpoint(GOLDEN / "events_checkpoint.pt", device="cpu")
    events = generator.sample(len(expected["pt"]), seed=5)
    for key in ("pt", "eta", "phi", "mass", "mask"):
        np.testing.assert_array_equal(events.arrays()[key], expected[key], err_msg=key)
