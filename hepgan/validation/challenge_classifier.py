"""The CaloChallenge 2022 classifier test, with the challenge's own protocol, so scores sit beside its table.

hepgan's own classifier test (:mod:`hepgan.validation.classifier`) is cross-validated and
trained to convergence; the published CaloChallenge scores (Krause et al.,
arXiv:2410.21611, table in ``final_results_scalar.csv``) come from a fixed recipe, that of
``code/evaluate.py`` in the challenge's homepage repository (CaloChallenge/homepage),
with its default options. This module follows that recipe:

- inputs, low level: log10(E_inc/MeV) and every voxel energy / E_inc; high level:
  log10(E_inc/MeV), log10(E_layer/MeV + 1e-8) for every layer, and for the layers binned in
  angle (more than one alpha sector) the centre of energy in η (x) and φ (y) and the widths
  in η and φ, each in mm / 100. No further scaling;
- each sample shuffled (seeded) and cut 60 / 20 / 20 into train / test / validation, the two
  samples' parts joined (equal sizes: the larger sample is cut to the smaller);
- a fully connected network: input → 512, two 512 → 512 hidden layers, → 1 logit, LeakyReLU
  (slope 0.01), no dropout; binary cross-entropy on the logit; Adam, learning rate 2e-4;
  50 epochs of batches of 1000;
- after every epoch the accuracy on the validation part (logit > 0); the epoch with the best
  accuracy is kept;
- the kept network's sigmoid outputs are calibrated by isotonic regression fitted on the
  validation part (clipped to [1e-6, 1 − 1e-6]); on the test part it reports the ROC AUC
  and JSD = (ln 2 − BCE) / ln 2, BCE the calibrated outputs' binary cross-entropy (0:
  indistinguishable, 1: separable).

Errors (not in the challenge's table): the AUC's Hanley–McNeil error on the test part and the
JSD's standard error from the per-shower cross-entropies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.optimize import isotonic_regression
from torch import nn

from hepgan.io.geometry import CaloGeometry
from hepgan.validation.classifier import train_epoch
from hepgan.validation.metrics import roc_auc

HIDDEN = 512
HIDDEN_LAYERS = 2  # 512 → 512 layers after the input layer
EPOCHS = 50
BATCH_SIZE = 1000
LEARNING_RATE = 2e-4
SPLIT = (0.6, 0.2, 0.2)  # train, test, validation
CALIBRATION_CLIP = 1e-6
LAYER_ENERGY_OFFSET_MEV = 1e-8


@dataclass(frozen=True)
class ChallengeClassifierResult:
    """AUC and JSD of :func:`challenge_classifier_test` on the test part, with errors, and the run's sizes."""

    auc: float
    auc_err: float
    jsd: float
    jsd_err: float
    accuracy: float
    best_epoch: int
    n_train: int
    n_validation: int
    n_test: int

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def challenge_low_level_features(showers_mev: np.ndarray, incident_mev: np.ndarray) -> np.ndarray:
    """(N, 1 + n_voxels) float32: log10(E_inc/MeV), then each voxel's E / E_inc (the challenge's low-level input)."""
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1, 1)
    voxels = np.asarray(showers_mev, dtype=np.float64) / incident
    return np.concatenate([np.log10(incident), voxels], axis=1).astype(np.float32)


def challenge_high_level_features(
    observables: Mapping[str, np.ndarray], incident_mev: np.ndarray, geometry: CaloGeometry
) -> np.ndarray:
    """(N, d) float32: the challenge's high-level input from hepgan's observables (``e_layer_{id}`` in MeV,
    ``centre_x/y_{id}`` and ``width_x/y_{id}`` in mm); empty layers' centres and widths read 0."""
    incident = np.asarray(incident_mev, dtype=np.float64).reshape(-1)
    columns = [np.log10(incident)]
    columns += [
        np.log10(np.asarray(observables[f"e_layer_{layer.id}"]) + LAYER_ENERGY_OFFSET_MEV) for layer in geometry.layers
    ]
    binned = [layer.id for layer in geometry.layers if layer.n_alpha > 1]
    for name in ("centre_x", "centre_y", "width_x", "width_y"):
        columns += [np.nan_to_num(np.asarray(observables[f"{name}_{i}"], np.float64) / 100.0) for i in binned]
    return np.column_stack(columns).astype(np.float32)


def challenge_network(n_inputs: int) -> nn.Module:
    """The challenge's classifier: input → 512 → 512 → 512 → 1 logit, LeakyReLU."""
    layers: list[nn.Module] = [nn.Linear(n_inputs, HIDDEN), nn.LeakyReLU()]
    for _ in range(HIDDEN_LAYERS):
        layers += [nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU()]
    layers.append(nn.Linear(HIDDEN, 1))
    return nn.Sequential(*layers)


def _split(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    x = x[rng.permutation(len(x))]
    n_train, n_test = int(SPLIT[0] * len(x)), int(SPLIT[1] * len(x))
    return [x[:n_train], x[n_train : n_train + n_test], x[n_train + n_test :]]


def _logits(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(x[i : i + 10_000]).squeeze(1).numpy() for i in range(0, len(x), 10_000)])


def isotonic_calibration(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(knots, probabilities) of the isotonic regression of ``labels`` on ``scores``, clipped to [1e-6, 1 − 1e-6];
    read with :func:`numpy.interp` (constant beyond the ends), as scikit-learn's ``IsotonicRegression``."""
    order = np.argsort(scores, kind="stable")
    fitted = isotonic_regression(labels[order].astype(np.float64)).x
    knots, first = np.unique(scores[order], return_index=True)
    # tied scores share one fitted value: the mean of their block
    sums = np.add.reduceat(fitted, first)
    counts = np.diff(np.r_[first, len(fitted)])
    return knots, np.clip(sums / counts, CALIBRATION_CLIP, 1.0 - CALIBRATION_CLIP)


def challenge_classifier_test(
    reference: np.ndarray, generated: np.ndarray, *, seed: int = 0, epochs: int = EPOCHS
) -> ChallengeClassifierResult:
    """Train the challenge's classifier to tell ``generated`` (label 1) from ``reference`` (label 0); see the module
    docstring. ``seed`` seeds the shuffles, the weights and the batch order (the global torch RNG is restored)."""
    n = min(len(reference), len(generated))
    if n < 20:
        raise ValueError("the challenge classifier needs at least 20 showers per sample")
    rng = np.random.default_rng(seed)
    parts = [
        _split(np.asarray(sample, np.float32)[rng.permutation(len(sample))[:n]], rng)
        for sample in (reference, generated)
    ]
    x = [torch.from_numpy(np.concatenate([parts[0][k], parts[1][k]])) for k in range(3)]
    y = [np.r_[np.zeros(len(parts[0][k])), np.ones(len(parts[1][k]))] for k in range(3)]
    train_x, test_x, val_x = x
    train_y = torch.from_numpy(y[0]).float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = challenge_network(train_x.shape[1])
        optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        order_rng = torch.Generator().manual_seed(seed)
        best_accuracy, best_epoch, best_state = -1.0, 0, None
        for epoch in range(1, epochs + 1):
            train_epoch(model, optimiser, train_x, train_y, BATCH_SIZE, order_rng)
            accuracy = float(np.mean((_logits(model, val_x) > 0) == (y[2] > 0.5)))
            if accuracy > best_accuracy:
                best_accuracy, best_epoch = accuracy, epoch
                best_state = {key: value.clone() for key, value in model.state_dict().items()}
        assert best_state is not None
        model.load_state_dict(best_state)
        model.eval()
        val_scores, test_scores = _logits(model, val_x), _logits(model, test_x)
    knots, probabilities = isotonic_calibration(val_scores, y[2])
    p = np.interp(test_scores, knots, probabilities)
    labels = y[1] > 0.5
    cross_entropy = -np.where(labels, np.log(p), np.log1p(-p))
    auc, auc_err = roc_auc(test_scores[labels], test_scores[~labels])
    return ChallengeClassifierResult(
        auc=auc,
        auc_err=auc_err,
        jsd=float((math.log(2.0) - cross_entropy.mean()) / math.log(2.0)),
        jsd_err=float(cross_entropy.std(ddof=1) / math.sqrt(len(cross_entropy)) / math.log(2.0)),
        accuracy=float(np.mean((test_scores > 0) == labels)),
        best_epoch=best_epoch,
        n_train=len(train_x),
        n_validation=len(val_x),
        n_test=len(test_x),
    )
