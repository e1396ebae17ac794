"""Statistics every study shares: bootstrap confidence intervals (scipy) and AUROC.

All randomness comes from an explicit seed. Intervals are percentile bootstrap intervals, which stay
defined on degenerate samples (all values equal) where BCa does not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval and sample size."""

    value: float
    ci_low: float
    ci_high: float
    n: int


def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counted half.

    Returns NaN when one class is missing.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = sps.rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _interval(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., float],
    *,
    paired: bool,
    seed: int,
    n_resamples: int,
    level: float,
) -> tuple[float, float]:
    n = len(data[0])
    if n < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        # A degenerate sample (every value equal) has a zero-width interval; scipy warns about it.
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        res = sps.bootstrap(
            data,
            statistic,
            paired=paired,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap interval."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    low, high = _interval((x,), np.mean, paired=False, seed=seed, n_resamples=n_resamples, level=level)
    return Estimate(float(np.mean(x)), low, high, len(x))


def paired_diff_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """Mean of ``a - b`` over paired items, resampling the pairs together."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("paired samples must have the same length")
    return mean_ci(x - y, seed=seed, n_resamples=n_resamples, level=level)


def auroc_ci(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """AUROC with a bootstrap interval over items (scores and labels resampled together)."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    low, high = _interval((s, y), _nan_safe(auroc, 0.5), paired=True, seed=seed, n_resamples=n_resamples, level=level)
    return Estimate(auroc(s, y), low, high, len(s))


def paired_auroc_diff_ci(
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
) -> Estimate:
    """AUROC(a) - AUROC(b) on the same items, with a paired bootstrap interval."""
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    y = np.asarray(labels, dtype=int)

    def diff(sa: np.ndarray, sb: np.ndarray, lab: np.ndarray) -> float:
        return auroc(sa, lab) - auroc(sb, lab)

    low, high = _interval((a, b, y), _nan_safe(diff, 0.0), paired=True, seed=seed, n_resamples=n_resamples, level=level)
    return Estimate(diff(a, b, y), low, high, len(y))


def accuracy_ci(
    correct: Sequence[bool] | np.ndarray, *, seed: int = 0, n_resamples: int = DEFAULT_RESAMPLES
) -> Estimate:
    """Share of correct items with a bootstrap interval."""
    return mean_ci(np.asarray(correct, dtype=float), seed=seed, n_resamples=n_resamples)


def _nan_safe(fn: Callable[..., float], fallback: float) -> Callable[..., float]:
    """A resample that loses a class gives NaN; it counts as ``fallback`` (chance) so the interval stays defined."""

    def wrapped(*args: np.ndarray) -> float:
        v = fn(*args)
        return fallback if np.isnan(v) else v

    return wrapped
