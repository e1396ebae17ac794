"""Detects refusals and "I don't know" answers from documented phrase lists.

Matching is case-insensitive, on whole words, after curly apostrophes become straight ones and runs of whitespace
become one space. A don't-know phrase followed by an explicit answer is a hedge, not an abstention: when the text
also states an answer (``\\boxed{...}``, or ``answer is``/``answer:``/``final answer`` followed by something other
than unknown/unclear/not/uncertain) it is not flagged. Refusal phrases are not overridden that way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reflectlab.core.contracts import Verifier
from reflectlab.evals.verifiers.base import Item, check_batch

REFUSAL_PHRASES: tuple[str, ...] = (
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i can't answer",
    "i cannot answer",
    "i can't provide",
    "i cannot provide",
    "i can't do that",
    "i cannot do that",
    "i'm unable to",
    "i am unable to",
    "i'm not able to",
    "i am not able to",
    "i won't be able to",
    "i will not",
    "i must decline",
    "i have to decline",
    "i'm sorry, but i",
    "i am sorry, but i",
    "i apologize, but i",
    "as an ai",
    "i'm not allowed to",
    "i am not allowed to",
)
"""Phrases that mark a refusal to answer."""

DONT_KNOW_PHRASES: tuple[str, ...] = (
    "i don't know",
    "i do not know",
    "i dont know",
    "i have no idea",
    "no idea",
    "i'm not sure",
    "i am not sure",
    "i'm not certain",
    "i am not certain",
    "i'm unsure",
    "i am unsure",
    "i don't have enough information",
    "i do not have enough information",
    "i don't have information",
    "i do not have information",
    "i'm not familiar with",
    "i am not familiar with",
    "i couldn't find",
    "i could not find",
    "i don't recall",
    "i do not recall",
    "cannot be determined",
    "can't be determined",
    "not enough information",
)
"""Phrases that mark an abstention ("I don't know")."""

_EXPLICIT_ANSWER = re.compile(
    r"\\boxed\s*\{\s*[^}\s]"
    r"|\b(?:final answer|answer is|answer:|answer =)\s*[*_$\"']*\s*(?!unknown|unclear|not\b|uncertain)[\w\\-]"
)


@dataclass(frozen=True)
class RefusalMatch:
    """Why a text was flagged: the kind of phrase and the phrase itself."""

    kind: Literal["refusal", "dont_know"]
    phrase: str


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, single spaces: the form the phrase lists are written in."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"\s+", " ", text).strip()


class RefusalDetector(Verifier):
    """Flags outputs that refuse or abstain; ``verify`` returns True for a refusal (or an abstention).

    ``include_dont_know=False`` flags refusals only. Both phrase lists can be replaced (written lower case, with
    straight apostrophes).
    """

    name = "refusal"

    def __init__(
        self,
        *,
        refusal_phrases: Sequence[str] = REFUSAL_PHRASES,
        dont_know_phrases: Sequence[str] = DONT_KNOW_PHRASES,
        include_dont_know: bool = True,
    ) -> None:
        self.refusal_phrases = tuple(refusal_phrases)
        self.dont_know_phrases = tuple(dont_know_phrases) if include_dont_know else ()
        self._refusal = _phrase_pattern(self.refusal_phrases)
        self._dont_know = _phrase_pattern(self.dont_know_phrases)

    def detect(self, text: str) -> RefusalMatch | None:
        """The first matching phrase (refusals before abstentions), or None."""
        norm = normalise(text)
        m = self._refusal.search(norm) if self._refusal else None
        if m:
            return RefusalMatch("refusal", m.group(1))
        m = self._dont_know.search(norm) if self._dont_know else None
        if m and not _EXPLICIT_ANSWER.search(norm):
            return RefusalMatch("dont_know", m.group(1))
        return None

    def is_refusal(self, text: str) -> bool:
        """Whether ``text`` refuses or abstains."""
        return self.detect(text) is not None

    def verify(self, items: Sequence[Item], outputs: Sequence[str]) -> list[bool]:
        """One verdict per output: True when it is a refusal or an abstention (items are not read)."""
        check_batch(items, outputs)
        return [self.is_refusal(out) for out in outputs]


def _phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)")
