"""What the self-correction studies share: the task difficulty knobs and the problems they draw."""

from __future__ import annotations

from dataclasses import dataclass

from reflectlab.core.config import StudyConfig, option, require
from reflectlab.evals.tasks.arithmetic import OPERATORS, Problem, generate_problems


@dataclass
class TaskConfig(StudyConfig):
    """Arithmetic difficulty. The default (one-digit operands, one of + - *) is where the embedded SmolLM2-135M
    answers about 58% right greedily and about 40% when sampled at T=0.7 (measured on 60 problems), inside the
    20-60% band where a correction can show either way."""

    digits: int = option(1, "Digits per operand of the arithmetic problems.")
    ops: str = option("+-*", "Operators the problems may use: a non-empty subset of + - *.")
    steps: int = option(1, "Operations per problem.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.digits >= 1, "digits", "must be at least 1")
        require(bool(self.ops) and set(self.ops) <= set(OPERATORS), "ops", "must be a non-empty subset of + - *")
        require(self.steps >= 1, "steps", "must be at least 1")


def problems(cfg: TaskConfig, n: int, seed: int, exclude: set[str] | None = None) -> list[Problem]:
    """``n`` problems at the study's difficulty, none of them in ``exclude`` (by id)."""
    skip = exclude or set()
    drawn = generate_problems(n + len(skip), seed=seed, digits=cfg.digits, ops=cfg.ops, steps=cfg.steps)
    return [p for p in drawn if p.id not in skip][:n]
