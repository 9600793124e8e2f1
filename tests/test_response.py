"""The response table: widths' errors for tailed distributions, propagated errors, goals and statistics limits."""

from __future__ import annotations

import numpy as np

from hepgan.validation.energy_bins import response_statistics
from hepgan.validation.response import goal_status, response_per_energy


def test_width_error_matches_the_spread_of_repeated_samples() -> None:
    """Gaussian and Laplace (kurtosis 6) samples of 400: the quoted σ(std) is the spread of std over 2000 repeats."""
    rng = np.random.default_rng(4)
    samples = {3.0: rng.normal(1.0, 0.1, (2000, 400)), 6.0: rng.laplace(1.0, 0.1, (2000, 400))}
    for kurtosis, repeats in samples.items():
        spread = repeats.std(axis=1, ddof=1).std()
        quoted = np.array(
            [response_statistics(row, np.zeros(400, dtype=np.int64), 1)["width_err"][0] for row in repeats[:200]]
        )
        # σ(s) ≈ s √((κ − 1) / (4n)): 1/√(2n) relative for a Gaussian, √(5/(4n)) for a Laplace distribution
        assert abs(np.median(quoted) / spread - 1) < 0.15
        expected = 0.1 * (np.sqrt(2.0) if kurtosis == 6.0 else 1.0) * np.sqrt((kurtosis - 1) / (4 * 400))
        assert abs(spread / expected - 1) < 0.1


def test_differences_carry_both_samples_errors_and_goals() -> None:
    rng = np.random.default_rng(8)
    n_ref, n_gen = 20_000, 10_000
    incident_ref = np.repeat([1e3, 1e5], n_ref // 2)
    incident_gen = np.repeat([1e3, 1e5], n_gen // 2)
    ref = np.where(incident_ref < 1e4, rng.normal(0.9, 0.09, n_ref), rng.normal(0.99, 0.01, n_ref))
    # generated: the right mean at 1 GeV and a 20 % too narrow width at 100 GeV
    gen = np.where(incident_gen < 1e4, rng.normal(0.9, 0.09, n_gen), rng.normal(0.99, 0.008, n_gen))
    low, high = response_per_energy(ref, incident_ref, gen, incident_gen)
    # Gaussian: σ(std ratio) = √(1/(2·10⁴) + 1/(2·5·10³)) = 1.22 %; σ(mean ratio) = 0.1·√(1/10⁴ + 1/(5·10³))
    assert abs(low["std_rel_diff_err"] / np.sqrt(1 / 2e4 + 1 / 1e4) - 1) < 0.1
    assert abs(low["mean_rel_diff_err"] / (0.1 * np.sqrt(1e-4 + 2e-4)) - 1) < 0.1
    assert low["mean_status"] == "ok" and low["std_status"] == "ok"
    assert abs(high["std_rel_diff"] + 0.2) < 4 * high["std_rel_diff_err"]
    assert high["std_status"] == "outside goal"


def test_goal_status() -> None:
    assert goal_status(0.004, 0.01, 0.01) == "ok"
    assert goal_status(-0.07, 0.02, 0.05) == "limited by statistics"  # 2 % beyond the goal is 1σ
    assert goal_status(0.2, 0.01, 0.05) == "outside goal"
    assert goal_status(float("nan"), 0.01, 0.05) == "n/a"
