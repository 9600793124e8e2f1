"""Per-feature quantile calibration of generated events: known answers for Gaussian marginals, odd maps, presence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from scipy import stats

from hepgan.data.event_transforms import EventTransform
from hepgan.data.events import EventModelState
from hepgan.data.feature_calibration import FeatureCalibration, calibration_layout
from hepgan.errors import InputFileError
from hepgan.io.events import read_events

ROOT = Path(__file__).resolve().parents[1]


def _normal(n: int, columns: int, seed: int) -> torch.Tensor:
    return torch.randn(n, columns, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_gaussian_marginals_map_onto_the_analytic_quantile_map() -> None:
    """Generated N(0.3, 1.2²) onto reference N(−1, 0.5²): f ↦ −1 + 0.5 (f − 0.3) / 1.2; column 1 untouched."""
    reference = _normal(400_000, 2, 1) * 0.5 - 1.0
    generated = _normal(400_000, 2, 2) * 1.2 + 0.3
    calibration = FeatureCalibration.from_reference(reference, [0], [-1], [False])
    assert not calibration.fitted
    calibration.fit_generated(generated)
    x = torch.tensor([[-2.0, 5.0], [0.3, 6.0], [1.5, 7.0], [3.0, 8.0]], dtype=torch.float64)
    out = calibration.apply(x)
    expected = -1.0 + 0.5 * (x[:, 0] - 0.3) / 1.2
    torch.testing.assert_close(out[:, 0], expected, rtol=0, atol=0.01)
    torch.testing.assert_close(out[:, 1], x[:, 1])  # not a calibrated column
    fresh = (_normal(50_000, 2, 3) * 1.2 + 0.3).float()  # new draws, float32: a standard normal after the map
    mapped = calibration.apply(fresh)
    assert mapped.dtype == torch.float32
    assert stats.kstest(((mapped[:, 0].double() + 1.0) / 0.5).numpy(), "norm").pvalue > 1e-3
    beyond = calibration.apply(torch.tensor([[40.0, 0.0], [-40.0, 0.0]], dtype=torch.float64))
    assert float(beyond[0, 0]) == pytest.approx(float(reference[:, 0].max()), rel=1e-7)  # the reference's extreme
    assert float(beyond[1, 0]) == pytest.approx(float(reference[:, 0].min()), rel=1e-7)


def test_odd_maps_keep_a_symmetric_sample_symmetric_and_presence_selects_rows() -> None:
    reference = _normal(100_000, 3, 4)
    reference[:, 2] = torch.where(reference[:, 2] > 0, 1.0, -1.0)  # presence feature of column 1's object
    reference[reference[:, 2] < 0, 1] = 0.0  # absent: features 0
    generated = _normal(100_000, 3, 5) * 1.5
    generated[:, 2] = torch.where(generated[:, 2] > 0, 1.0, -1.0)
    generated[generated[:, 2] < 0, 1] = 7.0  # whatever an absent object's features hold
    calibration = FeatureCalibration.from_reference(reference, [0, 1], [-1, 2], [True, False])
    calibration.fit_generated(generated)
    x = torch.linspace(-3.0, 3.0, 13, dtype=torch.float64)
    both = calibration.apply(torch.stack([x, x, torch.ones_like(x)], dim=1))
    torch.testing.assert_close(both[:, 0], -both.flip(0)[:, 0], rtol=0, atol=1e-12)  # odd map
    torch.testing.assert_close(both[:, 0], x / 1.5, rtol=0, atol=0.03)
    torch.testing.assert_close(both[:, 1], x / 1.5, rtol=0, atol=0.03)  # fitted on present rows only
    generated[:, 2] = -1.0  # the generator never makes the object: its feature is left as it is, with a warning
    calibration.fit_generated(generated)
    torch.testing.assert_close(calibration.apply(torch.stack([x, x, torch.ones_like(x)], dim=1))[:, 1], x)


def test_layout_state_round_trip_and_bad_states() -> None:
    events = read_events(ROOT / "data" / "ttbar_partons_pythia_small.h5")
    options = {"presence": "off", "sort": False, "symmetries": ["eta_flip", "phi_rotation"]}
    transform = EventTransform(6, representation="ttbar_decays", **options).fit([events])
    columns, presence, odd, partner = calibration_layout(transform)
    names = [transform.feature_names()[c] for c in columns]
    assert names[:4] == ["log_mass_tt", "log_pt_tt", "y_tt", "cos_theta_tt"] and len(columns) == 16
    assert not any(name.startswith(("cos_phi", "sin_phi")) for name in names) and set(presence) == {-1}
    # odd: the mirror's y_tt, cos θ_tt; the random W daughter's cos θ_w (with and without eta_flip)
    assert [names[i] for i, flag in enumerate(odd) if flag] == ["y_tt", "cos_theta_tt", "cos_theta_w1", "cos_theta_w2"]
    assert {names[i]: transform.feature_names()[p] for i, p in enumerate(partner) if p >= 0} == {
        "log_mass_q1a": "log_mass_q1b",
        "log_mass_q1b": "log_mass_q1a",
        "log_mass_q2a": "log_mass_q2b",
        "log_mass_q2b": "log_mass_q2a",
    }
    features = transform.forward(events)
    calibration = FeatureCalibration.from_reference(features, columns, presence, odd, partner)
    shared = calibration.reference_quantiles[[names.index("log_mass_q1a"), names.index("log_mass_q1b")]]
    torch.testing.assert_close(shared[0], shared[1], rtol=0, atol=0)  # one map for both daughters
    calibration.fit_generated(features)  # generated = reference: the identity, to interpolation accuracy
    torch.testing.assert_close(calibration.apply(features), features, rtol=0, atol=2e-2)
    state = calibration.state_dict()
    restored = FeatureCalibration.from_state_dict(state, transform.n_features)
    torch.testing.assert_close(restored.apply(features), calibration.apply(features))
    bad = dict(state, generated_quantiles=state["generated_quantiles"].flip(1))
    with pytest.raises(
        ValueError, match=r"feature_calibration\.generated_quantiles: expected finite, strictly increasing"
    ):
        FeatureCalibration.from_state_dict(bad, transform.n_features)
    with pytest.raises(ValueError, match=r"feature_calibration.columns: expected columns in \[0, 20\)"):
        FeatureCalibration.from_state_dict(state, 20)
    # in a checkpoint: a broken entry is one line naming it
    model = EventModelState(6, transform, "ttbar_partons", (80.0,) * 4, (1.0,) * 4, restored)
    entries = model.entries()
    assert EventModelState.from_entries(entries, "ckpt.pt").feature_calibration is not None
    del entries["feature_calibration"]["partner"]
    with pytest.raises(InputFileError, match=r"^ckpt\.pt: .*feature_calibration: missing entry 'partner'"):
        EventModelState.from_entries(entries, "ckpt.pt")
    with pytest.raises(RuntimeError, match="fit_generated has not been run"):
        FeatureCalibration.from_reference(features, columns, presence, odd, partner).apply(features)
