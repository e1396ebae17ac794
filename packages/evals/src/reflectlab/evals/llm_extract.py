"""Candidate answers read by a language model instead of rules (the optional extractor of RESEARCH.md §3.1).

Each non-empty line of a trace is shown to the model with the question and the lines before it (so "it checks out"
can be read in context); the model replies with the number the line states as an answer, or ``none``. Replies are
greedy and parsed with the rule-based :func:`~reflectlab.evals.extract.extract_answer`. All lines of all traces go
through the model in one batched call, so the model's cache answers repeats. Any model handle with
``generate(prompts, params)`` works: the subject model, or a larger one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reflectlab.evals.extract import Candidate, extract_answer

if TYPE_CHECKING:
    from reflectlab.core.models.base import Model

PROMPT = (
    "A student is solving this problem: {question}\n\n"
    "Their working so far:\n{before}\n\n"
    'Next line: "{line}"\n\n'
    "Does the next line state an answer to the problem (a final or candidate result, not an intermediate step)? "
    "If it does, reply with that number only. If it does not, reply with: none"
)
"""One prompt per line; fields ``{question}``, ``{before}`` (the earlier lines) and ``{line}``."""

_NONE = re.compile(r"\bnone\b|\bno\b", re.IGNORECASE)


class LLMExtractor:
    """Finds candidates line by line with a model; ``max_context_lines`` earlier lines are shown with each line."""

    def __init__(self, model: Model, *, max_new_tokens: int = 8, max_context_lines: int = 6) -> None:
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.max_context_lines = max_context_lines

    def _lines(self, trace: str) -> list[tuple[int, str, int]]:
        """(line index, line, start offset) of every non-empty line."""
        out, offset = [], 0
        for index, raw in enumerate(trace.splitlines(keepends=True)):
            line = raw.rstrip("\r\n")
            if line.strip():
                out.append((index, line, offset))
            offset += len(raw)
        return out

    def prompts(self, question: str, trace: str) -> list[list[dict[str, str]]]:
        """The chat prompts for each non-empty line of ``trace``."""
        lines = self._lines(trace)
        chats = []
        for k, (_, line, _) in enumerate(lines):
            before = [text for _, text, _ in lines[max(0, k - self.max_context_lines) : k]]
            text = PROMPT.format(question=question, before="\n".join(before) or "(nothing yet)", line=line)
            chats.append([{"role": "user", "content": text}])
        return chats

    def extract_many(self, questions: Sequence[str], traces: Sequence[str]) -> list[list[Candidate]]:
        """Candidates of each trace, in order, one per line at most."""
        from reflectlab.core.models.base import SamplingParams

        per_trace = [self.prompts(q, t) for q, t in zip(questions, traces, strict=True)]
        flat = [chat for chats in per_trace for chat in chats]
        replies = (
            [g.text for g in self.model.generate(flat, SamplingParams(max_new_tokens=self.max_new_tokens))]
            if flat
            else []
        )
        out: list[list[Candidate]] = []
        k = 0
        for trace in traces:
            found = []
            for index, line, start in self._lines(trace):
                reply = replies[k]
                k += 1
                value = None if _NONE.search(reply) else extract_answer(reply)
                if value is not None:
                    found.append(Candidate(index, value, "llm", line, start, start + len(line)))
            out.append(found)
        return out
