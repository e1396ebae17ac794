"""reflectlab.evals: seeded task generators, answer extraction and verifiers shared by the correction, self-play
and compounding inquiries.

- :mod:`reflectlab.evals.tasks`: problem generators (:func:`generate_problems` for arithmetic);
- :mod:`reflectlab.evals.extract`: :func:`extract_answer` and :func:`extract_candidates` for reasoning traces;
- :mod:`reflectlab.evals.verifiers`: ``exact``, ``majority``, ``corrupted``, ``judge`` and ``refusal``.
"""

from reflectlab.evals.extract import Candidate, extract_answer, extract_candidates, transitions
from reflectlab.evals.tasks.arithmetic import Problem, generate_problems
from reflectlab.evals.verifiers import (
    CorruptedVerifier,
    ExactMatch,
    MajorityVote,
    ModelJudge,
    QAItem,
    RefusalDetector,
    Verifier,
)

__all__ = [
    "Candidate",
    "CorruptedVerifier",
    "ExactMatch",
    "MajorityVote",
    "ModelJudge",
    "Problem",
    "QAItem",
    "RefusalDetector",
    "Verifier",
    "extract_answer",
    "extract_candidates",
    "generate_problems",
    "transitions",
]
