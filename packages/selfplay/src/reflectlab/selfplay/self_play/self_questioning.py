"""Study ``self-play/self_questioning`` (SQLM, RESEARCH.md §4.3): one policy proposes arithmetic problems and solves
each several times; nobody knows the answers.

Each round: the proposer writes ``n_proposals`` problems (two numbers and +, - or *; a proposal that does not parse
earns nothing); the solver answers each ``solutions`` times; solver reward = agreement with the majority answer;
proposer reward = 1 when the problem is neither unanimous nor all-different. The update (``trainer: sft``) fine-tunes
the current model on the rewarded solutions and proposals (filtered behaviour cloning: the binary-reward policy
improvement step), or (``trainer: rl-scored``) gives every group with its rewards to the ``rl-scored`` trainer.

A proposal that is one of the held-out questions (or, for + and *, its commuted twin) is left out of the update with
its solutions and rewards, so the loop never trains on what it is measured on (issue 21).

The loop sees the question text only. The ground truth (the exact value of each proposed expression, and a fixed
held-out set) is read afterwards, per round: the precision of the majority vote, held-out accuracy, and the
difficulty the proposer drifts to. A simulated arm (``simulated.*``) runs the same rewards with a solver whose
accuracy falls with difficulty and a proposer choosing among difficulty levels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, StudyConfig, fine_tune, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import UnitEstimate, cluster_mean_ci, paired_rate_diff_ci, unit_means
from reflectlab.evals.extract import extract_answer, number_key
from reflectlab.evals.tasks.arithmetic import DEFAULT_TEMPLATE, evaluate, format_expression, problem_id
from reflectlab.evals.verifiers import MajorityVote
from reflectlab.selfplay.self_play.common import (
    SIMULATION,
    Group,
    arithmetic_truth,
    greedy_answers,
    heldout_prompt_tokens,
    plot_rounds,
    rl_update,
    split_problems,
)
from reflectlab.selfplay.self_play.tournament import sigmoid
from reflectlab.selfplay.self_play.truth import Blind

UPDATES = ("sft", "rl-scored")

PROPOSE = (
    "Write one new arithmetic problem for a student: two whole numbers joined by +, - or *. "
    "Reply with the problem only, in the form: What is <number> <operator> <number>?"
)
PROPOSAL_PREFIX = "What is "
_EXPRESSION = re.compile(r"(?<![\d.])(\d{1,4})\s*([+\-*\u00d7x])\s*(\d{1,4})(?![\d.]\d|[A-Za-z\d])")


#: The share of a round's proposals and solutions the ``sft`` update is planned to keep (the rewarded ones). On the
#: embedded model's quick preset it kept 14 of 30 proposals and 39 of 120 solutions.
PLANNED_KEEP = 0.5
#: What ``n`` counts in the real loop: the proposed problem (its expression; a problem proposed again, in any round,
#: is the same unit). In the simulated arm the unit is the replicate.
UNIT = "problem"
#: Margin of the diagnostics, and of held-out accuracy gains after training.
DIAGNOSTIC_MARGIN = 0.05
GAIN_MARGIN = 0.02


@dataclass
class SelfQuestioningConfig(StudyConfig):
    real: bool = option(True, "Run the loop on the model under study.")
    trainer: str = option(
        "sft", "The update: sft (fine-tune on the rewarded samples) or rl-scored (every group with its rewards)."
    )
    rounds: int = option(3, "Rounds of proposing, solving and updating.")
    n_proposals: int = option(10, "Problems the proposer writes per round.")
    solutions: int = option(4, "Solver samples per proposed problem.")
    n_heldout: int = option(48, "Fixed held-out problems, answered greedily before the loop and after each round.")
    heldout_digits: int = option(1, "Digits per operand of the held-out problems.")
    ops: str = option("+-*", "Operators the held-out problems draw from.")
    proposal_tokens: int = option(24, "Longest proposal, in tokens.")
    answer_tokens: int = option(24, "Longest answer, in tokens.")
    temperature: float = option(1.0, "Sampling temperature of proposals and solutions.")
    train: FineTune = fine_tune(epochs=1.0, lora_r=16, learning_rate=2e-4, batch_size=8)
    rl_learning_rate: float = option(2e-5, "Learning rate of the rl-scored update (its LoRA rank: train.lora_r).")
    simulate: bool = option(True, "Run the simulated arm beside the real loop (numpy only).")
    sim_levels: int = option(5, "Difficulty levels 1..L the simulated proposer chooses among.")
    sim_skill: float = option(2.0, "Simulated solver's log-odds of being right at level 1; one less per level.")
    sim_distractors: int = option(3, "Distinct wrong answers a simulated level's problems attract.")
    sim_rounds: int = option(10, "Rounds of the simulated loop.")
    sim_proposals: int = option(64, "Proposals per simulated round.")
    sim_replicates: int = option(40, "Independent runs of the simulated loop.")
    sim_proposer_lr: float = option(1.0, "Step size of the simulated proposer's REINFORCE update.")
    sim_solver_rate: float = option(0.5, "Share of the gap to the kept data's precision the simulated solver closes.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.trainer in UPDATES, "trainer", f"must be one of {', '.join(UPDATES)}, not {self.trainer!r}")


@dataclass(frozen=True)
class Proposal:
    """A proposed problem as the loop has it: the text and, when it parses, the question the solver gets."""

    text: str
    operands: tuple[int, ...] = ()
    operators: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return bool(self.operands)

    @property
    def expression(self) -> str:
        return format_expression(self.operands, self.operators) if self.valid else ""

    @property
    def difficulty(self) -> int:
        """Digits of the longer operand (the proposer's drift is read on this)."""
        return max(len(str(x)) for x in self.operands) if self.valid else 0

    def blind(self) -> Blind:
        expr = self.expression
        return Blind(problem_id(expr, self.difficulty, 1), DEFAULT_TEMPLATE.format(expression=expr))


def parse_proposal(text: str) -> Proposal:
    """The first ``a op b`` in the text (``x`` and a times sign read as ``*``); unparsed text is invalid."""
    m = _EXPRESSION.search(text)
    if not m:
        return Proposal(text)
    op = "*" if m.group(2) in ("x", "\u00d7") else m.group(2)
    return Proposal(text, (int(m.group(1)), int(m.group(3))), (op,))


@dataclass
class Solved:
    """One round of play: proposals, the solver's answers per valid proposal, and the self-made rewards."""

    proposals: list[Proposal]
    answers: list[list[str]]  # per valid proposal, in order
    solver_rewards: list[list[float]]
    proposer_rewards: list[float]  # per proposal (0 for an invalid one)


def self_rewards(outputs: list[str]) -> tuple[list[float], float]:
    """Solver rewards (agreement with the majority) and the proposer's reward (1 when the problem is neither
    unanimous nor all-different; outputs without a number never agree)."""
    vote = MajorityVote().vote(outputs)
    values = [extract_answer(o) for o in outputs]
    solver = [
        float(v is not None and vote.answer is not None and number_key(v) == number_key(vote.answer)) for v in values
    ]
    return solver, float(1 < vote.count < len(outputs))


def play_round(model: Model, cfg: SelfQuestioningConfig, seed: int) -> Solved:
    """Propose, solve, reward: everything here comes from the model's own outputs."""
    params = SamplingParams(max_new_tokens=cfg.proposal_tokens, temperature=cfg.temperature, stop=("\n",))
    # The reply is started with "What is " (as the format instruction asks), so proposals come in a parseable form.
    prompt = model.render(user(PROPOSE))[0] + PROPOSAL_PREFIX
    texts = [PROPOSAL_PREFIX + g.text for g in model.generate([prompt] * cfg.n_proposals, params,
                                              seeds=[seed * 1000 + i for i in range(cfg.n_proposals)], desc="propose")]  # fmt: skip
    proposals = [parse_proposal(t) for t in texts]
    valid = [p for p in proposals if p.valid]
    k = cfg.solutions
    solve = SamplingParams(max_new_tokens=cfg.answer_tokens, temperature=cfg.temperature)
    gens = model.generate([p.blind().messages() for p in valid for _ in range(k)], solve,
                          seeds=[seed * 1000 + j for _ in valid for j in range(k)], desc="solve")  # fmt: skip
    answers = [[g.text for g in gens[i * k : (i + 1) * k]] for i in range(len(valid))]
    solver_rewards, reward_of = [], {}
    for p, outs in zip(valid, answers, strict=True):
        s, r = self_rewards(outs)
        solver_rewards.append(s)
        reward_of[id(p)] = r
    proposer = [reward_of.get(id(p), 0.0) for p in proposals]
    return Solved(proposals, answers, solver_rewards, proposer)


# ----------------------------------------------------------------------------- reporting only
@dataclass
class QuestioningReport:
    """A round against the truth: per valid proposal with a majority answer, whether the majority and the first
    sample are right; difficulties; held-out correctness."""

    majority_correct: list[bool] = field(default_factory=list)
    single_correct: list[bool] = field(default_factory=list)
    difficulty: list[int] = field(default_factory=list)
    valid_rate: float = math.nan
    proposer_reward: float = math.nan
    solver_reward: float = math.nan
    heldout_correct: list[bool] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # per majority entry: the problem (the unit)
    proposal_problems: list[str] = field(default_factory=list)  # per difficulty entry: the problem

    def metrics(self) -> dict[str, float]:
        return {
            "majority_precision": float(np.mean(self.majority_correct)) if self.majority_correct else math.nan,
            "single_sample_accuracy": float(np.mean(self.single_correct)) if self.single_correct else math.nan,
            "proposed_difficulty": float(np.mean(self.difficulty)) if self.difficulty else math.nan,
            "valid_rate": self.valid_rate,
            "proposer_reward": self.proposer_reward,
            "solver_reward": self.solver_reward,
            "heldout_accuracy": float(np.mean(self.heldout_correct)) if self.heldout_correct else math.nan,
        }


def report_round(solved: Solved) -> QuestioningReport:
    """The truth of each proposed expression, computed here and nowhere in the loop."""
    valid = [p for p in solved.proposals if p.valid]
    report = QuestioningReport(
        valid_rate=len(valid) / max(1, len(solved.proposals)),
        proposer_reward=float(np.mean(solved.proposer_rewards)) if solved.proposer_rewards else math.nan,
        solver_reward=float(np.mean([r for rs in solved.solver_rewards for r in rs])) if solved.solver_rewards else math.nan,
    )  # fmt: skip
    for p, outs in zip(valid, solved.answers, strict=True):
        report.difficulty.append(p.difficulty)
        report.proposal_problems.append(p.expression)
        gold = evaluate(p.operands, p.operators)
        vote = MajorityVote().vote(outs)
        if vote.answer is None:
            continue
        report.majority_correct.append(number_key(vote.answer) == gold)
        report.problems.append(p.expression)
        first = extract_answer(outs[0])
        report.single_correct.append(first is not None and number_key(first) == gold)
    return report


def _shifted(estimate: UnitEstimate, by: float) -> UnitEstimate:
    return replace(estimate, value=estimate.value + by, ci_low=estimate.ci_low + by, ci_high=estimate.ci_high + by)


def measure(
    reports: list[QuestioningReport], base_correct: list[bool], *, seed: int, n_bootstrap: int, margin: float,
    model: str = "", prefix: str = "", details: dict[str, Any] | None = None, unit: str = UNIT,
    heldout_units: list[str] | None = None, heldout_unit: str = "problem",
) -> list[Finding]:  # fmt: skip
    """Findings from the per-round reports (the real loop, or the simulated one with ``prefix='simulated.'``); the
    runner stamps the model under study where ``model`` is left empty. Intervals are over the reports' units
    (``problems``: the proposed problem; the replicate in the simulated arm, named by ``unit``); the held-out gain
    is paired over ``heldout_units`` (each held-out item its own unit when not given). The one primary finding is
    ``majority_precision``, paired against a single sample on the same problems (margin ``margin``)."""
    del seed, n_bootstrap  # every interval here is a t over units
    common: dict[str, Any] = {"model": model}
    extra = details or {}
    keys = list(reports[0].metrics()) if reports else []
    curves: dict[str, list[float | None]] = {
        k: [None if math.isnan(v) else v for v in (r.metrics()[k] for r in reports)] for k in keys
    }
    majority = np.array([c for r in reports for c in r.majority_correct], dtype=float)
    single = np.array([c for r in reports for c in r.single_correct], dtype=float)
    problems = [u for r in reports for u in r.problems] or None
    single_rate = float(unit_means(single, problems).mean()) if len(single) else math.nan
    diff = paired_rate_diff_ci(majority, single, problems, unit=unit, null=0.0)
    findings = [
        Finding.from_estimate(
            _shifted(diff, single_rate), metric=f"{prefix}majority_precision",
            control="a single sample's accuracy on the same problems", control_value=single_rate, primary=True,
            margin=margin,
            details={**extra, "definition": "share of proposed problems whose majority answer is right (truth used "
                     f"for reporting only), all rounds, by {unit}; the interval is the paired difference from the "
                     "first sample on the same problems, added to that sample's accuracy", "per_round": curves},
            **common,
        )
    ]  # fmt: skip
    if reports and base_correct:
        findings.append(Finding.from_estimate(
            paired_rate_diff_ci(np.array(reports[-1].heldout_correct, dtype=float), np.array(base_correct, dtype=float),
                                heldout_units, unit=heldout_unit, null=0.0),
            metric=f"{prefix}heldout_gain", control="the policy before the loop", control_value=0.0, margin=GAIN_MARGIN,
            details={**extra, "heldout_accuracy_per_round": [float(np.mean(base_correct))] + curves["heldout_accuracy"]},
            **common,
        ))  # fmt: skip
    if len(reports) >= 2 and reports[0].difficulty and reports[-1].difficulty:
        first = float(unit_means(reports[0].difficulty, reports[0].proposal_problems or None).mean())
        findings.append(Finding.from_estimate(
            cluster_mean_ci(reports[-1].difficulty, reports[-1].proposal_problems or None, unit=unit, null=first),
            metric=f"{prefix}proposed_difficulty_final", control="the first round's mean proposed difficulty",
            control_value=first, margin=DIAGNOSTIC_MARGIN,
            details={**extra, "difficulty_per_round": curves["proposed_difficulty"],
                     "scale": "digits of the longer operand" if not prefix else "difficulty level"}, **common,
        ))  # fmt: skip
    return findings


# ----------------------------------------------------------------------------- the simulated arm
def simulate(cfg: SelfQuestioningConfig, seed: int, replicate: int) -> tuple[list[QuestioningReport], list[bool]]:
    """One replicate: a proposer (softmax over difficulty levels, REINFORCE on its reward) and a solver whose
    accuracy at level d starts at sigmoid(skill - (d - 1)) and moves toward the precision of the samples it kept
    (those agreeing with the majority). Wrong answers fall on ``sim_distractors`` values, so a wrong majority
    happens. Held-out items: 40 per level, correctness drawn from the solver's accuracy."""
    rng = np.random.default_rng([seed, replicate])
    levels = np.arange(1, cfg.sim_levels + 1)
    acc = np.asarray(sigmoid(cfg.sim_skill - (levels - 1)), dtype=float)
    logits = np.zeros(len(levels))
    k = cfg.solutions

    def heldout() -> list[bool]:
        return [bool(x) for x in (rng.random((len(levels), 40)) < acc[:, None]).ravel()]

    base = heldout()
    reports = []
    for _ in range(cfg.sim_rounds):
        policy = np.exp(logits - logits.max())
        policy /= policy.sum()
        chosen = rng.choice(len(levels), size=cfg.sim_proposals, p=policy)
        report = QuestioningReport(valid_rate=1.0)
        rewards, kept_right, kept_all = [], np.zeros(len(levels)), np.zeros(len(levels))
        solver_r: list[float] = []
        for d in chosen:
            right = rng.random(k) < acc[d]
            values = np.where(right, 0, rng.integers(1, cfg.sim_distractors + 1, size=k))  # 0 is the true answer
            counts = np.bincount(values, minlength=cfg.sim_distractors + 1)
            top = np.flatnonzero(counts == counts.max())
            winner = int(rng.choice(top))
            agree = values == winner
            c = int(counts.max())
            rewards.append(float(1 < c < k))
            solver_r += agree.astype(float).tolist()
            kept_right[d] += float(np.sum(agree & right))
            kept_all[d] += float(np.sum(agree))
            report.difficulty.append(int(levels[d]))
            report.majority_correct.append(winner == 0)
            report.problems.append(f"replicate {replicate}")
            report.proposal_problems.append(f"replicate {replicate}")
            report.single_correct.append(bool(right[0]))
        r = np.array(rewards)
        grad = np.zeros(len(levels))
        for d, adv in zip(chosen, r - r.mean(), strict=True):
            grad += adv * (np.eye(len(levels))[d] - policy)
        logits += cfg.sim_proposer_lr * grad / len(chosen)
        seen = kept_all > 0
        acc[seen] += cfg.sim_solver_rate * (kept_right[seen] / kept_all[seen] - acc[seen])
        report.proposer_reward = float(r.mean())
        report.solver_reward = float(np.mean(solver_r))
        report.heldout_correct = heldout()
        reports.append(report)
    return reports, base


def measure_simulated(cfg: SelfQuestioningConfig, *, seed: int, n_bootstrap: int) -> list[Finding]:
    runs = [simulate(cfg, seed, rep) for rep in range(cfg.sim_replicates)]
    label = {SIMULATION: True, "solver": f"accuracy sigmoid({cfg.sim_skill:g} - (level - 1)), "
             f"{cfg.sim_distractors} distractors", "levels": cfg.sim_levels, "replicates": cfg.sim_replicates}  # fmt: skip
    pooled = [
        QuestioningReport(
            majority_correct=[c for reps, _ in runs for c in reps[t].majority_correct],
            single_correct=[c for reps, _ in runs for c in reps[t].single_correct],
            difficulty=[d for reps, _ in runs for d in reps[t].difficulty],
            valid_rate=1.0,
            proposer_reward=float(np.mean([reps[t].proposer_reward for reps, _ in runs])),
            solver_reward=float(np.mean([reps[t].solver_reward for reps, _ in runs])),
            heldout_correct=[c for reps, _ in runs for c in reps[t].heldout_correct],
            problems=[u for reps, _ in runs for u in reps[t].problems],
            proposal_problems=[u for reps, _ in runs for u in reps[t].proposal_problems],
        )
        for t in range(cfg.sim_rounds)
    ]
    base = [c for _, b in runs for c in b]
    heldout_units = [f"replicate {i}" for i, (_, b) in enumerate(runs) for _ in b]
    return measure(pooled, base, model=SIMULATION, seed=seed, n_bootstrap=n_bootstrap, margin=cfg.margin,
                   prefix="simulated.", details=label, unit="replicate", heldout_units=heldout_units,
                   heldout_unit="replicate")  # fmt: skip


@dataclass
class SelfQuestioningData:
    """What :func:`measure` consumes: the per-round reports and held-out correctness before the loop."""

    reports: list[QuestioningReport]
    base_correct: list[bool]


class SelfQuestioningSimulator(Simulator):
    """The real loop's reports at the config's sizes (``rounds`` x ``n_proposals`` proposals, ``n_heldout`` held-out
    problems), with no model.

    85% of proposals parse, and 90% of those get a majority answer. The proposer repeats itself: each proposal is
    drawn from a pool of a third as many problems with Zipf weights (1/rank), so one problem recurs within and
    across rounds and its proposals share one unit. A problem has a difficulty of 1 to 3 digits and a single
    sample is right with P = sigmoid(1 - (digits - 1) + N(0, 1.5)) (many problems at a floor or a ceiling). The
    majority agrees with the first sample on 60% of proposals; otherwise it is right with P + effect / 0.4
    (clipped to [0, 1]), so ``effect`` is the majority's precision above a single sample's (before clipping).
    Held-out answers before and after the loop: problem difficulty N(0, 1.5), the updates moving each answer's
    log-odds by N(0, 0.7) and nothing on average."""

    metric = "majority_precision"
    unit = UNIT
    planted_effect = 0.15
    agree = 0.6

    def __init__(self, cfg: SelfQuestioningConfig) -> None:
        self.cfg = cfg
        self.nuisance = (
            f"{cfg.rounds} rounds x {cfg.n_proposals} proposals; repeated problems (Zipf over a pool a third the "
            "size) share a unit; problem accuracy sd 1.5 log-odds with floors and ceilings; the majority equals the "
            "first sample on 60% of proposals"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> SelfQuestioningData:
        cfg = self.cfg
        pool = max(2, cfg.rounds * cfg.n_proposals // 3)
        weights = 1.0 / np.arange(1, pool + 1)
        digits = rng.integers(1, 4, size=pool)
        p = np.asarray(sigmoid(1.0 - (digits - 1) + rng.normal(0, 1.5, pool)), dtype=float)
        boosted = np.clip(p + effect / (1 - self.agree), 0.0, 1.0)
        reports = []
        for _ in range(cfg.rounds):
            valid = int(np.sum(rng.random(cfg.n_proposals) < 0.85))
            which = rng.choice(pool, size=valid, p=weights / weights.sum())
            report = QuestioningReport(valid_rate=valid / max(1, cfg.n_proposals))
            for j in which:
                report.difficulty.append(int(digits[j]))
                report.proposal_problems.append(f"problem {j}")
                if rng.random() >= 0.9:
                    continue  # no numeric answer among the samples: no majority
                single = bool(rng.random() < p[j])
                majority = single if rng.random() < self.agree else bool(rng.random() < boosted[j])
                report.single_correct.append(single)
                report.majority_correct.append(majority)
                report.problems.append(f"problem {j}")
            reports.append(report)
        v = rng.normal(0, 1.5, cfg.n_heldout)
        base = rng.random(cfg.n_heldout) < sigmoid(0.3 + v + rng.normal(0, 0.7, cfg.n_heldout))
        reports[-1].heldout_correct = [
            bool(x) for x in rng.random(cfg.n_heldout) < sigmoid(0.3 + v + rng.normal(0, 0.7, cfg.n_heldout))
        ]
        return SelfQuestioningData(reports, [bool(x) for x in base])

    def measure(self, data: SelfQuestioningData, seed: int) -> list[Finding]:
        return measure(data.reports, data.base_correct, seed=seed, n_bootstrap=self.cfg.n_bootstrap,
                       margin=self.cfg.margin, model="simulated")  # fmt: skip


def question_keys(operands: tuple[int, ...], operators: tuple[str, ...]) -> set[str]:
    """The expression and, for a single + or *, its commuted twin (``3 + 4`` and ``4 + 3`` are one question)."""
    keys = {format_expression(operands, operators)}
    if len(operators) == 1 and operators[0] in "+*":
        keys.add(format_expression(operands[::-1], operators))
    return keys


def without_held_out(solved: Solved, held_out: set[str]) -> Solved:
    """The round with every proposal that is a held-out question (or its commuted twin) left out, with its
    solutions and rewards: the loop must never train on the questions it is measured on."""
    drop = {id(p) for p in solved.proposals if p.valid and question_keys(p.operands, p.operators) & held_out}
    if not drop:
        return solved
    valid = [p for p in solved.proposals if p.valid]
    kept_valid = [i for i, p in enumerate(valid) if id(p) not in drop]
    kept = [i for i, p in enumerate(solved.proposals) if id(p) not in drop]
    return Solved(
        [solved.proposals[i] for i in kept],
        [solved.answers[i] for i in kept_valid],
        [solved.solver_rewards[i] for i in kept_valid],
        [solved.proposer_rewards[i] for i in kept],
    )


def training_examples(solved: Solved) -> list[list[dict[str, str]]]:
    """The filtered behaviour-cloning set: rewarded proposals, and solutions that agreed with their majority."""
    valid = [p for p in solved.proposals if p.valid]
    examples = [[*user(PROPOSE), {"role": "assistant", "content": p.text}]
                for p, r in zip(solved.proposals, solved.proposer_rewards, strict=True) if r > 0]  # fmt: skip
    examples += [[*p.blind().messages(), {"role": "assistant", "content": o}]
                 for p, outs, rs in zip(valid, solved.answers, solved.solver_rewards, strict=True)
                 for o, r in zip(outs, rs, strict=True) if r > 0]  # fmt: skip
    return examples


class SelfQuestioningStudy(Study[SelfQuestioningConfig]):
    side = "self-signal"
    description = "SQLM: propose, solve, reward by majority; majority precision and difficulty drift vs the truth"

    def simulator(self, cfg: SelfQuestioningConfig) -> SelfQuestioningSimulator:
        return SelfQuestioningSimulator(cfg)

    def plan(self, cfg: SelfQuestioningConfig, ctx: PlanContext) -> Work:
        work = Work(note="the simulated arm is numpy only")
        if not cfg.real:
            return work
        m, k, n = ctx.subject, cfg.solutions, cfg.rounds * cfg.n_proposals
        per_prompt = heldout_prompt_tokens(ctx, cfg.n_heldout, digits=cfg.heldout_digits, ops=cfg.ops)
        propose = ctx.count(m, [user(PROPOSE)])
        work.generate(m, (cfg.rounds + 1) * cfg.n_heldout, int((cfg.rounds + 1) * cfg.n_heldout * per_prompt),
                      cfg.answer_tokens)  # fmt: skip
        work.generate(m, n, n * propose, cfg.proposal_tokens)
        work.generate(m, n * k, int(n * k * per_prompt), cfg.answer_tokens)
        tokens = n * (propose + cfg.proposal_tokens) + n * k * (per_prompt + cfg.answer_tokens)
        if cfg.trainer == "sft":  # sft trains on the rewarded samples only; rl-scored on every group
            tokens = PLANNED_KEEP * cfg.train.epochs * tokens
        work.train(m, int(tokens), runs=cfg.rounds)
        return work

    def run(self, ctx: RunContext, cfg: SelfQuestioningConfig) -> list[Finding]:
        findings: list[Finding] = []
        if cfg.real:
            findings += self._real(ctx, cfg)
        if cfg.simulate:
            findings += measure_simulated(cfg, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)
        return findings

    def _update(
        self, ctx: RunContext, cfg: SelfQuestioningConfig, model: Model, solved: Solved, t: int, held_out: set[str]
    ) -> Model:
        solved = without_held_out(solved, held_out)
        valid = [p for p in solved.proposals if p.valid]
        if cfg.trainer == "rl-scored":
            groups: list[Group] = [(user(PROPOSE), [p.text for p in solved.proposals], solved.proposer_rewards)]
            groups += [(p.blind().messages(), outs, rs)
                       for p, outs, rs in zip(valid, solved.answers, solved.solver_rewards, strict=True)]  # fmt: skip
            return rl_update(ctx, model, groups, f"r{t}", steps=len(groups), prompts_per_step=1,
                             learning_rate=cfg.rl_learning_rate, num_generations=cfg.solutions,
                             lora_r=cfg.train.lora_r, seed=ctx.seed)  # fmt: skip
        examples = training_examples(solved)
        if not examples:
            return model
        return ctx.fine_tune(examples, cfg.train, f"r{t}", base=model.spec)

    def _real(self, ctx: RunContext, cfg: SelfQuestioningConfig) -> list[Finding]:
        heldout, _ = split_problems(cfg.n_heldout, 0, seed=ctx.seed, digits=cfg.heldout_digits, ops=cfg.ops)
        truth = arithmetic_truth(heldout)  # reporting only
        blind = truth.blind()
        ids = [b.id for b in blind]
        model = ctx.model()
        base_correct = truth.correct(ids, greedy_answers(model, blind, cfg.answer_tokens))
        ctx.log_metrics({"heldout_accuracy": float(np.mean(base_correct))}, step=0)
        held_out = set().union(*(question_keys(p.operands, p.operators) for p in heldout))
        reports: list[QuestioningReport] = []
        samples: list[dict[str, Any]] = []
        for t in range(1, cfg.rounds + 1):
            solved = play_round(model, cfg, seed=ctx.seed * 100 + t)
            dropped = len(solved.proposals) - len(without_held_out(solved, held_out).proposals)
            model = self._update(ctx, cfg, model, solved, t, held_out)
            ctx.log_metrics({"proposals_dropped_as_held_out": float(dropped)}, step=t)
            report = report_round(solved)  # the truth meets the round only after its update
            report.heldout_correct = truth.correct(ids, greedy_answers(model, blind, cfg.answer_tokens))
            reports.append(report)
            ctx.log_metrics(report.metrics(), step=t)  # the tracker drops NaN
            valid = iter(zip(solved.answers, solved.solver_rewards, strict=True))
            for n, (p, r) in enumerate(zip(solved.proposals, solved.proposer_rewards, strict=True)):
                outs, rs = next(valid) if p.valid else ([], [])
                samples.append({"unit": f"round {t}", "item": n, "prompt": PROPOSE, "output": p.text, "score": r,
                                "round": t, "expression": p.expression, "solutions": outs, "solver_rewards": rs,
                                "gold": evaluate(p.operands, p.operators) if p.valid else None,
                                "held_out_question": bool(p.valid
                                                          and question_keys(p.operands, p.operators) & held_out)})  # fmt: skip
        ctx.log_samples(samples)
        plot_rounds(ctx.out_dir / "truth_tracking.png",
                    {k: [r.metrics()[k] for r in reports] for k in ("majority_precision", "single_sample_accuracy",
                                                                   "proposer_reward", "heldout_accuracy")},
                    "self-questioning: majority vote and held-out accuracy against the truth, per round")  # fmt: skip
        return measure(reports, base_correct, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap, margin=cfg.margin)
