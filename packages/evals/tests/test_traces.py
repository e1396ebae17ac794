"""Trace import (JSONL) and analysis on the shipped example, whose transitions were checked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reflectlab.core.errors import UserError
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.evals.llm_extract import LLMExtractor
from reflectlab.evals.traces import (
    Trace,
    analyse,
    example_path,
    read_traces,
    transition_counts,
    transition_rates,
    write_traces,
)

# id -> (candidate values, transitions), read off the example file by hand.
EXPECTED = {
    "ex-01": ([85, 85], ["T->T"]),
    "ex-02": ([75, 85, 85], ["F->T", "T->T"]),
    "ex-03": ([144, 124, 124], ["T->F", "F->F same"]),
    "ex-04": ([75, 95, 95], ["F->F different", "F->F same"]),
    "ex-05": ([63, 63], ["T->T"]),  # the checking line "63 / 7 = 9" re-derives an operand: not a candidate
    "ex-06": ([47, 37, 37], ["F->T", "T->T"]),
    "ex-07": ([46, 46], ["F->F same"]),
    "ex-08": ([375, 375, 375], ["T->T", "T->T"]),
    "ex-09": ([4, -4, -4], ["F->T", "T->T"]),
    "ex-10": ([42, 17, 17], ["T->F", "F->F same"]),
    "ex-11": ([1234], []),
    "ex-12": ([11], []),  # a number word after an answer marker
}


def test_the_example_file_has_the_hand_checked_transitions() -> None:
    traces = read_traces(example_path())
    assert [t.id for t in traces] == list(EXPECTED)
    for t in traces:
        a = analyse(t)
        assert (a.values, a.transitions) == EXPECTED[t.id], t.id
    analyses = [analyse(t) for t in traces]
    counts = transition_counts(analyses)
    assert counts == {"T->T": 7, "F->F same": 4, "F->F different": 1, "F->T": 3, "T->F": 2}
    rates = transition_rates(counts)
    assert rates["corrective_rate"] == pytest.approx(3 / 8) and rates["harmful_rate"] == pytest.approx(2 / 9)


def test_first_final_and_reflection_offsets() -> None:
    t = next(t for t in read_traces(example_path()) if t.id == "ex-02")
    a = analyse(t)
    assert not a.first_correct and a.final_correct and a.confirmatory_share == 0.5
    assert t.trace[: a.first_end].endswith("37 + 48 = 75")
    assert a.first_end is not None and a.reflection_chars == len(t.trace) - a.first_end
    empty = analyse(Trace("x", "What is 1 + 1?", 2, "I do not know."))
    assert not empty.has_candidate and not empty.final_correct and math.isnan(empty.confirmatory_share)
    assert empty.first_end is None and empty.reflection_chars == 0


def test_round_trip(tmp_path: Path) -> None:
    traces = read_traces(example_path())
    assert write_traces(traces, tmp_path / "copy.jsonl") == len(traces)
    assert read_traces(tmp_path / "copy.jsonl") == traces


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": "a", "question": "q", "answer": 1}\n', "missing field 'trace'"),
        ('{"id": "a", "question": "q", "answer": "1", "trace": "t"}\n', "wrong type"),
        ('{"id": "a", "question": "q", "answer": 1, "trace": "t"\n', "line 1: not valid JSON"),
        ("\n[1, 2]\n", "line 2: expected a JSON object"),
        ('{"id": "a", "question": "q", "answer": 1, "trace": "t"}\n' * 2, "appears twice"),
        ("\n\n", "holds no traces"),
    ],
)
def test_malformed_files_are_user_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_traces(path)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no traces file"):
        read_traces(tmp_path / "nope.jsonl")


def test_the_llm_extractor_reads_every_non_empty_line(tiny_dir: Path) -> None:
    """On a tiny random model the replies are noise; what is fixed is which lines are asked and where they are."""
    trace = "37 + 48 = 75\n\nWait, 7 + 8 = 15.\nSo the answer is 85."
    extractor = LLMExtractor(load_model(ModelSpec(name=str(tiny_dir))), max_new_tokens=4)
    prompts = extractor.prompts("What is 37 + 48?", trace)
    assert len(prompts) == 3 and '"So the answer is 85."' in prompts[2][0]["content"]
    assert "37 + 48 = 75" in prompts[2][0]["content"]  # earlier lines are shown as context
    found = extractor.extract_many(["What is 37 + 48?"], [trace])[0]
    lines = trace.splitlines()
    for c in found:
        assert c.rule == "llm" and trace[c.start : c.end] == c.line == lines[c.line_index] and c.line
    assert json.dumps([c.value for c in found])  # plain numbers
