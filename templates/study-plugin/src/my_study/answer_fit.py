"""Study ``my-inquiry/answer_fit``: is the model's own greedy answer more probable after its own question than
after another question?

A small recognition test with the shape every reflectlab study has:

1. build the items (``build_questions``, seeded, no model);
2. model calls (``run``): greedy answers, then teacher-forced scores of each answer after its own question and
   after the next question (the control pairing); every call goes through the content cache;
3. measure (``measure``): a pure function from numbers to a :class:`Finding`, so it is tested on planted data;
4. ``plan``: the tokens the model calls will take, for ``platform plan``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from reflectlab.core import Finding, RunContext, Study
from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.models import SamplingParams
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import paired_diff_ci

QUESTIONS = [
    "What colour is the sky on a clear day?",
    "Name a fruit that is yellow.",
    "How many legs does a spider have?",
    "What do bees make?",
    "What is the opposite of hot?",
    "Which animal says moo?",
    "What do you use to write on paper?",
    "What is frozen water called?",
    "Which planet do we live on?",
    "What do plants need from the sun?",
    "How many days are in a week?",
    "What is the capital of France?",
    "What do you call a baby dog?",
    "Which season comes after winter?",
    "What shape has three sides?",
    "What do cows drink?",
    "What is two plus two?",
    "Which bird is a symbol of peace?",
    "What falls from clouds when it rains?",
    "What do you wear on your feet?",
    "What is the largest ocean?",
    "Which month has the fewest days?",
    "What do caterpillars turn into?",
    "What is the colour of grass?",
]


@dataclass
class AnswerFitConfig(StudyConfig):
    """Typed settings: an unknown key or a wrong type on the command line is refused (exit 2), naming the key; a
    value out of range is refused by ``__post_init__`` the same way. Every field has a one-line help, which
    ``platform list --config my-inquiry`` shows."""

    n_questions: int = option(24, "Questions asked (at most as many as ship with the study).")
    max_new_tokens: int = option(24, "Longest greedy answer, in tokens.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_questions >= 2, "n_questions", "needs at least 2 (the control pairs each answer with another)")


def build_questions(n: int, seed: int) -> list[str]:
    """``n`` questions in a seeded order (at most as many as there are)."""
    order = list(QUESTIONS)
    random.Random(seed).shuffle(order)
    return order[: min(n, len(order))]


def measure(own: Sequence[float], other: Sequence[float], *, seed: int, n_bootstrap: int) -> Finding:
    """Mean per-token log-probability of each answer after its own question minus after another question.

    The control is 0 (no preference for the own pairing); the verdict follows from the bootstrap CI. Pairs with a
    missing score (an empty answer has none) are left out, and ``n`` counts the pairs kept. The runner stamps the
    study's name, side and model on the finding."""
    pairs = [(a, b) for a, b in zip(own, other, strict=True) if math.isfinite(a) and math.isfinite(b)]
    estimate = paired_diff_ci([a for a, _ in pairs], [b for _, b in pairs], seed=seed, n_resamples=n_bootstrap)
    return Finding.from_estimate(
        estimate,
        metric="own_question_gap",
        control="the same answer after another question",
        control_value=0.0,
        primary=True,
    )


class AnswerFit(Study[AnswerFitConfig]):
    side = "recognition"
    description = "own answer is more probable after its own question than after another"

    def plan(self, cfg: AnswerFitConfig, ctx: PlanContext) -> Work:
        questions = build_questions(cfg.n_questions, ctx.seed)
        prompt_tokens = ctx.count(ctx.subject, questions)
        work = Work()
        work.generate(ctx.subject, len(questions), prompt_tokens, cfg.max_new_tokens)
        # two scoring passes, each over every question and an answer of at most max_new_tokens
        answers = len(questions) * cfg.max_new_tokens
        work.forward(ctx.subject, 2 * (prompt_tokens + answers), scored=2 * answers)
        return work

    def run(self, ctx: RunContext, cfg: AnswerFitConfig) -> list[Finding]:
        model = ctx.model()
        questions = build_questions(cfg.n_questions, ctx.seed)
        answers = [
            g.text for g in model.generate(questions, SamplingParams(max_new_tokens=cfg.max_new_tokens), seed=ctx.seed)
        ]
        others = questions[1:] + questions[:1]  # each answer after the next question
        own = [-s.mean_surprisal for s in model.score(answers, questions)]
        other = [-s.mean_surprisal for s in model.score(answers, others)]
        ctx.log_samples(
            {"unit": i, "item": i, "arm": "own", "prompt": q, "output": a, "score": o, "other": x}
            for i, (q, a, o, x) in enumerate(zip(questions, answers, own, other, strict=True))
        )
        return [measure(own, other, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)]
