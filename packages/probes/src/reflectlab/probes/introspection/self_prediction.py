"""Study ``introspection/self_prediction`` (RESEARCH.md §2.2, after Binder et al. 2024): does a model trained to
predict properties of its own behaviour predict itself better than another model trained on the same data?

Pipeline, for each of ``seeds`` fine-tune seeds, in both directions (the subject M and a cross model X, chosen per
subject and named in the findings):

1. object-level prompts (name an animal, a country, a colour; pick a number), each varied by a context word, split
   into training and held-out prompts; M and X each answer greedily (answers that name nothing are dropped, never
   read as "no");
2. meta-level questions about a property of that answer ("Would your answer start with a vowel? Answer yes or
   no.", the order of "yes" and "no" counterbalanced), ground truth from the answer itself;
3. a model's *training set* is its training-split properties, mixed with its own object-level answers to the
   training prompts (without them a small model trained on yes/no targets collapses to answering "no" to
   everything, and there is no behaviour left to predict);
4. M's training set fine-tunes M (the self-predictor S_M) and, as the same data, X (the cross-predictor of M); X's
   training set fine-tunes X (S_X) and M (the cross-predictor of X);
5. S_M and S_X answer every object prompt: their held-out behaviour is the truth each predictor must predict;
6. behaviour change (first seed): S_M is fine-tuned further on object-level answers with the opposite property;
   on held-out prompts where it now behaves differently, do its predictions follow its new behaviour or its old?

The primary finding is the self advantage averaged over the two directions, ``[acc(S_M on S_M) - acc(X-based on
S_M) + acc(S_X on S_X) - acc(M-based on S_X)] / 2``: a model that is the better predictor in general is the
better predictor in both directions, and that cancels. Intervals treat fine-tune seeds and prompts as crossed random
effects (:func:`reflectlab.core.stats.crossed_mean_ci`): the seed-to-seed variation of fine-tuning is in them.
Predictions are read from logits (P("yes") vs P("no"), averaged over both option orders). Accuracies are compared
with the most frequent answer per (family, property) on the training split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, StudyConfig, fine_tune, option, require
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.models.references import pick_reference
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import crossed_mean_ci, paired_rate_diff_ci

FAMILIES = {
    "animal": "Name an animal. Answer with one word.",
    "country": "Name a country. Answer with one word.",
    "colour": "Name a colour. Answer with one word.",
    "number": "Pick a whole number between 1 and 100. Answer with the number only.",
}
CONTEXT_WORDS = [
    "quiet", "bright", "ancient", "tiny", "frozen", "golden", "noisy", "gentle", "wild", "distant", "sweet",
    "heavy", "rainy", "sunny", "strange", "simple", "happy", "dark", "lucky", "brave", "soft", "fast", "calm",
    "proud", "hidden", "green", "royal", "wooden", "silver", "salty", "spicy", "misty", "humble", "clever",
    "sleepy", "silent", "curious", "famous", "tropical", "arctic", "urban", "rural", "musical", "northern",
    "southern", "eastern", "western", "grand", "little", "bold",
]  # fmt: skip
VOWELS = "aeiou"


_FILLER = {"the", "a", "an", "my", "i", "answer", "is", "it", "would", "be", "one", "word", "name", "of", "its", "sure",
           "here", "okay", "ok", "well", "animal", "country", "colour", "color", "number", "pick", "think"}  # fmt: skip


def answer_word(text: str, family: str) -> str:
    """The word an object-level answer names: the first number for the number family, else the first word that is
    not filler ("The animal is a lion." -> "lion"); empty when there is none."""
    words = ["".join(ch for ch in token if ch.isalnum()).lower() for token in text.replace("\n", " ").split()]
    words = [w for w in words if w]
    if family == "number":
        return next((w for w in words if w.isdigit()), "")
    return next((w for w in words if w.isalpha() and w not in _FILLER), "")


def _number(word: str) -> int | None:
    return int(word) if word.isdigit() else None


# Properties of an answer: name -> (question, applies-to, value). Binary, so the meta answer is "yes" or "no".
PROPERTIES: dict[str, tuple[str, Callable[[str], bool], Callable[[str], bool]]] = {
    "starts_with_vowel": (
        "Would your answer start with a vowel?",
        lambda family: family != "number",
        lambda word: bool(word) and word[0] in VOWELS,
    ),
    "longer_than_five_letters": (
        "Would your answer be longer than five letters?",
        lambda family: family != "number",
        lambda word: len(word) > 5,
    ),
    "even_number": (
        "Would your answer be an even number?",
        lambda family: family == "number",
        lambda word: (_number(word) or 1) % 2 == 0,
    ),
}

# Replacement answers for the behaviour-change arm: a word with the opposite first-letter property.
VOWEL_WORDS = {"animal": ["eagle", "owl", "elephant", "iguana", "otter"], "country": ["italy", "egypt", "india", "oman"],
               "colour": ["orange", "indigo", "amber", "olive"]}  # fmt: skip
CONSONANT_WORDS = {"animal": ["dog", "tiger", "horse", "zebra", "rabbit"], "country": ["france", "spain", "japan", "peru"],
                   "colour": ["red", "blue", "green", "purple"]}  # fmt: skip


@dataclass
class ObjectPrompt:
    family: str
    word: str
    held_out: bool

    @property
    def text(self) -> str:
        return f"Think of something {self.word}. {FAMILIES[self.family]}"


@dataclass
class SelfPredictionConfig(StudyConfig):
    n_context_words: int = option(30, "Context words; each varies one object prompt of every family.")
    held_out_fraction: float = option(0.4, "Share of the context words held out: their prompts are only predicted.")
    answer_tokens: int = option(6, "Tokens generated per object-level answer.")
    cross_model: str = option(
        "auto",
        "The cross-predictor's base model; 'auto' = model.base, else (embedded subjects) the other embedded model, "
        "else the subject's known base model (the findings name the choice).",
    )
    train: FineTune = fine_tune(epochs=2.0, lora_r=16, learning_rate=2e-4, batch_size=8)
    behaviour_change: bool = option(
        True, "Also train S_M (first seed) on the opposite behaviour: does it then predict the new one?"
    )
    seeds: int = option(3, "Fine-tune seeds; every seed trains all four predictors (the seed is a unit).")

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(CONTEXT_WORDS)
        require(1 <= self.n_context_words <= n, "n_context_words", f"must be between 1 and {n} (the shipped words)")
        require(0 <= self.held_out_fraction < 1, "held_out_fraction", "must be at least 0 and below 1")


def build_prompts(cfg: SelfPredictionConfig, seed: int) -> list[ObjectPrompt]:
    words = CONTEXT_WORDS[: cfg.n_context_words]
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(words)[: max(1, round(len(words) * cfg.held_out_fraction))])
    return [ObjectPrompt(family, w, w in held) for family in FAMILIES for w in words]


def meta_question(prompt: ObjectPrompt, prop: str, yes_first: bool = True) -> list[dict[str, str]]:
    """The meta question about ``prompt``'s answer, naming the two answers in the order ``yes_first`` says."""
    question = PROPERTIES[prop][0]
    order = "yes or no" if yes_first else "no or yes"
    return user(f'Suppose you were asked: "{prompt.text}" {question} Answer {order}.')


def object_chat(prompt: ObjectPrompt, answer: str | None = None) -> list[dict[str, str]]:
    """The object-level prompt as a chat turn, with ``answer`` as the assistant's reply when given."""
    reply = [] if answer is None else [{"role": "assistant", "content": answer}]
    return [*user(prompt.text), *reply]


def behaviour(model: Model, prompts: list[ObjectPrompt], tokens: int) -> tuple[list[str], list[str]]:
    """Each prompt's greedy answer: the word it names ("" when it names none), and the raw text."""
    gens = model.generate([object_chat(p) for p in prompts], SamplingParams(max_new_tokens=tokens), desc="answer")
    return [answer_word(g.text, p.family) for g, p in zip(gens, prompts, strict=True)], [g.text for g in gens]


def meta_items(prompts: list[ObjectPrompt]) -> list[tuple[int, str]]:
    """(prompt index, property) pairs that apply."""
    return [
        (i, prop) for i, p in enumerate(prompts) for prop, (_, applies, _) in PROPERTIES.items() if applies(p.family)
    ]


def truth(items: list[tuple[int, str]], answers: list[str]) -> np.ndarray:
    """Each item's property of the answer: 1.0 or 0.0, NaN where the answer names nothing (left out everywhere)."""
    return np.array([float(PROPERTIES[prop][2](answers[i])) if answers[i] else np.nan for i, prop in items])


def predict(model: Model, prompts: list[ObjectPrompt], items: list[tuple[int, str]]) -> np.ndarray:
    """Whether ``model`` predicts "yes" for each item: P("yes") averaged over both option orders, above 0.5."""
    p_yes = np.mean(
        [model.option_probs([meta_question(prompts[i], prop, first) for i, prop in items], ["yes", "no"])[:, 0]
         for first in (True, False)],
        axis=0,
    )  # fmt: skip
    return np.asarray(p_yes > 0.5)


def meta_examples(
    prompts: list[ObjectPrompt], items: list[tuple[int, str]], labels: np.ndarray
) -> list[list[dict[str, str]]]:
    """Training examples: each item's question (option order alternating) with its true answer; unknowns left out."""
    return [
        [*meta_question(prompts[i], prop, yes_first=k % 2 == 0), {"role": "assistant", "content": "yes" if y else "no"}]
        for k, ((i, prop), y) in enumerate(zip(items, labels, strict=True))
        if np.isfinite(y)
    ]


def training_set(
    prompts: list[ObjectPrompt], train_items: list[tuple[int, str]], answers: list[str], texts: list[str]
) -> list[list[dict[str, str]]]:
    """A model's training set: its training-split properties and its own object-level answers to the training
    prompts (answers that name nothing left out). Its self-predictor and its cross-predictor both train on it."""
    own = [object_chat(p, texts[i].strip()) for i, p in enumerate(prompts) if not p.held_out and answers[i]]
    if not own:
        raise UserError(
            f"no answer to the {sum(not p.held_out for p in prompts)} training prompts names anything (an animal, "
            "a country, a colour, a number); raise studies.self_prediction.answer_tokens or check the model's chat "
            "template"
        )
    return meta_examples(prompts, train_items, truth(train_items, answers)) + own


def changed_answer(prompt: ObjectPrompt, old: str, k: int) -> str:
    """An object-level answer with the opposite main property of ``old``."""
    if prompt.family == "number":
        n = _number(old)
        return str((n if n is not None else 7) + 1)  # flips parity
    pool = CONSONANT_WORDS if old[:1] in VOWELS else VOWEL_WORDS
    words = pool[prompt.family]
    return words[k % len(words)].capitalize()


def majority_baseline(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    train_groups: np.ndarray | None = None,
    test_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Whether the most frequent training answer of each item's group (family and property) is right on each test
    item; a group the training split lacks falls back to the overall majority."""
    train_labels, test_labels = np.asarray(train_labels, dtype=float), np.asarray(test_labels, dtype=float)
    known = np.isfinite(train_labels)
    overall = bool(np.mean(train_labels[known]) >= 0.5) if known.any() else True
    if train_groups is None or test_groups is None:
        return np.asarray(test_labels == overall)
    majority = {
        g: bool(np.mean(train_labels[known & (train_groups == g)]) >= 0.5) for g in set(train_groups[known].tolist())
    }
    guess = np.array([majority.get(g, overall) for g in test_groups.tolist()])
    return np.asarray(test_labels == guess)


UNIT = "seed"
#: Margin of the diagnostic findings (accuracies and their differences); ``cfg.margin`` sets the primary's.
DIAGNOSTIC_MARGIN = 0.05
TARGETS = ("subject", "cross")  # whose behaviour is predicted: S_M's or S_X's


def prompt_unit(prompt: ObjectPrompt) -> str:
    """The object-level prompt a meta item belongs to (family and context word)."""
    return f"{prompt.family}/{prompt.word}"


def item_group(prompt: ObjectPrompt, prop: str) -> str:
    """The group whose most frequent answer is the baseline: family and property."""
    return f"{prompt.family}/{prop}"


@dataclass
class Side:
    """One fine-tune seed's held-out items about one target (S_M or S_X): the target's true properties (NaN where
    its answer named nothing), what its self-predictor and its cross-predictor predict, each item's prompt and
    group, and the target's training-split properties and groups (for the majority baseline)."""

    truth: np.ndarray
    self_predicted: np.ndarray
    cross_predicted: np.ndarray
    prompts: np.ndarray
    groups: np.ndarray
    truth_train: np.ndarray
    groups_train: np.ndarray

    def correct(self) -> dict[str, np.ndarray]:
        """1/0 per item for the self-predictor, the cross-predictor and the majority baseline (NaN if unknown)."""
        known = np.isfinite(self.truth)
        t = self.truth.astype(bool)
        out = {
            "self": (self.self_predicted == t).astype(float),
            "cross": (self.cross_predicted == t).astype(float),
            "majority": majority_baseline(self.truth_train, self.truth, self.groups_train, self.groups).astype(float),
        }
        return {k: np.where(known, v, np.nan) for k, v in out.items()}


@dataclass
class BehaviourChange:
    """Held-out items after S was trained on the opposite behaviour: the old and new property, what S' predicts,
    and each item's prompt."""

    old: np.ndarray
    new: np.ndarray
    predicted: np.ndarray
    prompts: np.ndarray | None = None


def _cells(per_seed: list[np.ndarray], prompts: list[np.ndarray]) -> np.ndarray:
    """A seeds x prompts matrix of per-prompt means (NaN where a seed has no known item of a prompt)."""
    names = sorted({str(u) for p in prompts for u in p.tolist()})
    col = {n: j for j, n in enumerate(names)}
    out = np.full((len(per_seed), len(names)), np.nan)
    for s, (values, units) in enumerate(zip(per_seed, prompts, strict=True)):
        sums, counts = np.zeros(len(names)), np.zeros(len(names))
        for v, u in zip(values.tolist(), units.tolist(), strict=True):
            if np.isfinite(v):
                sums[col[str(u)]] += v
                counts[col[str(u)]] += 1
        out[s] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


def measure(
    sides: list[dict[str, Side]],
    *,
    subject: str,
    cross: str,
    margin: float,
    change: BehaviourChange | None = None,
) -> list[Finding]:
    """Findings from each fine-tune seed's two sides (``{"subject": Side, "cross": Side}``: predictions of S_M's and
    of S_X's held-out behaviour) and the optional behaviour change; separate from the model work so planted cases
    and the simulator can test it. ``n`` counts seeds; prompts are crossed with them."""
    correct = [{t: side[t].correct() for t in TARGETS if t in side} for side in sides]
    units = [{t: side[t].prompts for t in TARGETS if t in side} for side in sides]
    names = {"subject": subject, "cross": cross}

    def cells(target: str, fn: Any) -> np.ndarray:
        return _cells([fn(c[target]) for c in correct], [u[target] for u in units])

    def finding(matrix: np.ndarray, metric: str, control: str, m: float = DIAGNOSTIC_MARGIN, primary: bool = False,
                control_value: float = 0.0, **details: Any) -> Finding:  # fmt: skip
        est = crossed_mean_ci(matrix, unit=UNIT, null=control_value, alternative="greater")
        return Finding.from_estimate(est, metric=metric, control=control, control_value=control_value, margin=m,
                                     primary=primary, details={"n_prompts": int(np.all(np.isfinite(matrix), axis=0).sum()),
                                                               **details})  # fmt: skip

    advantage = {t: cells(t, lambda c: c["self"] - c["cross"]) for t in TARGETS}
    findings = [
        finding(advantage["subject"], "self_minus_cross", f"cross-predictor ({cross}) trained on the same data",
                definition=f"accuracy of S_M predicting S_M minus {cross} fine-tuned on the same data predicting "
                f"S_M (the old headline: a better general predictor also passes it)"),
        finding(advantage["cross"], "cross_self_minus_other", f"{subject} trained on {cross}'s data",
                definition=f"the same in the other direction: S_X predicting S_X minus {subject} fine-tuned on the "
                f"same data predicting S_X"),
        finding(cells("subject", lambda c: c["self"] - c["majority"]), "self_minus_majority",
                "most frequent answer per family and property"),
        finding(cells("subject", lambda c: c["cross"] - c["majority"]), "cross_minus_majority",
                "most frequent answer per family and property", cross_model=cross),
        finding(cells("subject", lambda c: c["self"]), "self_accuracy", "chance", control_value=0.5),
        finding(cells("subject", lambda c: c["cross"]), "cross_accuracy", "chance", control_value=0.5,
                cross_model=cross),
        finding((advantage["subject"] + advantage["cross"]) / 2, "self_advantage_both_ways",
                "no self advantage (a better general predictor is better in both directions)", m=margin, primary=True,
                definition="[acc(S_M on S_M) - acc(cross-predictor on S_M) + acc(S_X on S_X) - acc(cross-predictor "
                "on S_X)] / 2, fine-tune seeds crossed with prompts",
                models=names),
    ]  # fmt: skip
    if change is not None:
        findings.append(_follows(change))
    return findings


def _follows(change: BehaviourChange) -> Finding:
    """On held-out items whose property changed: P(predicts new) - P(predicts old), by prompt (one seed)."""
    known = np.isfinite(np.asarray(change.old, dtype=float)) & np.isfinite(np.asarray(change.new, dtype=float))
    differ = known & (np.asarray(change.old) != np.asarray(change.new))
    units = change.prompts if change.prompts is not None else np.arange(len(differ))
    new, old = np.asarray(change.new)[differ].astype(bool), np.asarray(change.old)[differ].astype(bool)
    predicted = np.asarray(change.predicted)[differ].astype(bool)
    return Finding.from_estimate(
        paired_rate_diff_ci(predicted == new, predicted == old, np.asarray(units)[differ], unit="prompt",
                            alternative="greater"),
        metric="follows_new_behaviour", control="predicts its old behaviour", control_value=0.0,
        margin=DIAGNOSTIC_MARGIN,
        details={"items_where_behaviour_changed": int(differ.sum()), "share_changed": float(differ[known].mean())
                 if known.any() else None,
                 "definition": "first seed's S_M, on held-out items whose property changed: P(predicts new) - "
                 "P(predicts old), by prompt"},
    )  # fmt: skip


def answer_variety(prompts: list[ObjectPrompt], answers: list[str]) -> dict[str, dict[str, float]]:
    """Per family: distinct answers over prompts, and the share of prompts giving the most common answer (a family
    whose answer never varies makes predicting it trivial), and the share that named nothing."""
    out: dict[str, dict[str, float]] = {}
    for family in FAMILIES:
        words = [a for p, a in zip(prompts, answers, strict=True) if p.family == family]
        named = [w for w in words if w]
        top = max((named.count(w) for w in set(named)), default=0)
        out[family] = {"distinct": float(len(set(named))), "most_common_share": top / len(named) if named else 1.0,
                       "unparsed_share": 1 - len(named) / len(words) if words else 0.0}  # fmt: skip
    return out


@dataclass
class SelfPredictionData:
    """The raw arrays :func:`measure` consumes."""

    sides: list[dict[str, Side]]
    change: BehaviourChange | None


#: Log-odds that a target's answer has each property (starts with a vowel, is long, is even), before the prompt.
_PROPERTY_LOGIT = {"starts_with_vowel": -0.8, "longer_than_five_letters": 0.0, "even_number": 0.4}


class SelfPredictionSimulator(Simulator):
    """Held-out meta items at the config's sizes (the study's own prompts and split), for ``seeds`` fine-tune seeds
    and both targets, with no model.

    A target's property on each item is drawn per property (log-odds -0.8 vowel, 0 length, 0.4 even) plus the
    prompt's effect (sd 1). Each predictor is correct with log-odds ``0.85 + difficulty_prompt (sd 0.7, shared by
    every predictor) + its own per-prompt term (sd 0.3) + its fine-tune's seed effect (sd ``seed_sd``, one draw per
    fine-tune)``. The confound: predictors built on the subject are better general predictors by ``ability_gap``
    log-odds (0.4 by default, about 0.08 accuracy) whatever they predict. The planted effect adds ``effect``
    log-odds to each self-predictor's correctness on its own behaviour (1.0 is about 0.18 accuracy)."""

    metric = "self_advantage_both_ways"
    unit = UNIT
    planted_effect = 1.0

    def __init__(self, cfg: SelfPredictionConfig, *, ability_gap: float = 0.4, seed_sd: float = 0.3) -> None:
        self.cfg, self.ability_gap, self.seed_sd = cfg, ability_gap, seed_sd
        prompts = build_prompts(cfg, seed=0)
        items = meta_items(prompts)
        self.props = np.array([prop for _, prop in items])
        self.held = np.array([prompts[i].held_out for i, _ in items])
        self.units = np.array([prompt_unit(prompts[i]) for i, _ in items])
        self.groups = np.array([item_group(prompts[i], prop) for i, prop in items])
        self.codes = np.unique(self.units, return_inverse=True)[1]
        self.n_prompts = int(self.codes.max()) + 1
        self.nuisance = (
            f"{cfg.seeds} fine-tune seeds x {int(self.held.sum())} held-out items in "
            f"{len(set(self.units[self.held].tolist()))} prompts, both directions; property and difficulty effects "
            f"per prompt; fine-tune seed effect sd {seed_sd} per predictor; predictors built on the subject better "
            f"in general by {ability_gap} log-odds"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> SelfPredictionData:
        n, g = len(self.props), self.n_prompts
        base = np.array([_PROPERTY_LOGIT[p] for p in self.props])
        difficulty = rng.normal(0, 0.7, g)[self.codes]
        term = {(t, who): rng.normal(0, 0.3, g)[self.codes] for t in TARGETS for who in ("self", "cross")}
        truths = {t: (rng.random(n) < _expit(base + rng.normal(0, 1.0, g)[self.codes])).astype(float) for t in TARGETS}
        sides = []
        for _ in range(self.cfg.seeds):
            side = {}
            for t in TARGETS:
                truth_all = truths[t]

                def predictions(who: str, extra: float, truth_all: np.ndarray = truth_all, t: str = t) -> np.ndarray:
                    logit = 0.85 + difficulty + term[(t, who)] + rng.normal(0, self.seed_sd) + extra
                    right = rng.random(n) < _expit(logit)
                    return np.asarray(np.where(right, truth_all.astype(bool), ~truth_all.astype(bool)))

                on_subject = {"self": t == "subject", "cross": t == "cross"}  # which predictors are built on M
                preds = {who: predictions(who, self.ability_gap * on_subject[who] + effect * (who == "self"))
                         for who in ("self", "cross")}  # fmt: skip
                h = self.held
                side[t] = Side(truth_all[h], preds["self"][h], preds["cross"][h], self.units[h], self.groups[h],
                               truth_all[~h], self.groups[~h])  # fmt: skip
            sides.append(side)
        change = None
        if self.cfg.behaviour_change:
            old = truths["subject"][self.held]
            new = np.where(rng.random(len(old)) < 0.5, 1 - old, old)
            predicted = np.where(rng.random(len(old)) < 0.7, old, 1 - old)  # it mostly keeps predicting the old one
            change = BehaviourChange(old, new, predicted, self.units[self.held])
        return SelfPredictionData(sides, change)

    def measure(self, data: SelfPredictionData, seed: int) -> list[Finding]:
        return measure(data.sides, subject="subject", cross="cross", margin=self.cfg.margin, change=data.change)


def _expit(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class SelfPredictionStudy(Study[SelfPredictionConfig]):
    side = "recognition"
    description = "predict properties of own behaviour: self vs cross predictor both ways, and after a behaviour change"

    def simulator(self, cfg: SelfPredictionConfig) -> SelfPredictionSimulator:
        return SelfPredictionSimulator(cfg)

    def plan(self, cfg: SelfPredictionConfig, ctx: PlanContext) -> Work:
        prompts = build_prompts(cfg, ctx.seed)
        items = meta_items(prompts)
        train_items = [it for it in items if not prompts[it[0]].held_out]
        test_items = [it for it in items if prompts[it[0]].held_out]
        m = ctx.subject
        x = pick_reference(m, cfg.cross_model, base=ctx.spec.base, key="studies.self_prediction.cross_model").name
        objects = [object_chat(p) for p in prompts]
        epochs = cfg.train.epochs
        work = Work()
        meta_train = [meta_question(prompts[i], p) for i, p in train_items]
        meta_test = [meta_question(prompts[i], p) for i, p in test_items]
        train_objects = [o for o, p in zip(objects, prompts, strict=True) if not p.held_out]
        for model in (m, x):  # each answers once as itself, then each of its fine-tunes answers or predicts
            work.generate(model, len(prompts), ctx.count(model, objects), cfg.answer_tokens)
            data = int(epochs * (ctx.count(model, meta_train) + 2 * len(meta_train) + ctx.count(model, train_objects)
                                 + cfg.answer_tokens * len(train_objects)))  # fmt: skip
            for _ in range(cfg.seeds):  # its self-predictor and its cross-predictor of the other model
                work.train(model, data, runs=2)
                work.generate(model, len(prompts), ctx.count(model, objects), cfg.answer_tokens)  # S answers
                work.forward(model, 2 * 2 * ctx.count(model, meta_test))  # both predictors, both option orders
        if cfg.behaviour_change:
            work.train(m, int(epochs * (ctx.count(m, train_objects) + 3 * len(train_objects))))
            work.generate(m, len(prompts), ctx.count(m, objects), cfg.answer_tokens)
            work.forward(m, 2 * ctx.count(m, meta_test))
        return work

    def run(self, ctx: RunContext, cfg: SelfPredictionConfig) -> list[Finding]:
        subject = ctx.model()
        choice = pick_reference(
            subject.name, cfg.cross_model, base=ctx.model_spec.base, key="studies.self_prediction.cross_model"
        )
        x_spec = ModelSpec(name=choice.name, dtype=subject.spec.dtype, device=subject.spec.device,
                           batch_size=subject.spec.batch_size)  # fmt: skip
        specs = {"subject": subject.spec, "cross": x_spec}
        prompts = build_prompts(cfg, ctx.seed)
        items = meta_items(prompts)
        train_items = [it for it in items if not prompts[it[0]].held_out]
        test_items = [it for it in items if prompts[it[0]].held_out]
        test_prompts = np.array([prompt_unit(prompts[i]) for i, _ in test_items])
        groups = {"train": np.array([item_group(prompts[i], p) for i, p in train_items]),
                  "test": np.array([item_group(prompts[i], p) for i, p in test_items])}  # fmt: skip

        answers = {t: behaviour(ctx.model(specs[t]), prompts, cfg.answer_tokens) for t in TARGETS}
        data = {t: training_set(prompts, train_items, *answers[t]) for t in TARGETS}
        other = {"subject": "cross", "cross": "subject"}
        sides: list[dict[str, Side]] = []
        first_self: Model | None = None
        s_first: list[str] = []
        samples = []
        for seed in range(ctx.seed, ctx.seed + cfg.seeds):
            side = {}
            for t in TARGETS:  # target t: its own model trained on its data, and the other model on the same data
                tag = f"{'m' if t == 'subject' else 'x'}-seed{seed}"
                self_pred = ctx.fine_tune(data[t], cfg.train, f"self-{tag}", base=specs[t], seed=seed)
                cross_pred = ctx.fine_tune(data[t], cfg.train, f"cross-{tag}", base=specs[other[t]], seed=seed)
                s_answers, _ = behaviour(self_pred, prompts, cfg.answer_tokens)  # the behaviour to predict
                side[t] = Side(truth(test_items, s_answers), predict(self_pred, prompts, test_items),
                               predict(cross_pred, prompts, test_items), test_prompts, groups["test"],
                               truth(train_items, s_answers), groups["train"])  # fmt: skip
                if t == "subject" and first_self is None:
                    first_self, s_first = self_pred, s_answers
                samples += [
                    {"unit": prompt_unit(prompts[i]), "item": prop, "arm": f"S_{'M' if t == 'subject' else 'X'}",
                     "seed": seed, "prompt": prompts[i].text, "output": s_answers[i],
                     "verdict": "unparsed" if not s_answers[i] else "yes" if PROPERTIES[prop][2](s_answers[i]) else "no",
                     "property": prop, "split": "held-out" if prompts[i].held_out else "train",
                     "before_training": answers[t][0][i]}
                    for i, prop in items
                ]  # fmt: skip
            sides.append(side)
        change = None
        if cfg.behaviour_change and first_self is not None:
            change = self._behaviour_change(ctx, cfg, first_self, prompts, s_first, test_items)
        findings = measure(sides, subject=subject.name, cross=choice.name, margin=cfg.margin, change=change)
        variety = {t: answer_variety(prompts, answers[t][0]) for t in TARGETS}
        for f in findings:  # which model the cross arm is and why, and how varied the behaviour to predict is
            f.details.update(choice.details())
            if f.primary:
                f.details["answer_variety_before_training"] = variety
        ctx.log_samples(samples)
        ctx.log_metrics({"n_train_items": float(len(train_items)), "n_test_items": float(len(test_items)),
                         "seeds": float(cfg.seeds)})  # fmt: skip
        return findings

    @staticmethod
    def _behaviour_change(
        ctx: RunContext,
        cfg: SelfPredictionConfig,
        self_pred: Model,
        prompts: list[ObjectPrompt],
        s_answers: list[str],
        test_items: list[tuple[int, str]],
    ) -> BehaviourChange:
        """S_M trained further on the opposite behaviour (S'): its old and new held-out properties, its predictions."""
        examples = [object_chat(p, changed_answer(p, s_answers[i], i)) for i, p in enumerate(prompts)
                    if not p.held_out and s_answers[i]]  # fmt: skip
        changed = ctx.fine_tune(examples, cfg.train, "changed", base=self_pred.spec)
        new_answers, _ = behaviour(changed, prompts, cfg.answer_tokens)
        units = np.array([prompt_unit(prompts[i]) for i, _ in test_items])
        return BehaviourChange(
            truth(test_items, s_answers), truth(test_items, new_answers), predict(changed, prompts, test_items), units
        )
