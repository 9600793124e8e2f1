"""Classifier two-sample test: can a small network tell generated from reference showers?

A multilayer perceptron is trained to separate the two samples; the area under the ROC
curve (AUC) on held-out showers measures how distinguishable they are: 0.5 means
indistinguishable, 1 means perfectly separable. This is the CaloChallenge 2022 headline
metric (low-level: voxel energies; high-level: shower shapes; Krause et al.,
arXiv:2410.21611) and the classifier test of Lopez-Paz & Oquab, arXiv:1610.06545; see also
Kansal et al., arXiv:2211.10295. For two 1-D Gaussians N(0, 1) and N(δ, 1) the optimal
(Bayes) classifier reaches AUC = Φ(δ/√2).

Each sample is cut (seeded) into k folds; each fold in turn is the test set of a network
trained on the other folds, less a validation part for early stopping, so every shower
is scored once by a network that never saw it. Inputs are standardised with the training
part's mean and std; training stops when the validation loss has not improved for
``patience`` epochs, and the best state is kept. The AUC is computed per fold with the
Mann–Whitney formula (:func:`hepgan.validation.metrics.roc_auc`) and averaged, with the
Hanley–McNeil errors combined. A classifier trained too briefly underestimates the AUC
(it flatters the generator), so epochs are long enough for small samples and the
result says whether every fold converged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from torch import nn

from hepgan.validation.metrics import roc_auc
from hepgan.validation.observables import safe_divide
from hepgan.validation.physics_distances import high_level_matrix

LOW_LEVEL_SCALE = 1e-4  # voxel energy / incident energy at which the log preprocessing turns over
MIN_BATCH_SIZE = 32  # the smallest batch that min_batches_per_epoch may shrink the batch to


@dataclass(frozen=True)
class ClassifierResult:
    """Outcome of :func:`classifier_two_sample_test`.

    Attributes:
        auc, auc_err: held-out ROC AUC (generated = positive class; mean over the folds) and
            its standard error (the folds' Hanley–McNeil errors combined).
        folds: cross-validation folds.
        n_train, n_validation: showers (both samples together) a fold trains on and stops by.
        n_test: showers tested, over all folds (every shower once).
        epochs, best_epoch: the most epochs any fold trained, and the latest best epoch.
        converged: every fold stopped because its validation loss stopped improving.
        reference_scores, generated_scores: each shower's held-out logit (in input order),
            from the fold network that did not train on it.
        reference_folds, generated_folds: the fold each shower was tested in.
    """

    auc: float
    auc_err: float
    folds: int
    n_train: int
    n_validation: int
    n_test: int
    epochs: int
    best_epoch: int
    converged: bool
    reference_scores: np.ndarray = field(compare=False, repr=False)
    generated_scores: np.ndarray = field(compare=False, repr=False)
    reference_folds: np.ndarray = field(compare=False, repr=False)
    generated_folds: np.ndarray = field(compare=False, repr=False)

    def as_dict(self) -> dict[str, float]:
        """The scalar results (no per-shower arrays)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self) if f.compare}


@dataclass(frozen=True)
class GroupAUC:
    """Held-out AUC within one group of showers (e.g. one incident-energy bin).

    ``auc`` is the mean over the folds that tested both reference and generated showers of
    the group (nan if none did), ``auc_err`` their Hanley–McNeil errors combined.
    """

    auc: float
    auc_err: float
    n_reference: int
    n_generated: int


def auc_by_group(
    result: ClassifierResult, reference_groups: np.ndarray, generated_groups: np.ndarray, n_groups: int
) -> list[GroupAUC]:
    """AUC of one trained classifier test restricted to each group (labels 0 … n_groups − 1).

    Uses the held-out scores of :func:`classifier_two_sample_test`: within each fold the
    group's generated showers are ranked against its reference showers, and the folds'
    AUCs are averaged as for the overall AUC. A group whose AUC is far above the overall one
    is where the classifier finds the generated showers different; e.g. grouping by
    incident energy shows at which energies a generator falls short. Showers with a
    negative group label are left out.
    """
    ref_groups = np.asarray(reference_groups).reshape(-1)
    gen_groups = np.asarray(generated_groups).reshape(-1)
    if ref_groups.size != result.reference_scores.size or gen_groups.size != result.generated_scores.size:
        raise ValueError(
            f"group labels: expected {result.reference_scores.size} reference and {result.generated_scores.size} "
            f"generated, got {ref_groups.size} and {gen_groups.size}"
        )
    out = []
    for group in range(n_groups):
        in_ref, in_gen = ref_groups == group, gen_groups == group
        aucs, errors = [], []
        for k in range(result.folds):
            positive = result.generated_scores[in_gen & (result.generated_folds == k)]
            negative = result.reference_scores[in_ref & (result.reference_folds == k)]
            if positive.size and negative.size:
                auc, error = roc_auc(positive, negative)
                aucs.append(auc)
                errors.append(error)
        auc_mean = float(np.mean(aucs)) if aucs else float("nan")
        auc_err = float(np.sqrt(np.sum(np.square(errors))) / len(errors)) if errors else float("nan")
        out.append(GroupAUC(auc_mean, auc_err, int(in_ref.sum()), int(in_gen.sum())))
    return out


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


def _fold_parts(
    n: int, folds: int, validation_fraction: float, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per fold: (train, validation, test) index arrays for ``n`` items; the test parts cover every item once."""
    chunks = np.array_split(rng.permutation(n), folds)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k in range(folds):
        rest = np.concatenate([chunk for j, chunk in enumerate(chunks) if j != k])
        n_val = max(1, round(validation_fraction * len(rest)))
        parts.append((rest[n_val:], rest[:n_val], chunks[k]))
    return parts


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


def train_epoch(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """One pass over (x, y) in shuffled batches: binary cross-entropy on the logit, one optimiser step per batch."""
    model.train()
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        loss = nn.functional.binary_cross_entropy_with_logits(model(x[index]).squeeze(1), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()


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
        train_epoch(model, optimiser, x_train, y_train, batch_size, generator)
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
    folds: int = 5,
    max_epochs: int = 300,
    patience: int = 15,
    batch_size: int = 256,
    min_batches_per_epoch: int = 40,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> ClassifierResult:
    """Train a small MLP to tell ``generated`` (label 1) from ``reference`` (label 0); held-out AUC.

    ``folds``-fold cross-validation: each sample is cut (seeded) into ``folds`` parts; each
    part in turn is the test set of a classifier trained on the others (less a
    ``validation_fraction`` kept for early stopping), so every shower is tested once by a
    network that never saw it. The AUC is the mean of the folds' AUCs. Training runs until
    the validation loss has not improved for ``patience`` epochs (the best state is kept);
    an epoch has at least ``min_batches_per_epoch`` batches (the batch shrinks below
    ``batch_size`` for small samples, down to ``MIN_BATCH_SIZE``), so a few thousand
    showers still get enough updates to converge. A classifier stopped by ``max_epochs``
    instead is flagged in ``converged``.

    Args:
        reference, generated: (N, d) inputs, e.g. :func:`low_level_features` or
            :func:`high_level_features`; a 1-D array is one feature.
        hidden: hidden-layer widths.
        folds: number of cross-validation folds (>= 2).
        seed: seeds the folds, the weight initialisation and the batch order (the global
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
    if not 2 <= folds <= min(len(ref), len(gen)) // 2:
        raise ValueError(f"folds: expected an integer in [2, {min(len(ref), len(gen)) // 2}], got {folds}")
    rng = np.random.default_rng(seed)
    ref_parts = _fold_parts(len(ref), folds, validation_fraction, rng)
    gen_parts = _fold_parts(len(gen), folds, validation_fraction, rng)
    aucs, errors, epochs, best_epochs, converged = [], [], [], [], True
    scores = [np.empty(len(ref)), np.empty(len(gen))]
    fold_of = [np.empty(len(ref), dtype=np.int64), np.empty(len(gen), dtype=np.int64)]
    with torch.random.fork_rng(devices=[]):
        for k in range(folds):
            x = [np.concatenate([ref[ref_parts[k][i]], gen[gen_parts[k][i]]]) for i in range(3)]
            y = [np.r_[np.zeros(len(ref_parts[k][i])), np.ones(len(gen_parts[k][i]))] for i in range(3)]
            mean, std = x[0].mean(axis=0), x[0].std(axis=0)
            std = np.where(std > 0, std, 1.0)
            tensors = [
                (torch.from_numpy((xi - mean) / std).float(), torch.from_numpy(yi).float())
                for xi, yi in zip(x, y, strict=True)
            ]
            torch.manual_seed(seed + k)
            model = build_classifier(ref.shape[1], hidden)
            fold_batch = max(min(batch_size, MIN_BATCH_SIZE), min(batch_size, len(x[0]) // min_batches_per_epoch))
            n_epochs, best_epoch = _train(
                model,
                tensors[0],
                tensors[1],
                max_epochs=max_epochs,
                patience=patience,
                batch_size=fold_batch,
                learning_rate=learning_rate,
                generator=torch.Generator().manual_seed(seed + k),
            )
            converged = converged and n_epochs - best_epoch >= patience
            with torch.no_grad():
                test_scores = model(tensors[2][0]).squeeze(1).numpy().astype(np.float64)
            labels = y[2].astype(bool)
            auc, auc_err = roc_auc(test_scores[labels], test_scores[~labels])
            for sample, parts in enumerate((ref_parts, gen_parts)):
                scores[sample][parts[k][2]] = test_scores[labels] if sample else test_scores[~labels]
                fold_of[sample][parts[k][2]] = k
            aucs.append(auc)
            errors.append(auc_err)
            epochs.append(n_epochs)
            best_epochs.append(best_epoch)
    return ClassifierResult(
        auc=float(np.mean(aucs)),
        auc_err=float(np.sqrt(np.sum(np.square(errors)))) / folds,
        folds=folds,
        n_train=len(ref_parts[0][0]) + len(gen_parts[0][0]),
        n_validation=len(ref_parts[0][1]) + len(gen_parts[0][1]),
        n_test=len(ref) + len(gen),
        epochs=max(epochs),
        best_epoch=max(best_epochs),
        converged=converged,
        reference_scores=scores[0],
        generated_scores=scores[1],
        reference_folds=fold_of[0],
        generated_folds=fold_of[1],
    )


def classifier_auc_metric(features_ref: np.ndarray, features_gen: np.ndarray) -> dict[str, float]:
    """The ``classifier_auc`` entry of :data:`hepgan.validation.metrics.METRICS`: held-out AUC and its error."""
    result = classifier_two_sample_test(features_ref, features_gen)
    return {"classifier_auc": result.auc, "classifier_auc_err": result.auc_err}
