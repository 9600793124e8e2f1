"""Fréchet and kernel physics distances (FPD, KPD) between two sets of high-level features.

Both follow Kansal et al., "Evaluating generative models in high energy physics",
Phys. Rev. D 107 (2023) 076017, arXiv:2211.10295, as used in the CaloChallenge 2022
evaluation (Krause et al., arXiv:2410.21611):

- features are standardised with the reference sample's mean and standard deviation
  (features constant in the reference are dropped), after clipping both samples to the
  reference's 0.1–99.9 % quantile range (a robustness measure of hepgan: see
  :func:`standardise`);
- FPD is the Fréchet (2-Wasserstein) distance of Gaussians fitted to the features,
  ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), computed on random subsamples of several sizes N
  and extrapolated linearly in 1/N to N → ∞ (the Fréchet distance of finite samples is
  biased upwards by O(1/N)); the error is the intercept's standard error from the fit;
- KPD is the unbiased estimator of the squared maximum mean discrepancy (MMD²,
  Gretton et al., JMLR 13 (2012) 723) with the cubic polynomial kernel
  k(x, y) = (x·y/d + 1)³, evaluated on several random batches; the value is the median
  over batches and the error half of their central 68 % interval.

Inputs are (N, d) arrays; randomness comes from ``numpy.random.default_rng(seed)``.
Samples smaller than the recommended sizes are used as they are (a log message says so).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import linalg, stats

from hepgan.validation.observables import describe

log = logging.getLogger(__name__)

RECOMMENDED_FPD_SAMPLES = 20_000
HIGH_LEVEL_PER_LAYER = ("e_layer", "centre_x", "centre_y", "width_x", "width_y")
HIGH_LEVEL_GLOBAL = ("e_ratio",)
LOG_FLOOR_MEV = 1e-3
CLIP_QUANTILE = 1e-3
KPD_CENTRAL_INTERVAL = (15.865, 84.135)  # percentiles of ±1σ


def feature_matrix(
    observables: Mapping[str, np.ndarray], names: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Stack per-shower observables into an (N, d) float64 matrix (columns in ``names`` order)."""
    names = list(observables) if names is None else list(names)
    if not names:
        n = len(next(iter(observables.values()))) if observables else 0
        return np.zeros((n, 0)), []
    return np.column_stack([np.asarray(observables[name], dtype=np.float64) for name in names]), names


def high_level_names(names: Sequence[str]) -> list[str]:
    """The CaloChallenge high-level features among ``names``: per layer E_layer, centre of energy
    in x (η) and y (φ) and their widths, plus E_tot/E_inc (Krause et al., arXiv:2410.21611)."""
    chosen = []
    for name in names:
        base = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1].lstrip("-").isdigit() else name
        if name in HIGH_LEVEL_GLOBAL or base in HIGH_LEVEL_PER_LAYER:
            chosen.append(name)
    return chosen


def high_level_matrix(observables: Mapping[str, np.ndarray], names: Sequence[str] | None = None) -> np.ndarray:
    """(N, d) features for FPD/KPD/classifiers: the observables ``names`` (default: the
    :func:`high_level_names` of ``observables``), energies (log-binned observables) as
    log10(max(E, 1e-3 MeV)) so that the many decades of layer energies do not dominate."""
    names = high_level_names(list(observables)) if names is None else list(names)
    matrix, _ = feature_matrix(observables, names)
    for column, name in enumerate(names):
        try:
            is_log = describe(name).log
        except KeyError:
            is_log = False
        if is_log:
            matrix[:, column] = np.log10(np.maximum(matrix[:, column], LOG_FLOOR_MEV))
    return matrix


def standardise(
    reference: np.ndarray, generated: np.ndarray, clip_quantile: float | None = CLIP_QUANTILE
) -> tuple[np.ndarray, np.ndarray]:
    """Scale both (N, d) feature arrays with the reference's mean and standard deviation.

    With ``clip_quantile`` q, both samples are first clipped (winsorised) to the reference's
    [q, 1 − q] quantile range per feature, so that a handful of extreme showers (shower
    shapes of nearly empty layers have kurtosis in the hundreds) cannot dominate the
    covariance or the cubic kernel; a generator that puts many showers outside the
    reference range still shows up as an excess at the range's edge. Columns with zero (or
    non-finite) reference spread are dropped, and so are rows with a non-finite value.
    """
    reference = np.atleast_2d(np.asarray(reference, dtype=np.float64).T).T
    generated = np.atleast_2d(np.asarray(generated, dtype=np.float64).T).T
    if reference.shape[1] != generated.shape[1]:
        raise ValueError(f"feature counts differ: {reference.shape[1]} vs {generated.shape[1]}")
    reference = reference[np.all(np.isfinite(reference), axis=1)]
    generated = generated[np.all(np.isfinite(generated), axis=1)]
    if len(reference) < 2:
        raise ValueError("the reference needs at least two showers with finite features")
    if clip_quantile is not None and clip_quantile > 0:
        low, high = np.quantile(reference, [clip_quantile, 1.0 - clip_quantile], axis=0)
        reference, generated = np.clip(reference, low, high), np.clip(generated, low, high)
    mean, std = reference.mean(axis=0), reference.std(axis=0)
    keep = np.isfinite(std) & (std > 0)
    return (reference[:, keep] - mean[keep]) / std[keep], (generated[:, keep] - mean[keep]) / std[keep]


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    # scipy's LAPACK driver: numpy's eigh is much slower on busy multi-threaded machines
    values, vectors = linalg.eigh(0.5 * (matrix + matrix.T))
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu_1: np.ndarray, cov_1: np.ndarray, mu_2: np.ndarray, cov_2: np.ndarray) -> float:
    """Fréchet distance ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) of two Gaussians.

    Tr(Σ₁Σ₂)^½ is computed as Σ √λᵢ of the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½ (same
    eigenvalues as Σ₁Σ₂), which needs no complex square root and is stable for singular
    covariances. Reference: Dowson & Landau, J. Multivariate Anal. 12 (1982) 450; used as
    FID by Heusel et al., arXiv:1706.08500 and as FPD by Kansal et al., arXiv:2211.10295.
    """
    mu_1, mu_2 = np.atleast_1d(mu_1).astype(np.float64), np.atleast_1d(mu_2).astype(np.float64)
    cov_1, cov_2 = np.atleast_2d(cov_1).astype(np.float64), np.atleast_2d(cov_2).astype(np.float64)
    root_1 = _sqrt_psd(cov_1)
    product = root_1 @ cov_2 @ root_1
    trace_root = np.sqrt(np.clip(linalg.eigvalsh(0.5 * (product + product.T)), 0.0, None)).sum()
    diff = mu_1 - mu_2
    return float(diff @ diff + np.trace(cov_1) + np.trace(cov_2) - 2.0 * trace_root)


def frechet_distance_samples(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted (mean, unbiased covariance) to (N, d) samples."""
    x, y = np.atleast_2d(np.asarray(x, np.float64).T).T, np.atleast_2d(np.asarray(y, np.float64).T).T
    return frechet_distance(x.mean(axis=0), np.cov(x, rowvar=False), y.mean(axis=0), np.cov(y, rowvar=False))


def fpd(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    min_samples: int = RECOMMENDED_FPD_SAMPLES,
    max_samples: int = 50_000,
    n_points: int = 10,
    n_batches: int = 20,
    seed: int = 0,
    normalise: bool = True,
) -> tuple[float, float]:
    """Fréchet physics distance extrapolated to infinite sample size, and its error.

    For ``n_points`` sample sizes N from ``min_samples`` to ``max_samples`` (clipped to the
    available showers: at most the smaller sample, at least half of that), the Fréchet
    distance is averaged over ``n_batches`` random subsamples (without replacement) of N
    showers from each sample; a straight line in 1/N is fitted to these averages and its
    intercept (N → ∞) and the intercept's standard error are returned (Kansal et al.,
    arXiv:2211.10295, Sec. IV; JetNet's ``fpd``).

    Args:
        reference, generated: (N, d) high-level features (rows: showers).
        normalise: standardise both with the reference's mean and std first.

    Returns:
        (FPD, error), dimensionless when ``normalise``.
    """
    if normalise:
        reference, generated = standardise(reference, generated)
    n_available = min(len(reference), len(generated))
    n_high = min(max_samples, n_available)
    n_low = max(2, min(min_samples, n_high // 2))
    if n_available < min_samples:
        log.info("FPD on %d showers per sample (fewer than the recommended %d)", n_available, min_samples)
    sizes = np.unique(np.linspace(n_low, n_high, n_points).astype(np.int64))
    rng = np.random.default_rng(seed)
    means = []
    for size in sizes:
        values = [
            frechet_distance_samples(
                reference[rng.choice(len(reference), size, replace=False)],
                generated[rng.choice(len(generated), size, replace=False)],
            )
            for _ in range(n_batches)
        ]
        means.append(np.mean(values))
    if sizes.size < 3:
        return float(means[-1]), float("nan")
    fit = stats.linregress(1.0 / sizes, means)
    return float(fit.intercept), float(fit.intercept_stderr)


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3) -> np.ndarray:
    """Kernel matrix k(x, y) = (x·y/d + 1)^degree for (n, d) and (m, d) arrays."""
    return (x @ y.T / x.shape[1] + 1.0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3) -> float:
    """Unbiased MMD² (Gretton et al. 2012, Lemma 6) with the polynomial kernel of ``degree``.

    MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(n(n−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ)/(nm);
    it can be slightly negative when both samples come from the same distribution.
    """
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("MMD² needs at least two points per sample")
    k_xx, k_yy, k_xy = polynomial_kernel(x, x, degree), polynomial_kernel(y, y, degree), polynomial_kernel(x, y, degree)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kpd(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    n_batches: int = 10,
    batch_size: int = 5_000,
    seed: int = 0,
    normalise: bool = True,
) -> tuple[float, float]:
    """Kernel physics distance: median unbiased MMD² over batches, and its spread.

    Each of ``n_batches`` batches draws ``batch_size`` showers (without replacement; at most
    half of the smaller sample, so that batches differ) from each sample and computes
    :func:`mmd2_unbiased` with the cubic kernel (x·y/d + 1)³. Returns the median over
    batches and half of their central 68 % interval (Kansal et al., arXiv:2211.10295;
    JetNet's ``kpd``). Values compatible with 0 mean the samples agree.

    Args:
        reference, generated: (N, d) high-level features.
        normalise: standardise both with the reference's mean and std first.
    """
    if normalise:
        reference, generated = standardise(reference, generated)
    if reference.shape[1] == 0:
        raise ValueError("no feature with a non-zero spread in the reference")
    size = max(2, min(batch_size, min(len(reference), len(generated)) // 2))
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(
            reference[rng.choice(len(reference), size, replace=False)],
            generated[rng.choice(len(generated), size, replace=False)],
        )
        for _ in range(n_batches)
    ]
    low, high = np.percentile(values, KPD_CENTRAL_INTERVAL)
    return float(np.median(values)), float(0.5 * (high - low))
