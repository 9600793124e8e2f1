"""The cylinder networks (hepgan.models.cylinder): shapes on CaloChallenge ds2/ds3, circular alpha, WGAN-GP,
clear refusal of geometries with layers of several shapes, learning, parameter estimates, ONNX export."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from hepgan.config import ARCHITECTURES as CONFIG_ARCHITECTURES
from hepgan.config import ModelConfig
from hepgan.errors import ConfigError
from hepgan.io.geometry import load_geometry
from hepgan.losses import gradient_penalty
from hepgan.models import ARCHITECTURES, build_networks
from hepgan.models.cylinder import CylinderConv, CylinderCritic, CylinderGenerator, cylinder_shape, pad_cylinder
from hepgan.models.memory import network_parameters

SMALL = [(8, 5)] * 6  # 6 layers of 8 alpha x 5 r


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These networks are tiny: one intra-op thread avoids OpenMP barrier waits on a busy machine (100x here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _model(channels: int = 2, latent_dim: int = 8) -> ModelConfig:
    return ModelConfig(architecture="cylinder", latent_dim=latent_dim, cylinder_channels=channels)


def _shapes(name: str) -> list[tuple[int, int]]:
    return [layer.shape for layer in load_geometry(name).layers]


def _rotate(features: torch.Tensor, shape: tuple[int, int, int], sectors: int) -> torch.Tensor:
    """Every layer of each shower turned by ``sectors`` alpha bins (the response feature kept)."""
    cells = features[:, 1:].reshape(len(features), *shape).roll(sectors, dims=2)
    return torch.cat([features[:, :1], cells.flatten(1)], dim=1)


def test_registered_in_config_and_models() -> None:
    assert "cylinder" in ARCHITECTURES and "cylinder" in CONFIG_ARCHITECTURES
    _model().check("model")
    with pytest.raises(ConfigError, match="cylinder_channels"):
        dataclasses.replace(_model(), cylinder_channels=0).check("model")


@pytest.mark.parametrize(("name", "shape"), [("calochallenge_ds2", (45, 16, 9)), ("calochallenge_ds3", (45, 50, 18))])
def test_output_shapes_on_calochallenge_geometries(name: str, shape: tuple[int, int, int]) -> None:
    shapes = _shapes(name)
    assert cylinder_shape(shapes, 0) == shape
    torch.manual_seed(0)
    generator, critic = build_networks(_model(), shapes, 0)
    n_features = 1 + int(np.prod(shape))
    with torch.no_grad():
        features = generator(torch.randn(2, 8), torch.rand(2, 1))
        scores = critic(features, torch.rand(2, 1))
    assert features.shape == (2, n_features)
    assert scores.shape == (2,)
    assert torch.isfinite(features).all() and torch.isfinite(scores).all()


def test_padding_is_circular_in_alpha_only() -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 1, 2, 3, 4)
    padded = pad_cylinder(x, (1, 1, 1))
    assert padded.shape == (1, 1, 4, 5, 6)
    assert torch.equal(padded[0, 0, 1:-1, 0, 1:-1], x[0, 0, :, -1])  # alpha wraps around
    assert torch.equal(padded[0, 0, 1:-1, -1, 1:-1], x[0, 0, :, 0])
    assert padded[0, 0, 0].abs().sum() == 0 and padded[0, 0, :, :, 0].abs().sum() == 0  # zeros in layer and r


def test_convolution_commutes_with_alpha_rotation() -> None:
    torch.manual_seed(1)
    conv = CylinderConv(2, 3)
    x = torch.randn(2, 2, 5, 8, 4)
    assert torch.allclose(conv(x.roll(3, dims=3)), conv(x).roll(3, dims=3), atol=1e-6)


def test_critic_is_invariant_under_alpha_rotation_but_not_radial_shifts() -> None:
    """Strides skip alpha and the pooling averages over it: turning a shower by whole sectors leaves
    the score unchanged (to float rounding); moving energy outwards in r does not."""
    torch.manual_seed(2)
    shape = (6, 8, 5)
    critic = CylinderCritic(1, shape, 4)
    features, cond = torch.randn(4, 1 + 6 * 8 * 5), torch.rand(4, 1)
    with torch.no_grad():
        score = critic(features, cond)
        for sectors in (1, 3, 8):
            torch.testing.assert_close(critic(_rotate(features, shape, sectors), cond), score, atol=1e-5, rtol=1e-5)
        cells = features[:, 1:].reshape(4, *shape).roll(1, dims=3)
        shifted = critic(torch.cat([features[:, :1], cells.flatten(1)], dim=1), cond)
    assert (shifted - score).abs().max() > 1e-3


def test_gradient_penalty_double_backward_is_finite() -> None:
    torch.manual_seed(3)
    generator, critic = build_networks(_model(), _shapes("calochallenge_ds2"), 0)
    cond = torch.rand(4, 1)
    fake = generator(torch.randn(4, 8), cond).detach()
    real = torch.randn_like(fake)
    penalty = gradient_penalty(critic, real, fake, cond)
    penalty.backward()
    grads = {name: p.grad for name, p in critic.named_parameters()}
    assert torch.isfinite(penalty) and penalty > 0
    # every weight shapes the input gradient; biases only move LeakyReLU kinks (zero gradient), the last none
    assert [name for name, g in grads.items() if g is None] == ["head.2.bias"]
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    assert all(g is not None and g.abs().sum() > 0 for name, g in grads.items() if name.endswith("weight"))


@pytest.mark.parametrize("name", ["calochallenge_ds1_photons", "calogan"])
def test_layers_of_several_shapes_are_refused_with_one_line(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_networks(_model(), _shapes(name), 0)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model.architecture 'cylinder' needs layers of one shape (layer x alpha x r)")
    assert message.endswith("use mlp or dcgan")
    assert ", ".join(f"{a}x{b}" for a, b in dict.fromkeys(_shapes(name))) in message


def test_extra_cells_are_refused() -> None:
    with pytest.raises(ConfigError, match="2 extra cells"):
        build_networks(_model(), SMALL, 2)


def test_generator_learns_a_fixed_target() -> None:
    """Adam steps fit G's output to a fixed longitudinal-radial profile (the same in every alpha sector, as
    showers are on average): the loss must fall by a factor 4, not just move."""
    torch.manual_seed(0)
    generator = CylinderGenerator(8, 1, (6, 8, 5), 2)
    profile = torch.randn(6, 1, 5).expand(6, 8, 5)
    target = torch.cat([torch.ones(1), profile.flatten()]).unsqueeze(0)
    optimiser = torch.optim.Adam(generator.parameters(), lr=5e-2)
    noise, cond = torch.randn(4, 8), torch.rand(4, 1)
    losses = []
    for _ in range(30):
        loss = (generator(noise, cond) - target).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses[::10]


@pytest.mark.parametrize("channels", [1, 8])
@pytest.mark.parametrize("name", ["calochallenge_ds2", "calochallenge_ds3"])
def test_parameter_estimate_is_an_upper_bound(name: str, channels: int) -> None:
    shapes = _shapes(name)
    model = _model(channels, latent_dim=64)
    generator, critic = build_networks(model, shapes, 0)
    actual = [sum(p.numel() for p in net.parameters()) for net in (generator, critic)]
    estimate = network_parameters(model, 1 + sum(a * b for a, b in shapes), 1)
    assert all(a <= e for a, e in zip(actual, estimate, strict=True)), (actual, estimate)
    assert sum(estimate) <= 5 * sum(actual), (actual, estimate)  # honest: not wildly over either


@pytest.mark.slow
def test_generator_exports_to_onnx_with_dynamic_batch() -> None:
    """Circular padding (slices and a concat) and nearest resizing export with hepgan's exporter settings."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from hepgan.export import DEFAULT_OPSET, _quiet_exporter

    torch.manual_seed(5)
    generator = CylinderGenerator(8, 1, (6, 8, 5), 2).eval()
    batch = torch.export.Dim("batch")
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            generator,
            (torch.zeros(3, 8), torch.zeros(3, 1)),
            input_names=["noise", "cond"],
            output_names=["features"],
            dynamic_shapes={"noise": {0: batch}, "cond": {0: batch}},
            opset_version=DEFAULT_OPSET,
            dynamo=True,
        )
    assert program is not None
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    noise, cond = torch.randn(5, 8), torch.rand(5, 1)
    (features,) = session.run(None, {"noise": noise.numpy(), "cond": cond.numpy()})
    with torch.no_grad():
        expected = generator(noise, cond).numpy()
    np.testing.assert_allclose(features, expected, atol=1e-5)
