"""The memory a batch needs in the networks, estimated before anything is allocated.

A batch that does not fit dies in the allocator, part-way through a job. The estimates here
let training and generation refuse such a batch up front, with the largest one that fits
(:func:`check_batch_fits`). They count float32 numbers per sample:

- network activations: each hidden layer of width w keeps 2w numbers (the linear output
  and its activation); DCGAN layers about ``2 × dcgan_channels`` numbers per feature; cylinder
  networks (c = ``cylinder_channels``; padded full-resolution volumes dominate) ``2c + 16`` per
  feature in the training generator, ``c + 4`` in the critic, and ``16c + 16`` at the peak of a
  generation pass (oneDNN's convolution workspaces on CPU);
- training (:func:`training_bytes`): the inputs of a whole iteration, drawn up front
  (``d_steps + g_steps`` batches of real features, conditions, noise and interpolation
  weights); ``ACTIVATION_COPIES`` copies of the generator's and of three critic passes'
  activations (real and generated in one pass, and the gradient-penalty interpolates) and of
  the data's own summaries in each critic and MMD pass (the calorimeter's layer summaries,
  ``SUMMARY_NUMBERS_PER_CELL`` per cell); the MMD term's (2B)² kernel matrices; the weights
  with their gradients, the two Adam moments, a checkpoint's copy and the EMA copy of the
  generator;
- generation (:func:`generation_bytes`): the network's activations, the float64 temporaries
  of the inverse preprocessing and cell calibration (``INVERSE_COPIES`` per output number)
  and the float32 batches queued for the writer (``QUEUED_BATCHES``).

The factors were measured against the peak memory of CPU runs (small and default models) and
err on the large side: a batch the estimate accepts fits, while one of at most a few times
the largest accepted might have fitted too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import torch

from hepgan.config import ModelConfig, TrainingConfig
from hepgan.device import MEMORY_HEADROOM, available_memory
from hepgan.errors import ConfigError

BYTES_PER_NUMBER = 4
"""float32."""
ACTIVATION_COPIES = 4
"""Copies of each activation a training step holds at its peak: the value, its gradient, and the
gradient penalty's second-order graph (two more)."""
CRITIC_PASSES = 3
"""Critic passes per discriminator step: real and generated samples (one pass of 2B), interpolates."""
INVERSE_COPIES = 8
"""float64 temporaries per output number in the inverse preprocessing (and cell calibration) of a generated batch."""
QUEUED_BATCHES = 4
"""float32 batches of output held at once while writing: on the device, on the host, two queued."""
PARAMETER_COPIES = 5
"""Numbers per trained weight: the weight, its gradient, the two Adam moments and a checkpoint's copy."""
SUMMARY_NUMBERS_PER_CELL = 6
"""Numbers per generated cell that a shower-summary pass holds (fractions, pedestal weights, centred
coordinates and their squares): see :meth:`hepgan.data.showers.ShowerData.critic_summary`."""
GIB = 2**30


class SampleSize(NamedTuple):
    """What one training sample costs besides the networks' hidden layers, in float32 numbers.

    Attributes:
        features: numbers the generator makes and the critic reads.
        conditions: condition numbers.
        summary: numbers the data's own summaries (the calorimeter's layer summaries for the
            critic or the MMD term) hold per pass; 0 without them.
    """

    features: int
    conditions: int
    summary: int = 0


def _hidden_numbers(model: ModelConfig, hidden: tuple[int, ...], n_features: int, role: str = "generator") -> int:
    """Activation numbers per sample of one network's hidden layers; ``role``: generator, critic (in
    training) or generation (the generator's forward peak, workspaces included)."""
    if model.architecture == "cylinder":
        c = model.cylinder_channels
        return {"generator": 2 * c + 16, "critic": c + 4, "generation": 16 * c + 16}[role] * n_features
    if model.architecture == "dcgan":
        return 2 * model.dcgan_channels * n_features
    return 2 * sum(hidden)


def _mlp_parameters(sizes: list[int]) -> int:
    return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))


def network_parameters(model: ModelConfig, n_features: int, cond_dim: int) -> tuple[int, int]:
    """Weights of the generator and of the critic (DCGAN, cylinder: upper estimates)."""
    if model.architecture == "cylinder":
        # hepgan.models.cylinder; the seed holds at most n/16 + 64 cells, the critic's alpha-pooled grid n/64 + 64
        # (layers of >= 4 cells a side, or few layers: ceil(d/4) and ceil(d/8) rounding)
        c, code, coarse = model.cylinder_channels, 256, n_features // 16 + 64
        mlp = _mlp_parameters([model.latent_dim + cond_dim, code, code]) + _mlp_parameters([code, 64, 1])
        convs = 2 * (27 * (2 * c + 3) * 2 * c + 2 * c) + 9 * (2 * c + 3) * c + c + c + 1
        generator = mlp + (code + 1) * 2 * c * coarse + convs + n_features  # + seed, + a bias per (layer, r)
        critic_convs = 27 * c * (1 + cond_dim) + 162 * c * c + 5 * c
        pooled = 2 * c * (n_features // 64 + 64)
        return generator, critic_convs + _mlp_parameters([pooled + 1 + cond_dim, 256, 1])
    if model.architecture == "dcgan":
        c = model.dcgan_channels
        conv = 64 * c * c  # a few 3×3 and 4×4 convolutions of up to 2c channels, per network
        return conv + (model.latent_dim + cond_dim + 2 * c) * 2 * c * n_features, conv + 4 * c * n_features
    generator = _mlp_parameters([model.latent_dim + cond_dim, *model.generator_hidden, n_features])
    critic = _mlp_parameters([n_features + cond_dim, *model.critic_hidden, 1])
    return generator, critic


def training_bytes(batch: int, model: ModelConfig, training: TrainingConfig, size: SampleSize) -> int:
    """Estimated peak bytes of one training iteration with ``batch`` samples per process."""
    n_features, cond_dim = size.features, size.conditions
    latent = model.latent_dim
    inputs = (training.d_steps + training.g_steps) * batch * (n_features + cond_dim + latent + 1)
    generator = batch * (latent + cond_dim + _hidden_numbers(model, model.generator_hidden, n_features) + n_features)
    critic = batch * (n_features + cond_dim + _hidden_numbers(model, model.critic_hidden, n_features, "critic") + 1)
    summaries = batch * size.summary * (CRITIC_PASSES + (2 if training.mmd_weight > 0 else 0))
    step = inputs + ACTIVATION_COPIES * (generator + CRITIC_PASSES * critic + summaries)
    mmd = (2 * batch) ** 2 * (3 + 2 * len(training.mmd_bandwidths)) if training.mmd_weight > 0 else 0
    n_generator, n_critic = network_parameters(model, n_features, cond_dim)
    weights = PARAMETER_COPIES * (n_generator + n_critic) + n_generator
    return BYTES_PER_NUMBER * (step + mmd + weights)


def generation_bytes(batch: int, model: ModelConfig, n_features: int, cond_dim: int, n_outputs: int) -> int:
    """Estimated peak bytes of generating one batch of ``batch`` samples with ``n_outputs`` numbers each."""
    latent = model.latent_dim
    hidden = _hidden_numbers(model, model.generator_hidden, n_features, "generation")
    network = batch * (latent + cond_dim + hidden + n_features)
    outputs = batch * n_outputs * (2 * INVERSE_COPIES + QUEUED_BATCHES)  # float64 counts twice
    n_generator, _ = network_parameters(model, n_features, cond_dim)
    return BYTES_PER_NUMBER * (network + outputs + n_generator)


def largest_fitting(need: Callable[[int], int], budget: int, upper: int) -> int:
    """The largest batch in [1, upper] whose ``need`` fits in ``budget`` bytes (0: none), by bisection."""
    if need(1) > budget:
        return 0
    low, high = 1, upper
    while low < high:
        middle = (low + high + 1) // 2
        if need(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def check_batch_fits(batch: int, need: Callable[[int], int], device: torch.device, field: str, what: str) -> None:
    """ConfigError naming ``field`` when a batch of ``batch`` needs more than the device's free memory.

    ``need(b)`` is the estimated peak bytes of a batch of ``b``; ``what`` says what the batch is
    for ("one training iteration"). The message gives the largest batch that would fit.
    """
    available = available_memory(device)
    if available is None:
        return
    budget = int(available * MEMORY_HEADROOM)
    needed = need(batch)
    if needed <= budget:
        return
    largest = largest_fitting(need, budget, batch)
    fits = (
        f"at most {largest} would fit"
        if largest
        else f"not even 1 would fit: the networks alone need about {need(1) / GIB:.1f} GiB (make the model smaller)"
    )
    raise ConfigError(
        f"{field}: a batch of {batch} needs about {needed / GIB:.1f} GiB for {what}, more than the "
        f"{budget / GIB:.1f} GiB free on {device.type} (estimate, {MEMORY_HEADROOM:.0%} of the free memory); {fits}"
    )
