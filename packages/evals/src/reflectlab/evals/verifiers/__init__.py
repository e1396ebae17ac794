"""Verifiers: judge outputs in batches through one interface, ``verify(items, outputs) -> list[bool]``.

Registered under the ``reflectlab.verifiers`` entry-point group as ``exact``, ``majority``, ``corrupted``, ``judge``
and ``refusal`` (the registry returns the class; construct it with its arguments).
"""

from reflectlab.evals.verifiers.base import Item, QAItem, Verifier, check_batch
from reflectlab.evals.verifiers.corrupted import CorruptedVerifier, CorruptionAudit
from reflectlab.evals.verifiers.exact import ExactMatch
from reflectlab.evals.verifiers.judge import ModelJudge, OptionScorer, PairwiseJudgement
from reflectlab.evals.verifiers.majority import MajorityVote, Vote
from reflectlab.evals.verifiers.refusal import DONT_KNOW_PHRASES, REFUSAL_PHRASES, RefusalDetector, RefusalMatch

__all__ = [
    "DONT_KNOW_PHRASES",
    "REFUSAL_PHRASES",
    "CorruptedVerifier",
    "CorruptionAudit",
    "ExactMatch",
    "Item",
    "MajorityVote",
    "ModelJudge",
    "OptionScorer",
    "PairwiseJudgement",
    "QAItem",
    "RefusalDetector",
    "RefusalMatch",
    "Verifier",
    "Vote",
    "check_batch",
]
