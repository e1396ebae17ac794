"""RefusalDetector on refusals, abstentions, hedges and ordinary answers."""

from __future__ import annotations

import pytest

from reflectlab.evals.verifiers import QAItem, RefusalDetector

REFUSALS = [
    ("I'm sorry, but I can't help with that.", "refusal"),
    ("Sorry, I cannot answer that question.", "refusal"),
    ("As an AI, I have no access to the internet.", "refusal"),
    ("I am unable to provide that information.", "refusal"),
    ("I don\u2019t know.", "dont_know"),
    ("I DO NOT KNOW the answer.", "dont_know"),
    ("I have  no\nidea who that is.", "dont_know"),
    ("I'm not familiar with Jorvik Elstrand.", "dont_know"),
    ("I don't know what the answer is.", "dont_know"),
    ("I do not know; the answer is unknown.", "dont_know"),
    ("The answer cannot be determined from the information given.", "dont_know"),
]

ANSWERS = [
    "The answer is 42.",
    "I know the answer: 42",
    "Snowdon is the highest mountain in Wales.",
    "I'm not sure, but the answer is 42.",
    "I don't know for certain; my final answer is \\boxed{7}.",
    "My piano ideas are good.",
    "Knowledge is power.",
    "",
]


@pytest.mark.parametrize(("text", "kind"), REFUSALS)
def test_refusals_and_abstentions_are_flagged(text: str, kind: str) -> None:
    match = RefusalDetector().detect(text)
    assert match is not None and match.kind == kind, (text, match)


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_and_hedges_are_not(text: str) -> None:
    assert RefusalDetector().detect(text) is None


def test_dont_know_can_be_left_out() -> None:
    detector = RefusalDetector(include_dont_know=False)
    assert not detector.is_refusal("I don't know.")
    assert detector.is_refusal("I can't help with that.")


def test_phrase_lists_can_be_replaced() -> None:
    detector = RefusalDetector(refusal_phrases=["no comment"], dont_know_phrases=[])
    assert detector.detect("No comment.") == detector.detect("no   COMMENT")
    assert not detector.is_refusal("I don't know.")


def test_verify_flags_refusals() -> None:
    items = [QAItem(str(i), "Who is Jorvik Elstrand?", 0) for i in range(3)]
    outputs = ["I don't know.", "A Norwegian painter.", "I cannot answer that."]
    assert RefusalDetector().verify(items, outputs) == [True, False, True]
