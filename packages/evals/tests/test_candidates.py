"""extract_candidates and transitions on hand-written solve-then-check traces with known transitions."""

from __future__ import annotations

import pytest

from reflectlab.evals.extract import STRICT_RULES, extract_candidates, transitions

CONFIRMATORY = """37 + 48 = 85
Let me check: 85 - 48 = 37. Correct.
So the answer is 85."""

CORRECTIVE = """To add 37 and 48, I add the tens and the ones.
37 + 48 = 75
Wait, let me double-check: 7 + 8 = 15, so the ones give 15, not 5.
Therefore the sum is 85.

Final answer: **85**"""

HARMFUL = """The product is 12 * 12 = 144.
Hmm, maybe I made an error. 12 * 12 = 124.
Thus the answer is \\boxed{124}."""

WANDERING = """48 + 37 = 75.
Hmm, 48 + 37 = 95.
The answer is 95."""


@pytest.mark.parametrize(
    ("trace", "gold", "values", "lines", "rules", "labels"),
    [
        (CONFIRMATORY, 85, [85, 85], [0, 2], ["equals", "answer"], ["T->T"]),
        (CORRECTIVE, 85, [75, 85, 85], [1, 3, 5], ["equals", "conclusion", "answer"], ["F->T", "T->T"]),
        (HARMFUL, 144, [144, 124, 124], [0, 1, 2], ["equals", "equals", "boxed"], ["T->F", "F->F same"]),
        (WANDERING, 85, [75, 95, 95], [0, 1, 2], ["equals", "equals", "answer"], ["F->F different", "F->F same"]),
    ],
)
def test_candidates_and_transitions(
    trace: str, gold: int, values: list[int], lines: list[int], rules: list[str], labels: list[str]
) -> None:
    cands = extract_candidates(trace)
    assert [c.value for c in cands] == values
    assert [c.line_index for c in cands] == lines
    assert [c.rule for c in cands] == rules
    assert transitions([c.value for c in cands], gold) == labels


def test_offsets_point_at_the_lines() -> None:
    for trace in (CONFIRMATORY, CORRECTIVE, HARMFUL, WANDERING.replace("\n", "\r\n")):
        split = trace.splitlines()
        for c in extract_candidates(trace):
            assert trace[c.start : c.end] == c.line == split[c.line_index]
    first = extract_candidates(CORRECTIVE)[0]
    assert CORRECTIVE[: first.end].endswith("37 + 48 = 75")


def test_strict_rules_skip_intermediate_results() -> None:
    trace = "First, 7 + 8 = 15.\nThen 30 + 40 + 10 = 80, plus 5 gives 85.\nThe answer is 85.\nAnswer: 85"
    assert [c.value for c in extract_candidates(trace)] == [15, 80, 85, 85]
    strict = extract_candidates(trace, rules=STRICT_RULES)
    assert [(c.line_index, c.value) for c in strict] == [(2, 85), (3, 85)]


def test_a_checking_line_counts_only_through_an_explicit_answer() -> None:
    trace = "Verifying: 85 - 48 = 37\nAfter checking, the answer is 85."
    assert [(c.line_index, c.value, c.rule) for c in extract_candidates(trace)] == [(1, 85, "answer")]


def test_lines_without_a_number_or_a_marker_are_not_candidates() -> None:
    assert extract_candidates("") == []
    assert extract_candidates("So let us think.\nWe have 37 apples and 48 pears.\nThe answer is unclear.") == []


def test_transitions_need_two_candidates() -> None:
    assert transitions([], 1) == []
    assert transitions([1], 1) == []
    assert transitions([2.0, 2], 2) == ["T->T"]


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown candidate rules"):
        extract_candidates("x = 1", rules=["equals", "vibes"])  # type: ignore[list-item]
