"""Study ``self-play/post_completion`` (PCL, RESEARCH.md §4.2): learn to evaluate one's own answer *after* it, so
that the evaluation costs nothing at inference.

Training data: the model's own sampled answers to arithmetic problems (``samples_per_problem`` each). Two arms are
fine-tuned from the same base on the same answers with the ``sft`` trainer:

- ``answer-only``: the target is the answer;
- ``post-completion``: the target is the answer followed by ``<evaluation>...</evaluation><reward>r</reward>``,
  where ``r`` is the task's rule-based reward on that training problem (as in the anchor, the reward function is
  part of PCL's training signal; it is applied to training problems only).

At inference both arms generate with the same token budget and stop at ``<evaluation>``: identical cost. The
held-out problems (never trained on) are then checked against the truth, for reporting only: answer accuracy per
arm, and how well the self-predicted reward - P(the "correct" span) against P(the "wrong" span), read by
teacher forcing after the answer - predicts true correctness (AUROC, Brier skill, expected calibration error).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, StudyConfig, fine_tune, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import auroc, cluster_auroc_ci, cluster_mean_ci, paired_rate_diff_ci
from reflectlab.evals.tasks.arithmetic import Problem
from reflectlab.selfplay.self_play.common import (
    Group,
    arithmetic_truth,
    heldout_prompt_tokens,
    rl_update,
    split_problems,
)
from reflectlab.selfplay.self_play.tournament import sigmoid
from reflectlab.selfplay.self_play.truth import Blind, GroundTruth

STOP = "<evaluation>"
SPANS = {
    1: "<evaluation>The answer is correct.</evaluation><reward>1</reward>",
    0: "<evaluation>The answer is wrong.</evaluation><reward>0</reward>",
}
ARMS = ("answer-only", "post-completion")
RL_ARM = "post-completion+rl"
_REWARD = re.compile(r"<reward>\s*(-?\d+(?:\.\d+)?)\s*</reward>")
#: What ``n`` counts: each held-out problem is answered once by every arm.
UNIT = "problem"
#: Margin of the diagnostics on a probability or AUROC scale, and of the RL arm's accuracy gain.
DIAGNOSTIC_MARGIN = 0.05
GAIN_MARGIN = 0.02


@dataclass
class PostCompletionConfig(StudyConfig):
    margin: float = option(
        GAIN_MARGIN, "Smallest held-out accuracy gain that matters (the primary, accuracy_gain); inside it: 'absent'."
    )
    n_train: int = option(32, "Training problems the model answers itself.")
    samples_per_problem: int = option(2, "Own answers sampled per training problem.")
    n_heldout: int = option(48, "Held-out problems every arm answers (never trained on).")
    digits: int = option(1, "Digits per operand of the arithmetic problems.")
    ops: str = option("+-*", "Operators the arithmetic problems draw from.")
    answer_tokens: int = option(24, "Longest answer, in tokens (the same budget for every arm).")
    sample_temperature: float = option(0.8, "Sampling temperature of the training answers.")
    train: FineTune = fine_tune(epochs=1.5, lora_r=16, learning_rate=2e-4, batch_size=8)
    calibration_bins: int = option(5, "Equal-width bins of the expected calibration error.")
    rl_arm: bool = option(False, "Add PCL's RL stage after the span SFT, through the rl-scored trainer.")
    rl_samples: int = option(4, "RL stage: completions (answer and span) sampled per training problem.")
    rl_learning_rate: float = option(2e-5, "RL stage: learning rate of the rl-scored update (LoRA rank: train.lora_r).")
    span_tokens: int = option(24, "RL stage: room for the evaluation span when sampling, in tokens.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.calibration_bins >= 1, "calibration_bins", "must be at least 1")
        require(not self.rl_arm or self.rl_samples >= 2, "rl_samples", "needs at least 2 (a group compares them)")


def consistency_reward(predicted: float, true: float) -> float:
    """PCL's consistency reward, 1 - |predicted - true| / max(|predicted|, |true|), defined as 1 when both are 0
    (a correct prediction of zero reward; the anchor's code divides 0 by 0 there)."""
    scale = max(abs(predicted), abs(true))
    if scale == 0:
        return 1.0
    return 1.0 - abs(predicted - true) / scale


def with_span(answer: str, reward: int) -> str:
    """The post-completion target: the answer, a line break, the evaluation span."""
    return answer.rstrip() + "\n" + SPANS[reward]


def rl_reward(correct: bool, completion: str) -> float:
    """PCL's RL reward for one sampled completion: the answer's task reward plus half the consistency reward of
    the reward it predicts in its span (0 when the span states none)."""
    m = _REWARD.search(completion)
    consistency = consistency_reward(float(m.group(1)), float(correct)) if m else 0.0
    return float(correct) + 0.5 * consistency


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int) -> float:
    """Mean |confidence - accuracy| over equal-width bins of ``p``, weighted by bin size."""
    if len(p) == 0:
        return math.nan
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))  # fmt: skip


def answer(model: Model, items: list[Blind], tokens: int) -> tuple[list[str], list[int]]:
    """Greedy answers that stop where the evaluation span would begin; and the tokens each cost."""
    gens = model.generate([i.messages() for i in items], SamplingParams(max_new_tokens=tokens, stop=(STOP,)),
                          desc="answer")  # fmt: skip
    return [g.text.rstrip() for g in gens], [len(g.token_ids) for g in gens]


def predicted_reward(model: Model, items: list[Blind], answers: list[str]) -> np.ndarray:
    """P(correct) the model assigns itself: sigmoid of log P(correct span) - log P(wrong span) after its answer."""
    contexts = [i.messages() for i in items]
    yes = model.score([with_span(a, 1) for a in answers], contexts, desc="self-reward (correct)")
    no = model.score([with_span(a, 0) for a in answers], contexts, desc="self-reward (wrong)")
    return np.array([float(sigmoid(y.sum_logprob - n.sum_logprob)) for y, n in zip(yes, no, strict=True)])


@dataclass
class ArmResult:
    """One arm on the held-out set: true correctness (reporting), self-predicted reward, tokens generated."""

    correct: np.ndarray
    predicted: np.ndarray
    tokens: np.ndarray


def measure(arms: dict[str, ArmResult], *, seed: int, n_bootstrap: int, margin: float, bins: int,
            base_accuracy: float | None = None, units: list[str] | None = None) -> list[Finding]:  # fmt: skip
    """Findings from both arms' held-out results (separate from model work, for planted tests). ``units`` names
    each held-out item's problem (each item its own problem when not given); every interval is over problems. The
    one primary finding is ``accuracy_gain`` (margin ``margin``)."""
    b = n_bootstrap
    pcl, plain = arms["post-completion"], arms["answer-only"]
    findings = [
        Finding.from_estimate(
            paired_rate_diff_ci(pcl.correct, plain.correct, units, unit=UNIT, null=0.0), metric="accuracy_gain",
            control="SFT on the same answers without the span", control_value=0.0, primary=True, margin=margin,
            details={"definition": "held-out accuracy, post-completion minus answer-only, paired over problems, at "
                     "equal inference cost", "accuracy": {k: float(a.correct.mean()) for k, a in arms.items()},
                     "mean_answer_tokens": {k: float(a.tokens.mean()) for k, a in arms.items()},
                     "base_accuracy": base_accuracy},
        )
    ]  # fmt: skip
    if RL_ARM in arms:
        findings.append(Finding.from_estimate(
            paired_rate_diff_ci(arms[RL_ARM].correct, plain.correct, units, unit=UNIT, null=0.0),
            metric="accuracy_gain.rl", control="SFT on the same answers without the span", control_value=0.0,
            margin=GAIN_MARGIN,
            details={"definition": "held-out accuracy, span SFT then RL minus answer-only, paired, equal cost"},
        ))  # fmt: skip
    for name, arm in arms.items():
        y = arm.correct.astype(int)
        rate = float(arm.correct.mean())
        # Brier skill per item: squared error of always predicting the base rate minus that of the self-prediction
        skill = (rate - arm.correct) ** 2 - (arm.predicted - arm.correct) ** 2
        cal = {"ece": expected_calibration_error(arm.predicted, arm.correct, bins),
               "brier": float(np.mean((arm.predicted - arm.correct) ** 2)),
               "mean_predicted": float(arm.predicted.mean()), "accuracy": rate,
               "mean_consistency_reward": float(np.mean([consistency_reward(p, c) for p, c in
                                                         zip(arm.predicted, arm.correct, strict=True)]))}  # fmt: skip
        findings += [
            Finding.from_estimate(
                cluster_auroc_ci(arm.predicted, y, units, unit=UNIT, null=0.5, seed=seed, n_resamples=b),
                metric=f"self_reward_auroc.{name}", control="chance", control_value=0.5, margin=DIAGNOSTIC_MARGIN,
                details={"definition": "AUROC of the self-predicted reward for true correctness", **cal},
            ),
            Finding.from_estimate(
                cluster_mean_ci(skill, units, unit=UNIT, null=0.0), metric=f"self_reward_brier_skill.{name}",
                control="always predicting the arm's accuracy", control_value=0.0, details=cal,
                margin=DIAGNOSTIC_MARGIN,
            ),
        ]  # fmt: skip
    return findings


class PostCompletionSimulator(Simulator):
    """Every arm's held-out results at the config's sizes (``n_heldout`` problems; the RL arm with ``rl_arm``), with
    no model.

    Each problem has a difficulty u ~ N(0, 1.5) shared by the arms (the pairing); the base log-odds of a run is
    drawn from U(-1, 3) (accuracy from about 0.35 to near the ceiling); each fine-tuned arm is one LoRA run whose
    seed shifts its held-out log-odds by N(0, 0.15) and each problem's by N(0, 0.7) (a re-run answers some
    problems differently). The planted effect adds ``effect`` log-odds to the post-completion arm (0.5 is about
    +0.08 accuracy at a base accuracy of 0.6). Self-predicted rewards: sigmoid(1.0 (2y - 1) + N(0, 1)) for the arms
    taught the span, uninformative for answer-only."""

    metric = "accuracy_gain"
    unit = UNIT
    planted_effect = 0.5
    seed_sd = 0.15

    def __init__(self, cfg: PostCompletionConfig) -> None:
        self.cfg = cfg
        self.nuisance = (
            f"{cfg.n_heldout} held-out problems (difficulty sd 1.5, shared by the arms); base accuracy drawn per run "
            f"(log-odds U(-1, 3), up to the ceiling); one LoRA run per arm: seed shift sd {self.seed_sd} log-odds, "
            f"per-problem change sd 0.7"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> dict[str, ArmResult]:
        n = self.cfg.n_heldout
        u = rng.normal(0, 1.5, n) + rng.uniform(-1, 3)
        names = (*ARMS, RL_ARM) if self.cfg.rl_arm else ARMS
        arms = {}
        for name in names:
            shift = rng.normal(0, self.seed_sd) + (effect if name == "post-completion" else 0.0)
            correct = (rng.random(n) < sigmoid(u + shift + rng.normal(0, 0.7, n))).astype(float)
            informative = 0.0 if name == "answer-only" else 1.0
            predicted = np.asarray(sigmoid(informative * (2 * correct - 1) + rng.normal(0, 1, n)), dtype=float)
            arms[name] = ArmResult(correct, predicted, np.full(n, 6.0))
        return arms

    def measure(self, data: dict[str, ArmResult], seed: int) -> list[Finding]:
        # the primary's interval is a t over problems (no resampling); the diagnostics' bootstrap is kept small here
        return measure(data, seed=seed, n_bootstrap=min(self.cfg.n_bootstrap, 200), margin=self.cfg.margin,
                       bins=self.cfg.calibration_bins)  # fmt: skip


class PostCompletionStudy(Study[PostCompletionConfig]):
    side = "self-signal"
    description = "PCL: a self-evaluation span after the answer; accuracy at equal cost and self-reward vs truth"

    def simulator(self, cfg: PostCompletionConfig) -> PostCompletionSimulator:
        return PostCompletionSimulator(cfg)

    def plan(self, cfg: PostCompletionConfig, ctx: PlanContext) -> Work:
        m = ctx.subject
        per_prompt = heldout_prompt_tokens(ctx, cfg.n_heldout, digits=cfg.digits, ops=cfg.ops)
        span = ctx.count(m, [SPANS[0]]) + 2
        work = Work()
        n_samples = cfg.n_train * cfg.samples_per_problem
        work.generate(m, n_samples, int(n_samples * per_prompt), cfg.answer_tokens)
        work.generate(m, 2 * cfg.n_heldout, int(2 * cfg.n_heldout * per_prompt), cfg.answer_tokens)
        scored = cfg.answer_tokens + span  # the answer and its span, after the question
        work.forward(m, int(2 * 2 * cfg.n_heldout * (per_prompt + scored)), scored=2 * 2 * cfg.n_heldout * scored)
        chat = per_prompt + cfg.answer_tokens
        work.train(m, int(cfg.train.epochs * n_samples * (2 * chat + span)), runs=2)
        if cfg.rl_arm:
            n_rl = cfg.n_train * cfg.rl_samples
            work.generate(m, n_rl, int(n_rl * per_prompt), cfg.answer_tokens + cfg.span_tokens)
            work.train(m, int(n_rl * (chat + cfg.span_tokens)))
            work.generate(m, cfg.n_heldout, int(cfg.n_heldout * per_prompt), cfg.answer_tokens)
            work.forward(m, int(2 * cfg.n_heldout * (per_prompt + scored)), scored=2 * cfg.n_heldout * scored)
        return work

    def run(self, ctx: RunContext, cfg: PostCompletionConfig) -> list[Finding]:
        heldout, train = split_problems(cfg.n_heldout, cfg.n_train, seed=ctx.seed, digits=cfg.digits, ops=cfg.ops)
        base = ctx.model()
        task_reward = arithmetic_truth(train)  # the anchor's rule-based reward, on training problems only
        train_items = [b for b in task_reward.blind() for _ in range(cfg.samples_per_problem)]
        params = SamplingParams(max_new_tokens=cfg.answer_tokens, temperature=cfg.sample_temperature)
        seeds = [ctx.seed * 1000 + j for _ in range(cfg.n_train) for j in range(cfg.samples_per_problem)]
        sampled = [g.text.strip() for g in base.generate([i.messages() for i in train_items], params, seeds=seeds,
                                                         desc="sample answers")]  # fmt: skip
        rewards = [int(r) for r in task_reward.correct([i.id for i in train_items], sampled)]
        examples = {
            "answer-only": [[*i.messages(), {"role": "assistant", "content": a}]
                            for i, a in zip(train_items, sampled, strict=True)],
            "post-completion": [[*i.messages(), {"role": "assistant", "content": with_span(a, r)}]
                                for i, a, r in zip(train_items, sampled, rewards, strict=True)],
        }  # fmt: skip
        truth = arithmetic_truth(heldout)  # reporting only
        blind = truth.blind()
        ids = [b.id for b in blind]
        base_answers, _ = answer(base, blind, cfg.answer_tokens)
        base_accuracy = float(np.mean(truth.correct(ids, base_answers)))
        arms: dict[str, ArmResult] = {}
        samples: list[dict[str, Any]] = []
        model = base
        for arm in (*ARMS, RL_ARM) if cfg.rl_arm else ARMS:
            if arm == RL_ARM:  # continues the post-completion arm, trained just before it
                model = self._rl_stage(ctx, cfg, model, task_reward)
            else:
                model = ctx.fine_tune(examples[arm], cfg.train, arm)
            texts, tokens = answer(model, blind, cfg.answer_tokens)
            predicted = predicted_reward(model, blind, texts)
            correct = np.array(truth.correct(ids, texts), dtype=float)
            arms[arm] = ArmResult(correct, predicted, np.array(tokens, dtype=float))
            ctx.log_metrics({f"{arm}.accuracy": float(correct.mean()), f"{arm}.mean_answer_tokens": float(np.mean(tokens)),
                             f"{arm}.self_reward_auroc": auroc(predicted, correct.astype(int))})  # fmt: skip
            samples += [{"unit": i.id, "arm": arm, "prompt": i.question, "output": t, "score": float(p),
                         "verdict": bool(c)} for i, t, p, c in zip(blind, texts, predicted, correct, strict=True)]  # fmt: skip
        ctx.log_metrics({"base_accuracy": base_accuracy, "train_reward_rate": float(np.mean(rewards))})
        ctx.log_samples(samples)
        return measure(arms, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap, margin=cfg.margin,
                       bins=cfg.calibration_bins, base_accuracy=base_accuracy, units=ids)  # fmt: skip

    def _rl_stage(
        self, ctx: RunContext, cfg: PostCompletionConfig, model: Model, task_reward: GroundTruth[Problem]
    ) -> Model:
        """PCL's RL stage on the span-trained model: sample answers with their spans on the training problems, reward
        them with :func:`rl_reward`, and take one ``rl-scored`` pass."""
        items = task_reward.blind()
        params = SamplingParams(max_new_tokens=cfg.answer_tokens + cfg.span_tokens, temperature=1.0)
        k = cfg.rl_samples
        gens = model.generate([i.messages() for i in items for _ in range(k)], params,
                              seeds=[ctx.seed * 1000 + j for _ in items for j in range(k)], desc="rl samples")  # fmt: skip
        texts = [g.text for g in gens]
        answers = [t.split(STOP)[0] for t in texts]
        correct = task_reward.correct([i.id for i in items for _ in range(k)], answers)
        groups: list[Group] = [
            (i.messages(), texts[n * k : (n + 1) * k],
             [rl_reward(c, t) for c, t in zip(correct[n * k : (n + 1) * k], texts[n * k : (n + 1) * k], strict=True)])
            for n, i in enumerate(items)
        ]  # fmt: skip
        ctx.log_metrics({"rl.mean_reward": float(np.mean([r for _, _, rewards in groups for r in rewards]))})
        return rl_update(ctx, model, groups, "rl", steps=math.ceil(len(groups) / 4), prompts_per_step=4,
                         num_generations=k, learning_rate=cfg.rl_learning_rate, lora_r=cfg.train.lora_r,
                         seed=ctx.seed)  # fmt: skip
