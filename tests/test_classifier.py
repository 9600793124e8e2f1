"""Classifier two-sample test: AUC 0.5 for equal samples, the Bayes AUC for two Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hepgan.validation.classifier import (
    auc_by_group,
    classifier_two_sample_test,
    high_level_features,
    low_level_features,
)

FAST = {"hidden": (16,), "max_epochs": 20, "patience": 3, "learning_rate": 1e-2, "batch_size": 512, "folds": 3}


def test_same_distribution_gives_half():
    rng = np.random.default_rng(0)
    result = classifier_two_sample_test(rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3)), seed=1, **FAST)
    assert result.auc == pytest.approx(0.5, abs=max(3 * result.auc_err, 0.04))
    # 3 folds: every shower tested once; a fold trains on 0.8 of the other two thirds
    assert result.n_test == 4000 and result.folds == 3
    assert result.n_validation == 534 and result.n_train == 2132


def test_shifted_gaussians_reach_the_optimal_auc():
    rng = np.random.default_rng(2)
    delta = 1.0
    result = classifier_two_sample_test(rng.normal(0, 1, 3000), rng.normal(delta, 1, 3000), seed=3, **FAST)
    optimal = stats.norm.cdf(delta / np.sqrt(2))  # 0.760
    assert result.auc == pytest.approx(optimal, abs=max(3 * result.auc_err, 0.03))


def test_seeded_and_leaves_global_rng_alone():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(300, 2)), rng.normal(0.5, 1, size=(300, 2))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = classifier_two_sample_test(a, b, seed=5, **FAST)
    after = torch.rand(1)
    assert first == classifier_two_sample_test(a, b, seed=5, **FAST)
    assert torch.equal(before, after)


def test_auc_by_group_finds_the_group_that_differs():
    """Group 1 is shifted by δ = 1, group 0 not: AUC Φ(δ/√2) in group 1, ½ in group 0."""
    rng = np.random.default_rng(7)
    n = 3000
    ref_group, gen_group = rng.integers(0, 2, n), rng.integers(0, 2, n)
    ref = np.c_[rng.normal(0, 1, n), ref_group]
    gen = np.c_[rng.normal(0, 1, n) + (gen_group == 1), gen_group]
    result = classifier_two_sample_test(ref, gen, seed=8, **FAST)
    same, shifted = auc_by_group(result, ref_group, gen_group, 2)
    assert same.auc == pytest.approx(0.5, abs=max(3 * same.auc_err, 0.03))
    assert shifted.auc == pytest.approx(stats.norm.cdf(1 / np.sqrt(2)), abs=max(3 * shifted.auc_err, 0.03))
    assert (same.n_reference, same.n_generated) == (np.sum(ref_group == 0), np.sum(gen_group == 0))
    # one group holding every shower reproduces the overall (fold-averaged) AUC exactly
    (whole,) = auc_by_group(result, np.zeros(n, int), np.zeros(n, int), 1)
    assert whole.auc == pytest.approx(result.auc, abs=1e-12) and whole.auc_err == pytest.approx(result.auc_err)
    # an empty group has no AUC; a wrong label count is an error
    assert np.isnan(auc_by_group(result, ref_group, gen_group, 3)[2].auc)
    with pytest.raises(ValueError, match="group labels"):
        auc_by_group(result, ref_group[:-1], gen_group, 2)


def test_feature_builders():
    showers = np.array([[0.0, 1.0, 9.0], [0.0, 0.0, 0.0]])
    features = low_level_features(showers, np.array([100.0, 10.0]))
    assert features.shape == (2, 4) and features.dtype == np.float32
    assert features[0, 0] == 0.0 and features[1, :3].tolist() == [0.0, 0.0, 0.0]
    assert features[0, 2] == pytest.approx(np.log1p(0.09 / 1e-4), rel=1e-6)
    assert features[:, 3].tolist() == pytest.approx([2.0, 1.0])
    high = high_level_features({"e_ratio": np.array([0.9, 1.0]), "sparsity_1": np.ones(2)}, np.array([1e3, 1e4]))
    assert high.shape == (2, 2)  # e_ratio (a high-level feature) + log10 E_inc


def test_cut_short_classifier_is_flagged_and_converged_one_reaches_bayes_auc():
    """Few epochs leave the AUC low and say so; training to convergence reaches the Bayes AUC."""
    rng = np.random.default_rng(6)
    delta = 1.0
    a, b = rng.normal(0, 1, (1500, 2)), rng.normal(0, 1, (1500, 2))
    b[:, 0] += delta
    short = classifier_two_sample_test(a, b, seed=0, max_epochs=1, min_batches_per_epoch=1, learning_rate=1e-4)
    full = classifier_two_sample_test(a, b, seed=0)
    optimal = stats.norm.cdf(delta / np.sqrt(2))
    assert not short.converged and full.converged
    assert short.auc < optimal - 0.05
    assert full.auc == pytest.approx(optimal, abs=max(3 * full.auc_err, 0.02))
    assert full.folds == 5 and full.n_test == 3000


def test_input_errors():
    with pytest.raises(ValueError, match="feature counts"):
        classifier_two_sample_test(np.zeros((20, 2)), np.zeros((20, 3)))
    with pytest.raises(ValueError, match="at least 10"):
        classifier_two_sample_test(np.zeros((5, 2)), np.zeros((20, 2)))
    with pytest.raises(ValueError, match="folds"):
        classifier_two_sample_test(np.zeros((20, 2)), np.zeros((20, 2)), folds=1)
