"""Study ``self-correction/confirmatory-reflection`` (RESEARCH.md §3.1): after a model states its first candidate
answer, does the rest of its reasoning (the reflection) change the answer, or only confirm it?

Traces come from the model under study (it solves, then a fixed cue asks it to check its work, and it goes on) or
are imported from a JSONL file of traces written by any model (``traces=<path>``; format in
:mod:`reflectlab.evals.traces`; ``traces=example`` reads the example shipped with reflectlab-evals). Candidates are
read line by line (rule-based by default, ``extractor=llm`` asks a model), checked against the gold answer, and
consecutive candidates give the transition matrix. The truncation arm cuts each generated trace right after its
first candidate and forces the answer there ("Final answer:"); for imported traces, which cannot be continued, the
first candidate is the truncated answer.

The primary finding (issue 21) compares how often consecutive candidates of one trace agree with how often
*independent resamples* of the first answer agree on the same problem: a model that gives the same answer to a
problem whatever it does (a problem it always gets right, or always gets wrong the same way) repeats itself in its
trace too, and that is not confirmatory reflection. Generated traces and their resamples are sampled at the same
temperature (greedy resamples would all be one answer), and their candidates are read by the strict rules the
prompt asks for (``Answer: <number>``), not from any number in the chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import cluster_diff_ci, cluster_mean_ci, paired_rate_diff_ci
from reflectlab.evals.extract import (
    ALL_RULES,
    STRICT_RULES,
    Candidate,
    Number,
    extract_answer,
    extract_candidates,
    same_number,
    transitions,
)
from reflectlab.evals.tasks.arithmetic import Problem
from reflectlab.evals.traces import (
    CandidateFn,
    Trace,
    TraceAnalysis,
    analyse,
    example_path,
    read_traces,
    transition_counts,
    transition_rates,
)
from reflectlab.training.self_correction.common import TaskConfig, problems

SOLVE = "{question}\nSolve it step by step, then check your answer. Write each answer you reach as 'Answer: <number>'."
CHECK_CUE = "Let me check this."
FORCE = "Final answer:"
EXTRACTORS = ("rule", "llm")
#: The independent unit: one trace per problem.
UNIT = "problem"


@dataclass
class ConfirmatoryConfig(TaskConfig):
    n_problems: int = option(120, "Problems the model solves, one generated trace each.")
    traces: str = option("", "A JSONL of traces to analyse instead of generating ('example': the shipped example).")
    solve_tokens: int = option(40, "New tokens of the solve step.")
    check_tokens: int = option(48, "New tokens after the check cue.")
    force_tokens: int = option(8, "New tokens of the answer forced after the first candidate (truncation arm).")
    extractor: str = option("rule", "Who reads the candidate answers: rule (rule-based) or llm (a model, per line).")
    extractor_model: str = option("", "The llm extractor's model; '' = the model under study.")
    temperature: float = option(
        0.7, "Sampling temperature of the solve and check steps and of the resamples (above 0: greedy resamples agree)."
    )
    resamples: int = option(
        4, "Independent solves per problem at the same temperature: how often two of them agree is the control."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_problems >= 1, "n_problems", "must be at least 1")
        for key in ("solve_tokens", "check_tokens", "force_tokens"):
            require(getattr(self, key) >= 1, key, "must be at least 1")
        require(self.extractor in EXTRACTORS, "extractor", f"must be one of {', '.join(EXTRACTORS)}")
        require(self.temperature > 0, "temperature", "must be above 0 (independent resamples must be able to differ)")
        require(self.resamples >= 2, "resamples", "must be at least 2 (agreement needs a pair)")


@dataclass
class TraceResult:
    """One analysed trace with its truncation arm and token counts."""

    analysis: TraceAnalysis
    truncated_correct: bool
    tokens_total: int
    tokens_after_first: int
    resampled: list[Number | None] = field(default_factory=list)  # independent solves' first answers (None: none)

    @property
    def resample_agreement(self) -> float:
        """Share of pairs of independent first answers that agree (NaN with fewer than two answers)."""
        values = [v for v in self.resampled if v is not None]
        pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]]
        return sum(same_number(a, b) for a, b in pairs) / len(pairs) if pairs else math.nan


def solve_chat(question: str) -> Prompt:
    """The solve step's prompt, which the check step and the truncation arm continue."""
    return user(SOLVE.format(question=question))


def generate_traces(model: Model, items: list[Problem], cfg: ConfirmatoryConfig, seed: int) -> list[Trace]:
    """Solve, then a fixed check cue, then the model's own continuation: one trace per problem."""
    params = SamplingParams(max_new_tokens=cfg.solve_tokens, temperature=cfg.temperature)
    chats = [solve_chat(p.question) for p in items]
    solved = [g.text.strip() for g in model.generate(chats, params, seed=seed, desc="solve")]
    rendered = [model.render(c)[0] for c in chats]
    prompts = [r + s + "\n" + CHECK_CUE + "\n" for r, s in zip(rendered, solved, strict=True)]
    params = SamplingParams(max_new_tokens=cfg.check_tokens, temperature=cfg.temperature)
    checks = [g.text for g in model.generate(prompts, params, seed=seed + 1, desc="check")]
    return [
        Trace(id=p.id, question=p.question, answer=p.answer, trace=f"{s}\n{CHECK_CUE}\n{c.strip()}", model=model.name)
        for p, s, c in zip(items, solved, checks, strict=True)
    ]


def resample_first_answers(
    model: Model, items: list[Problem], cfg: ConfirmatoryConfig, seed: int
) -> list[list[Number | None]]:
    """``resamples`` independent solves of each problem at the traces' temperature; each solve's first answer."""
    params = SamplingParams(max_new_tokens=cfg.solve_tokens, temperature=cfg.temperature)
    chats = [solve_chat(p.question) for p in items]
    out: list[list[Number | None]] = [[] for _ in items]
    for j in range(cfg.resamples):
        for i, g in enumerate(model.generate(chats, params, seed=seed + 100 + j, desc=f"resample {j + 1}")):
            found = extract_candidates(g.text, rules=STRICT_RULES)
            out[i].append(found[0].value if found else None)
    return out


def forced_answers(
    model: Model, traces: list[Trace], analyses: list[TraceAnalysis], cfg: ConfirmatoryConfig
) -> list[bool]:
    """The truncation arm on generated traces: cut after the first candidate, force the answer, check it.

    A forced reply without a number counts as the first candidate (what the trace had stated at the cut); a trace
    without a candidate has nothing to cut and keeps its (wrong) verdict."""
    todo = [i for i, a in enumerate(analyses) if a.first_end is not None]
    prompts = []
    for i in todo:
        cut = traces[i].trace[: analyses[i].first_end]
        prompts.append(model.render(solve_chat(traces[i].question))[0] + cut + "\n" + FORCE)
    replies = model.generate(prompts, SamplingParams(max_new_tokens=cfg.force_tokens), desc="truncated") if todo else []
    out = [False] * len(traces)
    for i, g in zip(todo, replies, strict=True):
        value = extract_answer(g.text)
        value = analyses[i].values[0] if value is None else value
        out[i] = same_number(value, traces[i].answer)
    return out


def measure(
    results: list[TraceResult], *, margin: float, seed: int, n_bootstrap: int, model: str = ""
) -> list[Finding]:
    """Findings from analysed traces; separate from the model work so planted traces can test it. ``model`` names
    who wrote imported traces (the runner stamps the model under study where it is empty).

    The unit is the problem (:data:`UNIT`): a generated trace is one problem's, an imported one is its own problem
    (its id). Every interval is the t-interval over problems (``n`` = problems); ``n_bootstrap`` and ``seed`` are
    unused (the intervals are closed-form) and kept for the shared ``measure`` signature."""
    del seed, n_bootstrap
    common: dict[str, Any] = {"model": model, "margin": margin}
    analyses = [r.analysis for r in results]
    units = [a.id for a in analyses]
    counts = transition_counts(analyses)
    rates = transition_rates(counts)
    first = np.array([a.first_correct for a in analyses], dtype=float)
    final = np.array([a.final_correct for a in analyses], dtype=float)
    truncated = np.array([r.truncated_correct for r in results], dtype=float)
    shares = np.array([a.confirmatory_share for a in analyses], dtype=float)  # NaN without a transition: left out
    agreement = np.array([r.resample_agreement for r in results], dtype=float)  # NaN without resamples
    corrective = np.array([_rate(a.transitions, "F->T", ("F->T", "F->F same", "F->F different")) for a in analyses])
    harmful = np.array([_rate(a.transitions, "T->F", ("T->T", "T->F")) for a in analyses])
    total = sum(r.tokens_total for r in results)
    after = sum(r.tokens_after_first for r in results)
    matrix = {"transitions": counts, **rates, "n_traces": len(results),
              "traces_without_candidate": sum(not a.has_candidate for a in analyses),
              "traces_with_reflection": int(np.isfinite(shares).sum())}  # fmt: skip
    return [
        Finding.from_estimate(
            cluster_diff_ci(shares, agreement, units, unit=UNIT, null=0.0, alternative="greater"),
            metric="confirmatory_minus_resample_agreement",
            control="agreement of independent resamples of the first answer, same problem", control_value=0.0,
            primary=True, bearing="opposes",
            details={"definition": "per problem, the share of the trace's consecutive candidates that keep the "
                     "answer minus the share of pairs of independent first answers (resamples at the same "
                     "temperature) that agree; t-interval over problems. Present = the reflection keeps its answer "
                     "more than the model's answers to that problem agree anyway: confirmation, so correction is "
                     "absent",
                     "mean_resample_agreement": float(np.nanmean(agreement)) if np.isfinite(agreement).any() else None,
                     "problems_with_resamples": int(np.isfinite(agreement).sum()), **matrix},
            **common,
        ),
        Finding.from_estimate(
            cluster_mean_ci(shares, units, unit=UNIT, null=0.5, alternative="greater"), metric="confirmatory_share",
            control="half of the transitions confirm (a weak control: a model that repeats itself passes it)",
            control_value=0.5, bearing="opposes",
            details={"definition": "per trace, share of transitions between consecutive candidates that keep the "
                     "answer (T->T or F->F same), averaged over traces with at least two candidates; t-interval "
                     "over problems; the old headline", **matrix},
            **common,
        ),
        Finding.from_estimate(
            cluster_mean_ci(corrective, units, unit=UNIT, null=0.0, alternative="greater"),
            metric="corrective_transition_rate", control="no wrong answer corrected", control_value=0.0,
            details={"definition": "per trace, the share of transitions from a wrong candidate that reach the gold "
                     "answer (F->T); t-interval over problems with such a transition"},
            **common,
        ),
        Finding.from_estimate(
            cluster_mean_ci(harmful, units, unit=UNIT, null=0.0, alternative="greater"),
            metric="harmful_transition_rate", control="no right answer abandoned", control_value=0.0,
            bearing="opposes",
            details={"definition": "per trace, the share of transitions from a right candidate that leave it "
                     "(T->F); t-interval over problems with such a transition"},
            **common,
        ),
        Finding.from_estimate(
            paired_rate_diff_ci(final, first, units, unit=UNIT, null=0.0, alternative="greater"),
            metric="final_minus_first_accuracy", control="the first candidate's accuracy", control_value=0.0,
            details={"first_accuracy": float(first.mean()) if len(first) else None,
                     "final_accuracy": float(final.mean()) if len(final) else None,
                     "definition": "accuracy of the last candidate minus that of the first, paired by problem; "
                     "a trace without a candidate counts as wrong for both", **rates},
            **common,
        ),
        Finding.from_estimate(
            paired_rate_diff_ci(final, truncated, units, unit=UNIT, null=0.0, alternative="greater"),
            metric="final_minus_truncated_accuracy", control="the answer forced right after the first candidate",
            control_value=0.0,
            details={"truncated_accuracy": float(truncated.mean()) if len(truncated) else None,
                     "tokens_after_first_share": after / total if total else None,
                     "mean_tokens_after_first": after / len(results) if results else None,
                     "definition": "what the reflection adds over stopping at the first candidate, paired by "
                     "problem; tokens_after_first_share is what truncation would save"},
            **common,
        ),
    ]  # fmt: skip


def _rate(labels: list[Any], hit: str, among: tuple[str, ...]) -> float:
    """Share of a trace's transitions in ``among`` that are ``hit`` (NaN when it has none of them)."""
    pool = [t for t in labels if t in among]
    return sum(t == hit for t in pool) / len(pool) if pool else math.nan


def _source(cfg: ConfirmatoryConfig) -> list[Trace] | None:
    if not cfg.traces:
        return None
    return read_traces(example_path() if cfg.traces == "example" else cfg.traces)


def _given(found: list[Candidate]) -> CandidateFn:
    """A candidate function that returns candidates already found (by a batched extractor)."""
    return lambda _trace: found


def _candidates(
    ctx: RunContext, cfg: ConfirmatoryConfig, traces: list[Trace], *, generated: bool
) -> list[list[Candidate]]:
    """Candidates per trace: strict rules for generated traces (the prompt asks for 'Answer: <number>'), every rule
    for imported ones (whose format is unknown), or a model with ``extractor=llm``."""
    if cfg.extractor == "rule":
        rules = STRICT_RULES if generated else ALL_RULES
        return [extract_candidates(t.trace, rules=rules) for t in traces]
    from reflectlab.evals.llm_extract import LLMExtractor

    reader = ctx.model(cfg.extractor_model or None)
    return LLMExtractor(reader).extract_many([t.question for t in traces], [t.trace for t in traces])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class ConfirmatorySimulator(Simulator):
    """Analysed traces at the config's size (``n_problems``, one trace per problem), with no model.

    Problems are clustered: each has its own chance of a right answer, ``sigmoid(logit(accuracy) + u)`` with ``u``
    normal (sd ``problem_sd``), shared by every candidate of its trace, so some problems are nearly always right
    (a ceiling) and some nearly always wrong (a floor); a wrong candidate is the problem's dominant wrong answer
    with a problem-specific share (Beta(2, 2)), else one of four others. A trace has ``1 + Poisson(2.5)``
    candidates (5% have none), and its truncated answer is its first candidate. Under the null every candidate
    after the first is an independent resample of the problem's answer: reflection neither confirms nor corrects,
    yet consecutive candidates agree as often as resamples of a clustered problem do - which is what made the old
    control (half of the transitions) read confirmation from nothing. Each problem also gets ``resamples``
    independent first answers from the same distribution (5% of them unreadable), the primary's control. Planted
    effects (the simulator's own parameters): for the confirmation metrics, each later candidate copies the
    previous one with probability ``effect`` (confirmation beyond resampling); for ``final_minus_first_accuracy``,
    a candidate after a wrong one is the gold answer with probability ``effect`` (correction)."""

    unit = UNIT

    def __init__(
        self,
        cfg: ConfirmatoryConfig,
        *,
        accuracy: float = 0.72,
        problem_sd: float = 1.5,
        metric: str = "confirmatory_minus_resample_agreement",
    ) -> None:
        self.cfg = cfg
        self.accuracy = accuracy
        self.problem_sd = problem_sd
        self.metric = metric
        self.confirming = metric in ("confirmatory_minus_resample_agreement", "confirmatory_share")
        self.planted_effect = 0.3 if self.confirming else 0.15
        self.nuisance = (
            f"{cfg.n_problems} problems, one trace each; problem accuracy logit-normal around {accuracy} (sd "
            f"{problem_sd}: floors and ceilings by problem), a dominant wrong answer per problem; later candidates "
            "are independent resamples under the null"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> list[TraceResult]:
        n = self.cfg.n_problems
        logit = np.log(self.accuracy / (1 - self.accuracy))
        p_right = _sigmoid(logit + rng.normal(0.0, self.problem_sd, n))
        dominant = rng.beta(2.0, 2.0, n)
        lengths = 1 + rng.poisson(2.5, n)
        lengths[rng.random(n) < 0.05] = 0
        confirm = effect if self.confirming else 0.0
        correct_after_wrong = effect if not self.confirming else 0.0
        out = []
        for i in range(n):

            def draw(i: int = i) -> int:
                if rng.random() < p_right[i]:
                    return 0
                return 1 if rng.random() < dominant[i] else int(rng.integers(2, 6))

            values: list[Number] = []
            for _ in range(int(lengths[i])):
                if values and rng.random() < confirm:
                    values.append(values[-1])
                elif values and values[-1] != 0 and rng.random() < correct_after_wrong:
                    values.append(0)
                else:
                    values.append(draw())
            a = TraceAnalysis(
                id=f"p{i}", values=values, correct=[v == 0 for v in values], transitions=transitions(values, 0),
                first_end=1 if values else None,
            )  # fmt: skip
            resampled: list[Number | None] = [
                draw() if rng.random() > 0.05 else None for _ in range(self.cfg.resamples)
            ]
            out.append(TraceResult(a, truncated_correct=a.first_correct, tokens_total=10, tokens_after_first=8,
                                   resampled=resampled))  # fmt: skip
        return out

    def measure(self, data: list[TraceResult], seed: int) -> list[Finding]:
        return measure(data, margin=self.cfg.margin, seed=seed, n_bootstrap=self.cfg.n_bootstrap)


class ConfirmatoryStudy(Study[ConfirmatoryConfig]):
    side = "correction"
    description = "solve-then-check traces: transitions between candidate answers, first vs final, truncation arm"

    def plan(self, cfg: ConfirmatoryConfig, ctx: PlanContext) -> Work:
        work = Work()
        m = ctx.subject
        imported = _source(cfg)
        n = len(imported) if imported is not None else cfg.n_problems
        if imported is None:
            items = problems(cfg, n, ctx.seed)
            prompt = ctx.count(m, [solve_chat(p.question) for p in items])
            # Measured on the quick preset: the answer step stops at about half its cap (the model states a short
            # answer), the check step at about 0.8 of its cap.
            solve, check = cfg.solve_tokens // 2, int(0.8 * cfg.check_tokens)
            work.generate(m, n, prompt, solve)
            work.generate(m, n, prompt + n * (solve + 8), check)
            work.generate(m, n, prompt + n * solve, cfg.force_tokens)
            work.generate(m, n * cfg.resamples, cfg.resamples * prompt, solve)  # independent first answers
        if cfg.extractor == "llm":  # about 5 lines a trace, each with the question and earlier lines
            reader = cfg.extractor_model or m
            work.generate(reader, 5 * n, 5 * n * 150, 8)
        return work

    def simulator(self, cfg: ConfirmatoryConfig) -> ConfirmatorySimulator:
        return ConfirmatorySimulator(cfg)

    def run(self, ctx: RunContext, cfg: ConfirmatoryConfig) -> list[Finding]:
        imported = _source(cfg)
        model = ctx.model()
        resampled: list[list[Number | None]] = []
        if imported is None:
            items = problems(cfg, cfg.n_problems, ctx.seed)
            traces = generate_traces(model, items, cfg, ctx.seed)
            resampled = resample_first_answers(model, items, cfg, ctx.seed)
        else:
            traces = imported
        found = _candidates(ctx, cfg, traces, generated=imported is None)
        analyses = [analyse(t, _given(c)) for t, c in zip(traces, found, strict=True)]
        if imported is None:
            truncated = forced_answers(model, traces, analyses, cfg)
        else:
            truncated = [a.first_correct for a in analyses]
        tok = model.tokenizer
        results = []
        for i, (t, a, cut) in enumerate(zip(traces, analyses, truncated, strict=True)):
            total = len(tok(t.trace, add_special_tokens=False)["input_ids"])
            after = len(tok(t.trace[a.first_end :], add_special_tokens=False)["input_ids"]) if a.first_end else 0
            results.append(TraceResult(a, cut, total, after, resampled[i] if resampled else []))
        source = "generated" if imported is None else f"imported from {cfg.traces}"
        label = imported[0].model if imported and imported[0].model else ""
        findings = measure(results, model=label, margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap)
        for f in findings:
            f.details["source"] = source
            f.details["extractor"] = cfg.extractor
        counts = transition_counts(analyses)
        ctx.log_metrics({f"transitions.{k.replace('->', '_to_').replace(' ', '_')}": float(v)
                         for k, v in counts.items()})  # fmt: skip
        ctx.log_samples(
            {"unit": t.id, "item": "trace", "arm": "generated" if imported is None else "imported",
             "model": t.model or None, "prompt": t.question, "output": t.trace,
             "verdict": "final correct" if a.final_correct else "final wrong", "gold": t.answer,
             "candidates": a.values, "transitions": a.transitions, "truncated_correct": r.truncated_correct,
             "resampled_first_answers": r.resampled}
            for t, a, r in zip(traces, analyses, results, strict=True)
        )  # fmt: skip
        return findings
