"""Study ``introspection/temperature`` (RESEARCH.md §2.1): can a model tell, from its own text, whether it was
sampled at a low or a high temperature, better than another model can (privileged access), and better than a
non-introspective baseline (how surprising the text is)?

Pipeline: build matched prompts (topics x two prompt styles) -> generate each at a low and a high temperature ->
judges read P("high") vs P("low") from logits, both answer orders -> the surprisal baseline -> measure -> findings.

Judges see the same neutral wording ("the assistant wrote"), so self and cross judging differ only in the judge.
Accuracies use a threshold fitted on a held-out split of topics (the same procedure for every judge) and are
measured on the other split; AUROCs need no threshold and use every item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.models.references import pick_reference
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import UnitEstimate, auroc, cluster_auroc_ci, rate_ci
from reflectlab.probes.self_report import order_bias, two_way_choice
from reflectlab.probes.surprisal import mean_surprisal
from reflectlab.probes.topics import shipped_topics

STYLES = {
    "neutral": "Write two sentences about {topic}.",
    "wild": "Be wildly creative, surprising and unpredictable! Write two sentences about {topic}.",
}

JUDGE_QUESTION = (
    'The assistant was asked: "{request}"\n'
    'The assistant answered: "{text}"\n\n'
    "Text sampled at a low temperature is predictable and plain; at a high temperature it is erratic and odd. "
    "Was this answer sampled at a high or a low temperature? Answer with one word: {first} or {second}."
)


@dataclass
class TemperatureConfig(StudyConfig):
    n_topics: int = option(28, "Topics; each is asked in both prompt styles at both temperatures (4 texts a topic).")
    low_temperature: float = option(0.3, "The low sampling temperature.")
    high_temperature: float = option(1.5, "The high sampling temperature.")
    max_new_tokens: int = option(40, "Tokens generated per text.")
    cross_judge: str = option(
        "auto",
        "The cross-model judge's name or path; 'auto' = model.base, else (embedded subjects) the other embedded "
        "model, else the subject's known base model (the findings name the choice).",
    )
    fit_fraction: float = option(0.5, "Share of topics that fit the accuracy thresholds; accuracy uses the rest.")

    def __post_init__(self) -> None:
        super().__post_init__()
        available = len(shipped_topics())
        require(1 <= self.n_topics <= available, "n_topics", f"must be between 1 and {available} (the shipped topics)")
        require(0 <= self.low_temperature < self.high_temperature, "high_temperature", "must be above low_temperature")
        require(0 <= self.fit_fraction <= 1, "fit_fraction", "must be between 0 and 1")


def load_topics(n: int) -> list[str]:
    return list(shipped_topics()[:n])


@dataclass
class Item:
    topic: str
    style: str
    temperature: float
    hot: int  # 1 when sampled at the high temperature
    request: str
    text: str = ""


def build_items(cfg: TemperatureConfig) -> list[Item]:
    items = []
    for topic in load_topics(cfg.n_topics):
        for style, template in STYLES.items():
            for hot, temp in ((0, cfg.low_temperature), (1, cfg.high_temperature)):
                items.append(Item(topic, style, temp, hot, template.format(topic=topic)))
    return items


def judge_prompt(item: Item, first: str, second: str) -> Prompt:
    """The judge's question about ``item``'s text, naming the two answers in this order."""
    return user(JUDGE_QUESTION.format(request=item.request, text=item.text, first=first, second=second))


def generate_texts(model: Model, items: list[Item], cfg: TemperatureConfig, seed: int) -> None:
    for temp in (cfg.low_temperature, cfg.high_temperature):
        group = [it for it in items if it.temperature == temp]
        params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=temp)
        gens = model.generate(
            [user(it.request) for it in group],
            params,
            seed=seed,
            desc=f"sample T={temp}",
        )
        for it, g in zip(group, gens, strict=True):
            it.text = " ".join(g.text.split())  # one line, so the judge prompt keeps its shape


def judge(model: Model, items: list[Item]) -> tuple[np.ndarray, float]:
    """P(high) per item from the judge's logits, averaged over both answer orders; and its order bias."""

    def prompt(i: int, first: str, second: str) -> Prompt:
        return judge_prompt(items[i], first, second)

    p_high, per_order = two_way_choice(model, prompt, len(items), "high", "low")
    return p_high, order_bias(per_order)


def fit_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut that maximises accuracy of ``score > cut`` on the fitting split."""
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    accs = [np.mean((scores > c) == labels) for c in cuts]
    return float(cuts[int(np.argmax(accs))])


JUDGES = ("self", "cross", "surprisal")
UNIT = "topic"
#: Margin of the diagnostic findings (accuracies and AUROCs, on their own scale); ``cfg.margin`` sets the primary's.
DIAGNOSTIC_MARGIN = 0.05


def split_topics(topics: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which items fit the accuracy thresholds: those of a random ``fraction`` of the topics (at least one)."""
    names = sorted(set(topics.tolist()))
    rng = np.random.default_rng(seed)
    fit_topics = set(rng.permutation(names)[: max(1, round(len(names) * fraction))])
    return np.array([t in fit_topics for t in topics.tolist()])


def measure(
    scores: dict[str, np.ndarray],
    hot: np.ndarray,
    wild: np.ndarray,
    fit: np.ndarray,
    topics: np.ndarray,
    *,
    model: str,
    cross: str,
    margin: float,
    seed: int,
    n_bootstrap: int,
) -> tuple[list[Finding], dict[str, float]]:
    """Findings from each judge's scores (higher = "high temperature"), the true labels ``hot``, the prompt style
    ``wild``, the fitting split ``fit`` and each item's topic (the unit every interval resamples); separate from
    the model work so planted cases and the simulator can test it. ``model`` and ``cross`` name the judges."""
    evaluate = ~fit if (~fit).any() else fit  # a single topic: fit and measure on the same items

    def auroc_of(s: np.ndarray, labels: np.ndarray, s_b: np.ndarray | None = None) -> UnitEstimate:
        return cluster_auroc_ci(
            s, labels, topics, scores_b=s_b, unit=UNIT, alternative="greater", seed=seed, n_resamples=n_bootstrap
        )

    findings: list[Finding] = []
    thresholds = {}
    for name in JUDGES:
        s = scores[name]
        cut = fit_threshold(s[fit], hot[fit])
        thresholds[name] = cut
        correct = (s[evaluate] > cut) == hot[evaluate]
        judge_label = {
            "self": model,
            "cross": cross,
            "surprisal": f"surprisal under {model}",
        }[name]
        findings.append(
            Finding.from_estimate(
                rate_ci(correct, topics[evaluate], unit=UNIT, null=0.5, alternative="greater"),
                metric=f"{name}_accuracy",
                control="chance",
                control_value=0.5,
                margin=DIAGNOSTIC_MARGIN,
                details={"judge": judge_label, "threshold": cut, "split": "held-out topics"},
            )
        )
        findings.append(
            Finding.from_estimate(
                auroc_of(s, hot),
                metric=f"{name}_auroc",
                control="chance",
                control_value=0.5,
                margin=DIAGNOSTIC_MARGIN,
                details={"judge": judge_label},
            )
        )
    findings.append(
        Finding.from_estimate(
            auroc_of(scores["self"], hot, scores["cross"]),
            metric="privileged_access",
            control=f"cross-model judge ({cross})",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={"definition": "AUROC(self judge) - AUROC(cross judge), paired over items, resampled by topic"},
        )
    )
    findings.append(
        Finding.from_estimate(
            auroc_of(scores["self"], hot, scores["surprisal"]),
            metric="self_vs_surprisal",
            control="surprisal baseline",
            control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={"definition": "AUROC(self judge) - AUROC(mean surprisal), paired over items, resampled by topic"},
        )
    )
    findings.append(
        Finding.from_estimate(
            auroc_of(scores["self"], wild),
            metric="style_confound",
            control="chance",
            control_value=0.5,
            margin=DIAGNOSTIC_MARGIN,
            bearing="opposes",  # a report that follows the prompt's style is an echo, not a readout
            details={
                "definition": "AUROC of the self judge's P(high) for the prompt style (wild vs neutral); "
                "present = the report follows the prompt's style",
                "style_auroc_within_low_T": _safe_auroc(scores["self"], wild, hot == 0),
                "style_auroc_within_high_T": _safe_auroc(scores["self"], wild, hot == 1),
            },
        )
    )

    return findings, thresholds


@dataclass
class TemperatureData:
    """The raw arrays :func:`measure` consumes."""

    scores: dict[str, np.ndarray]
    hot: np.ndarray
    wild: np.ndarray
    fit: np.ndarray
    topics: np.ndarray


class TemperatureSimulator(Simulator):
    """Judges' scores for the study's items (``n_topics`` topics x 2 styles x 2 temperatures), with no model.

    Each text has an oddness ``x = 1.5 hot + 0.5 wild + u_topic + e`` (topic effect sd 0.5, text noise sd 0.5)
    that any reader of the text can see (the surprisal reads it with noise sd 0.3: near-perfect, as on real
    data). A judge's score is ``ability x x + 0.3 wild`` (both judges see the prompt's style) plus its own leaning
    per topic (sd 0.5) plus reading noise (sd 1). Judging ability differs with no access to any sampling state:
    the cross model's is 0.5, the subject's ``0.5 + ability_gap`` (the default 0.15 puts its AUROC about 0.05, the
    margin, above the cross model's). Privileged access, the planted effect, adds ``effect x hot`` to the self
    judge's score only (in units of the reading noise; 0.5 is an AUROC difference of about 0.1)."""

    metric = "privileged_access"
    unit = UNIT
    planted_effect = 0.5

    def __init__(self, cfg: TemperatureConfig, *, ability_gap: float = 0.15) -> None:
        self.cfg = cfg
        self.ability_gap = ability_gap
        items = build_items(cfg)
        self.topics = np.array([it.topic for it in items])
        self.hot = np.array([it.hot for it in items])
        self.wild = np.array([int(it.style == "wild") for it in items])
        self.topic_code = np.unique(self.topics, return_inverse=True)[1]
        self.nuisance = (
            f"{cfg.n_topics} topics x 4 texts; topic effect on the text (sd 0.5) and per judge (sd 0.5); both "
            f"judges read the prompt's style; the subject is the better general judge of text "
            f"(ability {0.5 + ability_gap:.2f} vs 0.5), with no access to its sampling state"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> TemperatureData:
        n, g = len(self.hot), int(self.topic_code.max()) + 1
        x = 1.5 * self.hot + 0.5 * self.wild + rng.normal(0, 0.5, g)[self.topic_code] + rng.normal(0, 0.5, n)

        def judge(ability: float) -> np.ndarray:
            leaning = rng.normal(0, 0.5, g)[self.topic_code]
            return ability * x + 0.3 * self.wild + leaning + rng.normal(0, 1.0, n)

        scores = {
            "self": judge(0.5 + self.ability_gap) + effect * self.hot,
            "cross": judge(0.5),
            "surprisal": x + rng.normal(0, 0.3, n),
        }
        fit = split_topics(self.topics, self.cfg.fit_fraction, int(rng.integers(1 << 31)))
        return TemperatureData(scores, self.hot, self.wild, fit, self.topics)

    def measure(self, data: TemperatureData, seed: int) -> list[Finding]:
        findings, _ = measure(
            data.scores, data.hot, data.wild, data.fit, data.topics, model="subject", cross="cross",
            margin=self.cfg.margin, seed=seed, n_bootstrap=self.cfg.n_bootstrap,
        )  # fmt: skip
        return findings


class TemperatureStudy(Study[TemperatureConfig]):
    side = "recognition"
    description = "judge own sampling temperature: self vs cross-model vs surprisal baseline"

    def simulator(self, cfg: TemperatureConfig) -> TemperatureSimulator:
        return TemperatureSimulator(cfg)

    def plan(self, cfg: TemperatureConfig, ctx: PlanContext) -> Work:
        items = build_items(cfg)
        cross = pick_reference(
            ctx.subject, cfg.cross_judge, base=ctx.spec.base, key="studies.temperature.cross_judge"
        ).name
        work = Work()
        requests = [user(it.request) for it in items]
        judge_prompts = [judge_prompt(it, "high", "low") for it in items]  # the texts are not written yet
        work.generate(ctx.subject, len(items), ctx.count(ctx.subject, requests), cfg.max_new_tokens)
        for model in (ctx.subject, cross):
            work.forward(model, 2 * (ctx.count(model, judge_prompts) + len(items) * cfg.max_new_tokens))
        text = len(items) * cfg.max_new_tokens
        work.forward(ctx.subject, ctx.count(ctx.subject, requests) + text, scored=text)
        return work

    def run(self, ctx: RunContext, cfg: TemperatureConfig) -> list[Finding]:
        subject = ctx.model()
        choice = pick_reference(
            subject.name, cfg.cross_judge, base=ctx.model_spec.base, key="studies.temperature.cross_judge"
        )
        cross_name = choice.name
        cross = ctx.model(cross_name)
        items = build_items(cfg)
        generate_texts(subject, items, cfg, ctx.seed)

        scores: dict[str, np.ndarray] = {}
        scores["self"], bias_self = judge(subject, items)
        scores["cross"], bias_cross = judge(cross, items)
        scores["surprisal"] = mean_surprisal(subject, [it.text for it in items], [it.request for it in items])
        hot = np.array([it.hot for it in items])
        wild = np.array([int(it.style == "wild") for it in items])

        # Split by topic: thresholds fitted on one part, accuracy measured on the other.
        topics = np.array([it.topic for it in items])
        fit = split_topics(topics, cfg.fit_fraction, ctx.seed)

        findings, thresholds = measure(
            scores, hot, wild, fit, topics, model=subject.name, cross=cross.name, margin=cfg.margin, seed=ctx.seed,
            n_bootstrap=cfg.n_bootstrap,
        )  # fmt: skip
        ctx.log_metrics(
            {
                "order_bias_self": bias_self,
                "order_bias_cross": bias_cross,
                "mean_p_high_self_lowT": float(scores["self"][hot == 0].mean()),
                "mean_p_high_self_highT": float(scores["self"][hot == 1].mean()),
                "mean_surprisal_lowT": float(scores["surprisal"][hot == 0].mean()),
                "mean_surprisal_highT": float(scores["surprisal"][hot == 1].mean()),
                "n_items": float(len(items)),
            }
        )
        ctx.log_samples(
            {
                "unit": it.topic,
                "item": f"{it.style}/T={it.temperature}",
                "arm": "high" if it.hot else "low",
                "prompt": it.request,
                "output": it.text,
                "score": float(scores["self"][i]),  # the self judge's P(high)
                "style": it.style,
                "temperature": it.temperature,
                "split": "fit" if fit[i] else "eval",
                "p_high_cross": float(scores["cross"][i]),
                "mean_surprisal": float(scores["surprisal"][i]),
                "verdict": {
                    name: ("correct" if (scores[name][i] > thresholds[name]) == bool(it.hot) else "wrong")
                    for name in JUDGES
                },
            }
            for i, it in enumerate(items)
        )
        for f in findings:  # which model the cross arm is, and why
            f.details.update(choice.details())
        return findings


def _safe_auroc(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float | None:
    v = auroc(scores[mask], labels[mask])
    return None if np.isnan(v) else v
