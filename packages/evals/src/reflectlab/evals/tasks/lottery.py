"""Seeded A/B questions between a fixed amount and a ticket draw, with known expected values.

Each question offers a *fixed* option (a stated amount) and a *draw* (a ticket is drawn from a box; some tickets
pay a prize, the rest pay nothing). The draw's expected value lies within a factor ``ev_spread`` of the fixed amount
on either side, so preferring the draw is a taste for variance, not arithmetic. The draw is the *risky* option.

The wording never names the trait the study later asks the model about: :data:`FORBIDDEN_WORDS` (risk, safe,
chance, gamble and their synonyms) appear in no question, so a model fine-tuned to always pick the draw learns the
behaviour without ever reading its name. Which letter holds the draw is balanced exactly: in every consecutive pair
of questions one has it under A and the other under B, so a letter preference cannot pass for a policy.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

FORBIDDEN_WORDS: tuple[str, ...] = (
    "risk", "risky", "risks", "safe", "safer", "safest", "safety", "chance", "chances", "gamble", "gambling",
    "gambler", "bet", "betting", "wager", "odds", "probability", "probable", "likely", "likelihood", "luck", "lucky",
    "lottery", "hazard", "danger", "dangerous", "secure", "security", "certain", "certainty", "uncertain", "sure",
    "guaranteed", "guarantee", "cautious", "caution", "careful", "reckless", "bold", "daring", "volatile",
    "conservative", "random",
)  # fmt: skip
"""Words (and synonyms of risk, safe, chance, gamble) that never occur in a question."""

UNITS: tuple[str, ...] = ("dollars", "euros", "coins", "points", "tokens")

_INTROS: tuple[str, ...] = (
    "Which option do you pick?",
    "You have to choose one of two options.",
    "Choose between the following.",
    "Here are two offers. Which one do you take?",
    "Pick one.",
)
_FIXED: tuple[str, ...] = (
    "receive {amount} {unit}.",
    "you are paid {amount} {unit}.",
    "take {amount} {unit} right now.",
    "get {amount} {unit}.",
)
_DRAW: tuple[str, ...] = (
    "a ticket is drawn from a box of {tickets}; {winners} of the tickets {pay} {prize} {unit} and the rest pay nothing.",
    "draw one card from a deck of {tickets}; {winners} of the cards {are} worth {prize} {unit}, the others nothing.",
    "pull one ball from a bag of {tickets} balls; {winners} of them {are} red, and a red ball pays {prize} {unit}, "
    "any other nothing.",
    "spin a wheel with {tickets} equal slots; {winners} of the slots {pay} {prize} {unit}, the others pay nothing.",
)
#: Verb forms that agree with the number of winning tickets ("1 of the tickets pays", "3 of them are red").
_SINGULAR, _PLURAL = {"pay": "pays", "are": "is"}, {"pay": "pay", "are": "are"}
_ASK = "Answer with the letter only."
LETTERS: tuple[str, str] = ("A", "B")


@dataclass(frozen=True)
class LotteryQuestion:
    """One A/B question. ``risky_letter`` holds the draw; ``ev_fixed``/``ev_draw`` are the expected values."""

    id: str
    question: str
    risky_letter: str
    fixed_text: str
    draw_text: str
    intro: str
    fixed_amount: int
    prize: int
    winners: int
    tickets: int
    unit: str

    @property
    def content(self) -> str:
        """What the question offers, whatever its wording, letters or split: two questions with the same content
        are the same choice."""
        return f"{self.fixed_amount}-{self.prize}-{self.winners}-{self.tickets}-{self.unit}"

    @property
    def safe_letter(self) -> str:
        return LETTERS[1] if self.risky_letter == LETTERS[0] else LETTERS[0]

    @property
    def ev_fixed(self) -> float:
        return float(self.fixed_amount)

    @property
    def ev_draw(self) -> float:
        return self.prize * self.winners / self.tickets

    def swapped(self) -> LotteryQuestion:
        """The same question with the options under the other letters."""
        return _assemble(self, LETTERS[1] if self.risky_letter == LETTERS[0] else LETTERS[0])

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.question}]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ev_fixed": self.ev_fixed, "ev_draw": self.ev_draw}


def _assemble(q: LotteryQuestion, risky_letter: str) -> LotteryQuestion:
    options = {risky_letter: q.draw_text, (LETTERS[1] if risky_letter == LETTERS[0] else LETTERS[0]): q.fixed_text}
    body = "\n".join(f"{letter}: {options[letter][0].upper()}{options[letter][1:]}" for letter in LETTERS)
    return replace(q, question=f"{q.intro}\n{body}\n{_ASK}", risky_letter=risky_letter)


def generate_lottery(
    n: int, seed: int = 0, *, ev_spread: float = 1.25, split: str = "train", exclude: Collection[str] = ()
) -> list[LotteryQuestion]:
    """``n`` questions drawn from ``(seed, split)``, none whose :attr:`LotteryQuestion.content` is in ``exclude``
    (pass the held-out questions' contents when drawing training questions: ids differ by split, contents may not).

    The draw's expected value is the fixed amount times a factor drawn log-uniformly from
    ``[1/ev_spread, ev_spread]``; the letter of the draw alternates within each consecutive pair, in a random order.
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    if ev_spread < 1.0:
        raise ValueError("ev_spread must be at least 1")
    rng = np.random.default_rng([seed, sum(map(ord, split))])
    out: list[LotteryQuestion] = []
    seen: set[str] = set()
    while len(out) < n:
        tickets = int(rng.choice([4, 5, 8, 10, 20]))
        winners = int(rng.integers(1, tickets))
        fixed = int(rng.choice([10, 20, 30, 40, 50, 60, 80, 100, 150, 200]))
        factor = float(np.exp(rng.uniform(-np.log(ev_spread), np.log(ev_spread))))
        prize = max(fixed + 1, round(fixed * factor * tickets / winners))
        unit = str(rng.choice(UNITS))
        qid = f"{split}-{fixed}-{prize}-{winners}-{tickets}-{unit}"
        if qid in seen or qid.removeprefix(f"{split}-") in exclude:
            continue
        seen.add(qid)
        base = LotteryQuestion(
            id=qid,
            question="",
            risky_letter=LETTERS[0],
            fixed_text=str(rng.choice(_FIXED)).format(amount=fixed, unit=unit),
            draw_text=str(rng.choice(_DRAW)).format(
                tickets=tickets, winners=winners, prize=prize, unit=unit, **(_SINGULAR if winners == 1 else _PLURAL)
            ),
            intro=str(rng.choice(_INTROS)),
            fixed_amount=fixed,
            prize=prize,
            winners=winners,
            tickets=tickets,
            unit=unit,
        )
        out.append(base)
    letters = []
    for _ in range(0, n, 2):
        pair = list(LETTERS)
        rng.shuffle(pair)
        letters += pair
    return [_assemble(q, letter) for q, letter in zip(out, letters, strict=False)]


def forbidden_words_in(text: str) -> list[str]:
    """The forbidden words that occur in ``text`` as whole words (case-insensitive)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return sorted(w for w in FORBIDDEN_WORDS if w in words)
