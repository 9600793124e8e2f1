"""The calorimeter MMD term's inputs: layer energy shares and widths, checked against the validation observables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgan.config import load_config
from hepgan.data.showers import ShowerData
from hepgan.errors import ConfigError
from hepgan.validation.observables import shower_observables
from tests.conftest import ROOT, small_config

ALL = ["response", "layer_energies", "layer_widths"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, reference_file) -> ShowerData:
    config = small_config(tmp_path_factory.mktemp("mmd"), reference_file, mmd_weight=1.0, mmd_shower_features=ALL)
    module = ShowerData(config)
    module.fit_transform()
    return module


def test_layer_summary_matches_the_observables(data: ShowerData) -> None:
    """ln layer share and ln(width + 1 mm) from features equal those of the showers the features encode.

    The summary skips the empty-cell cut (it must stay differentiable), so the showers are
    decoded without it here. The summary is float32: widths agree to 0.05 mm.
    """
    features, cond = data.training_tensors()
    features, cond = features[:150].double(), cond[:150]
    incident = torch.exp(cond[:, 0].double() * data.transform.log_energy_std + data.transform.log_energy_mean)
    data.transform.empty_cell_cut = False
    try:
        cells = data.transform.inverse(features, incident).numpy()
    finally:
        data.transform.empty_cell_cut = True
    obs = shower_observables(cells, incident.numpy(), data.geometry)
    summary = data._layer_summary(features.float(), cond).double().numpy()
    n_layers = data.geometry.n_layers
    total = cells.sum(axis=1)
    for i, lid in enumerate(layer.id for layer in data.geometry.layers):
        share = obs[f"e_layer_{lid}"] / total
        np.testing.assert_allclose(np.exp(summary[:, i]) - 1e-4, share, rtol=2e-3, atol=2e-4)
        width = np.nan_to_num(obs[f"width_{lid}"])
        has = share > 1e-4  # float32 widths of layers with a 1e-9 MeV trickle are rounding noise
        np.testing.assert_allclose((np.exp(summary[:, n_layers + i]) - 1.0)[has], width[has], rtol=1e-3, atol=0.05)


def test_mmd_features_are_standardised_and_differentiable(data: ShowerData) -> None:
    features, cond = data.training_tensors()
    out = data.mmd_features(features, cond)
    assert out.shape == (len(features), 1 + 2 * data.geometry.n_layers)
    # the scale comes from (up to 20 000 of) the training showers: here all of them
    np.testing.assert_allclose(out[:, 1:].mean(dim=0).numpy(), 0.0, atol=1e-3)
    np.testing.assert_allclose(out[:, 1:].std(dim=0).numpy(), 1.0, atol=1e-2)
    x = features[:8].clone().requires_grad_()
    data.mmd_features(x, cond[:8]).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad[:, 1:].abs().sum() > 0


def test_response_only_is_the_first_feature(tmp_path, reference_file) -> None:
    module = ShowerData(small_config(tmp_path, reference_file, mmd_weight=1.0))
    module.fit_transform()
    features, cond = module.training_tensors()
    assert torch.equal(module.mmd_features(features, cond), features[:, :1])


@pytest.mark.parametrize("value", ["[response, shapes]", "[]", "[response, response]"])
def test_bad_mmd_feature_names_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"training\.mmd_shower_features"):
        load_config(ROOT / "configs" / "calo.yaml", [f"training.mmd_shower_features={value}"])
