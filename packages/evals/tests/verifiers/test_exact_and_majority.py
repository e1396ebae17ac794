"""ExactMatch and MajorityVote on planted cases."""

from __future__ import annotations

import pytest

from reflectlab.evals.verifiers import ExactMatch, MajorityVote, QAItem

P1 = QAItem("p1", "What is 40 + 2?", 42)
P2 = QAItem("p2", "What is 1 / 4?", 0.25)


def test_exact_match_extracts_then_compares() -> None:
    items = [P1, P1, P1, P1, P2, P2, P2]
    outputs = ["The answer is 42.", "\\boxed{42.0}", "41", "I don't know", "0.25", "0.2500000001", "0.26"]
    assert ExactMatch().verify(items, outputs) == [True, True, False, False, True, True, False]
    assert ExactMatch(abs_tol=0.02).check(0.25, "0.26")


def test_exact_match_needs_one_output_per_item() -> None:
    with pytest.raises(ValueError, match="one output per item"):
        ExactMatch().verify([P1], ["1", "2"])


def test_majority_vote_with_agreement_share() -> None:
    vote = MajorityVote().vote(["42", "The answer is 42.", "41", "\\boxed{42}"])
    assert (vote.answer, vote.count, vote.n, vote.share, vote.tied) == (42, 3, 4, 0.75, False)


def test_accept_means_agreeing_with_the_majority_not_being_correct() -> None:
    items = [P1] * 4
    outputs = ["41", "41", "so 41", "42"]  # the majority is wrong
    assert MajorityVote().verify(items, outputs) == [True, True, True, False]


def test_ties_go_to_the_smaller_answer_whatever_the_order() -> None:
    outputs = ["5", "3", "5", "3"]
    for order in (outputs, outputs[::-1], sorted(outputs)):
        vote = MajorityVote().vote(order)
        assert (vote.answer, vote.tied, vote.share) == (3, True, 0.5)
    assert MajorityVote().verify([P1] * 4, outputs) == [False, True, False, True]


def test_outputs_without_an_answer_count_in_the_share_but_never_agree() -> None:
    vote = MajorityVote().vote(["no idea", "I don't know", "7"])
    assert vote.answer == 7 and vote.share == pytest.approx(1 / 3)
    assert MajorityVote().verify([P1] * 3, ["no idea", "I don't know", "7"]) == [False, False, True]
    empty = MajorityVote().vote(["no idea", "pass"])
    assert (empty.answer, empty.share) == (None, 0.0)
    assert MajorityVote().verify([P1] * 2, ["no idea", "pass"]) == [False, False]


def test_equal_numbers_written_differently_vote_together() -> None:
    vote = MajorityVote().vote(["42.0", "42", "**42**", "43", "43.5"])
    assert (vote.answer, vote.count) == (42, 3)


def test_rows_are_grouped_by_item_id() -> None:
    items = [P1, P2, P1, P2, P1, P2]
    outputs = ["42", "0.25", "42", "0.5", "7", "0.5"]
    assert MajorityVote().verify(items, outputs) == [True, False, True, True, False, True]
    votes = MajorityVote().votes(items, outputs)
    assert set(votes) == {"p1", "p2"}
    assert (votes["p1"].answer, votes["p1"].count) == (42, 2)
    assert (votes["p2"].answer, votes["p2"].count, votes["p2"].n) == (0.5, 2, 3)
