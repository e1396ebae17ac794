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
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import cluster_auroc_ci, cluster_diff_ci, correlation_ci
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
#: The independent unit: a problem, whose candidates share its question.
UNIT = "problem"
#: Bootstrap resamples of the diagnostics when the simulator measures (calibration judges the t-based primary).
SIM_RESAMPLES = 200
COMPARE = "Question: {question}\n\nCandidate answers:\n{options}\n\nWhich answer is correct? Answer with one letter."


@dataclass
class SelfTrustConfig(TaskConfig):
    n_problems: int = option(96, "Problems the model answers and then judges candidates for.")
    answer_tokens: int = option(24, "New tokens of the model's own (greedy) answer.")
    distractor_offsets: list[int] = option(
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


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins of P(yes)."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[edges == k].mean() - y[edges == k].mean()) * (edges == k).mean()
                     for k in range(bins) if (edges == k).any()))  # fmt: skip


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.asarray(sps.rankdata(x), dtype=float)


def measure(j: Judged, *, margin: float, seed: int, n_bootstrap: int) -> list[Finding]:
    """Findings from judged candidates; separate from the model work so planted judgements can test it.

    The unit is the problem (:data:`UNIT`): a problem's candidates share its question, so every interval resamples
    problems (``n`` = problems): t-intervals over problem means for the paired differences, a cluster bootstrap over
    problems (``n_bootstrap`` resamples) for the AUROCs and the rank correlation."""
    common: dict[str, Any] = {"margin": margin}
    boot: dict[str, Any] = {"seed": seed, "n_resamples": n_bootstrap}
    y = j.correct.astype(float)
    own = j.own.astype(bool)
    units = j.problem
    base_rate = float(y.mean()) if len(y) else float("nan")
    return [
        Finding.from_estimate(
            cluster_diff_ci(j.p_own_frame, j.p_other_frame, units, unit=UNIT, null=0.0, alternative="greater"),
            metric="own_minus_other_framing", control="the same answer framed as another model's", control_value=0.0,
            primary=True, bearing="opposes",
            details={"definition": "P(yes) framed as 'your answer' minus framed as 'another model's answer', paired "
                     "by candidate and averaged within each problem; t-interval over problems. Present = the model "
                     "trusts an answer more because it is its own: self-trust, which opposes correction"},
            **common,
        ),
        Finding.from_estimate(
            cluster_diff_ci(j.p_own_frame[own], y[own], units[own], unit=UNIT, null=0.0, alternative="greater"),
            metric="self_bias", control="an unbiased judge (judged = truly correct)", control_value=0.0,
            bearing="opposes",
            details={"definition": "mean over the model's own answers (one per problem) of P(yes | own framing) "
                     "minus correctness; a general lean to 'yes' on every candidate reads here too",
                     "own_accuracy": float(y[own].mean()) if own.any() else None,
                     "mean_p_yes_own": float(j.p_own_frame[own].mean()) if own.any() else None},
            **common,
        ),
        Finding.from_estimate(
            cluster_auroc_ci(j.p_own_frame, y, units, unit=UNIT, null=0.5, alternative="greater", **boot),
            metric="judge_auroc", control="chance", control_value=0.5,
            details={"definition": "AUROC of P(yes | own framing) for correctness over own, gold and distractors; "
                     "cluster bootstrap over problems"},
            **common,
        ),
        Finding.from_estimate(
            cluster_diff_ci((j.p_own_frame - y) ** 2, (base_rate - y) ** 2, units, unit=UNIT, null=0.0,
                            alternative="less"),
            metric="brier_minus_base_rate", control="a constant judge at the base rate", control_value=0.0,
            direction="less",
            details={"ece": expected_calibration_error(j.p_own_frame, y) if len(y) else None, "base_rate": base_rate,
                     "definition": "Brier score of P(yes) minus that of always saying the base rate, paired by "
                     "candidate, averaged within each problem"},
            **common,
        ),
        Finding.from_estimate(
            correlation_ci(_ranks(j.p_own_frame), _ranks(j.logprob), units, unit=UNIT, null=0.0,
                           alternative="greater", **boot),
            metric="p_yes_vs_logprob_spearman", control="no relation", control_value=0.0, bearing="opposes",
            details={"definition": "Spearman correlation (Pearson on ranks) of P(yes) with the candidate's "
                     "log-probability as the model's answer (judges favour likely text); cluster bootstrap over "
                     "problems"},
            **common,
        ),
        Finding.from_estimate(
            cluster_auroc_ci(j.p_compare, y, units, scores_b=j.p_own_frame, unit=UNIT, null=0.0,
                             alternative="greater", **boot),
            metric="comparison_minus_pointwise_auroc", control="the pointwise judge on the same candidates",
            control_value=0.0,
            details={"definition": "AUROC of P(letter) with all candidates shown together minus AUROC of pointwise "
                     "P(yes), on the same candidates; cluster bootstrap over problems"},
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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class SelfTrustSimulator(Simulator):
    """Judged candidates at the config's size (``n_problems``, the gold answer and one distractor per offset each,
    plus the model's own answer), with no model.

    Problems are clustered: the own answer is right with a problem-specific chance ``sigmoid(logit(accuracy) + u)``
    (``u`` sd 1.5: floors and ceilings by problem); a right own answer is the gold candidate, a wrong one coincides
    with a distractor 60% of the time, and 5% of problems have no own answer. The judge's logit for a candidate is
    a general lean to "yes" shared by every candidate of the repetition (sd ``yes_lean_sd``: the confound that a
    "yes" bias is not self-trust), a problem effect shared by the problem's candidates (sd 0.8), a weak reading of
    correctness (+0.3: near chance, as the embedded model) and candidate noise (sd 0.7). The other-framing P(yes) is
    the sigmoid of that logit; the own-framing one adds a framing shift per problem (sd ``framing_sd`` on the logit,
    mean 0 under the null) and candidate noise (sd 0.05). The candidate's log-probability follows correctness and
    the candidate noise (judges favour likely text); the comparison arm is a softmax over the problem's candidates.
    The planted effect adds ``effect`` to every own-framing P(yes) (clipped to [0.001, 0.999])."""

    metric = "own_minus_other_framing"
    unit = UNIT
    planted_effect = 0.05

    def __init__(
        self, cfg: SelfTrustConfig, *, accuracy: float = 0.58, yes_lean_sd: float = 0.5, framing_sd: float = 0.1,
        metric: str = "own_minus_other_framing",
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.accuracy = accuracy
        self.yes_lean_sd = yes_lean_sd
        self.framing_sd = framing_sd
        self.metric = metric
        self.nuisance = (
            f"{cfg.n_problems} problems x about {len(cfg.distractor_offsets) + 1.4:.1f} candidates; own accuracy "
            f"logit-normal around {accuracy} by problem; a general 'yes' lean per repetition (sd {yes_lean_sd}); a "
            f"problem effect on the judge (sd 0.8) and a framing shift per problem (sd {framing_sd}, logit)"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> Judged:
        n, k = self.cfg.n_problems, len(self.cfg.distractor_offsets)
        right = rng.random(n) < _sigmoid(np.log(self.accuracy / (1 - self.accuracy)) + rng.normal(0.0, 1.5, n))
        answered = rng.random(n) >= 0.05
        problem, own, correct = [], [], []
        for i in range(n):
            # gold first, then the distractors; a wrong own answer is a distractor or an extra candidate
            flags = [False] * (k + 1)
            if answered[i] and right[i]:
                flags[0] = True
            elif answered[i] and rng.random() < 0.6:
                flags[1 + int(rng.integers(k))] = True
            elif answered[i]:
                flags.append(True)
            problem += [i] * len(flags)
            own += flags
            correct += [True] + [False] * (len(flags) - 1)
        units, is_own, truth = np.array(problem), np.array(own), np.array(correct)
        m = len(units)
        noise = rng.normal(0.0, 0.7, m)
        logit = rng.normal(0.0, self.yes_lean_sd) + rng.normal(0.0, 0.8, n)[units] + 0.3 * truth + noise
        p_other = _sigmoid(logit)
        shifted = _sigmoid(logit + rng.normal(0.0, self.framing_sd, n)[units] + rng.normal(0.0, 0.05, m))
        p_own = np.clip(shifted + effect, 0.001, 0.999)
        logprob = -3.0 + 0.8 * truth + 0.6 * noise + rng.normal(0.0, 1.0, m)
        score = np.exp(0.5 * truth + rng.normal(0.0, 1.0, m))
        p_compare = score / np.bincount(units, weights=score)[units]
        return Judged(units, is_own, truth, p_own, p_other, logprob, p_compare)

    def measure(self, data: Judged, seed: int) -> list[Finding]:
        # The primary (and self_bias) are t-intervals over problems; only the diagnostics' bootstraps are cut to
        # SIM_RESAMPLES, so 400 repetitions stay within minutes.
        b = min(self.cfg.n_bootstrap, SIM_RESAMPLES)
        return measure(data, margin=self.cfg.margin, seed=seed, n_bootstrap=b)


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

    def simulator(self, cfg: SelfTrustConfig) -> SelfTrustSimulator:
        return SelfTrustSimulator(cfg)

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
