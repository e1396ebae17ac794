"""The model as judge, read from its next-token probabilities (``Model.option_probs``), never from sampled text.

Pointwise: P("yes") to "Is this answer correct?", renormalised over yes/no. Pairwise: "Which answer is better, A
or B?" asked in both orders; P(first better) is averaged over the two orders, which cancels a bias toward the
answer shown first, and the order-swap agreement says whether both orders prefer the same answer (RESEARCH.md §3.2,
§4.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from reflectlab.core.contracts import Verifier
from reflectlab.evals.verifiers.base import Item, check_batch

if TYPE_CHECKING:
    from reflectlab.core.models.base import Prompt

POINTWISE_TEMPLATE = (
    "Question: {question}\nProposed answer: {answer}\n\n"
    "Is the proposed answer correct? Answer with one word: yes or no."
)
"""Pointwise prompt; fields ``{question}`` and ``{answer}``."""

PAIRWISE_TEMPLATE = (
    "Question: {question}\n\nAnswer A: {first}\n\nAnswer B: {second}\n\n"
    "Which answer is better? Answer with one letter: A or B."
)
"""Pairwise prompt; fields ``{question}``, ``{first}`` (shown as A) and ``{second}`` (shown as B)."""


class OptionScorer(Protocol):
    """What the judge needs from a model: :meth:`reflectlab.core.models.base.Model.option_probs`."""

    def option_probs(self, prompts: Sequence[Prompt], options: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class PairwiseJudgement:
    """Pairwise preferences for ``n`` pairs (first, second).

    ``per_order[:, 0]`` is P(first better) with the first answer shown as A, ``per_order[:, 1]`` the same with it
    shown as B (i.e. P("B") in the swapped prompt); ``p_first`` is their mean, shape (n,). ``order_agreement``
    (n, bool) is True when both orders prefer the same answer (each order prefers the first when its value > 0.5).
    """

    p_first: np.ndarray
    per_order: np.ndarray
    order_agreement: np.ndarray

    @property
    def agreement_rate(self) -> float:
        """Share of pairs whose preference survives the order swap (NaN for no pairs)."""
        return float(np.mean(self.order_agreement)) if len(self.order_agreement) else float("nan")

    @property
    def position_bias(self) -> float:
        """Mean P("A") over both orders minus 0.5: how much being shown first raises an answer's chances."""
        if not len(self.per_order):
            return float("nan")
        return float(np.mean((self.per_order[:, 0] + 1.0 - self.per_order[:, 1]) / 2.0) - 0.5)


class ModelJudge(Verifier):
    """A model judging answers through its option probabilities.

    ``verify`` accepts an output when the pointwise P(yes) is at least ``threshold``. Templates and option words
    can be replaced, e.g. to frame the answer as the model's own ("Your answer: ...") or another's. ``system`` adds
    a system message. With the ``hf`` backend an option counts through its first token, with and without a leading
    space and capitalised or not, which is why the defaults are lower-case words and capital letters.
    """

    name = "judge"

    def __init__(
        self,
        model: OptionScorer,
        *,
        threshold: float = 0.5,
        pointwise_template: str = POINTWISE_TEMPLATE,
        pairwise_template: str = PAIRWISE_TEMPLATE,
        yes_no: tuple[str, str] = ("yes", "no"),
        labels: tuple[str, str] = ("A", "B"),
        system: str | None = None,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.pointwise_template = pointwise_template
        self.pairwise_template = pairwise_template
        self.yes_no = yes_no
        self.labels = labels
        self.system = system

    def _chat(self, text: str) -> Prompt:
        turns = [{"role": "user", "content": text}]
        return [{"role": "system", "content": self.system}, *turns] if self.system else turns

    def pointwise_prompts(self, questions: Sequence[str], answers: Sequence[str]) -> list[Prompt]:
        """The pointwise prompts, one per (question, answer)."""
        if len(questions) != len(answers):
            raise ValueError(f"need one answer per question, got {len(questions)} and {len(answers)}")
        return [
            self._chat(self.pointwise_template.format(question=q, answer=a))
            for q, a in zip(questions, answers, strict=True)
        ]

    def pointwise(self, questions: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """P(yes) that each answer is correct, shape (n,), renormalised over the yes/no options."""
        prompts = self.pointwise_prompts(questions, answers)
        if not prompts:
            return np.zeros(0)
        return np.asarray(self.model.option_probs(prompts, list(self.yes_no))[:, 0], dtype=float)

    def pairwise(self, questions: Sequence[str], first: Sequence[str], second: Sequence[str]) -> PairwiseJudgement:
        """Preference between ``first[i]`` and ``second[i]``, each pair asked in both orders."""
        if not len(questions) == len(first) == len(second):
            raise ValueError(f"need equal lengths, got {len(questions)}, {len(first)} and {len(second)}")
        n = len(questions)
        if n == 0:
            empty = np.zeros(0)
            return PairwiseJudgement(empty, np.zeros((0, 2)), np.zeros(0, dtype=bool))
        prompts: list[Prompt] = []
        for q, a, b in zip(questions, first, second, strict=True):
            prompts.append(self._chat(self.pairwise_template.format(question=q, first=a, second=b)))
            prompts.append(self._chat(self.pairwise_template.format(question=q, first=b, second=a)))
        probs = np.asarray(self.model.option_probs(prompts, list(self.labels)), dtype=float)
        per_order = np.stack([probs[0::2, 0], probs[1::2, 1]], axis=1)
        agreement = (per_order[:, 0] > 0.5) == (per_order[:, 1] > 0.5)
        return PairwiseJudgement(p_first=per_order.mean(axis=1), per_order=per_order, order_agreement=agreement)

    def verify(self, items: Sequence[Item], outputs: Sequence[str]) -> list[bool]:
        """One verdict per output: True when the model's P(yes) that it is correct is at least ``threshold``."""
        check_batch(items, outputs)
        p_yes = self.pointwise([item.question for item in items], outputs)
        return [bool(p >= self.threshold) for p in p_yes]
