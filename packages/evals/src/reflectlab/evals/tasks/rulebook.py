"""A rulebook task: invented string-transformation rules with a programmatic judge.

The rules have made-up names (``zorp``, ``blick`` ...), so a model cannot answer from memory: it has to read the
rulebook in its context and apply it. A task applies one rule (easy) or two rules in order (hard) to a lower-case
word; the answer is the exact resulting string, and :func:`check` judges an output by the word it states
(:func:`extract_word`). Skill-learning loops (RESEARCH.md §4.4) use it because the judge is exact and free.

Every random choice is a hash of (seed, index, slot), as in :mod:`reflectlab.evals.tasks.arithmetic`, so a task
set depends on nothing but its arguments.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

VOWELS = frozenset("aeiou")


@dataclass(frozen=True)
class Rule:
    """One invented rule: its name, the sentence the rulebook states, and what it does."""

    name: str
    description: str
    apply: Callable[[str], str]


def _swap_ends(word: str) -> str:
    return word if len(word) < 2 else word[-1] + word[1:-1] + word[0]


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("zorp", "write the word backwards", lambda w: w[::-1]),
        Rule("blick", "write every letter in capitals", str.upper),
        Rule("frell", "move the first letter to the end", lambda w: w[1:] + w[:1]),
        Rule("quib", "write the last letter twice", lambda w: w + w[-1:]),
        Rule("snark", "delete every vowel (a, e, i, o, u)", lambda w: "".join(c for c in w if c.lower() not in VOWELS)),
        Rule("twell", "swap the first and the last letter", _swap_ends),
    )
}
"""The rulebook, by rule name."""

WORDS: tuple[str, ...] = (
    "stone", "river", "apple", "cloud", "tiger", "plant", "bread", "chair", "light", "music",
    "ocean", "pencil", "garden", "window", "silver", "candle", "forest", "rabbit", "bottle", "carpet",
    "dragon", "flower", "market", "orange", "planet", "rocket", "summer", "thunder", "winter", "yellow",
    "basket", "button", "castle", "doctor", "engine", "finger", "hammer", "island", "jacket", "kitten",
    "lemon", "mirror", "needle", "pepper", "sugar", "table", "velvet", "wagon", "zebra", "honey",
)  # fmt: skip
"""Lower-case words the generator draws from (5 to 7 letters)."""

QUESTION_TEMPLATE = 'Apply {rules} to the word "{word}". Reply with "Answer: " and the result only.'


def rulebook_text(rules: Sequence[str] | None = None) -> str:
    """The rulebook as the model reads it: one line per rule."""
    names = list(rules) if rules is not None else list(RULES)
    lines = [f"- {n}: {RULES[n].description}." for n in names]
    return "Rulebook (invented rules):\n" + "\n".join(lines) + "\nRules given in order are applied one after another."


@dataclass(frozen=True)
class RulebookTask:
    """One task: apply ``rules`` in order to ``word``. ``difficulty`` is the number of rules."""

    id: str
    question: str
    answer: str
    word: str
    rules: tuple[str, ...]

    @property
    def difficulty(self) -> int:
        return len(self.rules)

    def messages(self, skills: Sequence[str] = ()) -> list[dict[str, str]]:
        """The rulebook, an optional list of natural-language skills, and the question, as one user turn."""
        parts = [rulebook_text()]
        if skills:
            parts.append("Skills (tips for applying the rules):\n" + "\n".join(f"- {s}" for s in skills))
        parts.append(self.question)
        return [{"role": "user", "content": "\n\n".join(parts)}]


def apply_rules(word: str, rules: Sequence[str]) -> str:
    """The exact result of applying ``rules`` in order (an unknown rule name is a ``ValueError``)."""
    for name in rules:
        if name not in RULES:
            raise ValueError(f"unknown rule {name!r}; known: {', '.join(RULES)}")
        word = RULES[name].apply(word)
    return word


def make_task(word: str, rules: Sequence[str]) -> RulebookTask:
    """The task of applying ``rules`` to ``word``, with its exact answer and a stable id."""
    rules = tuple(rules)
    if not word or not word.isalpha():
        raise ValueError(f"a rulebook word must be letters only, got {word!r}")
    word = word.lower()
    described = " then ".join(f"rule {r}" for r in rules)
    question = QUESTION_TEMPLATE.format(rules=described, word=word)
    digest = hashlib.sha256(f"{word}|{'+'.join(rules)}".encode()).hexdigest()[:10]
    return RulebookTask(f"rule-n{len(rules)}-{digest}", question, apply_rules(word, rules), word, rules)


def _draw(key: str, n_choices: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest(), "big") % n_choices


def generate_rulebook_tasks(
    n: int, seed: int = 0, *, n_rules: int = 1, words: Sequence[str] = WORDS
) -> list[RulebookTask]:
    """``n`` tasks of ``n_rules`` rules each (distinct rules within a task), drawn deterministically from ``seed``."""
    if n_rules < 1 or n_rules > len(RULES):
        raise ValueError(f"n_rules must be between 1 and {len(RULES)}, got {n_rules}")
    if not words:
        raise ValueError("need at least one word")
    names = list(RULES)
    tasks = []
    for i in range(n):
        key = f"{seed}|{n_rules}|{i}"
        word = words[_draw(f"{key}|word", len(words))]
        pool = list(names)
        chosen = []
        for k in range(n_rules):
            chosen.append(pool.pop(_draw(f"{key}|rule{k}", len(pool))))
        tasks.append(make_task(word, chosen))
    return tasks


_ANSWER = re.compile(r"answer\s*[:=]\s*[\"'*`]*([A-Za-z]+)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")


def extract_word(text: str) -> str | None:
    """The word an output states: after the last ``Answer:``, else the last run of letters; None if none."""
    marked = _ANSWER.findall(text)
    if marked:
        return str(marked[-1])
    found = _WORD.findall(text)
    return str(found[-1]) if found else None


def check(task: RulebookTask, output: str) -> bool:
    """The programmatic judge: the stated word equals the exact answer (case matters: ``blick`` writes capitals)."""
    return extract_word(output) == task.answer


class RulebookJudge:
    """The programmatic judge as a verifier: ``verify(tasks, outputs)`` gives one exact verdict per output."""

    name = "rulebook"

    def verify(self, items: Sequence[RulebookTask], outputs: Sequence[str]) -> list[bool]:
        if len(items) != len(outputs):
            raise ValueError(f"need one output per item, got {len(items)} items and {len(outputs)} outputs")
        return [check(t, o) for t, o in zip(items, outputs, strict=True)]
