import numpy as np
import pytest

from reflectlab.core.stats import auroc, auroc_ci, mean_ci, paired_auroc_diff_ci, paired_diff_ci


def test_auroc_known_values() -> None:
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5  # ties count half
    # 3 of 4 positive-negative pairs ordered correctly
    assert auroc([0.1, 0.6, 0.5, 0.9], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert np.isnan(auroc([0.1, 0.2], [1, 1]))


def test_mean_ci_brackets_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small = mean_ci(rng.normal(1.0, 1.0, 20), seed=1)
    large = mean_ci(rng.normal(1.0, 1.0, 2000), seed=1)
    assert small.ci_low < small.value < small.ci_high
    assert large.ci_high - large.ci_low < small.ci_high - small.ci_low
    assert large.ci_low < 1.0 < large.ci_high
    assert large.n == 2000


def test_ci_is_seeded() -> None:
    x = np.arange(30.0)
    assert mean_ci(x, seed=3) == mean_ci(x, seed=3)


def test_degenerate_and_tiny_samples() -> None:
    const = mean_ci([1.0] * 10)
    assert (const.ci_low, const.ci_high) == (1.0, 1.0)
    one = mean_ci([2.0])
    assert one.value == 2.0 and np.isnan(one.ci_low)


def test_paired_differences() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0] * 4)
    est = paired_diff_ci(a + 1.0, a)
    assert est.value == pytest.approx(1.0) and est.ci_low == pytest.approx(1.0)


def test_auroc_intervals() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 100)
    good = labels + rng.normal(0, 0.5, 200)
    noise = rng.normal(0, 1, 200)
    est = auroc_ci(good, labels, n_resamples=500)
    assert est.ci_low > 0.75
    diff = paired_auroc_diff_ci(good, noise, labels, n_resamples=500)
    assert diff.ci_low > 0.2
    same = paired_auroc_diff_ci(good, good, labels, n_resamples=200)
    assert (same.value, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
