"""What the self-correction studies share: the task difficulty knobs and the problems they draw."""

from __future__ import annotations

from dataclasses import dataclass

from reflectlab.core.config import StudyConfig
from reflectlab.core.errors import UserError
from reflectlab.evals.tasks.arithmetic import Problem, generate_problems


@dataclass
class TaskConfig(StudyConfig):
    """Arithmetic difficulty. The default (one-digit operands, one of + - *) is where the embedded SmolLM2-135M
    answers about 58% right greedily and about 40% when sampled at T=0.7 (measured on 60 problems), inside the
    20-60% band where a correction can show either way."""

    digits: int = 1
    ops: str = "+-*"
    steps: int = 1
    margin: float = 0.05


def problems(cfg: TaskConfig, n: int, seed: int, exclude: set[str] | None = None) -> list[Problem]:
    """``n`` problems at the study's difficulty, none of them in ``exclude`` (by id)."""
    skip = exclude or set()
    try:
        drawn = generate_problems(n + len(skip), seed=seed, digits=cfg.digits, ops=cfg.ops, steps=cfg.steps)
    except ValueError as exc:  # a difficulty setting out of range
        raise UserError(f"self-correction task settings: {exc}") from None
    return [p for p in drawn if p.id not in skip][:n]
