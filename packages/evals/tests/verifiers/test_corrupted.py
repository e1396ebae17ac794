"""CorruptedVerifier: realised rates match the asked (recall, false accept); decisions are reproducible per item."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from reflectlab.evals.tasks.arithmetic import Problem, generate_problems
from reflectlab.evals.verifiers import CorruptedVerifier, Item, QAItem, Verifier

N = 4000


@pytest.fixture(scope="module")
def batch() -> tuple[list[Problem], list[str]]:
    """N items, every other output correct."""
    problems = generate_problems(N, seed=0, digits=3, ops="+-")
    outputs = [f"The answer is {p.answer + (i % 2)}." for i, p in enumerate(problems)]
    return problems, outputs


@pytest.mark.parametrize(("recall", "false_accept"), [(0.8, 0.2), (0.95, 0.05), (0.5, 0.5), (0.3, 0.7)])
def test_realised_rates_match_the_asked_ones(
    batch: tuple[list[Problem], list[str]], recall: float, false_accept: float
) -> None:
    audit = CorruptedVerifier(recall, false_accept, seed=1).audit(*batch)
    assert audit.n_correct == audit.n_wrong == N // 2
    for asked, got, n in ((recall, audit.recall, audit.n_correct), (false_accept, audit.false_accept, audit.n_wrong)):
        se = math.sqrt(asked * (1 - asked) / n)
        assert abs(got - asked) < 4 * se, (asked, got)
    accepted_correct = sum(a and c for a, c in zip(audit.accepted, audit.correct, strict=True))
    assert audit.precision == pytest.approx(accepted_correct / sum(audit.accepted))


def test_extreme_rates_are_exact(batch: tuple[list[Problem], list[str]]) -> None:
    items, outputs = batch
    perfect = CorruptedVerifier(1.0, 0.0).audit(items, outputs)
    assert perfect.accepted == perfect.correct
    assert (perfect.recall, perfect.false_accept, perfect.precision) == (1.0, 0.0, 1.0)
    assert not any(CorruptedVerifier(0.0, 0.0).verify(items, outputs))
    assert all(CorruptedVerifier(1.0, 1.0).verify(items, outputs))


def test_decisions_depend_only_on_seed_item_and_output(batch: tuple[list[Problem], list[str]]) -> None:
    items, outputs = batch[0][:500], batch[1][:500]
    first = CorruptedVerifier(0.7, 0.3, seed=5).verify(items, outputs)
    assert CorruptedVerifier(0.7, 0.3, seed=5).verify(items, outputs) == first

    order = list(range(len(items)))
    random.Random(0).shuffle(order)
    shuffled = CorruptedVerifier(0.7, 0.3, seed=5).verify([items[i] for i in order], [outputs[i] for i in order])
    assert shuffled == [first[i] for i in order]
    assert CorruptedVerifier(0.7, 0.3, seed=5).verify(items[:10], outputs[:10]) == first[:10]

    other_seed = CorruptedVerifier(0.7, 0.3, seed=6).verify(items, outputs)
    assert other_seed != first


def test_a_new_output_for_the_same_item_gets_a_new_coin() -> None:
    v = CorruptedVerifier(0.5, 0.5, seed=0)
    coins = {v.coin("p1", f"The answer is {k}.") for k in range(50)}
    assert len(coins) == 50
    assert all(0.0 <= c < 1.0 for c in coins)
    assert v.coin("p1", "x") == CorruptedVerifier(0.9, 0.1, seed=0).coin("p1", "x")


def test_an_empty_batch_has_undefined_rates() -> None:
    audit = CorruptedVerifier(0.9, 0.1).audit([], [])
    assert audit.accepted == [] and math.isnan(audit.recall) and math.isnan(audit.false_accept)


def test_any_ground_truth_can_be_wrapped() -> None:
    class Everything(Verifier):
        name = "everything"

        def verify(self, items: Sequence[Item], outputs: Sequence[str]) -> list[bool]:
            return [True] * len(outputs)

    items = [QAItem(f"q{i}", "?", 0) for i in range(2000)]
    audit = CorruptedVerifier(0.6, 0.0, seed=2, truth=Everything()).audit(items, ["wrong"] * 2000)
    assert audit.n_correct == 2000
    assert abs(audit.recall - 0.6) < 4 * math.sqrt(0.6 * 0.4 / 2000)


@pytest.mark.parametrize(("recall", "false_accept"), [(1.1, 0.0), (0.5, -0.1)])
def test_rates_outside_the_unit_interval_are_refused(recall: float, false_accept: float) -> None:
    with pytest.raises(ValueError):
        CorruptedVerifier(recall, false_accept)
