"""A shipped set of famous entities with checkable attributes, and fabricated names matched in token length.

``entities.json`` holds four types (cities, people, films, songs), each entity with two attributes and the answers
that count as right (aliases, matched case-insensitively as whole words). Whether a *model* knows an entity is
decided by its own answers to the attribute questions (:func:`check_answer`), not by fame.

Fabricated names are built from syllables (people get a first and a last name, films and songs English-looking
words) and matched one-to-one with real names in token length under the tokenizer the caller gives, because a
length difference alone once produced a perfect but meaningless known/unknown AUROC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from reflectlab.core.errors import UserError

ENTITY_TYPES: tuple[str, ...] = ("city", "person", "film", "song")

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kl", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ei")
_CODAS = ("", "", "n", "r", "s", "l", "th", "x")
_TITLE_WORDS = (
    "Silver", "Hollow", "Crimson", "Lantern", "Winter", "Velvet", "Harbor", "Ember", "Quiet", "Glass", "Orchard",
    "Paper", "Northern", "Copper", "Echo", "Meadow", "Falling", "Distant", "Marble", "Saffron", "Tide", "Thunder",
)  # fmt: skip
_SMALL_WORDS = ("of", "in", "the", "to", "on", "a", "and", "my")


@dataclass(frozen=True)
class Entity:
    """One entity: its type, name, and the accepted answers per attribute (empty for a fabricated one)."""

    type: str
    name: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    fabricated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "attributes": self.attributes, "fabricated": self.fabricated}


@dataclass(frozen=True)
class EntitySet:
    """The shipped entities with their question templates."""

    entities: list[Entity]
    questions: dict[str, dict[str, str]]  # type -> attribute -> question template with {name}
    mentions: dict[str, str]  # type -> phrase with {name} that ends with the entity

    def of_type(self, types: Sequence[str]) -> list[Entity]:
        return [e for e in self.entities if e.type in types]

    def question(self, entity: Entity, attribute: str) -> str:
        return self.questions[entity.type][attribute].format(name=entity.name)


def load_entities(path: str | Path | None = None) -> EntitySet:
    """The shipped set (no argument) or one in the same JSON format; a malformed file is a :class:`UserError`."""
    where = str(path) if path is not None else "the shipped entities.json"
    try:
        if path is None:
            text = resources.files("reflectlab.evals.tasks").joinpath("entities.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
        questions = {str(t): {str(a): str(q) for a, q in qs.items()} for t, qs in data["attributes"].items()}
        mentions = {str(t): str(m) for t, m in data["mention"].items()}
        entities = []
        for i, row in enumerate(data["entities"]):
            etype = str(row["type"])
            attrs = {str(a): [str(v) for v in vals] for a, vals in row["attributes"].items()}
            if etype not in questions or any(a not in questions[etype] for a in attrs):
                raise UserError(f"{where}: entity {i} ({row.get('name')!r}) has a type or attribute with no question")
            entities.append(Entity(etype, str(row["name"]), attrs))
    except FileNotFoundError as exc:
        raise UserError(f"entity file not found: {where}") from exc
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UserError(f"{where} is not a valid entity file: {type(exc).__name__}: {exc}") from exc
    return EntitySet(entities, questions, mentions)


def check_answer(answer: str, accepted: Sequence[str]) -> bool:
    """Whether ``answer`` contains one of the ``accepted`` strings as whole words (case-insensitive)."""
    text = answer.lower()
    return any(re.search(rf"(?<!\w){re.escape(option.lower())}(?!\w)", text) for option in accepted)


def _syllable_word(rng: np.random.Generator, syllables: int) -> str:
    parts = [str(rng.choice(_ONSETS)) + str(rng.choice(_VOWELS)) for _ in range(syllables)]
    return ("".join(parts) + str(rng.choice(_CODAS))).capitalize()


def _candidate(etype: str, words: int, rng: np.random.Generator) -> str:
    n_words = max(1, words + int(rng.integers(-1, 2)) if rng.random() < 0.3 else words)
    if etype in ("film", "song"):
        out = ["The"] if n_words > 1 and rng.random() < 0.4 else []
        while len(out) < n_words:
            r = rng.random()
            if r < 0.4:
                out.append(str(rng.choice(_TITLE_WORDS)))
            elif r < 0.55 and out:
                out.append(str(rng.choice(_SMALL_WORDS)))
            else:  # an invented word keeps titles from being real ones
                out.append(_syllable_word(rng, int(rng.integers(1, 4))))
        return " ".join(out)
    return " ".join(_syllable_word(rng, int(rng.integers(1, 5))) for _ in range(n_words))


def fabricate(
    real: Sequence[Entity],
    count_tokens: Callable[[str], int],
    *,
    seed: int = 0,
    attempts: int = 1000,
) -> list[Entity]:
    """One fabricated entity per real one, of the same type and with the same token count under ``count_tokens``
    (the closest found within ``attempts`` draws when no exact match turns up). Names never repeat or equal a real
    name."""
    rng = np.random.default_rng(seed)
    taken = {e.name.lower() for e in real}
    out: list[Entity] = []
    for entity in real:
        target = count_tokens(entity.name)
        words = len(entity.name.split())
        best, best_gap = "", None
        for _ in range(attempts):
            name = _candidate(entity.type, words, rng)
            if name.lower() in taken:
                continue
            gap = abs(count_tokens(name) - target)
            if best_gap is None or gap < best_gap:
                best, best_gap = name, gap
            if gap == 0:
                break
        taken.add(best.lower())
        out.append(Entity(entity.type, best, {}, fabricated=True))
    return out
