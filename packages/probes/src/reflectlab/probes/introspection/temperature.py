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

from reflectlab.core.config import StudyConfig, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.core.models.embedded import other_embedded
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import accuracy_ci, auroc, auroc_ci, paired_auroc_diff_ci
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
    cross_judge: str = option("auto", "The cross-model judge's name or path; 'auto' = the other embedded model.")
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


def measure(
    scores: dict[str, np.ndarray],
    hot: np.ndarray,
    wild: np.ndarray,
    fit: np.ndarray,
    *,
    model: str,
    cross: str,
    margin: float,
    seed: int,
    n_bootstrap: int,
) -> tuple[list[Finding], dict[str, float]]:
    """Findings from each judge's scores (higher = "high temperature"), the true labels ``hot``, the prompt style
    ``wild`` and the fitting split ``fit``; separate from the model work so planted cases can test it. ``model``
    and ``cross`` name the self and cross judges."""
    evaluate = ~fit if (~fit).any() else fit  # a single topic: fit and measure on the same items
    b = n_bootstrap
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
                accuracy_ci(correct, seed=seed, n_resamples=b),
                metric=f"{name}_accuracy",
                control="chance",
                control_value=0.5,
                margin=margin,
                details={"judge": judge_label, "threshold": cut, "split": "held-out topics"},
            )
        )
        findings.append(
            Finding.from_estimate(
                auroc_ci(s, hot, seed=seed, n_resamples=b),
                metric=f"{name}_auroc",
                control="chance",
                control_value=0.5,
                margin=margin,
                details={"judge": judge_label},
            )
        )
    findings.append(
        Finding.from_estimate(
            paired_auroc_diff_ci(scores["self"], scores["cross"], hot, seed=seed, n_resamples=b),
            metric="privileged_access",
            control=f"cross-model judge ({cross})",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={"definition": "AUROC(self judge) - AUROC(cross judge), paired over items"},
        )
    )
    findings.append(
        Finding.from_estimate(
            paired_auroc_diff_ci(scores["self"], scores["surprisal"], hot, seed=seed, n_resamples=b),
            metric="self_vs_surprisal",
            control="surprisal baseline",
            control_value=0.0,
            margin=margin,
            details={"definition": "AUROC(self judge) - AUROC(mean surprisal), paired over items"},
        )
    )
    findings.append(
        Finding.from_estimate(
            auroc_ci(scores["self"], wild, seed=seed, n_resamples=b),
            metric="style_confound",
            control="chance",
            control_value=0.5,
            margin=margin,
            details={
                "definition": "AUROC of the self judge's P(high) for the prompt style (wild vs neutral); "
                "present = the report follows the prompt's style",
                "style_auroc_within_low_T": _safe_auroc(scores["self"], wild, hot == 0),
                "style_auroc_within_high_T": _safe_auroc(scores["self"], wild, hot == 1),
            },
        )
    )

    return findings, thresholds


class TemperatureStudy(Study[TemperatureConfig]):
    side = "recognition"
    description = "judge own sampling temperature: self vs cross-model vs surprisal baseline"

    def plan(self, cfg: TemperatureConfig, ctx: PlanContext) -> Work:
        items = build_items(cfg)
        cross = other_embedded(ctx.subject) if cfg.cross_judge == "auto" else cfg.cross_judge
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
        cross_name = other_embedded(subject.name) if cfg.cross_judge == "auto" else cfg.cross_judge
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
        topics = sorted({it.topic for it in items})
        rng = np.random.default_rng(ctx.seed)
        fit_topics = set(rng.permutation(topics)[: max(1, round(len(topics) * cfg.fit_fraction))])
        fit = np.array([it.topic in fit_topics for it in items])

        findings, thresholds = measure(
            scores, hot, wild, fit, model=subject.name, cross=cross.name, margin=cfg.margin, seed=ctx.seed,
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
        return findings


def _safe_auroc(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float | None:
    v = auroc(scores[mask], labels[mask])
    return None if np.isnan(v) else v
