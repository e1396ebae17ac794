"""Seeded arithmetic problems with controllable difficulty and exact integer answers.

Difficulty has three knobs: ``digits`` (every operand has exactly that many digits; one-digit operands are 1-9),
``ops`` (the operators a problem may use, among ``+ - *``) and ``steps`` (the number of operations, so a problem has
``steps + 1`` operands). Answers follow the usual precedence (``*`` before ``+`` and ``-``) and are exact Python ints.

Every random choice is a hash of (seed, difficulty settings, item index, attempt, slot), so a problem set depends on
nothing but its arguments: the same call gives the same problems on any machine and Python version, and the first
``k`` problems of ``generate_problems(n, seed)`` are those of ``generate_problems(k, seed)``. Ids are derived from the
expression, so the same problem carries the same id whichever seed drew it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

OPERATORS: tuple[str, ...] = ("+", "-", "*")
"""The operators a problem can use."""

DEFAULT_TEMPLATE = "What is {expression}? Give the final answer as a number."
"""The question text; ``{expression}`` is replaced by the problem's expression, e.g. ``37 + 48``."""

_MAX_ATTEMPTS = 1000  # draws per item before a duplicate is accepted (only when the space is nearly exhausted)


@dataclass(frozen=True)
class Problem:
    """One arithmetic problem.

    ``id`` is stable (a hash of the expression, prefixed by the difficulty); ``question`` is the text to put in a
    user turn; ``answer`` is the exact value of ``expression``. ``digits`` and ``steps`` are the difficulty it was
    drawn at; ``operators`` are the operators it actually uses, in order.
    """

    id: str
    question: str
    answer: int
    expression: str
    operands: tuple[int, ...]
    operators: tuple[str, ...]
    digits: int
    steps: int

    @property
    def n_operands(self) -> int:
        return len(self.operands)

    def messages(self) -> list[dict[str, str]]:
        """The question as a one-turn chat prompt (a value for ``Model.generate``)."""
        return [{"role": "user", "content": self.question}]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["operands"] = list(self.operands)
        d["operators"] = list(self.operators)
        return d


def evaluate(operands: Iterable[int], operators: Iterable[str]) -> int:
    """The exact value of ``operands[0] op[0] operands[1] op[1] ...`` with ``*`` binding tighter than ``+``/``-``."""
    values = list(operands)
    ops = list(operators)
    if len(ops) != len(values) - 1 or not values:
        raise ValueError(f"need one operator fewer than operands, got {len(values)} operands and {len(ops)} operators")
    terms = [values[0]]
    signs = [1]
    for op, x in zip(ops, values[1:], strict=True):
        if op == "*":
            terms[-1] *= x
        elif op in ("+", "-"):
            terms.append(x)
            signs.append(1 if op == "+" else -1)
        else:
            raise ValueError(f"unknown operator {op!r}; allowed: {' '.join(OPERATORS)}")
    return sum(s * t for s, t in zip(signs, terms, strict=True))


def format_expression(operands: Iterable[int], operators: Iterable[str]) -> str:
    """``37 + 48 * 2``: operands and operators joined with single spaces."""
    values = [str(v) for v in operands]
    parts = [values[0]]
    for op, v in zip(operators, values[1:], strict=True):
        parts += [op, v]
    return " ".join(parts)


def problem_id(expression: str, digits: int, steps: int) -> str:
    """The stable id of a problem: ``arith-d{digits}-s{steps}-`` and 10 hex digits of the expression's SHA-256."""
    digest = hashlib.sha256(expression.encode()).hexdigest()[:10]
    return f"arith-d{digits}-s{steps}-{digest}"


def generate_problems(
    n: int,
    seed: int = 0,
    *,
    digits: int = 2,
    ops: str | Iterable[str] = OPERATORS,
    steps: int = 1,
    allow_negative: bool = True,
    template: str = DEFAULT_TEMPLATE,
) -> list[Problem]:
    """``n`` distinct arithmetic problems drawn deterministically from ``seed``.

    ``ops`` is a subset of ``+ - *`` (a string such as ``"+-"`` or a sequence). With ``allow_negative=False`` only
    problems whose answer is >= 0 are kept. Problems are distinct within a call unless ``n`` exceeds the number of
    distinct problems at this difficulty; then repeats are unavoidable and a repeat's id gets a ``-2``, ``-3`` ...
    suffix so ids stay unique.
    """
    allowed = _check_ops(ops)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    low = 1 if digits == 1 else 10 ** (digits - 1)
    high = 10**digits - 1
    n_values = high - low + 1
    space = n_values ** (steps + 1) * len(allowed) ** steps  # an upper bound on the distinct problems
    stream = f"{seed}|{digits}|{steps}|{''.join(allowed)}"

    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index in range(n):
        chosen: tuple[tuple[int, ...], tuple[str, ...]] | None = None
        fallback: tuple[tuple[int, ...], tuple[str, ...]] | None = None
        for attempt in range(_MAX_ATTEMPTS):
            key = f"{stream}|{index}|{attempt}"
            operands = tuple(low + _draw(key, f"x{k}", n_values) for k in range(steps + 1))
            operators = tuple(allowed[_draw(key, f"op{k}", len(allowed))] for k in range(steps))
            if not allow_negative and evaluate(operands, operators) < 0:
                continue
            fallback = fallback or (operands, operators)
            if format_expression(operands, operators) in seen and len(seen) < space:
                continue
            chosen = (operands, operators)
            break
        if chosen is None:
            if fallback is None:
                raise ValueError(
                    f"could not draw a problem with a non-negative answer (digits={digits}, steps={steps}, ops={allowed})"
                )
            chosen = fallback
        operands, operators = chosen
        expression = format_expression(operands, operators)
        seen[expression] = seen.get(expression, 0) + 1
        pid = problem_id(expression, digits, steps)
        if seen[expression] > 1:
            pid = f"{pid}-{seen[expression]}"
        problems.append(
            Problem(
                id=pid,
                question=template.format(expression=expression),
                answer=evaluate(operands, operators),
                expression=expression,
                operands=operands,
                operators=operators,
                digits=digits,
                steps=steps,
            )
        )
    return problems


def _check_ops(ops: str | Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(ops)
    unknown = sorted(set(chosen) - set(OPERATORS))
    if unknown or not chosen:
        raise ValueError(f"ops must be a non-empty subset of {' '.join(OPERATORS)}, got {chosen!r}")
    return tuple(op for op in OPERATORS if op in chosen)  # canonical order, no repeats


def _draw(key: str, slot: str, n_choices: int) -> int:
    """A uniform integer in [0, n_choices) from the hash of (key, slot); the bias of the modulo is below 2**-200."""
    digest = hashlib.sha256(f"{key}|{slot}".encode()).digest()
    return int.from_bytes(digest, "big") % n_choices
