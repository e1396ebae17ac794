"""Majority vote over several sampled outputs per problem: a verifier that needs no gold answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reflectlab.core.contracts import Verifier
from reflectlab.evals.extract import Number, extract_answer, number_key
from reflectlab.evals.verifiers.base import Item, check_batch


@dataclass(frozen=True)
class Vote:
    """The outcome of a vote among ``n`` outputs.

    ``answer`` is the most frequent extracted answer (None when no output has one); ``count`` how many outputs gave
    it; ``share = count / n`` counts outputs without an answer in the denominator; ``tied`` says whether another
    answer had as many votes (the smaller value then wins, so the result does not depend on sample order).
    """

    answer: Number | None
    count: int
    n: int
    tied: bool

    @property
    def share(self) -> float:
        return self.count / self.n if self.n else 0.0


class MajorityVote(Verifier):
    """Accepts an output when its extracted answer agrees with the majority of the outputs for the same item.

    ``verify`` groups outputs by ``item.id``: pass every sample of a problem in one call (e.g. 4 samples of each
    problem as 4 rows with the same item). An output without an answer never agrees.
    """

    name = "majority"

    def __init__(self, *, extractor: Callable[[str], Number | None] = extract_answer) -> None:
        self.extractor = extractor

    def vote(self, outputs: Sequence[str]) -> Vote:
        """The majority answer among ``outputs`` (all for one problem)."""
        return _vote([self.extractor(o) for o in outputs])

    def votes(self, items: Sequence[Item], outputs: Sequence[str]) -> dict[str, Vote]:
        """One vote per item id, over the outputs of the rows with that id."""
        check_batch(items, outputs)
        values = [self.extractor(o) for o in outputs]
        return {item_id: _vote(group) for item_id, group in _group_by_id(items, values).items()}

    def verify(self, items: Sequence[Item], outputs: Sequence[str]) -> list[bool]:
        """One verdict per output: True when its answer is its item's majority answer."""
        check_batch(items, outputs)
        values = [self.extractor(o) for o in outputs]
        winners = {item_id: _vote(group).answer for item_id, group in _group_by_id(items, values).items()}
        verdicts = []
        for item, value in zip(items, values, strict=True):
            winner = winners[item.id]
            verdicts.append(value is not None and winner is not None and number_key(value) == number_key(winner))
        return verdicts


def _group_by_id(items: Sequence[Item], values: Sequence[Number | None]) -> dict[str, list[Number | None]]:
    groups: dict[str, list[Number | None]] = {}
    for item, value in zip(items, values, strict=True):
        groups.setdefault(item.id, []).append(value)
    return groups


def _vote(values: Sequence[Number | None]) -> Vote:
    counts: dict[int | float, int] = {}
    for v in values:
        if v is not None:
            key = number_key(v)
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return Vote(answer=None, count=0, n=len(values), tied=False)
    best = max(counts.values())
    leaders = sorted(k for k, c in counts.items() if c == best)
    return Vote(answer=leaders[0], count=best, n=len(values), tied=len(leaders) > 1)
