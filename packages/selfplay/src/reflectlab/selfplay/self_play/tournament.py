"""SERL's pairwise tournament (RESEARCH.md §4.1), as pure functions on the judge's verdicts.

One prompt's ``k`` responses are judged on every pair, in both orders. From the verdicts alone (no truth) come the
self-made rewards: the actor's Copeland win rate with a length control, and the judge's agreement with the ranking
the tournament aggregates. From the verdicts and the truth (reporting only) come the truth-tracking measures:
judge accuracy, order-swap agreement, intransitive triples, and how the self-made reward correlates with
correctness. A simulated Bradley-Terry judge with a set strength and position bias produces verdicts of the same
shape, so the real and the simulated arms are measured by the same code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from reflectlab.core.stats import auroc


def all_pairs(k: int) -> list[tuple[int, int]]:
    """Every unordered pair ``(a, b)`` with ``a < b`` among ``k`` responses."""
    return list(itertools.combinations(range(k), 2))


@dataclass
class GroupJudgement:
    """One prompt's responses and the judge's verdicts on every pair.

    ``per_order[p, 0]`` is P(a better) for pair ``pairs[p] = (a, b)`` with ``a`` shown first, ``per_order[p, 1]``
    the same with ``a`` shown second (probabilities from a model judge, 0/1 verdicts from a simulated one).
    """

    lengths: np.ndarray
    per_order: np.ndarray

    @property
    def k(self) -> int:
        return len(self.lengths)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return all_pairs(self.k)

    def win_matrix(self) -> np.ndarray:
        """``W[a, b]`` = 1 when the judge prefers ``a`` to ``b`` over both orders, 0.5 for a tie."""
        w = np.zeros((self.k, self.k))
        for (a, b), p in zip(self.pairs, self.per_order.mean(axis=1), strict=True):
            w[a, b] = 1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0
            w[b, a] = 1.0 - w[a, b]
        return w

    def win_rates(self) -> np.ndarray:
        """Copeland-style score: share of the other responses each one beats (ties count half)."""
        return self.win_matrix().sum(axis=1) / max(1, self.k - 1)

    def actor_rewards(self, length_penalty: float, max_tokens: int) -> np.ndarray:
        """Win rate minus ``length_penalty`` times the length above the group's median (in units of
        ``max_tokens``): a longer answer must win more to earn the same reward."""
        excess = (self.lengths - np.median(self.lengths)) / max(1, max_tokens)
        return np.asarray(self.win_rates() - length_penalty * excess, dtype=float)

    def judge_rewards(self) -> np.ndarray:
        """Per pair, the reward of each verdict (a better, b better): agreement with the aggregated ranking
        (the win rates); 0.5 each when the ranking ties the pair."""
        scores = self.win_rates()
        out = np.full((len(self.pairs), 2), 0.5)
        for i, (a, b) in enumerate(self.pairs):
            if scores[a] != scores[b]:
                out[i] = (1.0, 0.0) if scores[a] > scores[b] else (0.0, 1.0)
        return out

    def order_agreement(self) -> np.ndarray:
        """Per pair, whether both orders prefer the same response."""
        return np.asarray((self.per_order[:, 0] > 0.5) == (self.per_order[:, 1] > 0.5))

    def triples(self) -> tuple[int, int]:
        """(cyclic triples, all triples): a triple is cyclic when its strict preferences form a loop."""
        w = self.win_matrix()
        cyclic = 0
        combos = list(itertools.combinations(range(self.k), 3))
        for a, b, c in combos:
            if (w[a, b] == 1 and w[b, c] == 1 and w[c, a] == 1) or (w[b, a] == 1 and w[c, b] == 1 and w[a, c] == 1):
                cyclic += 1
        return cyclic, len(combos)


# ----------------------------------------------------------------------------- truth-tracking (reporting only)
def verdicts_vs_truth(group: GroupJudgement, correct: Sequence[bool] | np.ndarray) -> list[bool]:
    """On pairs with exactly one correct response, one entry per order: did that order's verdict pick it?"""
    out = []
    for (a, b), po in zip(group.pairs, group.per_order, strict=True):
        if bool(correct[a]) == bool(correct[b]):
            continue
        a_is_right = bool(correct[a])
        out.extend([(po[0] > 0.5) == a_is_right, (po[1] > 0.5) == a_is_right])
    return out


@dataclass
class RoundReport:
    """What one round's tournament says against the truth; every array is kept for resampling, each beside the
    unit (the prompt) its entry belongs to: both orders and all pairs of one prompt are one unit."""

    judge_hits: np.ndarray  # per (mixed pair, order): the verdict picked the correct response
    agreement: np.ndarray  # per pair: both orders agree
    cyclic: int
    n_triples: int
    rewards: np.ndarray  # per response: the actor's self-made reward
    correct: np.ndarray  # per response: truly correct
    hit_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))  # per judge hit: its prompt
    agree_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))  # per pair: its prompt
    reward_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))  # per response: its prompt
    triples: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per triple: 1 when cyclic
    triple_units: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))  # per triple: its prompt

    @property
    def judge_accuracy(self) -> float:
        return float(self.judge_hits.mean()) if len(self.judge_hits) else math.nan

    @property
    def agreement_rate(self) -> float:
        return float(self.agreement.mean()) if len(self.agreement) else math.nan

    @property
    def intransitive_rate(self) -> float:
        return self.cyclic / self.n_triples if self.n_triples else math.nan

    @property
    def reward_truth_corr(self) -> float:
        """Pearson correlation of self-made reward and correctness (NaN when either is constant)."""
        if len(self.rewards) < 2 or self.rewards.std() == 0 or self.correct.std() == 0:
            return math.nan
        return float(np.corrcoef(self.rewards, self.correct)[0, 1])

    @property
    def reward_truth_auroc(self) -> float:
        return auroc(self.rewards, self.correct.astype(int))

    def metrics(self) -> dict[str, float]:
        return {
            "judge_accuracy": self.judge_accuracy,
            "order_swap_agreement": self.agreement_rate,
            "intransitive_rate": self.intransitive_rate,
            "reward_truth_corr": self.reward_truth_corr,
            "reward_truth_auroc": self.reward_truth_auroc,
            "true_sample_accuracy": float(self.correct.mean()) if len(self.correct) else math.nan,
        }


def report_round(
    groups: Sequence[GroupJudgement],
    correct: Sequence[Sequence[bool] | np.ndarray],
    rewards: Sequence[np.ndarray],
    units: Sequence[str] | None = None,
) -> RoundReport:
    """Put a round's verdicts and self-made rewards beside the truth (``correct[i]`` for group ``i``); ``units[i]``
    names group ``i``'s prompt (its position in the round when not given)."""
    names = [str(i) for i in range(len(groups))] if units is None else [str(u) for u in units]
    if len(names) != len(groups):
        raise ValueError(f"need one unit per group, got {len(names)} for {len(groups)}")
    hits: list[bool] = []
    agree: list[bool] = []
    triples: list[float] = []
    hit_units: list[str] = []
    agree_units: list[str] = []
    triple_units: list[str] = []
    for g, c, u in zip(groups, correct, names, strict=True):
        h = verdicts_vs_truth(g, c)
        hits += h
        hit_units += [u] * len(h)
        a = list(g.order_agreement())
        agree += a
        agree_units += [u] * len(a)
        cy, n = g.triples()
        triples += [1.0] * cy + [0.0] * (n - cy)
        triple_units += [u] * n
    t = np.array(triples, dtype=float)
    return RoundReport(
        judge_hits=np.array(hits, dtype=float),
        agreement=np.array(agree, dtype=float),
        cyclic=int(t.sum()),
        n_triples=len(t),
        rewards=np.concatenate([np.asarray(r, dtype=float) for r in rewards]) if rewards else np.zeros(0),
        correct=np.concatenate([np.asarray(c, dtype=float) for c in correct]) if correct else np.zeros(0),
        hit_units=np.array(hit_units, dtype=str),
        agree_units=np.array(agree_units, dtype=str),
        reward_units=np.array([u for u, c in zip(names, correct, strict=True) for _ in range(len(c))], dtype=str),
        triples=t,
        triple_units=np.array(triple_units, dtype=str),
    )


# ----------------------------------------------------------------------------- the simulated judge
def sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def bt_expected_accuracy(strength: float, position_bias: float) -> float:
    """Per-order accuracy of the Bradley-Terry judge on a pair with one correct response: the correct one is
    shown first half the time (P = sigmoid(s + bias)) and second half the time (P = sigmoid(s - bias))."""
    return float((sigmoid(strength + position_bias) + sigmoid(strength - position_bias)) / 2)


def bt_judgement(
    correct: Sequence[bool] | np.ndarray,
    lengths: Sequence[int] | np.ndarray,
    *,
    strength: float,
    position_bias: float,
    rng: np.random.Generator,
) -> GroupJudgement:
    """Verdicts of a simulated Bradley-Terry judge: the response shown first wins with probability
    ``sigmoid(strength * (q_first - q_second) + position_bias)``, quality ``q`` = correctness (0 or 1)."""
    q = np.asarray(correct, dtype=float)
    pairs = all_pairs(len(q))
    per_order = np.zeros((len(pairs), 2))
    for i, (a, b) in enumerate(pairs):
        a_first = rng.random() < sigmoid(strength * (q[a] - q[b]) + position_bias)
        b_first = rng.random() < sigmoid(strength * (q[b] - q[a]) + position_bias)
        per_order[i] = (float(a_first), float(not b_first))
    return GroupJudgement(lengths=np.asarray(lengths, dtype=float), per_order=per_order)
