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

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import cluster_diff_ci, paired_rate_diff_ci, rate_ci
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


UNIT = "concept"
#: Margin of the diagnostic findings (rates, differences of rates, P(yes)); ``cfg.margin`` sets the primary's.
DIAGNOSTIC_MARGIN = 0.05


def measure(
    trials: list[Trial],
    baseline_p_yes: np.ndarray,
    baseline_named: float,
    *,
    margin: float,
) -> list[Finding]:
    """Findings from trial records (separate from the model work, so planted cases and the simulator can test it).
    Every interval is by concept: a concept's trials (layers, strengths, paraphrases) and its random directions
    count as one unit."""
    by_key = {(t.layer, t.strength, t.concept, t.question, t.kind): t for t in trials}
    layers = sorted({t.layer for t in trials})
    findings: list[Finding] = []

    def pairs(layer_set: list[int]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = defaultdict(list)
        for t in trials:
            if t.kind != "concept" or t.layer not in layer_set:
                continue
            rand = by_key.get((t.layer, t.strength, t.concept, t.question, "random"))
            if rand is None:
                continue
            out["det"].append(float(t.p_yes > 0.5))
            out["det_rand"].append(float(rand.p_yes > 0.5))
            out["det_base"].append(float(baseline_p_yes[t.question] > 0.5))
            out["unit"].append(t.concept)
            if t.question == 0:  # one naming answer per injection
                out["nam"].append(float(t.named))
                out["nam_ctrl"].append(float(t.named_neutral or rand.named))
                out["nam_unit"].append(t.concept)
        return out

    def diff(a: list[Any], b: list[Any], units: list[Any]) -> Any:
        return paired_rate_diff_ci(a, b, units, unit=UNIT, null=0.0, alternative="greater")

    for scope, layer_set, primary in [("all layers", layers, True)] + [
        (f"layer {lay}", [lay], False) for lay in layers
    ]:
        suffix = "" if primary else f".layer{layer_set[0]}"
        p = pairs(layer_set)
        details = {"scope": scope, "detected": "P(yes) > 0.5, averaged over both answer orders"}
        findings.append(
            Finding.from_estimate(
                diff(p["det"], p["det_base"], p["unit"]),
                metric=f"detection_minus_false_positive{suffix}",
                control="no injection (false-positive rate)",
                control_value=0.0,
                margin=DIAGNOSTIC_MARGIN,
                details={**details, "false_positive_rate": float(np.mean(p["det_base"])) if p["det_base"] else None},
            )
        )
        findings.append(
            Finding.from_estimate(
                diff(p["det"], p["det_rand"], p["unit"]),
                metric=f"detection_vs_random{suffix}",
                control="random direction of equal norm",
                control_value=0.0,
                margin=margin if primary else DIAGNOSTIC_MARGIN,
                primary=primary,
                details=details,
            )
        )
        findings.append(
            Finding.from_estimate(
                diff(p["nam"], p["nam_ctrl"], p["nam_unit"]),
                metric=f"naming_vs_leakage{suffix}",
                control="concept named under a random direction, or leaking into an unrelated answer",
                control_value=0.0,
                margin=DIAGNOSTIC_MARGIN,
                details={**details, "naming_accuracy": float(np.mean(p["nam"])) if p["nam"] else None},
            )
        )
    named = [(float(t.named), t.concept) for t in trials if t.kind == "concept" and t.question == 0]
    findings.append(
        Finding.from_estimate(
            rate_ci([x for x, _ in named], [c for _, c in named], unit=UNIT, null=baseline_named),
            metric="naming_accuracy",
            control="no injection (concepts named anyway)",
            control_value=baseline_named,
            margin=DIAGNOSTIC_MARGIN,
            details={"note": "share of injections whose answer names the concept; see naming_vs_leakage"},
        )
    )
    keys = [k for k in by_key if k[4] == "concept" and (*k[:4], "random") in by_key]
    concept_p = [by_key[k].p_yes for k in keys]
    random_p = [by_key[(*k[:4], "random")].p_yes for k in keys]
    findings.append(
        Finding.from_estimate(
            cluster_diff_ci(concept_p, random_p, [k[2] for k in keys], unit=UNIT, null=0.0, alternative="greater"),
            metric="p_yes_shift_vs_random",
            control="random direction of equal norm",
            control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={"definition": "mean P(yes) under the concept minus under the random direction"},
        )
    )
    return findings


@dataclass
class ConceptInjectionData:
    """The raw records :func:`measure` consumes."""

    trials: list[Trial]
    baseline_p_yes: np.ndarray
    baseline_named: float


def _expit(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class ConceptInjectionSimulator(Simulator):
    """Trial records at the config's sizes (concepts x layers x strengths x paraphrases, concept and random
    direction), with no model; layers resolved for a 30-layer model.

    P(yes) is read from logits, so it is a function of the injection, not a coin: its log-odds are ``mu +
    0.5 log2(strength) + paraphrase effect (sd 0.5) + direction effect + noise (sd 0.5)``, with ``mu ~ N(-1, 1)``
    per simulated model. A concept direction pulls towards "yes" by its own amount, shared across its layers (sd 1
    per concept, sd 0.5 per concept and layer); a random direction, drawn per concept and layer, by an amount of the
    same spread (sd 1.1) - so under the null the two arms differ only by chance. Floors: under the null, a share
    ``floor_share`` of simulated models never say yes at all (mu = -8); half of all models never name a concept,
    the others name it at log-odds ``N(-2, 1)`` plus a concept effect (sd 1), and leak it into the unrelated answer
    less often. The planted effect adds ``effect`` log-odds of "yes" under the concept direction only (1.0 is a
    detection difference of about 0.15 at mu = -1)."""

    metric = "detection_vs_random"
    unit = UNIT
    planted_effect = 1.0

    def __init__(self, cfg: ConceptInjectionConfig, *, floor_share: float = 0.25, n_layers: int = 30) -> None:
        self.cfg, self.floor_share = cfg, floor_share
        self.concepts = CONCEPTS[: cfg.n_concepts]
        self.layers = resolve_layers(cfg.layers, n_layers)
        self.nuisance = (
            f"{len(self.concepts)} concepts x {len(self.layers)} layers x {len(cfg.strengths)} strengths x "
            f"{cfg.n_questions} paraphrases; concept effect shared across layers, random direction per concept and "
            f"layer, paraphrase and strength effects; {floor_share:.0%} of null models never say yes; half never name"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> ConceptInjectionData:
        cfg = self.cfg
        k, n_l, n_q = len(self.concepts), len(self.layers), cfg.n_questions
        floor = effect == 0 and rng.random() < self.floor_share
        mu = -8.0 if floor else rng.normal(-1.0, 1.0)
        question = rng.normal(0, 0.5, n_q)
        pull = rng.normal(0, 1.0, (k, 1)) + rng.normal(0, 0.5, (k, n_l))  # concept x layer
        rand_pull = rng.normal(0, 1.1, (k, n_l))
        never_names = rng.random() < 0.5
        name_logit = rng.normal(-2.0, 1.0) + rng.normal(0, 1.0, k)
        trials = []
        for li, layer in enumerate(self.layers):
            for strength in cfg.strengths:
                s = mu + 0.5 * np.log2(strength)
                for ci, concept in enumerate(self.concepts):
                    logit_c = s + question + pull[ci, li] + effect + rng.normal(0, 0.5, n_q)
                    logit_r = s + question + rand_pull[ci, li] + rng.normal(0, 0.5, n_q)
                    named = not never_names and rng.random() < _expit(name_logit[ci])
                    leaked = not never_names and rng.random() < _expit(name_logit[ci] - 1.0)
                    named_rand = not never_names and rng.random() < _expit(name_logit[ci] - 2.0)
                    for q in range(n_q):
                        trials.append(Trial(layer, strength, concept, "concept", q, float(_expit(logit_c[q])),
                                            bool(named), bool(leaked)))  # fmt: skip
                        trials.append(Trial(layer, strength, concept, "random", q, float(_expit(logit_r[q])),
                                            bool(named_rand), False))  # fmt: skip
        baseline = _expit(mu + question + rng.normal(0, 0.5, n_q))
        return ConceptInjectionData(trials, baseline, 0.0)

    def measure(self, data: ConceptInjectionData, seed: int) -> list[Finding]:
        return measure(data.trials, data.baseline_p_yes, data.baseline_named, margin=self.cfg.margin)


class ConceptInjectionStudy(Study[ConceptInjectionConfig]):
    side = "recognition"
    description = "inject a concept direction: noticed and named, vs random directions and leakage"

    def simulator(self, cfg: ConceptInjectionConfig) -> ConceptInjectionSimulator:
        return ConceptInjectionSimulator(cfg)

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
        return measure(trials, base_p_yes, baseline_named, margin=cfg.margin)
