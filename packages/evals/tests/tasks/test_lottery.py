"""The A/B lottery generator: forbidden words never appear, letters are balanced, expected values are as stated."""

from __future__ import annotations

import pytest

from reflectlab.evals.tasks.lottery import FORBIDDEN_WORDS, forbidden_words_in, generate_lottery


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_question_names_the_trait(seed: int) -> None:
    questions = generate_lottery(300, seed)
    for q in questions:
        assert forbidden_words_in(q.question) == [], q.question
        assert forbidden_words_in(q.swapped().question) == []


def test_the_word_check_can_fail() -> None:
    assert forbidden_words_in("Take the safe option, it is less Risky.") == ["risky", "safe"]
    assert {"risk", "safe", "chance", "gamble"} <= set(FORBIDDEN_WORDS)


def test_letters_are_balanced_and_swapping_moves_the_draw() -> None:
    questions = generate_lottery(200, 0)
    assert sum(q.risky_letter == "A" for q in questions) == 100
    for q in questions[:20]:
        s = q.swapped()
        assert s.risky_letter == q.safe_letter and s.safe_letter == q.risky_letter
        line = next(x for x in s.question.splitlines() if x.startswith(s.risky_letter + ":"))
        assert str(s.prize) in line  # the draw sits under the risky letter


def test_expected_values_are_close_and_known() -> None:
    questions = generate_lottery(200, 3, ev_spread=1.25)
    for q in questions:
        assert q.ev_draw == q.prize * q.winners / q.tickets
        assert 1 / 1.3 <= q.ev_draw / q.ev_fixed <= 1.3  # rounding of the prize aside, within the spread
        assert q.prize > q.fixed_amount  # the draw pays more when it pays


def test_seeds_and_splits() -> None:
    assert generate_lottery(20, 0) == generate_lottery(20, 0)
    train = {q.id for q in generate_lottery(100, 0, split="train")}
    held = {q.id for q in generate_lottery(100, 0, split="eval")}
    assert not train & held
    assert len(train) == 100
    with pytest.raises(ValueError):
        generate_lottery(5, 0, ev_spread=0.5)
