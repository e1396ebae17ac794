"""Pieces the self-play studies share: arithmetic items behind a ground truth, greedy held-out accuracy, the prompt
size a plan reads off them, the ``rl-scored`` update, the per-round plot, and the label of every simulated finding."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.base import Model, SamplingParams
from reflectlab.core.plan import PlanContext
from reflectlab.core.plots import pyplot, save_figure
from reflectlab.evals.tasks.arithmetic import Problem, generate_problems
from reflectlab.evals.verifiers import ExactMatch
from reflectlab.selfplay.self_play.truth import Blind, GroundTruth

#: Put in the ``details`` of every finding that comes from a simulated arm, and in its metric name.
SIMULATION = "simulation"

#: What an ``rl-scored`` update learns from: a prompt (chat), completions sampled beforehand, one reward each.
Group = tuple[list[dict[str, str]], list[str], list[float]]


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


def heldout_prompt_tokens(ctx: PlanContext, n_heldout: int, *, digits: int, ops: str) -> float:
    """Mean prompt tokens of the held-out problems ``run`` asks (the first 16 of them), as the subject renders them."""
    heldout, _ = split_problems(n_heldout, 0, seed=ctx.seed, digits=digits, ops=ops)
    items = arithmetic_truth(heldout[:16]).blind()
    return ctx.count(ctx.subject, [i.messages() for i in items]) / max(1, len(items))


def greedy_answers(model: Model, items: list[Blind], tokens: int, desc: str = "held-out") -> list[str]:
    gens = model.generate([i.messages() for i in items], SamplingParams(max_new_tokens=tokens), desc=desc)
    return [g.text for g in gens]


def rl_update(ctx: RunContext, model: Model, groups: Sequence[Group], tag: str, **settings: Any) -> Model:
    """One pass of the ``rl-scored`` trainer over ``groups``, continuing ``model``, through the shared training step
    (:meth:`RunContext.train`: a content-keyed folder, step metrics as ``<tag>/<name>``, the adapter under
    ``adapters/<tag>``); returns the updated model. ``settings`` are the trainer's (``steps``, ``learning_rate``,
    ``lora_r``, ``seed`` ...).

    The trainer comes from ``reflectlab-training``, this package's optional ``training`` extra: asking the registry
    first names the package to install when it is missing; only then is its module imported for the group and
    settings types."""
    from reflectlab.core.registry import trainers

    trainers.get("rl-scored")
    from reflectlab.training.rl import RLSettings, ScoredGroup

    scored = [ScoredGroup(chat=chat, completions=completions, rewards=rewards) for chat, completions, rewards in groups]
    result = ctx.train(scored, RLSettings(**settings), tag, trainer="rl-scored", base=model.spec)
    return ctx.model(result.spec)


def plot_rounds(path: Path, curves: dict[str, Sequence[float | None]], title: str, first_round: int = 1) -> None:
    """One line per truth-tracking measure over rounds (missing values are gaps), saved as a PNG."""
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        ys = [float("nan") if v is None else float(v) for v in values]
        ax.plot(range(first_round, first_round + len(ys)), ys, marker="o", label=name)
    ax.set_xlabel("round")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(title)
    save_figure(fig, path)
