"""Rule-based extraction of numeric answers from model outputs and of candidate answers from reasoning traces.

Numbers. A number is a run of digits with optional thousands commas (``1,234``) and an optional decimal part
(``42.0``); a trailing full stop is punctuation (``42.`` is 42). A minus sign (``-``, ``−`` or ``–``) makes it
negative when it touches the digits and does not follow a digit, a letter or a closing bracket, so ``= -7`` and
``(-7)`` are negative while ``9 - 7`` and ``9-7`` are subtractions. A value with an all-zero decimal part is returned
as an ``int`` (``42.0`` -> 42); other decimals as ``float``. ``\\frac{a}{b}`` inside ``\\boxed{}`` is a/b.

:func:`extract_answer` looks, in this order, for (1) the last ``\\boxed{...}`` holding a number; (2) the last
explicit answer marker followed by a number in the same sentence: ``final answer``, ``####``, or ``answer`` followed
by ``:``, ``=``, ``is``, ``was``, ``equals``, ``would/should/will/must be``; within that sentence the number after the
last ``=`` wins (``The answer is 37 + 48 = 85`` -> 85), else the first number; a number word zero-twenty or a tens
word (``The answer is five``) counts when no digit follows the marker; (3) the last bold number (``**85**``);
(4) the last number anywhere. None when the text holds no number.

:func:`extract_candidates` splits a trace into lines and keeps, in order, every line that states an answer
(see its docstring for the rule).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Number = int | float

_NUMBER = re.compile(r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_MINUS = "-\u2212\u2013"  # hyphen-minus, minus sign, en dash
_SIGNED_NUMBER = re.compile(r"[-\u2212\u2013]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*([-\u2212\u2013]?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_ANSWER_MARKER = re.compile(
    r"####|\bfinal\s+answer\b"
    r"|\banswer\b(?=[\s*_]*(?::|=|is\b|was\b|equals\b|(?:would|should|will|must)\s+be\b))",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[\n!?;]|\.(?!\d)")
_LEADING_FILLER = re.compile(r"[\s*_:=$#]*")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
_CONCLUSION = re.compile(r"\b(?:so|therefore|thus|hence)\b", re.IGNORECASE)
_CHECK_WORDS = re.compile(
    r"\b(?:double[\s-]?)?(?:check|checks|checking|verify|verifies|verifying|verification|confirm|confirms|confirming)\b",
    re.IGNORECASE,
)

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_TEENS = ("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS: dict[str, int] = {
    **{w: i for i, w in enumerate(_UNITS)},
    **{w: 11 + i for i, w in enumerate(_TEENS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
}
_CONNECTOR_WORDS = {"is", "was", "equals", "would", "should", "will", "must", "be", "the", "number", "exactly"}


def parse_number(token: str) -> Number:
    """``"1,234"`` -> 1234, ``"-7"`` -> -7, ``"42.0"`` -> 42, ``"2.50"`` -> 2.5 (an all-zero decimal part gives an int)."""
    s = token.strip().replace(",", "")
    negative = s[:1] in _MINUS
    if negative:
        s = s[1:]
    whole, _, frac = s.partition(".")
    value: Number = int(whole) if not frac.strip("0") else float(s)
    return -value if negative else value


def numbers_in(text: str) -> list[tuple[int, int, Number]]:
    """Every number in ``text`` as (start, end, value), with the sign rule of the module docstring."""
    found: list[tuple[int, int, Number]] = []
    for m in _NUMBER.finditer(text):
        start = m.start()
        value = parse_number(m.group())
        if start > 0 and text[start - 1] in _MINUS:
            before = text[start - 2] if start >= 2 else " "
            if not (before.isalnum() or before in ")]}_"):
                start -= 1
                value = -value
        found.append((start, m.end(), value))
    return found


def same_number(a: Number, b: Number, *, rel_tol: float = 1e-9, abs_tol: float = 1e-9) -> bool:
    """Whether two answers are equal: exactly for ints, within the tolerances when either is a float."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def number_key(value: Number) -> int | float:
    """A hashable key under which equal answers group together (integral floats become ints; floats are rounded)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 9)
    return value


# ----------------------------------------------------------------------------- the rules, one function each
def boxed_answer(text: str) -> Number | None:
    """The number in the last ``\\boxed{...}`` (or ``\\fbox{...}``) that holds one; nested braces are allowed."""
    for m in reversed(list(_BOXED.finditer(text))):
        content = _balanced(text, m.end())
        frac = _FRACTION.search(content)
        if frac:
            num, den = parse_number(frac.group(1)), int(frac.group(2))
            if den:
                return num // den if num % den == 0 else num / den
        nums = numbers_in(content)
        if nums:
            return nums[-1][2]
    return None


def marked_answer(text: str) -> Number | None:
    """The number stated after the last explicit answer marker that is followed by one (see the module docstring)."""
    for m in reversed(list(_ANSWER_MARKER.finditer(text))):
        value = _clause_value(text, m.end())
        if value is not None:
            return value
    return None


def bold_answer(text: str) -> Number | None:
    """The last bold span that holds only a number (``**85**``, ``**$1,234**``, ``**-7.**``)."""
    for m in reversed(list(_BOLD.finditer(text))):
        content = m.group(1).replace("$", "").strip().rstrip(".").strip()
        if _SIGNED_NUMBER.fullmatch(content):
            return parse_number(content)
    return None


def equals_answer(text: str) -> Number | None:
    """The first number after the last ``=`` sign, if any (``7 + 8 = 15 (carry 1)`` -> 15)."""
    idx = text.rfind("=")
    if idx < 0:
        return None
    nums = numbers_in(text[idx + 1 :])
    return nums[0][2] if nums else None


def last_number(text: str) -> Number | None:
    """The last number in ``text``."""
    nums = numbers_in(text)
    return nums[-1][2] if nums else None


def extract_answer(text: str) -> Number | None:
    """The final numeric answer of a model output: boxed, then an answer marker, then a bold number, then the
    last number (details in the module docstring); None when there is no number."""
    for rule in (boxed_answer, marked_answer, bold_answer, last_number):
        value = rule(text)
        if value is not None:
            return value
    return None


# ----------------------------------------------------------------------------- candidates in a reasoning trace
CandidateRule = Literal["boxed", "answer", "bold", "equals", "conclusion", "llm"]
"""Which rule found a candidate; ``llm`` marks one read by a model (:mod:`reflectlab.evals.llm_extract`)."""

ALL_RULES: tuple[CandidateRule, ...] = ("boxed", "answer", "bold", "equals", "conclusion")
"""Every candidate rule, in priority order."""

STRICT_RULES: tuple[CandidateRule, ...] = ("boxed", "answer")
"""Only explicit statements (boxed, answer markers): fewer false candidates when the prompt asks for them."""


@dataclass(frozen=True)
class Candidate:
    """A line of a trace that states an answer.

    ``line_index`` indexes ``trace.splitlines()``; ``start``/``end`` are the line's character offsets in the trace
    (without its line break), so ``trace[:end]`` cuts the trace right after this candidate. ``rule`` names the rule
    that found ``value``.
    """

    line_index: int
    value: Number
    rule: CandidateRule
    line: str
    start: int
    end: int


_RULE_FUNCTIONS: dict[CandidateRule, Callable[[str], Number | None]] = {
    "boxed": boxed_answer,
    "answer": marked_answer,
    "bold": bold_answer,
    "equals": equals_answer,
    "conclusion": lambda line: last_number(line) if _CONCLUSION.search(line) else None,
}


def extract_candidates(trace: str, *, rules: Sequence[CandidateRule] = ALL_RULES) -> list[Candidate]:
    """Every candidate answer of a solve-then-check trace, in order, one per line at most.

    A line is a candidate when one of ``rules`` finds a number in it; the first rule that does (in the order
    boxed, answer, bold, equals, conclusion) gives the value:

    - ``boxed``: a ``\\boxed{}`` number;
    - ``answer``: an answer marker followed by a number (``The answer is 85``, ``Final answer: 85``, ``#### 85``);
    - ``bold``: a bold number alone (``**85**``);
    - ``equals``: the first number after the line's last ``=`` (``37 + 48 = 85``);
    - ``conclusion``: the words so / therefore / thus / hence, then the line's last number (``So we get 85.``).

    A checking line (one with the word check, verify or confirm in any form, e.g. ``double-check``, ``verifying``)
    only counts through ``boxed`` or ``answer``: ``Let me verify: 85 - 48 = 37`` re-derives an operand, it does not
    propose 37, while ``Checking done, so the answer is 85`` still states 85. The rule is deliberately simple; intermediate results written as ``7 + 8 = 15`` also
    count under ``equals``, so pass ``rules=STRICT_RULES`` when the prompt asks the model to mark its answers.
    """
    unknown = sorted(set(rules) - set(ALL_RULES))
    if unknown:
        raise ValueError(f"unknown candidate rules {unknown}; known: {', '.join(ALL_RULES)}")
    ordered = [r for r in ALL_RULES if r in rules]
    candidates: list[Candidate] = []
    offset = 0
    for index, raw in enumerate(trace.splitlines(keepends=True)):
        line = raw.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        start, offset = offset, offset + len(raw)
        checking = bool(_CHECK_WORDS.search(line))
        for rule in ordered:
            if checking and rule not in STRICT_RULES:
                continue
            value = _RULE_FUNCTIONS[rule](line)
            if value is not None:
                candidates.append(Candidate(index, value, rule, line, start, start + len(line)))
                break
    return candidates


Transition = Literal["T->T", "T->F", "F->T", "F->F same", "F->F different"]


def transitions(values: Sequence[Number], gold: Number) -> list[Transition]:
    """The transition between each pair of consecutive candidate values, judged against ``gold``.

    T = the candidate equals ``gold``; ``F->F same`` keeps the same wrong answer, ``F->F different`` moves to another
    wrong one. ``n`` values give ``n - 1`` transitions.
    """
    labels: list[Transition] = []
    for prev, cur in itertools.pairwise(values):
        prev_ok, cur_ok = same_number(prev, gold), same_number(cur, gold)
        if prev_ok:
            labels.append("T->T" if cur_ok else "T->F")
        elif cur_ok:
            labels.append("F->T")
        else:
            labels.append("F->F same" if same_number(prev, cur) else "F->F different")
    return labels


# ----------------------------------------------------------------------------- helpers
def _balanced(text: str, start: int) -> str:
    """The text from ``start`` up to the brace that closes the one just before it (or the end of the text)."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return text[start:]


def _clause_value(text: str, start: int) -> Number | None:
    """The answer stated in the sentence that begins at ``start`` (after a marker)."""
    filler = _LEADING_FILLER.match(text, start)
    start = filler.end() if filler else start
    end_match = _SENTENCE_END.search(text, start)
    clause = text[start : end_match.start() if end_match else len(text)]
    after_eq = equals_answer(clause)
    if after_eq is not None:
        return after_eq
    nums = numbers_in(clause)
    if nums:
        return nums[0][2]
    words: list[str] = re.findall(r"[a-z]+", clause.lower())
    while words and words[0] in _CONNECTOR_WORDS:
        words.pop(0)
    negative = bool(words) and words[0] in ("minus", "negative")
    if negative:
        words.pop(0)
    if words and words[0] in _NUMBER_WORDS:
        value = _NUMBER_WORDS[words[0]]
        return -value if negative else value
    return None
