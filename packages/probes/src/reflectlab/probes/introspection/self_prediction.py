"""Study ``introspection/self_prediction`` (RESEARCH.md §2.2, after Binder et al. 2024): does a model trained to
predict properties of its own behaviour predict itself better than another model trained on the same data?

Pipeline:
1. object-level prompts (name an animal, a country, a colour; pick a number), each varied by a context word, split
   into training and held-out prompts; the subject M answers greedily;
2. meta-level questions about a property of that answer ("Would your answer start with a vowel? Answer yes or
   no."), ground truth from the answer itself;
3. the *self-predictor* S is M fine-tuned (``sft`` trainer, LoRA) on its own training-split properties, mixed with
   M's own object-level answers to the training prompts (without them a small model trained on yes/no targets
   collapses to answering "no" to everything, and there is no behaviour left to predict);
4. S answers every object prompt itself: its held-out behaviour is the truth it must predict;
5. the *cross-predictor* C (another model) is fine-tuned on S's training-split behaviour - the same kind of data
   about S that S got about M - and predicts S on the held-out prompts;
6. behaviour change: S is fine-tuned further on object-level answers with the opposite property (S'); on held-out
   prompts where S' now behaves differently from S, do S''s predictions follow its new behaviour or its old one?

Predictions are read from logits (P("yes") vs P("no")). Every accuracy is compared with the majority-class
baseline of the training split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reflectlab.core.calibrate import Simulator
from reflectlab.core.config import FineTune, StudyConfig, fine_tune, option, require
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext, Study
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.models.references import pick_reference
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.plan import PlanContext, Work
from reflectlab.core.stats import paired_rate_diff_ci, rate_ci

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
    behaviour_change: bool = option(True, "Also train S on the opposite behaviour: does it then predict the new one?")

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


def meta_question(prompt: ObjectPrompt, prop: str) -> list[dict[str, str]]:
    question = PROPERTIES[prop][0]
    return user(f'Suppose you were asked: "{prompt.text}" {question} Answer yes or no.')


def object_chat(prompt: ObjectPrompt, answer: str | None = None) -> list[dict[str, str]]:
    """The object-level prompt as a chat turn, with ``answer`` as the assistant's reply when given."""
    reply = [] if answer is None else [{"role": "assistant", "content": answer}]
    return [*user(prompt.text), *reply]


def behaviour(model: Model, prompts: list[ObjectPrompt], tokens: int) -> tuple[list[str], list[str]]:
    """Each prompt's greedy answer: the word it names, and the raw text."""
    gens = model.generate([object_chat(p) for p in prompts], SamplingParams(max_new_tokens=tokens), desc="answer")
    return [answer_word(g.text, p.family) for g, p in zip(gens, prompts, strict=True)], [g.text for g in gens]


def meta_items(prompts: list[ObjectPrompt]) -> list[tuple[int, str]]:
    """(prompt index, property) pairs that apply."""
    return [
        (i, prop) for i, p in enumerate(prompts) for prop, (_, applies, _) in PROPERTIES.items() if applies(p.family)
    ]


def truth(items: list[tuple[int, str]], answers: list[str]) -> np.ndarray:
    return np.array([PROPERTIES[prop][2](answers[i]) for i, prop in items], dtype=bool)


def predict(model: Model, prompts: list[ObjectPrompt], items: list[tuple[int, str]]) -> np.ndarray:
    probs = model.option_probs([meta_question(prompts[i], prop) for i, prop in items], ["yes", "no"])
    return probs[:, 0] > 0.5


def meta_examples(
    prompts: list[ObjectPrompt], items: list[tuple[int, str]], labels: np.ndarray
) -> list[list[dict[str, str]]]:
    return [
        [*meta_question(prompts[i], prop), {"role": "assistant", "content": "yes" if y else "no"}]
        for (i, prop), y in zip(items, labels, strict=True)
    ]


def changed_answer(prompt: ObjectPrompt, old: str, k: int) -> str:
    """An object-level answer with the opposite main property of ``old``."""
    if prompt.family == "number":
        n = _number(old)
        return str((n if n is not None else 7) + 1)  # flips parity
    pool = CONSONANT_WORDS if old[:1] in VOWELS else VOWEL_WORDS
    words = pool[prompt.family]
    return words[k % len(words)].capitalize()


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    majority = bool(train_labels.mean() >= 0.5) if len(train_labels) else True
    return test_labels == majority


UNIT = "prompt"
#: Margin of the diagnostic findings (accuracies and their differences); ``cfg.margin`` sets the primary's.
DIAGNOSTIC_MARGIN = 0.05


def prompt_unit(prompt: ObjectPrompt) -> str:
    """The unit a meta item belongs to: its object-level prompt (family and context word)."""
    return f"{prompt.family}/{prompt.word}"


@dataclass
class BehaviourChange:
    """Held-out items after S was trained on the opposite behaviour: the old and new property, and what S' predicts."""

    old: np.ndarray
    new: np.ndarray
    predicted: np.ndarray


def measure(
    truth_test: np.ndarray,
    self_predicted: np.ndarray,
    cross_predicted: np.ndarray,
    truth_train: np.ndarray,
    units: np.ndarray,
    *,
    cross_name: str,
    margin: float,
    change: BehaviourChange | None = None,
) -> list[Finding]:
    """Findings from the held-out items: S's true properties, each predictor's yes/no prediction, S's properties on
    the training split (for the majority baseline) and each item's prompt (the unit); separate from the model work
    so planted cases and the simulator can test it."""
    self_correct = self_predicted == truth_test
    cross_correct = cross_predicted == truth_test
    base_correct = majority_baseline(truth_train, truth_test)
    base_accuracy = float(base_correct.mean())

    def diff(a: np.ndarray, b: np.ndarray) -> Any:
        return paired_rate_diff_ci(a, b, units, unit=UNIT, null=0.0, alternative="greater")

    def rate(a: np.ndarray) -> Any:
        return rate_ci(a, units, unit=UNIT, null=base_accuracy, alternative="greater")

    findings = [
        Finding.from_estimate(
            diff(self_correct, base_correct),
            metric="self_minus_majority",
            control="majority-class baseline",
            control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={"self_accuracy": float(self_correct.mean()), "majority_accuracy": base_accuracy},
        ),
        Finding.from_estimate(
            diff(cross_correct, base_correct),
            metric="cross_minus_majority",
            control="majority-class baseline",
            control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={"cross_model": cross_name, "cross_accuracy": float(cross_correct.mean())},
        ),
        Finding.from_estimate(
            rate(self_correct),
            metric="self_accuracy",
            control="majority-class baseline",
            control_value=base_accuracy,
            margin=DIAGNOSTIC_MARGIN,
        ),
        Finding.from_estimate(
            rate(cross_correct),
            metric="cross_accuracy",
            control="majority-class baseline",
            control_value=base_accuracy,
            margin=DIAGNOSTIC_MARGIN,
            details={"cross_model": cross_name},
        ),
        Finding.from_estimate(
            diff(self_correct, cross_correct),
            metric="self_minus_cross",
            control=f"cross-predictor ({cross_name}) trained on the same data",
            control_value=0.0,
            margin=margin,
            primary=True,
            details={"definition": "accuracy of S predicting S minus accuracy of C predicting S, paired, by prompt"},
        ),
    ]
    if change is not None:
        differ = change.old != change.new
        follows_new = (change.predicted == change.new)[differ]
        follows_old = (change.predicted == change.old)[differ]
        follows = Finding.from_estimate(
            paired_rate_diff_ci(follows_new, follows_old, units[differ], unit=UNIT, alternative="greater"),
            metric="follows_new_behaviour", control="predicts its old behaviour", control_value=0.0,
            margin=DIAGNOSTIC_MARGIN,
            details={"items_where_behaviour_changed": int(differ.sum()), "share_changed": float(differ.mean()),
                     "definition": "on held-out items whose property changed: P(predicts new) - P(predicts old)"},
        )  # fmt: skip
        findings.append(follows)
    return findings


@dataclass
class SelfPredictionData:
    """The raw arrays :func:`measure` consumes."""

    truth_test: np.ndarray
    self_predicted: np.ndarray
    cross_predicted: np.ndarray
    truth_train: np.ndarray
    units: np.ndarray
    change: BehaviourChange | None


#: Log-odds that S's answer has each property (starts with a vowel, is long, is even), before the prompt's effect.
_PROPERTY_LOGIT = {"starts_with_vowel": -0.8, "longer_than_five_letters": 0.0, "even_number": 0.4}


class SelfPredictionSimulator(Simulator):
    """Held-out meta items at the config's sizes (the study's own prompts and split), with no model.

    S's property on each item is drawn per property (log-odds -0.8 vowel, 0 length, 0.4 even) plus the prompt's
    effect (sd 1, shared by its properties). Each predictor is correct with log-odds ``0.85 + difficulty_prompt
    (sd 0.7, shared by both predictors) + its own per-prompt term (sd 0.3) + its fine-tune's seed effect (sd
    ``seed_sd``, one draw per fine-tune: the study trains one of each)``; the self-predictor is the better
    general predictor by ``ability_gap`` log-odds (the default 0.25 is about 0.05 accuracy, the margin) with no
    privileged access. The planted effect adds ``effect`` log-odds to the self-predictor's correctness only
    (1.0 is about 0.18 accuracy)."""

    metric = "self_minus_cross"
    unit = UNIT
    planted_effect = 1.0

    def __init__(self, cfg: SelfPredictionConfig, *, ability_gap: float = 0.25, seed_sd: float = 0.2) -> None:
        self.cfg, self.ability_gap, self.seed_sd = cfg, ability_gap, seed_sd
        prompts = build_prompts(cfg, seed=0)
        items = meta_items(prompts)
        self.props = np.array([prop for _, prop in items])
        self.held = np.array([prompts[i].held_out for i, _ in items])
        units = np.array([prompt_unit(prompts[i]) for i, _ in items])
        self.units = units[self.held]
        self.codes = np.unique(units, return_inverse=True)[1]
        self.n_prompts = int(self.codes.max()) + 1
        self.nuisance = (
            f"{int(self.held.sum())} held-out items in {len(set(self.units.tolist()))} prompts; property and "
            f"difficulty effects per prompt; fine-tune seed effect sd {seed_sd} per predictor (one seed each); "
            f"the subject the better general predictor by {ability_gap} log-odds"
        )

    def simulate(self, rng: np.random.Generator, effect: float) -> SelfPredictionData:
        n, g = len(self.props), self.n_prompts
        base = np.array([_PROPERTY_LOGIT[p] for p in self.props])
        truth = rng.random(n) < _expit(base + rng.normal(0, 1.0, g)[self.codes])
        difficulty = rng.normal(0, 0.7, g)[self.codes]

        def predictions(extra: float) -> np.ndarray:
            logit = 0.85 + difficulty + rng.normal(0, 0.3, g)[self.codes] + rng.normal(0, self.seed_sd) + extra
            correct = rng.random(n) < _expit(logit)
            return np.asarray(np.where(correct, truth, ~truth))

        self_pred = predictions(self.ability_gap + effect)[self.held]
        cross_pred = predictions(0.0)[self.held]
        change = None
        if self.cfg.behaviour_change:
            old = truth[self.held]
            new = np.where(rng.random(len(old)) < 0.5, ~old, old)
            predicted = np.where(rng.random(len(old)) < 0.7, old, ~old)  # it mostly keeps predicting the old one
            change = BehaviourChange(old, new, predicted)
        return SelfPredictionData(truth[self.held], self_pred, cross_pred, truth[~self.held], self.units, change)

    def measure(self, data: SelfPredictionData, seed: int) -> list[Finding]:
        return measure(
            data.truth_test, data.self_predicted, data.cross_predicted, data.truth_train, data.units,
            cross_name="cross", margin=self.cfg.margin, change=data.change,
        )  # fmt: skip


def _expit(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class SelfPredictionStudy(Study[SelfPredictionConfig]):
    side = "recognition"
    description = "predict properties of own behaviour: self vs cross predictor, and after a behaviour change"

    def simulator(self, cfg: SelfPredictionConfig) -> SelfPredictionSimulator:
        return SelfPredictionSimulator(cfg)

    def plan(self, cfg: SelfPredictionConfig, ctx: PlanContext) -> Work:
        prompts = build_prompts(cfg, ctx.seed)
        items = meta_items(prompts)
        train_items = [it for it in items if not prompts[it[0]].held_out]
        test_items = [it for it in items if prompts[it[0]].held_out]
        m = ctx.subject
        cross = pick_reference(m, cfg.cross_model, base=ctx.spec.base, key="studies.self_prediction.cross_model").name
        objects = [object_chat(p) for p in prompts]
        n_answers = 3 if cfg.behaviour_change else 2  # M, S (and S') answer every object prompt
        epochs = cfg.train.epochs
        work = Work()
        work.generate(m, n_answers * len(prompts), n_answers * ctx.count(m, objects), cfg.answer_tokens)
        meta_train = [meta_question(prompts[i], p) for i, p in train_items]
        meta_test = [meta_question(prompts[i], p) for i, p in test_items]
        train_objects = [o for o, p in zip(objects, prompts, strict=True) if not p.held_out]
        object_tokens = ctx.count(m, train_objects) + cfg.answer_tokens * len(train_objects)
        for model in (m, cross):
            work.train(model, int(epochs * (ctx.count(model, meta_train) + 2 * len(meta_train))))
            work.forward(model, ctx.count(model, meta_test))
        work.train(m, int(epochs * object_tokens), runs=0)  # S also trains on M's own object-level answers
        if cfg.behaviour_change:
            work.train(m, int(epochs * (ctx.count(m, train_objects) + 3 * len(train_objects))))
            work.forward(m, ctx.count(m, meta_test))
        return work

    def run(self, ctx: RunContext, cfg: SelfPredictionConfig) -> list[Finding]:
        subject = ctx.model()
        choice = pick_reference(
            subject.name, cfg.cross_model, base=ctx.model_spec.base, key="studies.self_prediction.cross_model"
        )
        cross_name = choice.name
        prompts = build_prompts(cfg, ctx.seed)
        items = meta_items(prompts)
        train_items = [it for it in items if not prompts[it[0]].held_out]
        test_items = [it for it in items if prompts[it[0]].held_out]

        m_answers, m_texts = behaviour(subject, prompts, cfg.answer_tokens)
        # Meta questions with M's true properties, mixed with M's own object-level answers on the training prompts,
        # so that training on yes/no targets does not collapse the behaviour S is then asked to predict.
        own = [
            object_chat(p, m_texts[i].strip()) for i, p in enumerate(prompts) if not p.held_out and m_texts[i].strip()
        ]
        self_pred = ctx.fine_tune(meta_examples(prompts, train_items, truth(train_items, m_answers)) + own, cfg.train,
                                  "self")  # fmt: skip
        s_answers, _ = behaviour(self_pred, prompts, cfg.answer_tokens)  # S's own behaviour is what it must predict
        s_train, s_test = truth(train_items, s_answers), truth(test_items, s_answers)
        cross_spec = ModelSpec(name=cross_name, dtype=subject.spec.dtype, device=subject.spec.device,
                               batch_size=subject.spec.batch_size)  # fmt: skip
        cross_pred = ctx.fine_tune(meta_examples(prompts, train_items, s_train), cfg.train, "cross", base=cross_spec)

        self_predicted, cross_predicted = (
            predict(self_pred, prompts, test_items),
            predict(cross_pred, prompts, test_items),
        )
        change = None
        if cfg.behaviour_change:
            change = self._behaviour_change(ctx, cfg, self_pred, prompts, s_answers, test_items)
        units = np.array([prompt_unit(prompts[i]) for i, _ in test_items])
        findings = measure(
            s_test,
            self_predicted,
            cross_predicted,
            s_train,
            units,
            cross_name=cross_name,
            margin=cfg.margin,
            change=change,
        )

        samples = [
            {"unit": prompt_unit(prompts[i]), "item": prop, "arm": "self-predictor",
             "prompt": prompts[i].text, "output": s_answers[i],
             "verdict": "yes" if PROPERTIES[prop][2](s_answers[i]) else "no",  # the property S's answer has
             "property": prop, "split": "held-out" if prompts[i].held_out else "train", "m_answer": m_answers[i]}
            for i, prop in items
        ]  # fmt: skip
        ctx.log_samples(samples)
        ctx.log_metrics({"n_train_items": float(len(train_items)), "n_test_items": float(len(test_items)),
                         "m_s_behaviour_agreement": float(np.mean([a == b for a, b in zip(m_answers, s_answers, strict=True)]))})  # fmt: skip
        for f in findings:  # which model the cross arm is, and why
            f.details.update(choice.details())
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
        """S trained further on the opposite behaviour (S'): its old and new held-out properties, and its predictions."""
        examples = [object_chat(p, changed_answer(p, s_answers[i], i)) for i, p in enumerate(prompts) if not p.held_out]
        changed = ctx.fine_tune(examples, cfg.train, "changed", base=self_pred.spec)
        new_answers, _ = behaviour(changed, prompts, cfg.answer_tokens)
        return BehaviourChange(
            truth(test_items, s_answers), truth(test_items, new_answers), predict(changed, prompts, test_items)
        )
