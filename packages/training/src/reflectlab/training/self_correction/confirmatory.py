"""Study ``self-correction/confirmatory-reflection`` (RESEARCH.md §3.1): after a model states its first candidate
answer, does the rest of its reasoning (the reflection) change the answer, or only confirm it?

Traces come from the model under study (it solves, then a fixed cue asks it to check its work, and it goes on) or
are imported from a JSONL file of traces written by any model (``traces=<path>``; format in
:mod:`reflectlab.evals.traces`; ``traces=example`` reads the example shipped with reflectlab-evals). Candidates are
read line by line (rule-based by default, ``extractor=llm`` asks a model), checked against the gold answer, and
consecutive candidates give the transition matrix. The truncation arm cuts each generated trace right after its
first candidate and forces the answer there ("Final answer:"); for imported traces, which cannot be continued, the
first candidate is the truncated answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import cluster_mean_ci, paired_rate_diff_ci
from reflectlab.evals.extract import Candidate, Number, extract_answer, extract_candidates, same_number, transitions
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
    temperature: float = option(0.0, "Sampling temperature of the solve and check steps (0 = greedy).")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_problems >= 1, "n_problems", "must be at least 1")
        for key in ("solve_tokens", "check_tokens", "force_tokens"):
            require(getattr(self, key) >= 1, key, "must be at least 1")
        require(self.extractor in EXTRACTORS, "extractor", f"must be one of {', '.join(EXTRACTORS)}")
        require(self.temperature >= 0, "temperature", "must not be negative")


@dataclass
class TraceResult:
    """One analysed trace with its truncation arm and token counts."""

    analysis: TraceAnalysis
    truncated_correct: bool
    tokens_total: int
    tokens_after_first: int


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
    total = sum(r.tokens_total for r in results)
    after = sum(r.tokens_after_first for r in results)
    matrix = {"transitions": counts, **rates, "n_traces": len(results),
              "traces_without_candidate": sum(not a.has_candidate for a in analyses),
              "traces_with_reflection": int(np.isfinite(shares).sum())}  # fmt: skip
    return [
        Finding.from_estimate(
            cluster_mean_ci(shares, units, unit=UNIT, null=0.5, alternative="greater"), metric="confirmatory_share",
            control="no tendency (half of the transitions confirm)", control_value=0.5, primary=True,
            bearing="opposes",
            details={"definition": "per trace, share of transitions between consecutive candidates that keep the "
                     "answer (T->T or F->F same), averaged over traces with at least two candidates; t-interval "
                     "over problems. Present = reflection confirms the first answer: correction is absent", **matrix},
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


def _source(cfg: ConfirmatoryConfig) -> list[Trace] | None:
    if not cfg.traces:
        return None
    return read_traces(example_path() if cfg.traces == "example" else cfg.traces)


def _given(found: list[Candidate]) -> CandidateFn:
    """A candidate function that returns candidates already found (by a batched extractor)."""
    return lambda _trace: found


def _candidates(ctx: RunContext, cfg: ConfirmatoryConfig, traces: list[Trace]) -> list[list[Candidate]]:
    if cfg.extractor == "rule":
        return [extract_candidates(t.trace) for t in traces]
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
    yet consecutive candidates agree as often as resamples of a clustered problem do. Planted effects (the
    simulator's own parameters): for ``confirmatory_share``, each later candidate copies the previous one with
    probability ``effect`` (confirmation beyond resampling); for ``final_minus_first_accuracy``, a candidate after
    a wrong one is the gold answer with probability ``effect`` (correction)."""

    unit = UNIT

    def __init__(
        self,
        cfg: ConfirmatoryConfig,
        *,
        accuracy: float = 0.72,
        problem_sd: float = 1.5,
        metric: str = "confirmatory_share",
    ) -> None:
        self.cfg = cfg
        self.accuracy = accuracy
        self.problem_sd = problem_sd
        self.metric = metric
        self.planted_effect = 0.3 if metric == "confirmatory_share" else 0.15
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
        confirm = effect if self.metric == "confirmatory_share" else 0.0
        correct_after_wrong = effect if self.metric != "confirmatory_share" else 0.0
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
            out.append(TraceResult(a, truncated_correct=a.first_correct, tokens_total=10, tokens_after_first=8))
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
        if cfg.extractor == "llm":  # about 5 lines a trace, each with the question and earlier lines
            reader = cfg.extractor_model or m
            work.generate(reader, 5 * n, 5 * n * 150, 8)
        return work

    def simulator(self, cfg: ConfirmatoryConfig) -> ConfirmatorySimulator:
        return ConfirmatorySimulator(cfg)

    def run(self, ctx: RunContext, cfg: ConfirmatoryConfig) -> list[Finding]:
        imported = _source(cfg)
        model = ctx.model()
        if imported is None:
            traces = generate_traces(model, problems(cfg, cfg.n_problems, ctx.seed), cfg, ctx.seed)
        else:
            traces = imported
        found = _candidates(ctx, cfg, traces)
        analyses = [analyse(t, _given(c)) for t, c in zip(traces, found, strict=True)]
        if imported is None:
            truncated = forced_answers(model, traces, analyses, cfg)
        else:
            truncated = [a.first_correct for a in analyses]
        tok = model.tokenizer
        results = []
        for t, a, cut in zip(traces, analyses, truncated, strict=True):
            total = len(tok(t.trace, add_special_tokens=False)["input_ids"])
            after = len(tok(t.trace[a.first_end :], add_special_tokens=False)["input_ids"]) if a.first_end else 0
            results.append(TraceResult(a, cut, total, after))
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
             "candidates": a.values, "transitions": a.transitions, "truncated_correct": r.truncated_correct}
            for t, a, r in zip(traces, analyses, results, strict=True)
        )  # fmt: skip
        return findings
