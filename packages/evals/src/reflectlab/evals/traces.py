"""Solve-then-check reasoning traces: the JSONL format they are imported in, and their analysis (RESEARCH.md §3.1).

Format: one JSON object per line, with

- ``id`` (string, unique in the file): names the problem;
- ``question`` (string): the problem as the model saw it;
- ``answer`` (number): the gold answer;
- ``trace`` (string): everything the model wrote, line breaks included;
- ``model`` (string, optional): which model wrote it.

Blank lines are skipped; any other line that is not such an object is an error naming its line number. The package
ships an example written for this project (:func:`example_path`), with hand-checked transitions.

Analysis: candidate answers are found line by line (the rule-based :func:`~reflectlab.evals.extract.extract_candidates`
by default, or any function from a trace to candidates, such as :class:`~reflectlab.evals.llm_extract.LLMExtractor`),
each is checked against the gold answer, and consecutive candidates give the transitions T->T, F->F same,
F->F different, F->T and T->F. The *reflection* is everything after the first candidate's line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from reflectlab.core.errors import UserError
from reflectlab.evals.extract import Candidate, Number, Transition, extract_candidates, same_number, transitions

TRANSITIONS: tuple[Transition, ...] = ("T->T", "F->F same", "F->F different", "F->T", "T->F")
"""Every transition label, confirmatory ones (T->T, F->F same) first."""

CONFIRMATORY: tuple[Transition, ...] = ("T->T", "F->F same")
"""Transitions that keep the previous answer: the reflection confirmed it."""

EXAMPLE_FILE = "example_traces.jsonl"

#: A trace -> its candidates, in order.
CandidateFn = Callable[[str], list[Candidate]]


@dataclass(frozen=True)
class Trace:
    """One problem, its gold answer and a model's solve-then-check trace."""

    id: str
    question: str
    answer: Number
    trace: str
    model: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def example_path() -> Path:
    """The example traces shipped with reflectlab-evals (written for this project; see the module docstring)."""
    return Path(str(resources.files("reflectlab.evals").joinpath("data", EXAMPLE_FILE)))


def _field(record: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in record:
        raise UserError(f"{where}: missing field {name!r} (need id, question, answer, trace)")
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UserError(f"{where}: field {name!r} has the wrong type ({type(value).__name__})")
    return value


def parse_trace(record: Any, where: str = "trace") -> Trace:
    """One trace from a decoded JSON object; a malformed one raises :class:`UserError` naming ``where``."""
    if not isinstance(record, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(record).__name__}")
    answer = _field(record, "answer", (int, float), where)
    if isinstance(answer, float) and not math.isfinite(answer):
        raise UserError(f"{where}: field 'answer' is not a finite number")
    model = record.get("model", "")
    if not isinstance(model, str):
        raise UserError(f"{where}: field 'model' must be a string")
    return Trace(
        id=_field(record, "id", str, where),
        question=_field(record, "question", str, where),
        answer=answer,
        trace=_field(record, "trace", str, where),
        model=model,
    )


def read_traces(path: str | Path) -> list[Trace]:
    """Every trace of a JSONL file (format in the module docstring)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"no traces file at {file}")
    traces: list[Trace] = []
    seen: set[str] = set()
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
        trace = parse_trace(record, where)
        if trace.id in seen:
            raise UserError(f"{where}: id {trace.id!r} appears twice")
        seen.add(trace.id)
        traces.append(trace)
    if not traces:
        raise UserError(f"{file} holds no traces")
    return traces


def write_traces(traces: Iterable[Trace], path: str | Path) -> int:
    """Write traces as JSONL (the format :func:`read_traces` reads); returns how many were written."""
    lines = [json.dumps(t.to_json()) for t in traces]
    Path(path).write_text("".join(line + "\n" for line in lines))
    return len(lines)


@dataclass
class TraceAnalysis:
    """What one trace says: its candidates, their correctness and transitions, and where the reflection starts."""

    id: str
    values: list[Number]
    correct: list[bool]
    transitions: list[Transition]
    first_end: int | None
    """Character offset just after the first candidate's line (None without a candidate)."""
    reflection_chars: int = 0
    """Characters of the trace after the first candidate's line."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def has_candidate(self) -> bool:
        return bool(self.values)

    @property
    def first_correct(self) -> bool:
        """The first candidate is right (False without a candidate)."""
        return bool(self.correct) and self.correct[0]

    @property
    def final_correct(self) -> bool:
        """The last candidate is right (False without a candidate)."""
        return bool(self.correct) and self.correct[-1]

    @property
    def confirmatory_share(self) -> float:
        """Share of this trace's transitions that keep the previous answer (NaN without a transition)."""
        if not self.transitions:
            return math.nan
        return sum(t in CONFIRMATORY for t in self.transitions) / len(self.transitions)


def analyse(trace: Trace, candidates: CandidateFn = extract_candidates) -> TraceAnalysis:
    """Candidates of ``trace`` checked against its gold answer, and the transitions between them."""
    found = candidates(trace.trace)
    values = [c.value for c in found]
    first_end = found[0].end if found else None
    return TraceAnalysis(
        id=trace.id,
        values=values,
        correct=[same_number(v, trace.answer) for v in values],
        transitions=transitions(values, trace.answer),
        first_end=first_end,
        reflection_chars=len(trace.trace) - first_end if first_end is not None else 0,
    )


def transition_counts(analyses: Sequence[TraceAnalysis]) -> dict[str, int]:
    """The transition matrix as counts, every label present."""
    counts: dict[str, int] = dict.fromkeys(TRANSITIONS, 0)
    for a in analyses:
        for t in a.transitions:
            counts[t] += 1
    return counts


def transition_rates(counts: dict[str, int]) -> dict[str, float]:
    """Corrective rate (F->T among transitions from a wrong answer) and harmful rate (T->F among transitions from a
    right one), NaN where there is no such transition."""
    from_wrong = counts["F->T"] + counts["F->F same"] + counts["F->F different"]
    from_right = counts["T->T"] + counts["T->F"]
    return {
        "corrective_rate": counts["F->T"] / from_wrong if from_wrong else math.nan,
        "harmful_rate": counts["T->F"] / from_right if from_right else math.nan,
    }
