"""The entities and their labels: which ones the model knows, judged by its own answers, and the held-out split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reflectlab.core.errors import UserError
from reflectlab.core.models.base import Model, Prompt, SamplingParams, user
from reflectlab.evals.tasks.entities import Entity, EntitySet, check_answer, fabricate
from reflectlab.probes.emergence.knowledge_awareness.config import KnowledgeAwarenessConfig
from reflectlab.probes.surprisal import mean_surprisal


@dataclass
class Labelled:
    """One entity with its label from the model's answers (none for a fabricated one)."""

    entity: Entity
    known: bool
    n_correct: int
    answers: dict[str, str]


@dataclass
class Labels:
    """The labelled entities in one order, with per-entity arrays in the same order."""

    entities: list[Labelled]
    unknown: np.ndarray  # bool: fabricated, or real with no attribute right
    test: np.ndarray  # bool: held out
    lengths: np.ndarray  # float: the name's token count (the length confound)
    fabricated: np.ndarray  # bool: a made-up name
    familiarity: np.ndarray  # float: mean surprisal of the name's tokens after its mention (higher = rarer)


def select_entities(es: EntitySet, types: Sequence[str], n_per_type: int) -> list[Entity]:
    """The first ``n_per_type`` real entities of each type, in type order."""
    return [e for t in types for e in es.of_type([t])[:n_per_type]]


def mention(es: EntitySet, e: Entity) -> str:
    """ "Tell me about the city of <name>": a request that ends with the entity's name."""
    return "Tell me about " + es.mentions[e.type].format(name=e.name)


def mention_prompt(es: EntitySet, e: Entity) -> Prompt:
    """A user turn that ends with the entity's name, so its last token is a fixed distance from the prompt's end."""
    return user(mention(es, e))


def attribute_questions(es: EntitySet, entities: Sequence[Entity]) -> list[tuple[Entity, str, Prompt]]:
    """Every attribute question about ``entities``: (entity, attribute, prompt)."""
    return [(e, attr, user(es.question(e, attr))) for e in entities for attr in e.attributes]


def steer_question(es: EntitySet, e: Entity) -> str:
    """What a steered answer replies to: a real entity's first attribute question, or a request about a
    fabricated one (it has no attributes)."""
    if e.attributes:
        return es.question(e, next(iter(e.attributes)))
    return mention(es, e) + "."


def name_tokens(model: Model, name: str) -> int:
    """Tokens of `` name`` under the model's tokenizer (the leading space as the name stands in a sentence)."""
    return len(model.tokenizer(" " + name, add_special_tokens=False)["input_ids"])


def name_surprisal(model: Model, es: EntitySet, entities: Sequence[Entity]) -> np.ndarray:
    """How rare each name is to the model: the mean surprisal (nats) of `` <name>``'s tokens after the words of its
    mention that precede it ("Tell me about the city of"), as raw text."""
    contexts: list[Prompt | None] = []
    names = []
    for e in entities:
        text = mention(es, e)
        cut = text.rfind(e.name)
        contexts.append(text[:cut].rstrip())
        names.append(" " + e.name)
    return mean_surprisal(model, names, contexts, placement="raw")


def label_entities(
    model: Model, es: EntitySet, real: list[Entity], fake: list[Entity], *, answer_tokens: int, known_min_correct: int
) -> list[Labelled]:
    """Known/unknown from the model's own greedy answers; real entities with partial knowledge are left out."""
    items = attribute_questions(es, real)
    gens = model.generate(
        [prompt for _, _, prompt in items], SamplingParams(max_new_tokens=answer_tokens), desc="attribute answers"
    )
    answers: dict[str, dict[str, str]] = {}
    correct: dict[str, int] = {}
    for (e, attr, _), g in zip(items, gens, strict=True):
        answers.setdefault(e.name, {})[attr] = g.text
        correct[e.name] = correct.get(e.name, 0) + int(check_answer(g.text, e.attributes[attr]))
    out = []
    for e in real:
        n = correct.get(e.name, 0)
        if n >= known_min_correct:
            out.append(Labelled(e, True, n, answers[e.name]))
        elif n == 0:
            out.append(Labelled(e, False, 0, answers[e.name]))
    out += [Labelled(e, False, 0, {}) for e in fake]
    return out


def split(labels: list[bool], test_fraction: float, seed: int) -> np.ndarray:
    """Held-out mask, stratified by label."""
    y = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for cls in (True, False):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        test[idx[: round(len(idx) * test_fraction)]] = True
    return test


def build_labels(model: Model, es: EntitySet, cfg: KnowledgeAwarenessConfig, seed: int) -> Labels:
    """The configured real entities and as many fabricated ones (matched in token length, drawn with ``seed``),
    labelled from the model's answers and split."""
    real = select_entities(es, cfg.entity_types, cfg.n_per_type)
    fake = fabricate(real, lambda name: name_tokens(model, name), seed=seed)
    labelled = label_entities(
        model, es, real, fake, answer_tokens=cfg.answer_tokens, known_min_correct=cfg.known_min_correct
    )
    unknown = np.array([not lab.known for lab in labelled], dtype=bool)
    if unknown.all() or not unknown.any():
        raise UserError("every entity got the same label; use more entities or lower known_min_correct")
    test = split(list(unknown), cfg.test_fraction, seed)
    lengths = np.array([name_tokens(model, lab.entity.name) for lab in labelled], dtype=float)
    fabricated = np.array([lab.entity.fabricated for lab in labelled], dtype=bool)
    familiarity = name_surprisal(model, es, [lab.entity for lab in labelled])
    return Labels(labelled, unknown, test, lengths, fabricated, familiarity)
