"""The per-study progress line: its text, its ETA, and how it is written to a terminal and to a log."""

from __future__ import annotations

import io
import time

import pytest

from reflectlab.core import progress
from reflectlab.core.progress import StudyProgress, count, duration, study_progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_durations_and_counts_read_plainly() -> None:
    assert [duration(s) for s in (0, 42.4, 185, 3725)] == ["0s", "42s", "3m05s", "1h02m"]
    assert [count(n) for n in (950, 12_340, 4_100_000)] == ["950", "12.3k", "4.1M"]


def test_the_line_shows_work_done_against_the_plan_and_an_eta() -> None:
    clock = Clock()
    p = StudyProgress("emergence/self-description", planned_seconds=190, planned_tokens=40_000, clock=clock)
    assert p.line() == "emergence/self-description: 0/40.0k tokens (0%), 0s elapsed, ETA ~3m10s (plan 3m10s)"
    clock.now += 65
    p.advance(tokens=10_000)
    # 10k tokens in 65 s: the 30k left take 195 s at that rate
    assert p.eta() == pytest.approx(195)
    assert p.line() == "emergence/self-description: 10.0k/40.0k tokens (25%), 1m05s elapsed, ETA ~3m15s (plan 3m10s)"
    p.advance(cached_tokens=20_000, steps=3)  # the cache answered half the plan: the ETA drops at once
    assert p.eta() == pytest.approx(65)
    assert p.line() == (
        "emergence/self-description: 30.0k/40.0k tokens (75%, 20.0k cached), 3 steps, 1m05s elapsed, "
        "ETA ~1m05s (plan 3m10s)"
    )
    p.advance(tokens=15_000)
    assert p.eta() == 0 and "past the plan (plan 3m10s)" in p.line()


def test_the_eta_falls_back_to_the_planned_seconds() -> None:
    clock = Clock()
    seconds_only = StudyProgress("a/b", planned_seconds=100, clock=clock)
    clock.now += 40
    seconds_only.advance(tokens=500)  # no planned tokens: the plan's seconds are all there is
    assert seconds_only.eta() == 60
    assert seconds_only.line() == "a/b: 500 tokens, 40s elapsed, ETA ~1m00s (plan 1m40s)"
    clock.now += 100
    assert seconds_only.eta() == 0
    assert seconds_only.line() == "a/b: 500 tokens, 2m20s elapsed, past the plan (plan 1m40s)"
    unplanned = StudyProgress("a/c", clock=clock)
    assert unplanned.eta() is None and unplanned.line() == "a/c: 0 tokens, 0s elapsed"
    late = StudyProgress("a/d", planned_seconds=10, clock=clock)
    clock.now += 30
    assert late.line() == "a/d: 0 tokens, 30s elapsed, past the plan (plan 10s)"


def test_current_is_the_open_study_and_advance_outside_one_is_a_no_op() -> None:
    assert progress.current() is None
    progress.advance(tokens=5)  # nothing open: nothing happens
    with study_progress("a/b", stream=io.StringIO(), every=0) as outer:
        assert progress.current() is outer
        progress.advance(tokens=5, steps=1)
        with study_progress("a/c", stream=io.StringIO(), every=0) as inner:
            assert progress.current() is inner
            progress.advance(tokens=7)
        assert progress.current() is outer
    assert progress.current() is None
    assert (outer.tokens, outer.steps, inner.tokens) == (5, 1, 7)


def test_a_log_gets_a_plain_line_every_few_seconds() -> None:
    log = io.StringIO()
    with study_progress("a/b", planned_tokens=100, stream=log, every=0.05) as p:
        p.advance(tokens=10)
        time.sleep(0.3)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("a/b: 10/100 tokens (10%)") for line in lines)
    assert "\r" not in log.getvalue()


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFLECTLAB_PROGRESS_EVERY", raising=False)
    assert progress.every_seconds() == 30
    monkeypatch.setenv("REFLECTLAB_PROGRESS_EVERY", "0.05")
    assert progress.every_seconds() == 0.05
    log = io.StringIO()
    with study_progress("a/b", stream=log):
        time.sleep(0.3)
    assert log.getvalue().count("\n") >= 2
    monkeypatch.setenv("REFLECTLAB_PROGRESS_EVERY", "0")  # 0 turns the lines off
    quiet = io.StringIO()
    with study_progress("a/b", stream=quiet):
        time.sleep(0.1)
    assert quiet.getvalue() == ""
    monkeypatch.setenv("REFLECTLAB_PROGRESS_EVERY", "often")
    assert progress.every_seconds() == 30


def test_a_terminal_gets_one_line_rewritten_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "TERMINAL_EVERY", 0.05)
    term = Terminal()
    with study_progress("a/b", planned_seconds=60, stream=term, every=1000):
        time.sleep(0.3)
    out = term.getvalue()
    assert "\n" not in out
    assert out.count("\r\x1b[K") >= 3
    assert out.endswith("\r\x1b[K")  # the line is cleared for what comes next
    assert "a/b: 0 tokens, 0s elapsed, ETA ~1m00s (plan 1m00s)" in out
