"""A verifier corrupted to a chosen recall and false-accept rate, for the verification-floor study (RESEARCH.md §5).

It asks a ground-truth verifier (by default :class:`ExactMatch`) whether each output is correct, then accepts a
correct output with probability ``recall`` and a wrong one with probability ``false_accept``. The coin for an item
is a hash of (seed, item id, output), so the decision for a given output never changes between runs, batches or
orders, and a new output for the same item gets a fresh coin.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reflectlab.evals.verifiers.base import Item, Verifier, check_batch
from reflectlab.evals.verifiers.exact import ExactMatch


@dataclass(frozen=True)
class CorruptionAudit:
    """The decisions on a batch next to the truth, and the rates they realise (NaN where undefined)."""

    accepted: list[bool]
    correct: list[bool]

    @property
    def n_correct(self) -> int:
        return sum(self.correct)

    @property
    def n_wrong(self) -> int:
        return len(self.correct) - self.n_correct

    @property
    def recall(self) -> float:
        """Share of correct outputs accepted."""
        hits = sum(a and c for a, c in zip(self.accepted, self.correct, strict=True))
        return hits / self.n_correct if self.n_correct else math.nan

    @property
    def false_accept(self) -> float:
        """Share of wrong outputs accepted."""
        hits = sum(a and not c for a, c in zip(self.accepted, self.correct, strict=True))
        return hits / self.n_wrong if self.n_wrong else math.nan

    @property
    def precision(self) -> float:
        """Share of accepted outputs that are correct (the kept-data precision of RESEARCH.md §5)."""
        kept = sum(self.accepted)
        hits = sum(a and c for a, c in zip(self.accepted, self.correct, strict=True))
        return hits / kept if kept else math.nan


class CorruptedVerifier(Verifier):
    """Ground truth seen through a noisy channel: accepts correct outputs with probability ``recall`` and wrong
    ones with probability ``false_accept``, deterministically per (seed, item id, output)."""

    name = "corrupted"

    def __init__(self, recall: float, false_accept: float, seed: int = 0, truth: Verifier | None = None) -> None:
        for label, rate in (("recall", recall), ("false_accept", false_accept)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{label} must lie in [0, 1], got {rate}")
        self.recall = recall
        self.false_accept = false_accept
        self.seed = seed
        self.truth: Verifier = truth if truth is not None else ExactMatch()

    def coin(self, item_id: str, output: str) -> float:
        """The uniform number in [0, 1) that decides this (item, output): accepted when below the rate."""
        digest = hashlib.sha256(json.dumps([self.seed, item_id, output]).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    def audit(self, items: Sequence[Item], outputs: Sequence[str]) -> CorruptionAudit:
        """The decisions, the ground truth and the realised rates on this batch."""
        check_batch(items, outputs)
        correct = [bool(c) for c in self.truth.verify(items, outputs)]
        accepted = [
            self.coin(item.id, out) < (self.recall if ok else self.false_accept)
            for item, out, ok in zip(items, outputs, correct, strict=True)
        ]
        return CorruptionAudit(accepted=accepted, correct=correct)

    def verify(self, items: Sequence[Item], outputs: Sequence[str]) -> list[bool]:
        """One verdict per output: True when the corrupted channel accepts it."""
        return self.audit(items, outputs).accepted
