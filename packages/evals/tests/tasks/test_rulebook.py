"""The rulebook task: exact rule semantics, deterministic task sets, and a judge that can say no."""

from __future__ import annotations

import pytest

from reflectlab.evals.tasks.rulebook import (
    RULES,
    RulebookJudge,
    apply_rules,
    check,
    extract_word,
    generate_rulebook_tasks,
    make_task,
    rulebook_text,
)


def test_each_rule_does_what_the_rulebook_says() -> None:
    assert apply_rules("stone", ["zorp"]) == "enots"
    assert apply_rules("stone", ["blick"]) == "STONE"
    assert apply_rules("stone", ["frell"]) == "tones"
    assert apply_rules("stone", ["quib"]) == "stonee"
    assert apply_rules("stone", ["snark"]) == "stn"
    assert apply_rules("stone", ["twell"]) == "etons"
    assert apply_rules("stone", ["zorp", "blick"]) == "ENOTS"  # in order
    assert apply_rules("stone", ["frell", "zorp"]) == "senot"
    for name in RULES:
        assert f"- {name}: " in rulebook_text()


def test_unknown_rules_and_bad_words_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        apply_rules("stone", ["nope"])
    with pytest.raises(ValueError, match="letters only"):
        make_task("st0ne", ["zorp"])
    with pytest.raises(ValueError, match="n_rules"):
        generate_rulebook_tasks(3, n_rules=0)


def test_task_sets_are_deterministic_with_distinct_rules_per_task() -> None:
    a = generate_rulebook_tasks(30, seed=4, n_rules=2)
    assert a == generate_rulebook_tasks(30, seed=4, n_rules=2)
    assert a != generate_rulebook_tasks(30, seed=5, n_rules=2)
    assert all(len(set(t.rules)) == 2 and t.difficulty == 2 for t in a)
    assert all(t.answer == apply_rules(t.word, t.rules) for t in a)
    assert generate_rulebook_tasks(5, seed=4, n_rules=2) == a[:5]


def test_the_judge_reads_the_stated_word_and_rejects_wrong_ones() -> None:
    task = make_task("stone", ["zorp", "blick"])
    assert check(task, "Answer: ENOTS")
    assert check(task, "Sure! Answer: **ENOTS**.")
    assert check(task, "Reversed and in capitals it is ENOTS")
    assert not check(task, "Answer: enots")  # case matters
    assert not check(task, "Answer: ENOTS is wrong, Answer: STONE")  # the last stated answer counts
    assert not check(task, "")
    assert extract_word("12 34") is None
    assert RulebookJudge().verify([task, task], ["Answer: ENOTS", "Answer: STONE"]) == [True, False]
    with pytest.raises(ValueError):
        RulebookJudge().verify([task], [])


def test_the_prompt_carries_the_rulebook_and_the_skills() -> None:
    task = make_task("apple", ["twell"])
    plain = task.messages()[0]["content"]
    assert "Rulebook" in plain and "twell" in plain and "Skills" not in plain
    with_skills = task.messages(["Read the rule names carefully."])[0]["content"]
    assert "- Read the rule names carefully." in with_skills
