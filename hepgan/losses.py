"""The adversarial objective: minimax, non-saturating and WGAN-GP, behind one interface.

The trainer calls :meth:`GANObjective.discriminator_loss` for each of the k
discriminator steps and :meth:`GANObjective.generator_loss` for each of the l generator
steps, without knowing which game it plays. Both return the loss to minimise and a dict
of diagnostics (detached scalar tensors, read only at logging steps) for the training monitor.

- ``minimax`` (Goodfellow et al. 2014, arXiv:1406.2661): D ascends
  log D(x) + log(1 − D(G(z))); G descends log(1 − D(G(z))).
- ``non-saturating``: same D; G descends −log D(G(z)) (same fixed point, strong early gradients).
- ``wgan-gp`` (Gulrajani et al. 2017, arXiv:1704.00028): the critic minimises
  E[D(G(z))] − E[D(x)] + λ E[(‖∇D(x̂)‖₂ − 1)²] on random interpolates x̂; G minimises −E[D(G(z))].

For the first two, D outputs a logit; D(·) = sigmoid(logit). At the game's optimum
D = ½ everywhere and V(D, G) = −log 4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

import torch
import torch.nn.functional as F

Critic = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """E[(‖∇ₓ D(x̂, c)‖₂ − 1)²] on x̂ = εx + (1−ε)G(z), ε ~ U(0, 1) per shower (arXiv:1704.00028).

    ``eps`` (N, 1) may be given (reproducible and shardable draws); otherwise it is drawn here.
    """
    if eps is None:
        eps = torch.rand(len(real), 1, device=real.device)
    eps = eps.to(real.dtype)
    mixed = (eps * real + (1.0 - eps) * fake).detach().requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        scores = critic(mixed.float(), cond.float())
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


MMDInputs: TypeAlias = "torch.Tensor | Sequence[torch.Tensor]"
"""What a data module's ``mmd_features`` returns: (N, d) compared jointly, or several (N, d_i) compared one by one."""
MMD_BANDWIDTHS = (0.1, 0.3, 1.0)
"""Default Gaussian kernel widths of the MMD term, in units of its (standardised) inputs."""


def mmd_squared(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...] = MMD_BANDWIDTHS) -> torch.Tensor:
    """Biased (V-statistic) squared maximum mean discrepancy with a sum of Gaussian kernels.

    MMD² = E k(x, x') + E k(y, y') − 2 E k(x, y) with k(a, b) = Σ_h exp(−‖a − b‖² / (2h²))
    (Gretton et al., JMLR 13 (2012) 723); used as an extra generator term to learn sharp
    one-dimensional structures, as in arXiv:1907.03764. ``x`` (N, d), ``y`` (M, d).
    """
    xy = torch.cat([x, y], dim=0).float()
    d2 = torch.cdist(xy, xy).pow(2)
    kernel = sum(torch.exp(-d2 / (2.0 * h * h)) for h in bandwidths)
    if not isinstance(kernel, torch.Tensor):
        raise ValueError("mmd_squared needs at least one kernel bandwidth")
    n = len(x)
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2.0 * kernel[:n, n:].mean()


class GANObjective:
    """One of the configured losses; ``name`` in ``minimax``, ``non-saturating``, ``wgan-gp``.

    With ``mmd_weight`` > 0 the generator also minimises ``mmd_weight`` × MMD² between real
    and generated values of ``mmd_features(features, cond)`` (by default the first column;
    for calorimeter showers the standardised response and optionally layer energies and
    widths, for events reconstructed resonance masses)
    jointly with the condition (scaled by ``mmd_condition_scale``), computed on batches
    that share their conditions. When ``mmd_features`` returns a sequence of tensors the
    term is the sum of one MMD² per element (separate one-dimensional terms, e.g. one per
    W or top candidate mass: narrow kernels keep their resolution, which they lose in a
    joint kernel over several dimensions).
    """

    def __init__(
        self,
        name: str,
        gp_lambda: float = 10.0,
        mmd_weight: float = 0.0,
        mmd_features: Callable[[torch.Tensor, torch.Tensor], MMDInputs] | None = None,
        mmd_condition_scale: float = 5.0,
        mmd_bandwidths: tuple[float, ...] = MMD_BANDWIDTHS,
    ) -> None:
        if name not in ("minimax", "non-saturating", "wgan-gp"):
            raise ValueError(f"unknown GAN loss {name!r}")
        self.name = name
        self.gp_lambda = gp_lambda
        self.mmd_weight = mmd_weight
        self.mmd_features = mmd_features or (lambda features, cond: features[:, :1])
        self.mmd_condition_scale = mmd_condition_scale
        self.mmd_bandwidths = tuple(mmd_bandwidths)

    def discriminator_loss(
        self,
        critic: Critic,
        real: torch.Tensor,
        fake: torch.Tensor,
        cond: torch.Tensor,
        eps: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss the discriminator/critic minimises, and its diagnostics (``eps``: WGAN-GP interpolation weights)."""
        fake = fake.detach()
        scores = critic(torch.cat([real, fake]), torch.cat([cond, cond])).float()  # one pass: DDP-friendly
        d_real, d_fake = scores[: len(real)], scores[len(real) :]
        if self.name == "wgan-gp":
            w_estimate = d_real.mean() - d_fake.mean()
            penalty = gradient_penalty(critic, real, fake, cond, eps) if self.gp_lambda > 0 else d_real.new_zeros(())
            loss = -w_estimate + self.gp_lambda * penalty
            return loss, {
                "d_loss": loss.detach(),
                "wasserstein": w_estimate.detach(),
                "gradient_penalty": penalty.detach(),
            }
        # log D(x) = −softplus(−l), log(1 − D(x)) = −softplus(l)
        value = (-F.softplus(-d_real)).mean() + (-F.softplus(d_fake)).mean()
        loss = -value
        return loss, {
            "d_loss": loss.detach(),
            "value": value.detach(),  # V(D, G); optimum −log 4 ≈ −1.386
            "d_real": torch.sigmoid(d_real).mean().detach(),  # optimum ½
            "d_fake": torch.sigmoid(d_fake).mean().detach(),  # optimum ½
        }

    def generator_loss(
        self, critic: Critic, fake: torch.Tensor, cond: torch.Tensor, real: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss the generator minimises, and its diagnostics.

        ``real`` (showers with the same conditions as ``fake``) is needed only for the MMD term.
        """
        d_fake = critic(fake, cond).float()
        if self.name == "wgan-gp":
            loss = -d_fake.mean()
        elif self.name == "minimax":
            loss = (-F.softplus(d_fake)).mean()  # log(1 − D(G(z)))
        else:
            loss = F.softplus(-d_fake).mean()  # −log D(G(z))
        diagnostics = {"g_loss": loss.detach()}
        if self.mmd_weight > 0 and real is not None:
            scaled = self.mmd_condition_scale * cond.float()
            real_parts = self.mmd_features(real.float(), cond.float())
            fake_parts = self.mmd_features(fake.float(), cond.float())
            real_parts = [real_parts] if isinstance(real_parts, torch.Tensor) else real_parts
            fake_parts = [fake_parts] if isinstance(fake_parts, torch.Tensor) else fake_parts
            mmd = sum(
                (
                    mmd_squared(torch.cat([r, scaled], dim=1), torch.cat([f, scaled], dim=1), self.mmd_bandwidths)
                    for r, f in zip(real_parts, fake_parts, strict=True)
                ),
                start=loss.new_zeros(()),
            )
            loss = loss + self.mmd_weight * mmd
            diagnostics["mmd"] = mmd.detach()
        return loss, diagnostics
