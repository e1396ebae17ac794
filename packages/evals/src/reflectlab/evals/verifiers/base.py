"""The interface every verifier shares (:class:`reflectlab.core.contracts.Verifier`, re-exported here).

A verifier judges a batch: ``verify(items, outputs) -> list[bool]``, one verdict per output, where ``outputs[i]``
answers ``items[i]``. Batches let model-backed verifiers batch their model calls and let :class:`MajorityVote`
see every sample of a problem at once (the same item may appear several times). An item is anything with an ``id``,
a ``question`` and a gold ``answer`` (:class:`~reflectlab.evals.tasks.arithmetic.Problem`, :class:`QAItem`);
verifiers that need no gold answer ignore it.

Verdicts mean "the check holds": accepted as correct for ``exact``, ``corrupted`` and ``judge``, agrees with the
majority for ``majority``, and *is a refusal* for ``refusal``. Each verifier also has a richer method that returns
the numbers behind its verdicts (``MajorityVote.votes``, ``CorruptedVerifier.audit``, ``ModelJudge.pointwise``,
``RefusalDetector.detect``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from reflectlab.core.contracts import Verifier


class Item(Protocol):
    """What a verifier reads from a task item (read-only, so frozen dataclasses qualify)."""

    @property
    def id(self) -> str: ...

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> int | float: ...


@dataclass(frozen=True)
class QAItem:
    """A plain item, for tasks without a generator here (e.g. traces imported from JSONL)."""

    id: str
    question: str
    answer: int | float


def check_batch(items: Sequence[Item], outputs: Sequence[str]) -> None:
    """Raise ``ValueError`` unless there is exactly one output per item."""
    if len(items) != len(outputs):
        raise ValueError(f"need one output per item, got {len(items)} items and {len(outputs)} outputs")


__all__ = ["Item", "QAItem", "Verifier", "check_batch"]
