"""ModelJudge: order logic on scripted scorers, probabilities and shapes on the tiny random model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.evals.verifiers import ModelJudge, PairwiseJudgement, QAItem


class Scripted:
    """Answers option_probs from a rule on the prompt text; records the prompts it saw."""

    def __init__(self, p_first_option: Any) -> None:
        self.rule = p_first_option
        self.seen: list[Any] = []

    def option_probs(self, prompts: Sequence[Any], options: Sequence[str]) -> np.ndarray:
        self.seen.extend(prompts)
        p = np.array([self.rule(prompt[-1]["content"]) for prompt in prompts], dtype=float)
        return np.stack([p, 1.0 - p], axis=1)


def test_a_judge_that_always_says_a_has_no_preference_and_no_agreement() -> None:
    result = ModelJudge(Scripted(lambda text: 1.0)).pairwise(["q", "q"], ["x", "y"], ["y", "x"])
    assert result.per_order.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert result.p_first.tolist() == [0.5, 0.5]
    assert result.order_agreement.tolist() == [False, False]
    assert result.agreement_rate == 0.0
    assert result.position_bias == pytest.approx(0.5)


def test_a_judge_that_prefers_content_agrees_across_orders() -> None:
    judge = ModelJudge(Scripted(lambda text: 0.9 if "Answer A: good" in text else 0.1))
    result = judge.pairwise(["q", "q"], ["good", "bad"], ["bad", "good"])
    assert result.per_order == pytest.approx(np.array([[0.9, 0.9], [0.1, 0.1]]))
    assert result.p_first == pytest.approx([0.9, 0.1])
    assert result.order_agreement.tolist() == [True, True]
    assert result.position_bias == pytest.approx(0.0)


def test_pointwise_reads_p_yes_and_verify_thresholds_it() -> None:
    scorer = Scripted(lambda text: 0.8 if "answer: 42" in text else 0.3)
    judge = ModelJudge(scorer, system="You are a strict grader.")
    items = [QAItem("a", "What is 40 + 2?", 42)] * 2
    assert judge.pointwise([i.question for i in items], ["42", "41"]) == pytest.approx([0.8, 0.3])
    assert judge.verify(items, ["42", "41"]) == [True, False]
    assert ModelJudge(scorer, threshold=0.2).verify(items, ["42", "41"]) == [True, True]
    first = scorer.seen[0]
    assert first[0] == {"role": "system", "content": "You are a strict grader."}
    assert "What is 40 + 2?" in first[1]["content"]


def test_empty_batches() -> None:
    judge = ModelJudge(Scripted(lambda text: 1.0))
    assert judge.pointwise([], []).shape == (0,)
    result = judge.pairwise([], [], [])
    assert result.per_order.shape == (0, 2) and np.isnan(result.agreement_rate)
    with pytest.raises(ValueError):
        judge.pairwise(["q"], ["a"], [])


@pytest.fixture(scope="module")
def tiny_judge(tiny_dir: Path) -> ModelJudge:
    return ModelJudge(load_model(ModelSpec(name=str(tiny_dir), batch_size=8)))


QUESTIONS = ["What is 37 + 48?", "What is 12 * 12?", "What is 9 - 7?"]


def test_tiny_model_pointwise_probabilities(tiny_judge: ModelJudge) -> None:
    p_yes = tiny_judge.pointwise(QUESTIONS, ["85", "124", "2"])
    assert p_yes.shape == (3,)
    assert np.all((p_yes >= 0) & (p_yes <= 1))
    swapped = ModelJudge(tiny_judge.model, yes_no=("no", "yes")).pointwise(QUESTIONS, ["85", "124", "2"])
    assert swapped == pytest.approx(1.0 - p_yes, abs=1e-9)
    verdicts = tiny_judge.verify([QAItem(str(i), q, 0) for i, q in enumerate(QUESTIONS)], ["85", "124", "2"])
    assert verdicts == [bool(p >= 0.5) for p in p_yes]


def test_tiny_model_pairwise_shapes_and_symmetry(tiny_judge: ModelJudge) -> None:
    result = tiny_judge.pairwise(QUESTIONS, ["85", "144", "2"], ["75", "124", "2"])
    assert isinstance(result, PairwiseJudgement)
    assert result.p_first.shape == (3,) and result.per_order.shape == (3, 2) and result.order_agreement.shape == (3,)
    assert np.all((result.per_order >= 0) & (result.per_order <= 1))
    assert result.p_first == pytest.approx(result.per_order.mean(axis=1))
    assert result.order_agreement.dtype == bool
    # Identical answers make both orders the same prompt, so P(first better) is exactly one half.
    assert result.p_first[2] == pytest.approx(0.5, abs=1e-9)
    # Swapping the pair mirrors the preference.
    mirrored = tiny_judge.pairwise(QUESTIONS, ["75", "124", "2"], ["85", "144", "2"])
    assert mirrored.p_first == pytest.approx(1.0 - result.p_first, abs=1e-9)
