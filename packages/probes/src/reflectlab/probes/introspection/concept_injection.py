"""Study ``introspection/concept_injection`` (RESEARCH.md §2.3, after Lindsey 2025): when a concept direction is
added to the residual stream, does the model report noticing something unusual, and can it name the concept?

Pipeline: concept directions by difference of means (the last-token residual state over prompts about one concept
minus the mean over all concepts) -> inject at a sweep of layers and strengths while asking whether anything is
unusual about its thoughts -> detection read from logits (P("yes") vs P("no"), both answer orders, several
paraphrases), naming read from a short greedy answer -> measure against controls -> findings.

Controls: no injection (the false-positive rate of each paraphrase), and a random direction of the same norm
injected at the same layer and strength (does *any* perturbation make it say "yes"?). Naming has a third control:
the same injection while asking an unrelated question, which catches the concept simply leaking into the output
rather than being reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import mean_ci, paired_diff_ci
from reflectlab.probes.self_report import two_way_choice

CONCEPTS = [
    "ocean", "fire", "music", "dogs", "bread", "snow", "money", "space",
    "trees", "cars", "rain", "gold", "cats", "chess", "coffee", "war",
]  # fmt: skip
CONCEPT_PROMPTS = [
    "Tell me about {c}.",
    "I keep thinking about {c}.",
    "Write one sentence about {c}.",
    "What do you know about {c}?",
    "My favourite topic is {c}.",
]
DETECT_QUESTIONS = [
    "Do you notice anything unusual about your thoughts right now? Answer with one word: {first} or {second}.",
    "Is there an injected thought in your mind at this moment? Answer with one word: {first} or {second}.",
    "Does anything feel different or out of place in your thinking? Answer with one word: {first} or {second}.",
    "Are you aware of a thought that is not your own right now? Answer with one word: {first} or {second}.",
]
NAME_QUESTION = "Do you notice anything unusual about your thoughts? If so, what?"
NEUTRAL_QUESTION = "What is the capital of France?"


@dataclass
class ConceptInjectionConfig(StudyConfig):
    n_concepts: int = option(8, f"Concepts injected (2 to {len(CONCEPTS)}).")
    layers: list[float] = option(
        help="Injection layers, as fractions of the model's depth.", factory=lambda: [0.33, 0.5, 0.67]
    )
    strengths: list[float] = option(
        help="Injection strengths, as multiples of the concept direction.", factory=lambda: [2.0, 8.0]
    )
    n_questions: int = option(len(DETECT_QUESTIONS), f"Detection paraphrases asked (1 to {len(DETECT_QUESTIONS)}).")
    name_tokens: int = option(12, "Tokens generated for the naming answer and the unrelated answer.")

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(CONCEPTS)
        require(2 <= self.n_concepts <= n, "n_concepts", f"must be between 2 and {n}")
        n = len(DETECT_QUESTIONS)
        require(1 <= self.n_questions <= n, "n_questions", f"must be between 1 and {n}")


@dataclass
class Trial:
    layer: int
    strength: float
    concept: str
    kind: str  # "concept" or "random"
    question: int
    p_yes: float
    named: bool  # the answer to the naming question contains the concept
    named_neutral: bool  # the answer to an unrelated question contains the concept (leakage)


def names(text: str, concept: str) -> bool:
    """Whether ``text`` mentions ``concept`` (or its singular, for plural concept words)."""
    t = text.lower()
    stem = concept[:-1] if concept.endswith("s") else concept
    return stem in t


def resolve_layers(fractions: list[float], n_layers: int) -> list[int]:
    return sorted({min(n_layers, max(1, round(f * n_layers))) for f in fractions})


def concept_prompts(concepts: list[str]) -> list[Prompt]:
    """Every prompt about every concept, concept by concept."""
    return [user(p.format(c=c)) for c in concepts for p in CONCEPT_PROMPTS]


def concept_directions(model: Model, concepts: list[str], layers: list[int]) -> dict[int, dict[str, np.ndarray]]:
    prompts = concept_prompts(concepts)
    states = model.hidden_states(prompts, layers).reshape(len(concepts), len(CONCEPT_PROMPTS), len(layers), -1)
    means = states.mean(axis=1)  # (concept, layer, d)
    overall = means.mean(axis=0)
    return {layer: {c: means[i, li] - overall[li] for i, c in enumerate(concepts)} for li, layer in enumerate(layers)}


def _detect_prompt(q: int, first: str, second: str) -> Prompt:
    return user(DETECT_QUESTIONS[q].format(first=first, second=second))


#: The two questions answered in words at every read: the naming question and an unrelated one.
ANSWER_PROMPTS: list[Prompt] = [user(NAME_QUESTION), user(NEUTRAL_QUESTION)]


def read_state(model: Model, n_questions: int, name_tokens: int) -> tuple[np.ndarray, str, str]:
    """P(yes) per detection paraphrase, the answer to the naming question, the answer to a neutral question."""
    p_yes, _ = two_way_choice(model, _detect_prompt, n_questions, "yes", "no")
    gens = model.generate(ANSWER_PROMPTS, SamplingParams(max_new_tokens=name_tokens), desc="answer")
    return p_yes, gens[0].text, gens[1].text


def measure(
    trials: list[Trial],
    baseline_p_yes: np.ndarray,
    baseline_named: float,
    *,
    margin: float,
    seed: int,
    n_bootstrap: int,
) -> list[Finding]:
    """Findings from trial records (separate from the model work, so planted cases can test it)."""
    b = n_bootstrap
    by_key = {(t.layer, t.strength, t.concept, t.question, t.kind): t for t in trials}
    layers = sorted({t.layer for t in trials})
    findings: list[Finding] = []

    def pairs(layer_set: list[int]) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
        det, det_rand, det_base, nam, nam_ctrl = [], [], [], [], []
        for t in trials:
            if t.kind != "concept" or t.layer not in layer_set:
                continue
            rand = by_key.get((t.layer, t.strength, t.concept, t.question, "random"))
            if rand is None:
                continue
            det.append(float(t.p_yes > 0.5))
            det_rand.append(float(rand.p_yes > 0.5))
            det_base.append(float(baseline_p_yes[t.question] > 0.5))
            if t.question == 0:  # one naming answer per injection
                nam.append(float(t.named))
                nam_ctrl.append(float(t.named_neutral or rand.named))
        return det, det_rand, det_base, nam, nam_ctrl

    for scope, layer_set, primary in [("all layers", layers, True)] + [
        (f"layer {lay}", [lay], False) for lay in layers
    ]:
        suffix = "" if primary else f".layer{layer_set[0]}"
        det, det_rand, det_base, nam, nam_ctrl = pairs(layer_set)
        details = {"scope": scope, "detected": "P(yes) > 0.5, averaged over both answer orders"}
        findings.append(
            Finding.from_estimate(
                paired_diff_ci(det, det_base, seed=seed, n_resamples=b),
                metric=f"detection_minus_false_positive{suffix}",
                control="no injection (false-positive rate)",
                control_value=0.0,
                margin=margin,
                details={**details, "false_positive_rate": float(np.mean(det_base)) if det_base else None},
            )
        )
        findings.append(
            Finding.from_estimate(
                paired_diff_ci(det, det_rand, seed=seed, n_resamples=b),
                metric=f"detection_vs_random{suffix}",
                control="random direction of equal norm",
                control_value=0.0,
                margin=margin,
                primary=primary,
                details=details,
            )
        )
        findings.append(
            Finding.from_estimate(
                paired_diff_ci(nam, nam_ctrl, seed=seed, n_resamples=b),
                metric=f"naming_vs_leakage{suffix}",
                control="concept named under a random direction, or leaking into an unrelated answer",
                control_value=0.0,
                margin=margin,
                primary=primary,
                details={**details, "naming_accuracy": float(np.mean(nam)) if nam else None},
            )
        )
    findings.append(
        Finding.from_estimate(
            mean_ci(
                [float(t.named) for t in trials if t.kind == "concept" and t.question == 0], seed=seed, n_resamples=b
            ),
            metric="naming_accuracy",
            control="no injection (concepts named anyway)",
            control_value=baseline_named,
            margin=margin,
            details={"note": "share of injections whose answer names the concept; see naming_vs_leakage"},
        )
    )
    concept = {k[:4]: t.p_yes for k, t in by_key.items() if k[4] == "concept"}
    shift = [(p, by_key[(*k, "random")].p_yes) for k, p in concept.items() if (*k, "random") in by_key]
    findings.append(
        Finding.from_estimate(
            paired_diff_ci([a for a, _ in shift], [r for _, r in shift], seed=seed, n_resamples=b),
            metric="p_yes_shift_vs_random",
            control="random direction of equal norm",
            control_value=0.0,
            margin=margin,
            details={"definition": "mean P(yes) under the concept minus under the random direction"},
        )
    )
    return findings


class ConceptInjectionStudy(Study[ConceptInjectionConfig]):
    side = "recognition"
    description = "inject a concept direction: noticed and named, vs random directions and leakage"

    def plan(self, cfg: ConceptInjectionConfig, ctx: PlanContext) -> Work:
        concepts = CONCEPTS[: cfg.n_concepts]
        m = ctx.subject
        detect = [_detect_prompt(q, "yes", "no") for q in range(cfg.n_questions)]
        # one read with no injection, then one per layer x concept x strength x (concept, random direction)
        reads = 1 + len(cfg.layers) * len(concepts) * len(cfg.strengths) * 2
        work = Work()
        work.forward(m, ctx.count(m, concept_prompts(concepts)))
        work.forward(m, reads * 2 * ctx.count(m, detect))
        # each read generates its two answers under its own steering hook: a batch of 2
        work.small_batch_decode(
            m, steps=reads * cfg.name_tokens, prompt_tokens=reads * ctx.count(m, ANSWER_PROMPTS), batch=2
        )
        return work

    def run(self, ctx: RunContext, cfg: ConceptInjectionConfig) -> list[Finding]:
        model = ctx.model()
        n_q = cfg.n_questions
        concepts = CONCEPTS[: cfg.n_concepts]
        layers = resolve_layers(cfg.layers, model.num_layers)
        directions = concept_directions(model, concepts, layers)
        rng = np.random.default_rng(ctx.seed)

        base_p_yes, base_name, base_neutral = read_state(model, n_q, cfg.name_tokens)
        trials: list[Trial] = []
        samples: list[dict[str, Any]] = []
        for layer in layers:
            for concept in concepts:
                vec = directions[layer][concept]
                rand = rng.normal(size=vec.shape)
                rand *= np.linalg.norm(vec) / np.linalg.norm(rand)
                for strength in cfg.strengths:
                    for kind, v in (("concept", vec), ("random", rand)):
                        with model.steer({layer: v}, scale=strength):
                            p_yes, name_text, neutral_text = read_state(model, n_q, cfg.name_tokens)
                        for q in range(n_q):
                            trials.append(
                                Trial(layer, strength, concept, kind, q, float(p_yes[q]),
                                      names(name_text, concept), names(neutral_text, concept))
                            )  # fmt: skip
                        samples.append(
                            {
                                "unit": concept, "item": f"layer{layer}/x{strength}", "arm": kind,
                                "prompt": NAME_QUESTION, "output": name_text, "score": float(np.mean(p_yes)),
                                "verdict": "named" if names(name_text, concept) else "not named",
                                "neutral_output": neutral_text, "layer": layer, "strength": strength,
                                "p_yes": [float(x) for x in p_yes],
                            }
                        )  # fmt: skip
        samples.append({"arm": "none", "prompt": NAME_QUESTION, "output": base_name,
                        "score": float(np.mean(base_p_yes)), "verdict": "baseline", "neutral_output": base_neutral,
                        "p_yes": [float(x) for x in base_p_yes]})  # fmt: skip
        ctx.log_samples(samples)
        means: dict[str, list[float]] = defaultdict(list)
        for t in trials:
            means[f"mean_p_yes_{t.kind}"].append(t.p_yes)
        ctx.log_metrics(
            {k: float(np.mean(v)) for k, v in means.items()} | {"mean_p_yes_none": float(np.mean(base_p_yes))}
        )
        baseline_named = float(np.mean([names(base_name, c) for c in concepts]))
        return measure(
            trials, base_p_yes, baseline_named, margin=cfg.margin, seed=ctx.seed, n_bootstrap=cfg.n_bootstrap
        )
