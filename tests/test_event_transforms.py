"""EventTransform: exact round trips, physical outputs, masks, persistence."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from scipy import stats

from hepgan.data.event_transforms import EventTransform
from hepgan.errors import ConfigError, TrainingError
from hepgan.io.events import EventBatch


def make_batch(n: int = 400, n_objects: int = 3, seed: int = 0, absent: bool = False, mass: float | None = None):
    """pT-ordered objects in GeV; with ``absent`` some events miss their last objects."""
    rng = np.random.default_rng(seed)
    pt = -np.sort(-(rng.exponential(25.0, (n, n_objects)) + 5.0), axis=1)
    eta = rng.normal(0.0, 1.5, pt.shape)
    phi = rng.uniform(-np.pi, np.pi, pt.shape)
    phi[0, 0] = np.pi  # the seam itself
    masses = np.full(pt.shape, mass) if mass is not None else rng.uniform(0.0, 20.0, pt.shape)
    mask = np.ones(pt.shape, dtype=bool)
    if absent:
        count = rng.integers(0, n_objects + 1, n)
        mask = np.arange(n_objects)[None, :] < count[:, None]
    zero = lambda a: np.where(mask, a, 0.0)  # noqa: E731
    return EventBatch(zero(pt), zero(eta), zero(phi), zero(masses), mask)


def assert_close(a: EventBatch, b: EventBatch, rtol: float = 1e-12) -> None:
    np.testing.assert_array_equal(a.mask, b.mask)
    for key in ("pt", "eta", "phi", "mass"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=rtol, atol=rtol, err_msg=key)


# the quantile map goes through Φ⁻¹ and Φ: exact to ~1e-11 relative instead of 1e-15
ROUND_TRIP_RTOL = {"standard": 1e-12, "quantile": 1e-9}


@pytest.mark.parametrize("continuous", ["standard", "quantile"])
@pytest.mark.parametrize("absent", [False, True])
def test_round_trip_log_mass(absent: bool, continuous: str) -> None:
    batch = make_batch(absent=absent)
    transform = EventTransform(3, continuous=continuous).fit(
        [batch.subset(slice(0, 200)), batch.subset(slice(200, None))]
    )
    assert transform.mass_mode == "log" and transform.with_presence == absent
    features = transform.forward(batch)
    assert features.shape == (len(batch), transform.n_features) == (400, 15 + 3 * absent)
    assert len(transform.feature_names()) == transform.n_features
    assert_close(transform.inverse(features), batch, ROUND_TRIP_RTOL[continuous])


def test_fixed_muon_mass_has_no_mass_feature() -> None:
    batch = make_batch(mass=0.10566)
    transform = EventTransform(3).fit([batch])
    assert transform.mass_mode == "fixed" and transform.n_features == 12
    out = transform.inverse(transform.forward(batch))
    assert_close(out, batch, ROUND_TRIP_RTOL["quantile"])
    noisy = transform.inverse(torch.randn(50, 12, generator=torch.Generator().manual_seed(1)))
    np.testing.assert_array_equal(noisy.mass, 0.10566)


def test_standardised_features() -> None:
    batch = make_batch(2000)
    features = EventTransform(3, continuous="standard").fit([batch]).forward(batch)
    log_pt, eta = features[:, 0], features[:, 1]
    assert abs(float(log_pt.mean())) < 1e-9 and abs(float(log_pt.std()) - 1) < 1e-3
    assert abs(float(eta.mean())) < 1e-9
    np.testing.assert_allclose(features[:, 2] ** 2 + features[:, 3] ** 2, 1.0)


def test_quantile_features_are_standard_normal_whatever_the_shape() -> None:
    """A flat-topped η and a steeply falling pT both become N(0, 1) features (KS test)."""
    rng = np.random.default_rng(5)
    batch = make_batch(4000)
    batch.eta[:] = rng.uniform(-5.0, 5.0, batch.eta.shape)  # flat, like muon η without acceptance cuts
    batch.pt[:] = 20.0 + rng.exponential(5.0, batch.pt.shape)
    transform = EventTransform(3).fit([batch])
    features = transform.forward(batch)
    for column in (0, 1):  # ln pT and η of object 1
        values = features[:, column].numpy()
        assert stats.kstest(values, "norm").pvalue > 0.01
    uniform = stats.kstest(batch.eta[:, 0], "norm", args=(0.0, batch.eta[:, 0].std())).pvalue
    assert uniform < 1e-6  # whereas the raw flat η is far from Gaussian


def test_arbitrary_network_output_is_physical() -> None:
    batch = make_batch(absent=True)
    transform = EventTransform(3).fit([batch])
    raw = 3.0 * torch.randn(1000, transform.n_features, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    out = transform.inverse(raw)
    assert (out.pt[out.mask] > 0).all() and (out.mass >= 0).all()
    assert ((out.phi > -np.pi) & (out.phi <= np.pi)).all()
    assert (np.diff(out.pt, axis=1) <= 0).all()  # re-ordered by pT, absent objects last and zero
    assert (out.pt[~out.mask] == 0).all()
    assert out.pt.dtype == np.float64


def test_phi_periodicity() -> None:
    """φ = π and φ = −π are one point in feature space and come back as π."""
    batch = make_batch(4, n_objects=1)
    batch.phi[:, 0] = [np.pi, -np.pi, np.nextafter(-np.pi, 0), 0.0]
    transform = EventTransform(1).fit([batch])
    features = transform.forward(batch)
    torch.testing.assert_close(features[0, 2:4], features[1, 2:4])  # (cos φ, sin φ)
    np.testing.assert_allclose(transform.inverse(features).phi[:, 0], [np.pi, np.pi, np.nextafter(-np.pi, 0), 0.0])


def test_state_dict_round_trip_through_torch_save() -> None:
    batch = make_batch(absent=True)
    transform = EventTransform(3).fit([batch])
    buffer = io.BytesIO()
    torch.save(transform.state_dict(), buffer)
    buffer.seek(0)
    restored = EventTransform.from_state_dict(torch.load(buffer, weights_only=True))
    features = transform.forward(batch)
    torch.testing.assert_close(restored.forward(batch), features)
    assert_close(restored.inverse(features), transform.inverse(features))


def test_errors() -> None:
    with pytest.raises(ConfigError, match="mass_mode"):
        EventTransform(2, mass_mode="linear")
    with pytest.raises(TrainingError, match="at least 2"):
        EventTransform(3).fit([make_batch(1)])
    with pytest.raises(TrainingError, match="presence='off'"):
        EventTransform(3, presence="off").fit([make_batch(absent=True)])
    transform = EventTransform(3).fit([make_batch()])
    with pytest.raises(ValueError, match="absent objects"):
        transform.forward(make_batch(absent=True))
    with pytest.raises(ValueError, match="objects per event"):
        transform.forward(make_batch(n_objects=2))
    with pytest.raises(ValueError, match="shape"):
        transform.inverse(torch.zeros(3, 4))
