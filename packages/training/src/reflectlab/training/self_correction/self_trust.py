"""Study ``self-correction/self-trust`` (RESEARCH.md §3.2): does a model over-trust its own answers?

The model answers each problem (greedy). It then judges "is this answer correct?" - P(yes) read from its logits,
never sampled - for a set of candidates per problem: its own answer, the gold answer and near-miss distractors
(gold plus small offsets), each framed once as its own answer and once as another model's. Every candidate is shown
as a bare number, so framing is the only thing the two judgements differ in.

Metrics: self-bias on its own answers (mean P(yes) minus the truth), AUROC of P(yes) against the truth, calibration
(Brier against a constant base-rate judge; ECE in the details), own-vs-other framing, and the rank correlation of
P(yes) with the candidate's log-probability as an answer under the model (judges favour likely text). The comparison
arm (after T3) shows all of a problem's candidates together, lettered in a seeded order, and reads P(letter): its
AUROC is compared with the pointwise judge's on the same candidates.
"""

from __future__ import annotations

import string
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from reflectlab.core.config import option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import Estimate, auroc_ci, mean_ci, paired_auroc_diff_ci, paired_diff_ci
from reflectlab.evals.extract import Number, extract_answer, number_key, same_number
from reflectlab.evals.tasks.arithmetic import Problem
from reflectlab.evals.verifiers import ModelJudge
from reflectlab.training.self_correction.common import TaskConfig, problems

OWN = (
    "Question: {question}\nYour answer: {answer}\n\n"
    "Is your answer correct? Answer with one word: yes or no."
)  # fmt: skip
OTHER = (
    "Question: {question}\nAnother model's answer: {answer}\n\n"
    "Is this answer correct? Answer with one word: yes or no."
)  # fmt: skip
COMPARE = "Question: {question}\n\nCandidate answers:\n{options}\n\nWhich answer is correct? Answer with one letter."


@dataclass
class SelfTrustConfig(TaskConfig):
    n_problems: int = option(96, "Problems the model answers and then judges candidates for.")
    answer_tokens: int = option(24, "New tokens of the model's own (greedy) answer.")
    distractor_offsets: list[int] = option(  # noqa: RUF009 (a field specifier)
        factory=lambda: [-1, 1, 10], help="Near-miss distractors: the gold answer plus each of these offsets."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_problems >= 1, "n_problems", "must be at least 1")
        require(self.answer_tokens >= 1, "answer_tokens", "must be at least 1")


@dataclass
class Judged:
    """Per candidate: which problem, whether it is the model's own answer and correct, and what the judges said."""

    problem: np.ndarray
    own: np.ndarray
    correct: np.ndarray
    p_own_frame: np.ndarray
    p_other_frame: np.ndarray
    logprob: np.ndarray
    p_compare: np.ndarray


def candidates(problem: Problem, own: Number | None, offsets: list[int]) -> list[tuple[Number, bool]]:
    """(value, is the model's own answer) for the own answer, the gold answer and gold + each offset, deduplicated."""
    values: list[Number] = ([own] if own is not None else []) + [problem.answer] + [problem.answer + o for o in offsets]
    out: list[tuple[Number, bool]] = []
    seen: set[int | float] = set()
    for v in values:
        key = number_key(v)
        if key not in seen:
            seen.add(key)
            out.append((v, own is not None and same_number(v, own)))
    return out


def _text(value: Number) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def compare_prompt(question: str, answers: list[str]) -> tuple[Prompt, list[str]]:
    """The comparison arm's prompt showing ``answers`` lettered in the given order, and the letters."""
    letters = list(string.ascii_uppercase[: len(answers)])
    options = "\n".join(f"{letter}. {answer}" for letter, answer in zip(letters, answers, strict=True))
    return user(COMPARE.format(question=question, options=options)), letters


def spearman_ci(x: np.ndarray, y: np.ndarray, *, seed: int, n_resamples: int) -> Estimate:
    """Spearman's rank correlation with a percentile bootstrap interval over items (NaN with fewer than 3)."""
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), n)

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        value = float(sps.spearmanr(a, b).statistic)
        return 0.0 if np.isnan(value) else value  # a resample without variation carries no correlation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.bootstrap((x, y), rho, paired=True, vectorized=False, n_resamples=n_resamples,
                            method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
    return Estimate(rho(x, y), float(res.confidence_interval.low), float(res.confidence_interval.high), n)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins of P(yes)."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[edges == k].mean() - y[edges == k].mean()) * (edges == k).mean()
                     for k in range(bins) if (edges == k).any()))  # fmt: skip


def measure(j: Judged, *, margin: float, seed: int, n_bootstrap: int) -> list[Finding]:
    """Findings from judged candidates; separate from the model work so planted judgements can test it."""
    common: dict[str, Any] = {"margin": margin}
    b = n_bootstrap
    y = j.correct.astype(float)
    own = j.own.astype(bool)
    base_rate = float(y.mean()) if len(y) else float("nan")
    return [
        Finding.from_estimate(
            mean_ci(j.p_own_frame[own] - y[own], seed=seed, n_resamples=b), metric="self_bias",
            control="an unbiased judge (judged = truly correct)", control_value=0.0, primary=True,
            details={"definition": "mean over the model's own answers of P(yes | own framing) minus correctness",
                     "own_accuracy": float(y[own].mean()) if own.any() else None,
                     "mean_p_yes_own": float(j.p_own_frame[own].mean()) if own.any() else None},
            **common,
        ),
        Finding.from_estimate(
            auroc_ci(j.p_own_frame, y, seed=seed, n_resamples=b), metric="judge_auroc",
            control="chance", control_value=0.5,
            details={"definition": "AUROC of P(yes | own framing) for correctness over own, gold and distractors"},
            **common,
        ),
        Finding.from_estimate(
            paired_diff_ci((j.p_own_frame - y) ** 2, (base_rate - y) ** 2, seed=seed, n_resamples=b),
            metric="brier_minus_base_rate", control="a constant judge at the base rate", control_value=0.0,
            direction="less",
            details={"ece": expected_calibration_error(j.p_own_frame, y) if len(y) else None, "base_rate": base_rate,
                     "definition": "Brier score of P(yes) minus that of always saying the base rate, paired"},
            **common,
        ),
        Finding.from_estimate(
            paired_diff_ci(j.p_own_frame, j.p_other_frame, seed=seed, n_resamples=b), metric="own_minus_other_framing",
            control="the same answer framed as another model's", control_value=0.0, primary=True,
            details={"definition": "P(yes) framed as 'your answer' minus framed as 'another model's answer', "
                     "paired over candidates"},
            **common,
        ),
        Finding.from_estimate(
            spearman_ci(j.p_own_frame, j.logprob, seed=seed, n_resamples=b), metric="p_yes_vs_logprob_spearman",
            control="no relation", control_value=0.0,
            details={"definition": "Spearman correlation of P(yes) with the candidate's log-probability as the "
                     "model's answer (judges favour likely text)"},
            **common,
        ),
        Finding.from_estimate(
            paired_auroc_diff_ci(j.p_compare, j.p_own_frame, y, seed=seed, n_resamples=b),
            metric="comparison_minus_pointwise_auroc", control="the pointwise judge on the same candidates",
            control_value=0.0,
            details={"definition": "AUROC of P(letter) with all candidates shown together minus AUROC of pointwise "
                     "P(yes), paired over candidates"},
            **common,
        ),
    ]  # fmt: skip


def judged_rows(
    items: list[Problem], own_values: list[Number | None], offsets: list[int]
) -> list[tuple[int, Number, bool]]:
    """(problem index, candidate value, is the model's own answer) for every candidate judged, problem by problem."""
    return [(i, v, is_own) for i, p in enumerate(items) for v, is_own in candidates(p, own_values[i], offsets)]


def judge(
    model: Model, items: list[Problem], own_values: list[Number | None], cfg: SelfTrustConfig, seed: int
) -> Judged:
    """Every judgement of the study for the candidates of ``items``."""
    rows = judged_rows(items, own_values, cfg.distractor_offsets)
    questions = [items[i].question for i, _, _ in rows]
    answers = [_text(v) for _, v, _ in rows]
    p_own = ModelJudge(model, pointwise_template=OWN).pointwise(questions, answers)
    p_other = ModelJudge(model, pointwise_template=OTHER).pointwise(questions, answers)
    logprob = np.array([s.sum_logprob for s in model.score(answers, [items[i].messages() for i, _, _ in rows])])
    rng = np.random.default_rng(seed)
    p_compare = np.zeros(len(rows))
    prompts, letters_per, members = [], [], []
    for i, p in enumerate(items):
        idx = [k for k, (r, _, _) in enumerate(rows) if r == i]
        order = [idx[k] for k in rng.permutation(len(idx))]
        prompt, letters = compare_prompt(p.question, [answers[k] for k in order])
        prompts.append(prompt)
        letters_per.append(letters)
        members.append(order)
    for size in sorted({len(ls) for ls in letters_per}):  # one batched read per number of candidates
        group = [g for g, ls in enumerate(letters_per) if len(ls) == size]
        probs = model.option_probs([prompts[g] for g in group], letters_per[group[0]])
        for row, g in zip(probs, group, strict=True):
            p_compare[members[g]] = row
    return Judged(
        problem=np.array([i for i, _, _ in rows]),
        own=np.array([o for _, _, o in rows], dtype=bool),
        correct=np.array([same_number(v, items[i].answer) for i, v, _ in rows], dtype=bool),
        p_own_frame=p_own,
        p_other_frame=p_other,
        logprob=logprob,
        p_compare=p_compare,
    )


class SelfTrustStudy(Study[SelfTrustConfig]):
    side = "correction"
    description = "P(yes) for own answers, gold and distractors, own vs other framing, and all-candidates comparison"

    def plan(self, cfg: SelfTrustConfig, ctx: PlanContext) -> Work:
        work = Work()
        m = ctx.subject
        items = problems(cfg, cfg.n_problems, ctx.seed)
        n = len(items)
        # The own answer usually coincides with the gold answer or a distractor, so about one candidate fewer.
        per_problem = 1.3 + len(cfg.distractor_offsets)
        work.generate(m, n, ctx.count(m, [p.messages() for p in items]), cfg.answer_tokens)
        judge = sum(ctx.count(m, [user(t.format(question=p.question, answer="10")) for p in items])
                    for t in (OWN, OTHER))  # fmt: skip
        work.forward(m, int(judge * per_problem))  # next-token reads
        work.forward(
            m, int(per_problem * (ctx.count(m, [p.messages() for p in items]) + 4 * n)), scored=int(per_problem * 4 * n)
        )
        work.forward(m, ctx.count(m, [compare_prompt(p.question, ["10"] * 4)[0] for p in items]))
        return work

    def run(self, ctx: RunContext, cfg: SelfTrustConfig) -> list[Finding]:
        model = ctx.model()
        items = problems(cfg, cfg.n_problems, ctx.seed)
        gens = model.generate([p.messages() for p in items], SamplingParams(max_new_tokens=cfg.answer_tokens),
                              desc="answer")  # fmt: skip
        own_values = [extract_answer(g.text) for g in gens]
        judged = judge(model, items, own_values, cfg, ctx.seed)
        own = judged.own
        ctx.log_metrics({
            "own_accuracy": float(judged.correct[own].mean()) if own.any() else float("nan"),
            "own_answer_rate": float(np.mean([v is not None for v in own_values])),
            "mean_p_yes_correct": float(judged.p_own_frame[judged.correct].mean()) if judged.correct.any() else 0.0,
            "mean_p_yes_wrong": float(judged.p_own_frame[~judged.correct].mean()) if (~judged.correct).any() else 0.0,
        })  # fmt: skip
        ctx.log_samples(
            {"unit": items[i].id, "item": _text(v), "arm": "own" if is_own else "offered",
             "prompt": items[i].question, "output": gens[i].text, "score": float(judged.p_own_frame[k]),
             "verdict": "correct" if judged.correct[k] else "wrong", "gold": items[i].answer,
             "p_yes_other_frame": float(judged.p_other_frame[k]), "p_compare": float(judged.p_compare[k]),
             "logprob": float(judged.logprob[k])}
            for k, (i, v, is_own) in enumerate(judged_rows(items, own_values, cfg.distractor_offsets))
        )  # fmt: skip
        return measure(judged, margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)
