"""Study ``self-play/self_judging`` (SERL, RESEARCH.md §4.1): the model rewards itself by judging its own answers.

Each round: the actor samples ``responses`` answers per prompt (arithmetic, so a truth exists); the same model
judges every pair in both orders (:class:`~reflectlab.evals.verifiers.ModelJudge`); the actor's reward is its
Copeland win rate with a length control, the judge's reward is agreement with the aggregated ranking; both go to
the ``rl-scored`` trainer (a GRPO-style update on completions and rewards fixed in advance). The loop sees
:class:`~reflectlab.selfplay.self_play.truth.Blind` items only; the ground truth is read afterwards, for the
per-round report: judge accuracy, order-swap agreement, intransitive triples, reward-truth correlation, held-out
accuracy.

Beside it, a simulated arm (labelled ``simulated.*``): the same tournament and update rule with a Bradley-Terry
judge of set strength and position bias, and a policy with one ability parameter, over many replicates: what the
loop does when the judge's quality is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import cluster_auroc_ci, cluster_mean_ci, paired_rate_diff_ci, rate_ci
from reflectlab.evals.verifiers.judge import PAIRWISE_TEMPLATE, ModelJudge
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
from reflectlab.selfplay.self_play.tournament import (
    GroupJudgement,
    RoundReport,
    all_pairs,
    bt_expected_accuracy,
    bt_judgement,
    report_round,
    sigmoid,
)
from reflectlab.selfplay.self_play.truth import Blind


@dataclass
class SelfJudgingConfig(StudyConfig):
    real: bool = option(True, "Run the loop on the model under study (needs the rl-scored trainer).")
    rounds: int = option(3, "Rounds of sampling, judging and updating.")
    n_prompts: int = option(8, "Fresh arithmetic prompts per round.")
    responses: int = option(3, "Answers per prompt (a GRPO group); every pair is judged in both orders.")
    n_heldout: int = option(48, "Fixed held-out problems, answered greedily before the loop and after each round.")
    digits: int = option(1, "Digits per operand of the arithmetic problems.")
    ops: str = option("+-*", "Operators the arithmetic problems draw from.")
    answer_tokens: int = option(24, "Longest answer, in tokens.")
    temperature: float = option(1.0, "Sampling temperature of the actor's answers.")
    length_penalty: float = option(0.1, "Reward lost per answer_tokens of length above the group's median.")
    judge_groups: int = option(8, "Judge prompts (pair x order) trained on per round, drawn at random.")
    learning_rate: float = option(2e-5, "Learning rate of the rl-scored update.")
    prompts_per_step: int = option(4, "Groups per optimizer step of the rl-scored update.")
    lora_r: int = option(16, "LoRA rank of the rl-scored update.")
    simulate: bool = option(True, "Run the simulated arm beside the real loop (numpy only).")
    sim_strengths: list[float] = option(
        help="Bradley-Terry strengths of the simulated judges, one arm each.", factory=lambda: [0.5, 2.0]
    )
    sim_position_bias: float = option(0.5, "Log-odds bonus of the answer the simulated judge sees first.")
    sim_rounds: int = option(10, "Rounds of the simulated loop.")
    sim_prompts: int = option(32, "Prompts per simulated round.")
    sim_replicates: int = option(40, "Independent runs of the simulated loop per judge strength.")
    sim_learning_rate: float = option(2.0, "Step size of the simulated policy's ability parameter.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.responses >= 2, "responses", "needs at least 2 (a group compares its answers)")
        require(self.prompts_per_step >= 1, "prompts_per_step", "must be at least 1")


@dataclass
class PlayedRound:
    """What the loop made in one round, from blind items only: answers, verdicts and self-made rewards."""

    prompts: list[Blind]
    answers: list[list[str]]
    groups: list[GroupJudgement]
    actor_rewards: list[np.ndarray]

    def training_groups(self, n_judge: int, seed: int) -> list[Group]:
        """Actor groups (each prompt's answers with their rewards) and ``n_judge`` judge groups (a judge prompt
        with the completions "A" and "B", rewarded by agreement with the aggregated ranking)."""
        out: list[Group] = [
            (p.messages(), list(a), [float(r) for r in rw])
            for p, a, rw in zip(self.prompts, self.answers, self.actor_rewards, strict=True)
        ]
        judge: list[Group] = []
        for p, a, g in zip(self.prompts, self.answers, self.groups, strict=True):
            for (i, j), rw in zip(g.pairs, g.judge_rewards(), strict=True):
                for first, second, r_first in ((i, j, rw[0]), (j, i, rw[1])):
                    text = PAIRWISE_TEMPLATE.format(question=p.question, first=a[first], second=a[second])
                    judge.append((user(text), ["A", "B"], [float(r_first), float(1.0 - r_first)]))
        rng = np.random.default_rng(seed)
        keep = sorted(rng.permutation(len(judge))[: max(0, n_judge)].tolist())
        return out + [judge[i] for i in keep]


def play_round(model: Model, prompts: list[Blind], cfg: SelfJudgingConfig, seed: int) -> PlayedRound:
    """Sample, judge every pair both ways, and compute the actor's rewards; no gold answer is available here."""
    k = cfg.responses
    params = SamplingParams(max_new_tokens=cfg.answer_tokens, temperature=cfg.temperature)
    chats = [p.messages() for p in prompts for _ in range(k)]
    seeds = [seed * 1000 + j for _ in prompts for j in range(k)]
    gens = model.generate(chats, params, seeds=seeds, desc="actor samples")
    answers = [[" ".join(g.text.split()) for g in gens[i * k : (i + 1) * k]] for i in range(len(prompts))]
    lengths = [[len(g.token_ids) for g in gens[i * k : (i + 1) * k]] for i in range(len(prompts))]
    questions, first, second = [], [], []
    for p, a in zip(prompts, answers, strict=True):
        for i in range(k):
            for j in range(i + 1, k):
                questions.append(p.question)
                first.append(a[i])
                second.append(a[j])
    verdicts = ModelJudge(model).pairwise(questions, first, second)
    n_pairs = k * (k - 1) // 2
    groups = [
        GroupJudgement(np.asarray(lengths[i], dtype=float), verdicts.per_order[i * n_pairs : (i + 1) * n_pairs])
        for i in range(len(prompts))
    ]
    rewards = [g.actor_rewards(cfg.length_penalty, cfg.answer_tokens) for g in groups]
    return PlayedRound(prompts, answers, groups, rewards)


def simulate(cfg: SelfJudgingConfig, strength: float, seed: int) -> tuple[list[list[RoundReport]], np.ndarray]:
    """Replicates of the loop with a Bradley-Terry judge and a one-parameter policy (P(correct) =
    sigmoid(theta + difficulty of the prompt)), updated with the GRPO advantage of the self-made reward.
    Returns the per-round reports of each replicate and the true held-out accuracy (replicate x round 0..T)."""
    reports: list[list[RoundReport]] = []
    accuracy = np.zeros((cfg.sim_replicates, cfg.sim_rounds + 1))
    k = cfg.responses
    for rep in range(cfg.sim_replicates):
        rng = np.random.default_rng([seed, rep, int(strength * 1000)])
        theta = 0.0
        heldout = rng.normal(size=200)
        accuracy[rep, 0] = float(np.mean(sigmoid(theta + heldout)))
        rounds = []
        for t in range(1, cfg.sim_rounds + 1):
            difficulty = rng.normal(size=cfg.sim_prompts)
            groups, correct, rewards, grads = [], [], [], []
            for u in difficulty:
                p = float(sigmoid(theta + u))
                y = rng.random(k) < p
                g = bt_judgement(y, rng.integers(1, cfg.answer_tokens + 1, size=k), strength=strength,
                                 position_bias=cfg.sim_position_bias, rng=rng)  # fmt: skip
                r = g.actor_rewards(cfg.length_penalty, cfg.answer_tokens)
                adv = (r - r.mean()) / (r.std() + 1e-6)
                grads.append(np.mean(adv * (y - p)))
                groups.append(g)
                correct.append(list(y))
                rewards.append(r)
            theta += cfg.sim_learning_rate * float(np.mean(grads))
            # truth only measures the round; the replicate is the unit of the simulated loop
            rounds.append(report_round(groups, correct, rewards, units=[f"replicate {rep}"] * len(groups)))
            accuracy[rep, t] = float(np.mean(sigmoid(theta + heldout)))
        reports.append(rounds)
    return reports, accuracy


def _pooled(reports: list[RoundReport]) -> RoundReport:
    return RoundReport(
        judge_hits=np.concatenate([r.judge_hits for r in reports]),
        agreement=np.concatenate([r.agreement for r in reports]),
        cyclic=sum(r.cyclic for r in reports),
        n_triples=sum(r.n_triples for r in reports),
        rewards=np.concatenate([r.rewards for r in reports]),
        correct=np.concatenate([r.correct for r in reports]),
        hit_units=np.concatenate([r.hit_units for r in reports]),
        agree_units=np.concatenate([r.agree_units for r in reports]),
        reward_units=np.concatenate([r.reward_units for r in reports]),
        triples=np.concatenate([r.triples for r in reports]),
        triple_units=np.concatenate([r.triple_units for r in reports]),
    )


def _per_round(reports: list[RoundReport]) -> dict[str, list[float | None]]:
    keys = reports[0].metrics().keys() if reports else []
    return {k: [None if math.isnan(r.metrics()[k]) else r.metrics()[k] for r in reports] for k in keys}


#: What ``n`` counts in the real loop's findings: both orders and all pairs of one prompt belong to that prompt.
UNIT = "prompt"
#: The held-out gain's unit: each held-out problem is answered once per model.
HELDOUT_UNIT = "problem"
#: Margin of the diagnostics on a probability or AUROC scale, and of held-out accuracy gains after training.
DIAGNOSTIC_MARGIN = 0.05
GAIN_MARGIN = 0.02


def measure_real(
    reports: list[RoundReport], base_correct: np.ndarray, final_correct: np.ndarray, heldout_per_round: list[float],
    *, seed: int, n_bootstrap: int, margin: float,
) -> list[Finding]:  # fmt: skip
    """Findings of the real loop from its per-round reports and held-out correctness (testable on planted data).
    Every interval is over prompts (the reports' unit arrays); the held-out gain is paired over problems. The one
    primary finding is ``judge_accuracy`` (margin ``margin``)."""
    b = n_bootstrap
    pooled = _pooled(reports)
    curves = {**_per_round(reports), "heldout_accuracy": heldout_per_round}
    return [
        Finding.from_estimate(
            rate_ci(pooled.judge_hits, pooled.hit_units, unit=UNIT, null=0.5), metric="judge_accuracy",
            control="chance", control_value=0.5, primary=True, margin=margin,
            details={"definition": "per (pair with one correct answer, order): the verdict picks the correct one; "
                                   "all rounds pooled, by prompt", "per_round": curves},
        ),
        Finding.from_estimate(
            cluster_auroc_ci(pooled.rewards, pooled.correct.astype(int), pooled.reward_units, unit=UNIT, null=0.5,
                             seed=seed, n_resamples=b),
            metric="reward_truth_auroc", control="chance", control_value=0.5, margin=DIAGNOSTIC_MARGIN,
            details={"definition": "AUROC of the actor's self-made reward for true correctness, all rounds",
                     "pearson_per_round": curves["reward_truth_corr"]},
        ),
        Finding.from_estimate(
            rate_ci(pooled.agreement, pooled.agree_units, unit=UNIT, null=0.5), metric="order_swap_agreement",
            control="a judge flipping coins", control_value=0.5, margin=DIAGNOSTIC_MARGIN,
            details={"definition": "share of pairs whose preference survives swapping the order"},
        ),
        Finding.from_estimate(
            rate_ci(pooled.triples, pooled.triple_units, unit=UNIT, null=0.25, alternative="less"),
            metric="intransitive_rate", control="a random tournament (1 in 4 triples cyclic)", control_value=0.25,
            direction="less", margin=DIAGNOSTIC_MARGIN,
            details={"definition": "share of response triples whose strict preferences form a cycle"},
        ),
        Finding.from_estimate(
            paired_rate_diff_ci(final_correct, base_correct, unit=HELDOUT_UNIT, null=0.0), metric="heldout_gain",
            control="the model before the loop", control_value=0.0, margin=GAIN_MARGIN,
            details={"definition": "greedy held-out accuracy after the last round minus before, paired over problems",
                     "base_accuracy": float(np.mean(base_correct)) if len(base_correct) else None},
        ),
    ]  # fmt: skip


def measure_simulated(
    results: dict[float, tuple[list[list[RoundReport]], np.ndarray]],
    cfg: SelfJudgingConfig,
    *,
    seed: int,
    n_bootstrap: int,
) -> list[Finding]:
    """Findings of the simulated arm, one set per judge strength, each labelled as simulation; the unit is the
    replicate (rounds of one replicate share its policy). All are diagnostics."""
    findings = []
    for strength, (reports, accuracy) in results.items():
        tag = f"s{strength:g}"
        label = {SIMULATION: True, "judge": f"Bradley-Terry, strength {strength:g}, position bias "
                 f"{cfg.sim_position_bias:g}", "replicates": cfg.sim_replicates}  # fmt: skip
        common: dict[str, Any] = {"model": SIMULATION}
        pooled = _pooled([r for rep in reports for r in rep])
        expected = bt_expected_accuracy(strength, cfg.sim_position_bias)
        findings += [
            Finding.from_estimate(
                rate_ci(pooled.judge_hits, pooled.hit_units, unit="replicate", null=expected),
                metric=f"simulated.judge_accuracy.{tag}", control="the accuracy the simulated judge was set to",
                control_value=expected, margin=0.03,
                details={**label, "claim": "equivalence: absent = measured at the set accuracy"}, **common,
            ),
            Finding.from_estimate(
                cluster_auroc_ci(pooled.rewards, pooled.correct.astype(int), pooled.reward_units, unit="replicate",
                                 null=0.5, seed=seed, n_resamples=n_bootstrap),
                metric=f"simulated.reward_truth_auroc.{tag}", control="chance", control_value=0.5, details=label,
                margin=DIAGNOSTIC_MARGIN, **common,
            ),
            Finding.from_estimate(
                cluster_mean_ci(accuracy[:, -1] - accuracy[:, 0], unit="replicate", null=0.0),
                metric=f"simulated.heldout_gain.{tag}", control="the simulated policy before the loop",
                control_value=0.0, margin=GAIN_MARGIN,
                details={**label, "accuracy_per_round": accuracy.mean(axis=0).tolist()}, **common,
            ),
        ]  # fmt: skip
    return findings


def strength_for(accuracy: float, position_bias: float) -> float:
    """The Bradley-Terry strength whose per-order accuracy (:func:`bt_expected_accuracy`) is ``accuracy`` at this
    position bias (bisection; 0 at or below chance)."""
    if accuracy <= 0.5:
        return 0.0
    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if bt_expected_accuracy(mid, position_bias) < accuracy else (lo, mid)
    return (lo + hi) / 2


@dataclass
class SelfJudgingData:
    """What :func:`measure_real` consumes: per-round reports, held-out correctness before and after, the curve."""

    reports: list[RoundReport]
    base_correct: np.ndarray
    final_correct: np.ndarray
    heldout_per_round: list[float]


class SelfJudgingSimulator(Simulator):
    """The real loop's raw data at the config's sizes (``rounds`` x ``n_prompts`` prompts, ``responses`` answers
    each, every pair judged in both orders; ``n_heldout`` held-out problems), with no model.

    Answers are correct with P = sigmoid(-0.8 + u_prompt), u_prompt ~ N(0, 1.5): correctness clusters by prompt and
    many prompts sit at a floor (no answer right) or a ceiling. The judge is pairwise with a strong position bias
    (log-odds 2.0 for the answer shown first, as the embedded model's judge, plus a per-prompt N(0, 0.5) part) and
    a per-prompt preference for long or short answers (N(0, 1.5) log-odds per ``answer_tokens`` of length
    difference), which makes the verdicts on one prompt agree with each other without tracking the truth. The
    planted effect is the judge's per-order accuracy above chance (the Bradley-Terry strength that gives accuracy
    0.5 + effect at the position bias). Held-out answers before and after the loop: N(0, 1.5) problem difficulty,
    with the update changing each answer's log-odds by N(0, 0.7) and nothing on average."""

    metric = "judge_accuracy"
    unit = UNIT
    planted_effect = 0.15
    position_bias = 2.0

    def __init__(self, cfg: SelfJudgingConfig) -> None:
        self.cfg = cfg
        self.nuisance = (
            f"{cfg.rounds} rounds x {cfg.n_prompts} prompts x {cfg.responses} answers; correctness clustered by "
            f"prompt (sd 1.5 log-odds, floors and ceilings); position bias 2.0 (+ sd 0.5 per prompt); a per-prompt "
            f"length preference (sd 1.5) shared by all pairs and both orders of a prompt"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> SelfJudgingData:
        cfg, k = self.cfg, self.cfg.responses
        strength = strength_for(0.5 + effect, self.position_bias)
        pairs = np.array(all_pairs(k))
        reports = []
        for t in range(cfg.rounds):
            n = cfg.n_prompts
            u = rng.normal(0, 1.5, n)
            y = rng.random((n, k)) < np.asarray(sigmoid(-0.8 + u))[:, None]
            lengths = rng.integers(1, cfg.answer_tokens + 1, size=(n, k))
            bias = self.position_bias + rng.normal(0, 0.5, n)[:, None]
            taste = rng.normal(0, 1.5, n)[:, None]
            qa, qb = y[:, pairs[:, 0]].astype(float), y[:, pairs[:, 1]].astype(float)
            la, lb = lengths[:, pairs[:, 0]] / cfg.answer_tokens, lengths[:, pairs[:, 1]] / cfg.answer_tokens
            a_first = rng.random(qa.shape) < sigmoid(strength * (qa - qb) + taste * (la - lb) + bias)
            b_first = rng.random(qa.shape) < sigmoid(strength * (qb - qa) + taste * (lb - la) + bias)
            per_order = np.stack([a_first, ~b_first], axis=-1).astype(float)
            groups = [GroupJudgement(lengths[i].astype(float), per_order[i]) for i in range(n)]
            rewards = [g.actor_rewards(cfg.length_penalty, cfg.answer_tokens) for g in groups]
            units = [f"r{t}p{i}" for i in range(n)]
            reports.append(report_round(groups, [list(row) for row in y], rewards, units=units))
        v = rng.normal(0, 1.5, cfg.n_heldout)
        base = (rng.random(cfg.n_heldout) < sigmoid(0.3 + v + rng.normal(0, 0.7, cfg.n_heldout))).astype(float)
        final = (rng.random(cfg.n_heldout) < sigmoid(0.3 + v + rng.normal(0, 0.7, cfg.n_heldout))).astype(float)
        return SelfJudgingData(reports, base, final, [float(base.mean()), float(final.mean())])

    def measure(self, data: SelfJudgingData, seed: int) -> list[Finding]:
        # the primary's interval is a t over prompts (no resampling); the diagnostics' bootstrap is kept small here
        return measure_real(data.reports, data.base_correct, data.final_correct, data.heldout_per_round, seed=seed,
                            n_bootstrap=min(self.cfg.n_bootstrap, 200), margin=self.cfg.margin)  # fmt: skip


class SelfJudgingStudy(Study[SelfJudgingConfig]):
    side = "self-signal"
    description = "SERL: actor and judge in one model; how well the self-made reward tracks the truth"

    def simulator(self, cfg: SelfJudgingConfig) -> SelfJudgingSimulator:
        return SelfJudgingSimulator(cfg)

    def plan(self, cfg: SelfJudgingConfig, ctx: PlanContext) -> Work:
        work = Work(note="the simulated arm is numpy only")
        if not cfg.real:
            return work
        m, k = ctx.subject, cfg.responses
        per_prompt = heldout_prompt_tokens(ctx, cfg.n_heldout, digits=cfg.digits, ops=cfg.ops)
        work.generate(m, (cfg.rounds + 1) * cfg.n_heldout, int((cfg.rounds + 1) * cfg.n_heldout * per_prompt),
                      cfg.answer_tokens)  # fmt: skip
        n = cfg.rounds * cfg.n_prompts
        work.generate(m, n * k, int(n * k * per_prompt), cfg.answer_tokens)
        judge_prompt = ctx.count(m, [user(PAIRWISE_TEMPLATE)]) + per_prompt
        judge_tokens = judge_prompt + 2 * cfg.answer_tokens
        work.forward(m, int(n * k * (k - 1) * judge_tokens))  # k(k-1)/2 pairs x 2 orders
        actor = n * k * (per_prompt + cfg.answer_tokens)
        judge = cfg.rounds * cfg.judge_groups * 2 * (judge_tokens + 1)
        work.train(m, int(actor + judge), runs=cfg.rounds)
        return work

    def run(self, ctx: RunContext, cfg: SelfJudgingConfig) -> list[Finding]:
        findings: list[Finding] = []
        if cfg.real:
            findings += self._real(ctx, cfg)
        if cfg.simulate:
            results = {s: simulate(cfg, s, ctx.seed) for s in cfg.sim_strengths}
            for s, (reports, accuracy) in results.items():
                for t in range(cfg.sim_rounds):
                    round_metrics = [rep[t].metrics() for rep in reports]
                    ctx.log_metrics({f"simulated.s{s:g}.{k}": float(np.nanmean([m[k] for m in round_metrics]))
                                     for k in ("judge_accuracy", "reward_truth_corr")} |
                                    {f"simulated.s{s:g}.heldout_accuracy": float(accuracy[:, t + 1].mean())},
                                    step=t + 1)  # fmt: skip
            findings += measure_simulated(results, cfg, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)
        return findings

    def _real(self, ctx: RunContext, cfg: SelfJudgingConfig) -> list[Finding]:
        heldout, problems = split_problems(cfg.n_heldout, cfg.rounds * cfg.n_prompts, seed=ctx.seed,
                                           digits=cfg.digits, ops=cfg.ops)  # fmt: skip
        truth_heldout, truth_train = arithmetic_truth(heldout), arithmetic_truth(problems)  # reporting only
        blind_heldout = truth_heldout.blind()
        blind_train = truth_train.blind()
        model = ctx.model()
        heldout_ids = [b.id for b in blind_heldout]
        base_correct = truth_heldout.correct(heldout_ids, greedy_answers(model, blind_heldout, cfg.answer_tokens))
        heldout_curve = [float(np.mean(base_correct))]
        reports: list[RoundReport] = []
        correct = base_correct
        samples: list[dict[str, Any]] = []
        for t in range(1, cfg.rounds + 1):
            prompts = blind_train[(t - 1) * cfg.n_prompts : t * cfg.n_prompts]
            played = play_round(model, prompts, cfg, seed=ctx.seed * 100 + t)
            groups = played.training_groups(cfg.judge_groups, seed=ctx.seed * 100 + t)
            pps = cfg.prompts_per_step  # one pass over every group of the round
            updated = rl_update(ctx, model, groups, f"r{t}", steps=math.ceil(len(groups) / pps), prompts_per_step=pps,
                                learning_rate=cfg.learning_rate, num_generations=cfg.responses,
                                max_completion_length=cfg.answer_tokens, temperature=cfg.temperature,
                                lora_r=cfg.lora_r, seed=ctx.seed)  # fmt: skip
            # --- reporting only: the truth meets the round after its update has been computed
            truth_rounds = [
                truth_train.correct([p.id] * len(a), a) for p, a in zip(prompts, played.answers, strict=True)
            ]
            report = report_round(played.groups, truth_rounds, played.actor_rewards, units=[p.id for p in prompts])
            reports.append(report)
            model = updated
            correct = truth_heldout.correct(heldout_ids, greedy_answers(model, blind_heldout, cfg.answer_tokens))
            heldout_curve.append(float(np.mean(correct)))
            ctx.log_metrics({**report.metrics(), "heldout_accuracy": heldout_curve[-1]}, step=t)
            samples += [
                {"unit": p.id, "item": j, "prompt": p.question, "output": a, "score": float(r), "verdict": bool(c),
                 "round": t}
                for p, ans, rw, cs in zip(prompts, played.answers, played.actor_rewards, truth_rounds, strict=True)
                for j, (a, r, c) in enumerate(zip(ans, rw, cs, strict=True))
            ]  # fmt: skip
        ctx.log_metrics({"heldout_accuracy": heldout_curve[0]}, step=0)
        ctx.log_samples(samples)
        curves = _per_round(reports)
        plot_rounds(ctx.out_dir / "truth_tracking.png",
                    {k: curves[k] for k in ("judge_accuracy", "order_swap_agreement", "intransitive_rate",
                                            "reward_truth_auroc")} | {"heldout_accuracy": heldout_curve[1:]},
                    "self-judging: the self-made reward against the truth, per round")  # fmt: skip
        return measure_real(reports, np.array(base_correct, dtype=float), np.array(correct, dtype=float), heldout_curve,
                            seed=ctx.seed, n_bootstrap=cfg.n_bootstrap, margin=cfg.margin)  # fmt: skip
