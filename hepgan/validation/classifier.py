"""Classifier two-sample test: can a small network tell generated from reference showers?

A multilayer perceptron is trained to separate the two samples; the area under the ROC
curve (AUC) on held-out showers measures how distinguishable they are: 0.5 means
indistinguishable, 1 means perfectly separable. This is the CaloChallenge 2022 headline
metric (low-level: voxel energies; high-level: shower shapes; Krause et al.,
arXiv:2410.21611) and the classifier test of Lopez-Paz & Oquab, arXiv:1610.06545; see also
Kansal et al., arXiv:2211.10295. For two 1-D Gaussians N(0, 1) and N(δ, 1) the optimal
(Bayes) classifier reaches AUC = Φ(δ/√2).

Each sample is split (stratified, seeded) into training, validation and test parts; inputs
are standardised with the training part's mean and std; training stops early when the
validation loss has not improved for ``patience`` epochs, and the best state is kept. The
AUC is computed on the test part with the Mann–Whitney formula
(:func:`hepgan.validation.metrics.roc_auc`), with the Hanley–McNeil error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from hepgan.validation.metrics import roc_auc
from hepgan.validation.observables import safe_divide
from hepgan.validation.physics_distances import high_level_matrix

LOW_LEVEL_SCALE = 1e-4  # voxel energy / incident energy at which the log preprocessing turns over


@dataclass(frozen=True)
class ClassifierResult:
    """Outcome of :func:`classifier_two_sample_test`.

    Attributes:
        auc, auc_err: test-set ROC AUC (generated = positive class) and its standard error.
        n_train, n_validation, n_test: showers (both samples together) in each part.
        epochs: epochs trained; best_epoch: the epoch whose weights were used.
    """

    auc: float
    auc_err: float
    n_train: int
    n_validation: int
    n_test: int
    epochs: int
    best_epoch: int

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def low_level_features(showers_mev: np.ndarray, incident_mev: np.ndarray) -> np.ndarray:
    """Classifier inputs from voxels: log(1 + (E_voxel/E_inc)/1e-4) per voxel, plus log10(E_inc/MeV).

    Dividing by the incident energy puts all energies on one scale; the log compresses the
    many decades of voxel energies while keeping empty voxels at exactly 0.

    Returns:
        (N, n_voxels + 1) float32 array.
    """
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
    showers = np.asarray(showers_mev, dtype=np.float64)
    fractions = safe_divide(showers, incident[:, None])
    features = np.log1p(np.clip(fractions, 0.0, None) / LOW_LEVEL_SCALE)
    log_incident = np.log10(np.clip(incident, 1e-30, None))
    return np.column_stack([features, log_incident]).astype(np.float32)


def high_level_features(
    observables: Mapping[str, np.ndarray], incident_mev: np.ndarray, names: Sequence[str] | None = None
) -> np.ndarray:
    """Classifier inputs: high-level observables (default: the CaloChallenge set of
    :func:`hepgan.validation.physics_distances.high_level_names`, energies as log10) plus log10(E_inc/MeV)."""
    matrix = high_level_matrix(observables, names)
    log_incident = np.log10(np.clip(np.asarray(incident_mev, dtype=np.float64).reshape(-1), 1e-30, None))
    return np.column_stack([matrix, log_incident]).astype(np.float32)


def _split(n: int, fractions: tuple[float, float], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Random train/validation/test index arrays for ``n`` items."""
    order = rng.permutation(n)
    n_test = max(1, round(fractions[1] * n))
    n_val = max(1, round(fractions[0] * n))
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def build_classifier(n_inputs: int, hidden: Sequence[int]) -> nn.Module:
    """MLP: Linear → LeakyReLU per hidden layer → one logit."""
    layers: list[nn.Module] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y))


def _train(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    *,
    max_epochs: int,
    patience: int,
    batch_size: int,
    learning_rate: float,
    generator: torch.Generator,
) -> tuple[int, int]:
    """Adam with early stopping on the validation loss; loads the best state. Returns (epochs, best epoch)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    x_train, y_train = train
    best_loss, best_epoch, best_state = _loss(model, *validation), 0, None
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            loss = nn.functional.binary_cross_entropy_with_logits(model(x_train[index]).squeeze(1), y_train[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        validation_loss = _loss(model, *validation)
        if validation_loss < best_loss:
            best_loss, best_epoch = validation_loss, epoch
            best_state = {key: value.clone() for key, value in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return epoch, best_epoch


def classifier_two_sample_test(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    hidden: Sequence[int] = (64, 64),
    max_epochs: int = 30,
    patience: int = 4,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> ClassifierResult:
    """Train a small MLP to tell ``generated`` (label 1) from ``reference`` (label 0); test AUC.

    Args:
        reference, generated: (N, d) inputs, e.g. :func:`low_level_features` or
            :func:`high_level_features`; a 1-D array is one feature.
        hidden: hidden-layer widths.
        max_epochs, patience: epoch limit and early-stopping patience (validation loss).
        validation_fraction, test_fraction: per-sample fractions held out for early stopping
            and for the AUC.
        seed: seeds the split, the weight initialisation and the batch order (the global
            torch RNG state is restored afterwards).

    Returns:
        :class:`ClassifierResult` (AUC ≈ 0.5 for indistinguishable samples).
    """
    ref = np.asarray(reference, dtype=np.float32).reshape(len(reference), -1)
    gen = np.asarray(generated, dtype=np.float32).reshape(len(generated), -1)
    if ref.shape[1] != gen.shape[1]:
        raise ValueError(f"feature counts differ: {ref.shape[1]} vs {gen.shape[1]}")
    if min(len(ref), len(gen)) < 10:
        raise ValueError("the classifier test needs at least 10 showers per sample")
    rng = np.random.default_rng(seed)
    fractions = (validation_fraction, test_fraction)
    parts = [_split(len(sample), fractions, rng) for sample in (ref, gen)]
    x = [np.concatenate([ref[parts[0][i]], gen[parts[1][i]]]) for i in range(3)]
    y = [np.concatenate([np.zeros(len(parts[0][i])), np.ones(len(parts[1][i]))]) for i in range(3)]
    mean, std = x[0].mean(axis=0), x[0].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    tensors = [
        (torch.from_numpy((xi - mean) / std).float(), torch.from_numpy(yi).float()) for xi, yi in zip(x, y, strict=True)
    ]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_classifier(ref.shape[1], hidden)
        generator = torch.Generator().manual_seed(seed)
        epochs, best_epoch = _train(
            model,
            tensors[0],
            tensors[1],
            max_epochs=max_epochs,
            patience=patience,
            batch_size=batch_size,
            learning_rate=learning_rate,
            generator=generator,
        )
    with torch.no_grad():
        scores = model(tensors[2][0]).squeeze(1).numpy().astype(np.float64)
    labels = y[2].astype(bool)
    auc, auc_err = roc_auc(scores[labels], scores[~labels])
    return ClassifierResult(auc, auc_err, len(y[0]), len(y[1]), len(y[2]), epochs, best_epoch)
