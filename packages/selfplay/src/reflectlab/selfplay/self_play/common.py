"""Pieces the self-play studies share: arithmetic items behind a ground truth, greedy held-out accuracy, the
trainer settings they pass on, and the label every simulated finding carries."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflectlab.core.models.base import Model, SamplingParams
from reflectlab.evals.tasks.arithmetic import Problem, generate_problems
from reflectlab.evals.verifiers import ExactMatch
from reflectlab.selfplay.self_play.truth import Blind, GroundTruth

#: Put in the ``details`` of every finding that comes from a simulated arm, and in its metric name.
SIMULATION = "simulation"


def arithmetic_truth(problems: list[Problem]) -> GroundTruth[Problem]:
    """The ground truth of arithmetic items: exact match on the extracted number."""
    exact = ExactMatch()
    return GroundTruth(problems, lambda p, out: exact.check(p.answer, out))


def split_problems(
    n_heldout: int, n_train: int, *, seed: int, digits: int, ops: str
) -> tuple[list[Problem], list[Problem]]:
    """A fixed held-out set and disjoint training problems (same generator, different seeds)."""
    heldout = generate_problems(n_heldout, seed=10_000 + seed, digits=digits, ops=ops)
    exclude = {p.id for p in heldout}
    drawn = generate_problems(n_train + n_heldout, seed=20_000 + seed, digits=digits, ops=ops)
    return heldout, [p for p in drawn if p.id not in exclude][:n_train]


def greedy_answers(model: Model, items: list[Blind], tokens: int, desc: str = "held-out") -> list[str]:
    gens = model.generate([i.messages() for i in items], SamplingParams(max_new_tokens=tokens), desc=desc)
    return [g.text for g in gens]


def rl_scored() -> tuple[Any, Any]:
    """The ``rl-scored`` trainer from the registry and the module that defines its ``ScoredGroup`` and
    ``RLSettings`` (reached through the trainer, so this package needs no import of ``reflectlab.training``)."""
    from reflectlab.core.registry import trainers

    train = trainers.get("rl-scored")
    return train, importlib.import_module(train.__module__)


def plot_rounds(path: Path, curves: dict[str, Sequence[float | None]], title: str, first_round: int = 1) -> None:
    """One line per truth-tracking measure over rounds (missing values are gaps), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        ys = [float("nan") if v is None else float(v) for v in values]
        ax.plot(range(first_round, first_round + len(ys)), ys, marker="o", label=name)
    ax.set_xlabel("round")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
