"""Layer summaries of showers (energy shares, widths): the MMD term's inputs and the summary critic's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgan.config import config_from_dict, load_config
from hepgan.data.showers import WIDTH_PEDESTAL, ShowerData
from hepgan.domains import CALO, train
from hepgan.errors import ConfigError
from hepgan.generate import ShowerGenerator
from hepgan.losses import GANObjective
from hepgan.models.summary_critic import SummaryCritic
from hepgan.validation.observables import shower_observables

from .helpers import ROOT, small_config

ALL = ["response", "layer_energies", "layer_widths"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, reference_file) -> ShowerData:
    config = small_config(tmp_path_factory.mktemp("mmd"), reference_file, mmd_weight=1.0, mmd_shower_features=ALL)
    module = ShowerData(config)
    module.fit_transform()
    return module


def test_layer_summary_matches_the_observables(data: ShowerData) -> None:
    """ln layer share and ln √(width² + 1 mm²) from features equal those of the showers the features encode.

    The summary skips the empty-cell cut (it must stay differentiable), so the showers are
    decoded without it here. Its widths weigh the voxels on a pedestal of WIDTH_PEDESTAL·ε:
    they equal a float64 computation with that pedestal to 0.05 mm (the summary is
    float32), and the validation observable's width to 1 mm where a layer holds over 5 %
    of the energy.
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
    x, y = data.geometry.voxel_centres()
    weights = cells / total[:, None] + WIDTH_PEDESTAL * data.transform.fraction_epsilon
    checked = 0
    for i, lid in enumerate(layer.id for layer in data.geometry.layers):
        share = obs[f"e_layer_{lid}"] / total
        np.testing.assert_allclose(np.exp(summary[:, i]) - 1e-4, share, rtol=2e-3, atol=2e-4)
        summary_width = np.sqrt(np.expm1(2.0 * summary[:, n_layers + i]).clip(0.0))
        sel = data.geometry.layer_of_voxel == i
        w, lx, ly = weights[:, sel], x[sel], y[sel]
        mx, my = (w * lx).sum(1) / w.sum(1), (w * ly).sum(1) / w.sum(1)
        spread = (w * ((lx - mx[:, None]) ** 2 + (ly - my[:, None]) ** 2)).sum(1) / w.sum(1)
        np.testing.assert_allclose(summary_width, np.sqrt(spread), rtol=1e-3, atol=0.05)
        width = np.nan_to_num(obs[f"width_{lid}"])
        big = share > 0.05
        checked += int(big.sum() >= 10)
        # the pedestal's pull: rms over the layer's radii times √(pedestal mass / layer share) ≲ 1 mm
        np.testing.assert_allclose(summary_width[big], width[big], rtol=0.02, atol=1.0)
    assert checked >= 3  # presampler, strips and middle hold over 5 % in many showers


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
    module = ShowerData(small_config(tmp_path, reference_file, mmd_weight=1.0, mmd_shower_features=["response"]))
    module.fit_transform()
    features, cond = module.training_tensors()
    assert torch.equal(module.mmd_features(features, cond), features[:, :1])


@pytest.mark.parametrize("value", ["[response, shapes]", "[]", "[response, response]"])
def test_bad_mmd_feature_names_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"training\.mmd_shower_features"):
        load_config(ROOT / "configs" / "calo.yaml", [f"training.mmd_shower_features={value}"])


def summary_critic_config(tmp_path, reference_file, names: list[str], **training):
    base = small_config(tmp_path, reference_file, **training).to_dict()
    base["model"]["critic_summary"] = names
    return config_from_dict(base, "test config")


def test_summary_critic_sees_standardised_layer_summaries(tmp_path, reference_file) -> None:
    """The critic's summaries are the layer widths standardised on the training showers, with gradients."""
    run = CALO.training_data(summary_critic_config(tmp_path, reference_file, ["layer_widths"]))
    run.fit_transform()
    features, cond = run.training_tensors()
    _, critic = run.build_networks()
    data = run.showers
    assert isinstance(critic, SummaryCritic)
    summary = data.critic_summary(features, cond)
    n_layers = data.geometry.n_layers
    assert summary.shape == (len(features), n_layers)
    np.testing.assert_allclose(summary.mean(dim=0).numpy(), 0.0, atol=1e-3)
    np.testing.assert_allclose(summary.std(dim=0).numpy(), 1.0, atol=1e-2)
    # the widths are the second half of the layer summary
    full = data._layer_summary(features, cond)[:, n_layers:]
    np.testing.assert_allclose(summary.numpy(), ((full - full.mean(0)) / full.std(0)).numpy(), atol=1e-3)
    # the head alone changes the score, and its gradient reaches the cells
    x = features[:16].clone().requires_grad_()
    with torch.no_grad():
        base = critic.critic(x, cond[:16])
        head = critic.head(torch.cat([data.critic_summary(x, cond[:16]), cond[:16]], dim=1)).squeeze(1)
    np.testing.assert_allclose(critic(x, cond[:16]).detach().numpy(), (base + head).numpy(), rtol=1e-5, atol=1e-6)
    critic.head(torch.cat([data.critic_summary(x, cond[:16]), cond[:16]], dim=1)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad[:, 1:].abs().sum() > 0
    # the gradient penalty goes through the summaries as well
    objective = GANObjective("wgan-gp", 10.0)
    loss, diagnostics = objective.discriminator_loss(critic, features[:16], features[16:32], cond[:16])
    assert torch.isfinite(loss) and diagnostics["gradient_penalty"] > 0


def test_summary_critic_trains_resumes_and_generates(tmp_path, reference_file) -> None:
    config = summary_critic_config(tmp_path, reference_file, ["layer_energies", "layer_widths"], max_steps=4)
    result = train(config, progress=False)
    state = torch.load(result.checkpoint, map_location="cpu", weights_only=False)
    assert any(key.startswith("head.") for key in state["critic"])
    more = config_from_dict({**config.to_dict(), "training": {**config.to_dict()["training"], "max_steps": 6}}, "x")
    resumed = train(more, resume_dir=result.run_dir, progress=False)
    assert torch.load(resumed.checkpoint, map_location="cpu", weights_only=False)["step"] == 6
    showers = ShowerGenerator.from_checkpoint(resumed.checkpoint, device="cpu").sample(np.full(20, 4096.0), seed=1)
    assert showers.showers_mev.shape == (20, 368) and np.isfinite(showers.showers_mev).all()


@pytest.mark.parametrize("value", ["[response]", "[layer_widths, layer_widths]", "[shapes]"])
def test_bad_critic_summary_names_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"model\.critic_summary"):
        load_config(ROOT / "configs" / "calo.yaml", [f"model.critic_summary={value}"])


def test_event_runs_refuse_a_critic_summary() -> None:
    config = load_config(ROOT / "configs" / "events.yaml", ["model.critic_summary=[layer_widths]"])
    from hepgan.models import check_event_architecture

    with pytest.raises(ConfigError, match=r"model\.critic_summary: kind 'events' needs \[\]"):
        check_event_architecture(config.model)
