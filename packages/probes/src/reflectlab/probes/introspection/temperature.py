"""Study ``introspection/temperature`` (RESEARCH.md §2.1): can a model tell, from its own text, whether it was
sampled at a low or a high temperature, better than another model can (privileged access), and better than a
non-introspective baseline (how surprising the text is)?

Pipeline: build matched prompts (topics x two prompt styles) -> *both* models (the subject and a cross model chosen
per subject) write each at a low and a high temperature -> both judge every text, their own and the other's,
reading P("high") vs P("low") from logits in both answer orders -> the surprisal baseline (each text under its
author) -> measure -> findings.

Judges see the same neutral wording ("the assistant wrote"), so the judges differ only in who they are. The
primary finding is the judge x author interaction of AUROCs: how much better the subject judges its own texts than
the cross model does, minus how much better it judges the cross model's texts than the cross model does. A subject
that is simply the better judge of any text is better on both authors' texts, and that cancels; what is left is an
advantage on one's own texts. The unit is the topic (both authors' texts of a topic are resampled together).
Accuracies use a threshold and a polarity fitted on a held-out split of topics (the same procedure for every judge,
so a judge that reads temperature backwards is scored as reading it) and are measured on the other split.
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
from reflectlab.core.stats import UnitEstimate, auroc, cluster_auroc_ci, cluster_auroc_contrast_ci, rate_ci
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
    n_topics: int = option(
        28, "Topics; each is asked in both prompt styles at both temperatures of both authors (8 texts a topic)."
    )
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


AUTHORS = ("subject", "cross")


@dataclass
class Item:
    topic: str
    style: str
    temperature: float
    hot: int  # 1 when sampled at the high temperature
    request: str
    text: str = ""
    author: str = "subject"  # which model wrote the text: "subject" or "cross"


def build_items(cfg: TemperatureConfig) -> list[Item]:
    items = []
    for author in AUTHORS:
        for topic in load_topics(cfg.n_topics):
            for style, template in STYLES.items():
                for hot, temp in ((0, cfg.low_temperature), (1, cfg.high_temperature)):
                    items.append(Item(topic, style, temp, hot, template.format(topic=topic), author=author))
    return items


def judge_prompt(item: Item, first: str, second: str) -> Prompt:
    """The judge's question about ``item``'s text, naming the two answers in this order."""
    return user(JUDGE_QUESTION.format(request=item.request, text=item.text, first=first, second=second))


def generate_texts(model: Model, items: list[Item], cfg: TemperatureConfig, seed: int) -> None:
    """Fill in the texts of ``items`` (one author's) by sampling ``model`` at each item's temperature."""
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


def fit_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """The cut and polarity (+1: ``score > cut`` means high; -1: ``score < cut`` means high) that maximise
    accuracy on the fitting split; a judge that reads the temperature backwards gets polarity -1 (ties: +1)."""
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    accuracy = {sign: [float(np.mean(((sign * (scores - c)) > 0) == labels)) for c in cuts] for sign in (1, -1)}
    sign = 1 if max(accuracy[1]) >= max(accuracy[-1]) else -1
    return float(cuts[int(np.argmax(accuracy[sign]))]), sign


def classify(scores: np.ndarray, cut: float, polarity: int) -> np.ndarray:
    """Which texts a fitted threshold calls high-temperature."""
    return np.asarray(polarity * (scores - cut) > 0)


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
    author: np.ndarray | None = None,
) -> tuple[list[Finding], dict[str, tuple[float, int]]]:
    """Findings from each judge's scores (higher = "high temperature"), the true labels ``hot``, the prompt style
    ``wild``, the fitting split ``fit``, each item's topic (the unit every interval resamples) and its ``author``
    ("subject" or "cross"; all "subject" when None, which leaves out the interaction); separate from the model work
    so planted cases and the simulator can test it. ``model`` and ``cross`` name the judges. Returns the findings
    and each judge's fitted (threshold, polarity) on the subject's texts."""
    author = np.full(len(hot), "subject") if author is None else np.asarray(author)
    own, other = author == "subject", author == "cross"
    measured = ~fit if (~fit).any() else fit  # a single topic: fit and measure on the same items
    fit_own, evaluate = fit & own, measured & own

    def auroc_of(s: np.ndarray, labels: np.ndarray, s_b: np.ndarray | None = None, mask: np.ndarray = own,
                 alternative: str = "greater") -> UnitEstimate:  # fmt: skip
        return cluster_auroc_ci(
            s[mask], labels[mask], topics[mask], scores_b=None if s_b is None else s_b[mask], unit=UNIT,
            alternative=alternative, seed=seed, n_resamples=n_bootstrap,
        )  # fmt: skip

    labels = {"self": model, "cross": cross, "surprisal": "surprisal under the text's author"}
    findings: list[Finding] = []
    thresholds = {}
    for name in JUDGES:
        s = scores[name]
        cut, polarity = fit_threshold(s[fit_own], hot[fit_own])
        thresholds[name] = (cut, polarity)
        correct = classify(s[evaluate], cut, polarity) == hot[evaluate]
        findings.append(
            Finding.from_estimate(
                rate_ci(correct, topics[evaluate], unit=UNIT, null=0.5, alternative="greater"),
                metric=f"{name}_accuracy",
                control="chance",
                control_value=0.5,
                margin=DIAGNOSTIC_MARGIN,
                details={
                    "judge": labels[name],
                    "threshold": cut,
                    "polarity": polarity,
                    "texts": model,
                    "split": "threshold and polarity fitted on the other topics",
                },
            )
        )
        findings.append(
            Finding.from_estimate(
                auroc_of(s, hot),
                metric=f"{name}_auroc",
                control="chance",
                control_value=0.5,
                margin=DIAGNOSTIC_MARGIN,
                details={"judge": labels[name], "texts": model},
            )
        )
    findings.append(
        Finding.from_estimate(
            auroc_of(scores["self"], hot, scores["cross"]),
            metric="privileged_access",
            control=f"cross-model judge ({cross})",
            control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={
                "definition": "AUROC(self judge) - AUROC(cross judge) on the subject's texts, paired over "
                "items, resampled by topic; a better general judge also reads present here"
            },
        )
    )
    findings.append(
        Finding.from_estimate(
            auroc_of(scores["self"], hot, scores["surprisal"]),
            metric="self_vs_surprisal",
            control="surprisal baseline",
            control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={
                "definition": "AUROC(self judge) - AUROC(mean surprisal) on the subject's texts, paired over "
                "items, resampled by topic"
            },
        )
    )
    findings.append(
        Finding.from_estimate(
            auroc_of(scores["self"], wild, alternative="two-sided"),
            metric="style_confound",
            control="chance",
            control_value=0.5,
            margin=DIAGNOSTIC_MARGIN,
            bearing="opposes",  # a report that follows the prompt's style is an echo, not a readout
            details={
                "definition": "AUROC of the self judge's P(high) for the prompt style (wild vs neutral) on the "
                "subject's texts, two-sided: present = the report follows the style, reversed = it leans against it",
                "style_auroc_within_low_T": _safe_auroc(scores["self"], wild, own & (hot == 0)),
                "style_auroc_within_high_T": _safe_auroc(scores["self"], wild, own & (hot == 1)),
            },
        )
    )
    if other.any():
        for name, judge_name in (("self", model), ("cross", cross)):
            findings.append(
                Finding.from_estimate(
                    auroc_of(scores[name], hot, mask=other),
                    metric=f"{name}_auroc_on_cross_texts",
                    control="chance",
                    control_value=0.5,
                    margin=DIAGNOSTIC_MARGIN,
                    details={"judge": judge_name, "texts": cross},
                )
            )
        for name, judge_name, mine, theirs in (("subject", model, own, other), ("cross", cross, other, own)):
            findings.append(
                Finding.from_estimate(
                    cluster_auroc_contrast_ci(
                        [
                            (1.0, scores["self" if name == "subject" else "cross"], mine),
                            (-1.0, scores["self" if name == "subject" else "cross"], theirs),
                        ],
                        hot,
                        topics,
                        unit=UNIT,
                        alternative="greater",
                        seed=seed,
                        n_resamples=n_bootstrap,
                    ),
                    metric=f"{name}_own_minus_other_texts",
                    control="the same judge on the other model's texts",
                    control_value=0.0,
                    margin=DIAGNOSTIC_MARGIN,
                    details={
                        "judge": judge_name,
                        "definition": "AUROC of this judge on its own model's texts minus on the other model's, "
                        "resampled by topic: which judge the interaction's self advantage comes from (each half "
                        "also carries how much easier one author's texts are to read)",
                    },
                )
            )
        findings.append(
            Finding.from_estimate(
                cluster_auroc_contrast_ci(
                    [
                        (1.0, scores["self"], own),
                        (-1.0, scores["cross"], own),
                        (-1.0, scores["self"], other),
                        (1.0, scores["cross"], other),
                    ],
                    hot,
                    topics,
                    unit=UNIT,
                    alternative="greater",
                    seed=seed,
                    n_resamples=n_bootstrap,
                ),
                metric="self_advantage_interaction",
                control="no judge x author interaction (a better general judge is better on both authors' texts)",
                control_value=0.0,
                margin=margin,
                primary=True,
                details={
                    "definition": "[AUROC(subject judge, own texts) - AUROC(cross judge, subject's texts)] - "
                    "[AUROC(subject judge, cross's texts) - AUROC(cross judge, its own texts)], resampled by topic: "
                    "present = the judges read their own texts' temperature better than the other's",
                    "judges": {"self": model, "cross": cross},
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
    author: np.ndarray


class TemperatureSimulator(Simulator):
    """Judges' scores for the study's items (``n_topics`` topics x 2 styles x 2 temperatures x 2 authors), with no
    model.

    Each text has an oddness ``x = slope x hot + 0.5 wild + u_topic + e`` (topic effect sd 0.5, shared by both
    authors; text noise sd 0.5) that any reader of the text can see; the cross model's texts differ from the
    subject's (its high temperature shows more: slope 1.8 against 1.5, and they are odder overall by 0.3). The
    surprisal reads x with noise sd 0.3 (near-perfect, as on real data). A judge's score is ``ability x x + 0.3 wild``
    (both judges see the prompt's style) plus its own leaning per topic (sd 0.5) plus reading noise (sd 1). The
    confound: judging ability differs with no access to any sampling state - the cross model's is 0.5, the
    subject's ``0.5 + ability_gap`` (0.3 by default: its AUROC about 0.1 above the cross model's on any text).
    Privileged access, the planted effect, adds ``effect x hot`` to the self judge's score on its own texts only (in
    units of the reading noise; 0.6 is an AUROC difference of about 0.12)."""

    metric = "self_advantage_interaction"
    unit = UNIT
    planted_effect = 0.6  # about 80% power at the full preset (200 topics); 28 topics (quick) need far more

    def __init__(self, cfg: TemperatureConfig, *, ability_gap: float = 0.3) -> None:
        self.cfg = cfg
        self.ability_gap = ability_gap
        items = build_items(cfg)
        self.topics = np.array([it.topic for it in items])
        self.hot = np.array([it.hot for it in items])
        self.wild = np.array([int(it.style == "wild") for it in items])
        self.author = np.array([it.author for it in items])
        self.topic_code = np.unique(self.topics, return_inverse=True)[1]
        self.nuisance = (
            f"{cfg.n_topics} topics x 8 texts (2 authors); topic effect on the text (sd 0.5) and per judge (sd 0.5); "
            f"the authors' texts differ in how plainly temperature shows; both judges read the prompt's style; the "
            f"subject is the better general judge of text (ability {0.5 + ability_gap:.2f} vs 0.5), with no access "
            f"to its sampling state"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> TemperatureData:
        n, g = len(self.hot), int(self.topic_code.max()) + 1
        cross_text = (self.author == "cross").astype(float)
        slope = 1.5 + 0.3 * cross_text
        x = (slope * self.hot + 0.5 * self.wild + 0.3 * cross_text + rng.normal(0, 0.5, g)[self.topic_code]
             + rng.normal(0, 0.5, n))  # fmt: skip

        def judge(ability: float) -> np.ndarray:
            leaning = rng.normal(0, 0.5, g)[self.topic_code]
            return ability * x + 0.3 * self.wild + leaning + rng.normal(0, 1.0, n)

        scores = {
            "self": judge(0.5 + self.ability_gap) + effect * self.hot * (1.0 - cross_text),
            "cross": judge(0.5),
            "surprisal": x + rng.normal(0, 0.3, n),
        }
        fit = split_topics(self.topics, self.cfg.fit_fraction, int(rng.integers(1 << 31)))
        return TemperatureData(scores, self.hot, self.wild, fit, self.topics, self.author)

    def measure(self, data: TemperatureData, seed: int) -> list[Finding]:
        findings, _ = measure(
            data.scores, data.hot, data.wild, data.fit, data.topics, model="subject", cross="cross",
            margin=self.cfg.margin, seed=seed, n_bootstrap=self.cfg.n_bootstrap, author=data.author,
        )  # fmt: skip
        return findings


class TemperatureStudy(Study[TemperatureConfig]):
    side = "recognition"
    description = "judge own sampling temperature: self vs cross-model vs surprisal baseline"

    def simulator(self, cfg: TemperatureConfig) -> TemperatureSimulator:
        return TemperatureSimulator(cfg)

    def plan(self, cfg: TemperatureConfig, ctx: PlanContext) -> Work:
        items = [it for it in build_items(cfg) if it.author == "subject"]
        cross = pick_reference(
            ctx.subject, cfg.cross_judge, base=ctx.spec.base, key="studies.temperature.cross_judge"
        ).name
        work = Work()
        requests = [user(it.request) for it in items]
        judge_prompts = [judge_prompt(it, "high", "low") for it in items]  # the texts are not written yet
        text = len(items) * cfg.max_new_tokens
        for model in (ctx.subject, cross):  # each writes its texts, judges both authors' and scores its own
            work.generate(model, len(items), ctx.count(model, requests), cfg.max_new_tokens)
            work.forward(model, 2 * 2 * (ctx.count(model, judge_prompts) + text))
            work.forward(model, ctx.count(model, requests) + text, scored=text)
        return work

    def run(self, ctx: RunContext, cfg: TemperatureConfig) -> list[Finding]:
        subject = ctx.model()
        choice = pick_reference(
            subject.name, cfg.cross_judge, base=ctx.model_spec.base, key="studies.temperature.cross_judge"
        )
        cross = ctx.model(choice.name)
        models = {"subject": subject, "cross": cross}
        items = build_items(cfg)
        for name, model in models.items():
            generate_texts(model, [it for it in items if it.author == name], cfg, ctx.seed)

        scores: dict[str, np.ndarray] = {}
        scores["self"], bias_self = judge(subject, items)
        scores["cross"], bias_cross = judge(cross, items)
        scores["surprisal"] = np.empty(len(items))
        for name, model in models.items():
            idx = [i for i, it in enumerate(items) if it.author == name]
            scores["surprisal"][idx] = mean_surprisal(model, [items[i].text for i in idx],
                                                      [items[i].request for i in idx])  # fmt: skip
        hot = np.array([it.hot for it in items])
        wild = np.array([int(it.style == "wild") for it in items])
        author = np.array([it.author for it in items])

        # Split by topic: thresholds fitted on one part, accuracy measured on the other.
        topics = np.array([it.topic for it in items])
        fit = split_topics(topics, cfg.fit_fraction, ctx.seed)

        findings, thresholds = measure(
            scores, hot, wild, fit, topics, model=subject.name, cross=cross.name, margin=cfg.margin, seed=ctx.seed,
            n_bootstrap=cfg.n_bootstrap, author=author,
        )  # fmt: skip
        own = author == "subject"
        ctx.log_metrics(
            {
                "order_bias_self": bias_self,
                "order_bias_cross": bias_cross,
                "mean_p_high_self_lowT": float(scores["self"][own & (hot == 0)].mean()),
                "mean_p_high_self_highT": float(scores["self"][own & (hot == 1)].mean()),
                "mean_surprisal_lowT": float(scores["surprisal"][own & (hot == 0)].mean()),
                "mean_surprisal_highT": float(scores["surprisal"][own & (hot == 1)].mean()),
                "n_items": float(len(items)),
            }
        )
        ctx.log_samples(
            {
                "unit": it.topic,
                "item": f"{it.author}/{it.style}/T={it.temperature}",
                "arm": "high" if it.hot else "low",
                "prompt": it.request,
                "output": it.text,
                "score": float(scores["self"][i]),  # the self judge's P(high)
                "author": it.author,
                "style": it.style,
                "temperature": it.temperature,
                "split": "fit" if fit[i] else "eval",
                "p_high_cross": float(scores["cross"][i]),
                "mean_surprisal": float(scores["surprisal"][i]),
                "verdict": {
                    name: (
                        "correct"
                        if bool(classify(scores[name][i : i + 1], *thresholds[name])[0]) == bool(it.hot)
                        else "wrong"
                    )
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
