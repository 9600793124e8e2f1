"""GAN objectives against answers known in advance."""

from __future__ import annotations

import math

import pytest
import torch

from hepgan.config import TrainingConfig
from hepgan.losses import MMD_BANDWIDTHS, GANObjective, gradient_penalty


class LinearCritic(torch.nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


@pytest.mark.parametrize(("norm", "expected"), [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25)])
def test_gradient_penalty_of_linear_critic(norm: float, expected: float) -> None:
    torch.manual_seed(0)
    w = torch.randn(5)
    critic = LinearCritic(norm * w / w.norm())
    real, fake, cond = torch.randn(64, 5), torch.randn(64, 5), torch.zeros(64, 1)
    assert gradient_penalty(critic, real, fake, cond).item() == pytest.approx(expected, abs=1e-5)


def test_wgan_gp_loss_is_critic_gap_plus_lambda_penalty() -> None:
    w = torch.tensor([2.0, 0.0])
    critic = LinearCritic(w)
    real = torch.tensor([[1.0, 0.0], [3.0, 5.0]])
    fake = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, diag = GANObjective("wgan-gp", gp_lambda=10.0).discriminator_loss(critic, real, fake, torch.zeros(2, 1))
    # E[D(real)] = (2 + 6)/2 = 4, E[D(fake)] = (0 - 2)/2 = -1 → W = 5; ‖∇D‖ = 2 → GP = 1
    assert diag["wasserstein"].item() == pytest.approx(5.0)
    assert diag["gradient_penalty"].item() == pytest.approx(1.0)
    assert loss.item() == pytest.approx(-5.0 + 10.0)
    g_loss, _ = GANObjective("wgan-gp").generator_loss(critic, fake, torch.zeros(2, 1))
    assert g_loss.item() == pytest.approx(1.0)


def test_minimax_value_at_the_optimum_is_minus_log4() -> None:
    """With D ≡ ½ (logit 0): V = −log 4, D(real) = D(fake) = ½, G's minimax loss = log ½."""
    critic = LinearCritic(torch.zeros(3))
    x = torch.randn(16, 3)
    loss, diag = GANObjective("minimax").discriminator_loss(critic, x, x, torch.zeros(16, 1))
    assert diag["value"].item() == pytest.approx(-math.log(4.0))
    assert loss.item() == pytest.approx(math.log(4.0))
    assert diag["d_real"].item() == pytest.approx(0.5)
    assert diag["d_fake"].item() == pytest.approx(0.5)
    g_minimax, _ = GANObjective("minimax").generator_loss(critic, x, torch.zeros(16, 1))
    g_ns, _ = GANObjective("non-saturating").generator_loss(critic, x, torch.zeros(16, 1))
    assert g_minimax.item() == pytest.approx(math.log(0.5))
    assert g_ns.item() == pytest.approx(math.log(2.0))


def test_non_saturating_gradient_is_strong_where_minimax_saturates() -> None:
    """When D confidently rejects fakes (logit −8), log(1 − D) is flat but −log D is not."""
    logit = torch.tensor([-8.0], requires_grad=True)

    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
            return logit.expand(len(x))

    grads = {}
    for name in ("minimax", "non-saturating"):
        loss, _ = GANObjective(name).generator_loss(Fixed(), torch.zeros(1, 1), torch.zeros(1, 1))
        (grads[name],) = torch.autograd.grad(loss, logit)
    assert abs(grads["minimax"].item()) < 1e-3
    assert abs(grads["non-saturating"].item()) > 0.99


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="hinge"):
        GANObjective("hinge")


def _mmd2_by_hand(x: list[tuple[float, ...]], y: list[tuple[float, ...]], bandwidths: tuple[float, ...]) -> float:
    def k(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        d2 = sum((p - q) ** 2 for p, q in zip(a, b, strict=True))
        return sum(math.exp(-d2 / (2 * h * h)) for h in bandwidths)

    def mean_k(u: list, v: list) -> float:
        return sum(k(a, b) for a in u for b in v) / (len(u) * len(v))

    return mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y)


@pytest.mark.parametrize(("bandwidths", "scale"), [((0.1, 0.3, 1.0), 5.0), ((1.0, 2.0, 4.0), 5.0), ((1.0, 2.0), 20.0)])
def test_mmd_term_uses_the_configured_kernel_widths_and_condition_scale(
    bandwidths: tuple[float, ...], scale: float
) -> None:
    """The generator's MMD² term against a by-hand V-statistic over (feature, scale × condition) points."""
    real = torch.tensor([[0.0], [0.5], [1.0]])
    fake = torch.tensor([[0.2], [1.5], [-0.4]])
    cond = torch.tensor([[0.0], [0.1], [0.3]])
    objective = GANObjective("wgan-gp", mmd_weight=1.0, mmd_condition_scale=scale, mmd_bandwidths=bandwidths)
    _, diagnostics = objective.generator_loss(LinearCritic(torch.zeros(1)), fake, cond, real)

    def points(x: torch.Tensor) -> list[tuple[float, float]]:
        return [(float(v), scale * float(c)) for v, c in zip(x[:, 0], cond[:, 0], strict=True)]

    expected = _mmd2_by_hand(points(real), points(fake), bandwidths)
    assert diagnostics["mmd"].item() == pytest.approx(expected, rel=1e-5)
    assert expected > 1e-3  # the samples differ, so the by-hand value is not trivially 0


def test_config_default_kernel_widths_are_the_losses_default() -> None:
    assert TrainingConfig().mmd_bandwidths == MMD_BANDWIDTHS
    assert TrainingConfig().mmd_condition_scale == GANObjective("wgan-gp").mmd_condition_scale
