"""The arithmetic generator: determinism, difficulty control, exact answers, distinct problems and stable ids."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from reflectlab.evals.tasks.arithmetic import evaluate, format_expression, generate_problems, problem_id


def test_same_arguments_give_the_same_problems_and_other_seeds_do_not() -> None:
    a = generate_problems(50, seed=7, digits=3, ops="+-*", steps=2)
    b = generate_problems(50, seed=7, digits=3, ops="+-*", steps=2)
    c = generate_problems(50, seed=8, digits=3, ops="+-*", steps=2)
    assert a == b
    assert [p.expression for p in a] != [p.expression for p in c]


def test_a_shorter_call_is_a_prefix_of_a_longer_one() -> None:
    assert generate_problems(10, seed=3) == generate_problems(40, seed=3)[:10]


def test_the_stream_is_pinned() -> None:
    # Guards reproducibility across versions: changing the draw changes every stored run's problems.
    first = generate_problems(1, seed=0)[0]
    assert first.expression == "55 * 52"
    assert first.id == problem_id("55 * 52", 2, 1) == "arith-d2-s1-9488836296"


@pytest.mark.parametrize("digits", [1, 2, 3, 5])
def test_every_operand_has_the_asked_number_of_digits(digits: int) -> None:
    problems = generate_problems(100, seed=1, digits=digits, steps=2)
    operands = [x for p in problems for x in p.operands]
    assert all(len(str(x)) == digits for x in operands)
    assert all(x > 0 for x in operands)
    assert all(p.digits == digits for p in problems)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_steps_set_the_number_of_operations(steps: int) -> None:
    for p in generate_problems(30, seed=2, steps=steps):
        assert p.steps == steps
        assert len(p.operators) == steps
        assert p.n_operands == steps + 1


@pytest.mark.parametrize("ops", ["+", "-", "*", "+-", ("*", "+")])
def test_only_the_allowed_operators_appear(ops: str | tuple[str, ...]) -> None:
    problems = generate_problems(60, seed=4, ops=ops, steps=3)
    used = {op for p in problems for op in p.operators}
    assert used == set(ops)


def test_operators_are_drawn_evenly() -> None:
    counts = Counter(op for p in generate_problems(600, seed=5, steps=1) for op in p.operators)
    assert set(counts) == {"+", "-", "*"}
    assert all(150 < c < 250 for c in counts.values()), counts


def test_answers_are_exact_with_precedence() -> None:
    assert evaluate([2, 3, 4], ["+", "*"]) == 14
    assert evaluate([10, 2, 3], ["-", "-"]) == 5
    assert evaluate([2, 3, 4, 5], ["*", "-", "*"]) == -14
    assert evaluate([99999] * 4, ["*"] * 3) == 99999**4
    for p in generate_problems(200, seed=6, digits=3, steps=3):
        assert isinstance(p.answer, int)
        assert p.answer == evaluate(p.operands, p.operators)
        assert p.expression == format_expression(p.operands, p.operators)


def test_question_names_the_expression_and_asks_for_a_number() -> None:
    p = generate_problems(1, seed=0, ops="+")[0]
    assert p.question == f"What is {p.expression}? Give the final answer as a number."
    assert p.messages() == [{"role": "user", "content": p.question}]
    custom = generate_problems(1, seed=0, ops="+", template="Compute {expression}.")[0]
    assert custom.question == f"Compute {p.expression}."
    assert custom.id == p.id


def test_no_negative_answers_when_asked() -> None:
    problems = generate_problems(200, seed=9, ops="-", steps=2, allow_negative=False)
    assert all(p.answer >= 0 for p in problems)
    assert any(p.answer < 0 for p in generate_problems(200, seed=9, ops="-", steps=2))


def test_problems_and_ids_are_distinct() -> None:
    problems = generate_problems(500, seed=11, digits=2, ops="+", steps=1)
    assert len({p.expression for p in problems}) == 500
    assert len({p.id for p in problems}) == 500


def test_small_spaces_are_exhausted_before_any_repeat() -> None:
    # 1-digit a + b: 81 distinct problems; the first 81 cover them all, repeats then get suffixed ids.
    problems = generate_problems(100, seed=0, digits=1, ops="+", steps=1)
    assert len({p.expression for p in problems[:81]}) == 81
    assert len({p.id for p in problems}) == 100
    assert any(p.id.endswith("-2") for p in problems[81:])


def test_ids_depend_on_the_problem_not_the_seed() -> None:
    a = {p.expression: p.id for p in generate_problems(81, seed=1, digits=1, ops="+")}
    b = {p.expression: p.id for p in generate_problems(81, seed=2, digits=1, ops="+")}
    assert a == b


def test_to_dict_is_json_ready() -> None:
    d = generate_problems(1, seed=0, steps=2)[0].to_dict()
    assert isinstance(d["operands"], list) and isinstance(d["operators"], list)
    assert set(d) == {"id", "question", "answer", "expression", "operands", "operators", "digits", "steps"}


@pytest.mark.parametrize(
    "kwargs",
    [{"n": -1}, {"n": 1, "digits": 0}, {"n": 1, "steps": 0}, {"n": 1, "ops": "/"}, {"n": 1, "ops": ""}],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate_problems(**kwargs)
