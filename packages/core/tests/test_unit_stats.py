"""The unit-aware statistics: n counts units, floors stay honest, p-values point the declared way, and the
vectorised cluster bootstrap agrees with a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from reflectlab.core.stats import (
    auroc,
    cluster_auroc_ci,
    cluster_auroc_contrast_ci,
    cluster_diff_ci,
    cluster_mean_ci,
    correlation_ci,
    crossed_mean_ci,
    newcombe_diff_ci,
    rate_ci,
    unit_means,
    wilson_ci,
)


def test_nested_observations_count_once_per_unit() -> None:
    values = [1.0, 1.0, 1.0, 3.0, 3.0, 5.0]
    units = ["a", "a", "a", "b", "b", "c"]
    assert list(unit_means(values, units)) == [1.0, 3.0, 5.0]
    est = cluster_mean_ci(values, units, unit="seed")
    assert est.n == 3 and est.unit == "seed" and est.value == pytest.approx(3.0)


def test_few_units_get_a_t_interval_wider_than_a_naive_one() -> None:
    rng = np.random.default_rng(0)
    seed_effects = rng.normal(0, 1, size=3)
    values = np.repeat(seed_effects, 5) + rng.normal(0, 0.01, size=15)
    units = np.repeat(np.arange(3), 5)
    clustered = cluster_mean_ci(values, units)
    naive = cluster_mean_ci(values)  # every observation its own unit: pseudo-replication
    assert clustered.n == 3 and naive.n == 15
    assert clustered.ci_high - clustered.ci_low > 2 * (naive.ci_high - naive.ci_low)


def test_pseudo_replicated_null_is_not_significant_too_often() -> None:
    """Seed-to-seed noise only, 2 seeds x 5 paraphrases: a clustered test keeps its 2.5% one-sided level."""
    rng = np.random.default_rng(1)
    hits = 0
    reps = 400
    for _ in range(reps):
        values = np.repeat(rng.normal(0, 1, size=3), 5) + rng.normal(0, 0.2, size=15)
        est = cluster_mean_ci(values, np.repeat(np.arange(3), 5))
        hits += est.ci_low > 0
    assert hits / reps < 0.06


def test_p_value_points_the_declared_way() -> None:
    x = np.random.default_rng(2).normal(1.0, 1.0, size=30)
    assert cluster_mean_ci(x, alternative="greater").p_value < 0.01
    assert cluster_mean_ci(x, alternative="less").p_value > 0.99
    assert cluster_diff_ci(x, np.zeros(30)).value == pytest.approx(float(np.mean(x)))


def test_a_floor_is_not_a_zero_width_interval() -> None:
    est = rate_ci([False] * 24, null=0.5, alternative="less")
    assert est.value == 0.0 and est.ci_low == 0.0
    assert est.ci_high == pytest.approx(0.138, abs=0.002)
    assert est.p_value < 1e-6
    clustered = rate_ci([False] * 24, np.repeat(np.arange(8), 3))
    assert clustered.ci_high >= wilson_ci(0, 8)[1] - 1e-12


def test_newcombe_difference_brackets_the_difference() -> None:
    low, high = newcombe_diff_ci(15, 20, 5, 20)
    assert low < 0.5 < high and low > 0
    low0, high0 = newcombe_diff_ci(0, 20, 0, 20)
    assert low0 < 0 < high0


def _loop_cluster_auroc(s: np.ndarray, y: np.ndarray, units: np.ndarray, reps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = np.unique(units)
    out = []
    for _ in range(reps):
        pick = rng.choice(ids, size=len(ids))
        idx = np.concatenate([np.flatnonzero(units == u) for u in pick])
        out.append(auroc(s[idx], y[idx]))
    return np.array(out)


def test_cluster_auroc_matches_a_plain_loop_in_distribution() -> None:
    rng = np.random.default_rng(3)
    units = np.repeat(np.arange(20), 6)
    y = np.tile([0, 1], 60)
    s = y * 0.8 + rng.normal(0, 1, size=120) + np.repeat(rng.normal(0, 0.5, size=20), 6)
    est = cluster_auroc_ci(s, y, units, n_resamples=4000, seed=0)
    loop = _loop_cluster_auroc(s, y, units, 2000, seed=1)
    assert est.value == pytest.approx(auroc(s, y))
    assert est.ci_low == pytest.approx(np.quantile(loop, 0.025), abs=0.03)
    assert est.ci_high == pytest.approx(np.quantile(loop, 0.975), abs=0.03)
    assert est.n == 20 and est.p_value < 0.01


def test_paired_auroc_difference_and_too_few_units() -> None:
    rng = np.random.default_rng(4)
    y = np.tile([0, 1], 40)
    a = y + rng.normal(0, 1, size=80)
    diff = cluster_auroc_ci(a, y, np.repeat(np.arange(20), 4), scores_b=a.copy())
    assert diff.value == 0.0 and diff.ci_low == 0.0 == diff.ci_high
    few = cluster_auroc_ci(a, y, np.repeat(np.arange(4), 20))
    assert few.n == 4 and np.isnan(few.ci_low)


def test_correlation_interval_by_unit() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=60)
    est = correlation_ci(x, 0.7 * x + rng.normal(0, 0.5, size=60), np.repeat(np.arange(30), 2))
    assert est.n == 30 and est.ci_low < est.value < est.ci_high and est.ci_low > 0.4


def test_two_sided_p_values_count_both_tails() -> None:
    rng = np.random.default_rng(0)
    below = rng.normal(-1.0, 1.0, 40)
    assert cluster_mean_ci(below, alternative="greater").p_value > 0.99
    assert cluster_mean_ci(below, alternative="two-sided").p_value < 0.01
    labels = np.tile([0, 1], 40)
    backwards = -labels + rng.normal(0, 0.5, 80)
    est = cluster_auroc_ci(backwards, labels, np.repeat(np.arange(20), 4), alternative="two-sided", n_resamples=500)
    assert est.value < 0.5 and est.p_value < 0.01


def test_an_auroc_contrast_shares_one_resampling_of_units() -> None:
    rng = np.random.default_rng(1)
    units = np.tile(np.repeat(np.arange(30), 4), 2)
    labels = np.tile([0, 1, 0, 1], 60)
    author = np.repeat([True, False], 120)
    a, b = labels * 0.5 + rng.normal(0, 1, 240), labels * 0.5 + rng.normal(0, 1, 240)
    terms = [(1.0, a, author), (-1.0, b, author), (-1.0, a, ~author), (1.0, b, ~author)]
    est = cluster_auroc_contrast_ci(terms, labels, units, unit="topic", n_resamples=500)
    by_hand = auroc(a[author], labels[author]) - auroc(b[author], labels[author])
    by_hand -= auroc(a[~author], labels[~author]) - auroc(b[~author], labels[~author])
    assert est.value == pytest.approx(by_hand) and est.n == 30 and est.ci_low < 0 < est.ci_high
    planted = np.where(author, a + 2 * labels, a)  # judge a reads its own items better
    terms[0], terms[2] = (1.0, planted, author), (-1.0, planted, ~author)
    assert cluster_auroc_contrast_ci(terms, labels, units, n_resamples=500).ci_low > 0


def test_seeds_crossed_with_prompts_keep_the_seed_variation_in_the_interval() -> None:
    rng = np.random.default_rng(2)
    false_present, naive_false_present, reps = 0, 0, 400
    for _ in range(reps):  # 3 seeds whose fine-tunes differ, 40 prompts, no effect
        cells = rng.normal(0, 0.08, (3, 1)) + rng.normal(0, 0.1, (1, 40)) + rng.normal(0, 0.2, (3, 40))
        false_present += crossed_mean_ci(cells).ci_low > 0
        naive_false_present += cluster_mean_ci(cells.mean(axis=0)).ci_low > 0  # prompts only: seed noise unseen
    assert false_present / reps <= 0.06 < naive_false_present / reps
    est = crossed_mean_ci(np.full((3, 5), 0.2) + np.arange(3)[:, None] * 0.01)
    assert est.n == 3 and est.unit == "seed" and est.ci_low < 0.21 < est.ci_high
    one = crossed_mean_ci(np.ones((1, 10)))
    assert one.n == 1 and np.isnan(one.ci_low)  # one seed: no interval
    missing = np.array([[0.1, np.nan, 0.3], [0.2, 0.5, 0.1], [0.0, 0.4, 0.2]])
    assert crossed_mean_ci(missing).value == pytest.approx(np.mean(missing[:, [0, 2]]))  # incomplete prompts left out
