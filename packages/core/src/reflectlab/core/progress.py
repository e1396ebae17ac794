"""One progress line per study that a person can read: work done against the plan, and an ETA.

The runner opens :func:`study_progress` around each study with the planned seconds and tokens from ``platform plan``'s
estimate. Model calls advance it by the tokens of each batch they compute (and count the tokens the cache answered
as done without spending time on them); trainers advance it with :func:`advance` (tokens and optimiser steps).

On a terminal the line is rewritten in place about once a second; when the output is not a terminal (a log file,
CI) a plain line is written every ``REFLECTLAB_PROGRESS_EVERY`` seconds (default 30; 0 turns the lines off). While
a study line is active, a :class:`~reflectlab.core.models.base.Model` shows no bars of its own.

The ETA is the work left divided by the rate measured so far (tokens computed per second), so tokens the cache
answered shorten it at once; before any token is computed it is what is left of the planned seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

#: Seconds between plain lines when the output is not a terminal, unless ``REFLECTLAB_PROGRESS_EVERY`` says otherwise.
DEFAULT_EVERY = 30.0
#: Seconds between redraws of the line on a terminal.
TERMINAL_EVERY = 1.0

_CURRENT: contextvars.ContextVar[StudyProgress | None] = contextvars.ContextVar("reflectlab_progress", default=None)


def current() -> StudyProgress | None:
    """The progress of the study running in this context, if the runner opened one."""
    return _CURRENT.get()


def advance(tokens: int = 0, steps: int = 0, *, cached_tokens: int = 0) -> None:
    """Count work towards the current study's line (nothing happens outside a study): ``tokens`` computed, optimiser
    ``steps`` taken, and ``cached_tokens`` of planned work answered without computing it."""
    progress = _CURRENT.get()
    if progress is not None:
        progress.advance(tokens, steps, cached_tokens=cached_tokens)


def every_seconds() -> float:
    """Seconds between plain lines: ``REFLECTLAB_PROGRESS_EVERY`` when it is a number, else :data:`DEFAULT_EVERY`."""
    raw = os.environ.get("REFLECTLAB_PROGRESS_EVERY", "").strip()
    try:
        return float(raw) if raw else DEFAULT_EVERY
    except ValueError:
        return DEFAULT_EVERY


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def count(n: float) -> str:
    """``950``, ``12.3k``, ``4.1M``."""
    if n < 1000:
        return f"{n:.0f}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


class StudyProgress:
    """Work done by one study against its plan. Counters only move forward; reading them is cheap."""

    def __init__(
        self,
        name: str,
        planned_seconds: float | None = None,
        planned_tokens: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.planned_seconds = planned_seconds if planned_seconds and planned_seconds > 0 else None
        self.planned_tokens = planned_tokens if planned_tokens and planned_tokens > 0 else None
        self._clock = clock
        self.started = clock()
        self.tokens = 0  # computed
        self.cached_tokens = 0  # answered without computing
        self.steps = 0
        self._lock = threading.Lock()

    def advance(self, tokens: int = 0, steps: int = 0, *, cached_tokens: int = 0) -> None:
        with self._lock:
            self.tokens += max(0, int(tokens))
            self.cached_tokens += max(0, int(cached_tokens))
            self.steps += max(0, int(steps))

    @property
    def done_tokens(self) -> int:
        return self.tokens + self.cached_tokens

    def elapsed(self, now: float | None = None) -> float:
        return max(0.0, (self._clock() if now is None else now) - self.started)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left: planned tokens not yet done at the measured rate of computed tokens; before any token is
        computed (or without planned tokens), the planned seconds not yet spent. None when nothing was planned."""
        elapsed = self.elapsed(now)
        if self._by_rate(elapsed):
            left = max(0, (self.planned_tokens or 0) - self.done_tokens)
            return left * elapsed / self.tokens
        if self.planned_seconds is not None:
            return max(0.0, self.planned_seconds - elapsed)
        return None

    def _by_rate(self, elapsed: float) -> bool:
        return self.planned_tokens is not None and self.tokens > 0 and elapsed > 0

    def past_plan(self, now: float | None = None) -> bool:
        """More tokens done than planned, or (while the ETA comes from the plan's seconds) more time spent."""
        elapsed = self.elapsed(now)
        if self._by_rate(elapsed):
            return self.done_tokens > (self.planned_tokens or 0)
        return self.planned_seconds is not None and elapsed > self.planned_seconds

    def line(self, now: float | None = None) -> str:
        """The progress line, e.g. ``emergence/x: 12.3k/40.0k tokens (31%), 1m05s elapsed, ETA ~2m20s (plan 3m10s)``."""
        elapsed = self.elapsed(now)
        done = self.done_tokens
        notes = [f"{min(999, int(100 * done / self.planned_tokens))}%"] if self.planned_tokens is not None else []
        if self.cached_tokens:
            notes.append(f"{count(self.cached_tokens)} cached")
        planned = f"/{count(self.planned_tokens)}" if self.planned_tokens is not None else ""
        parts = [f"{count(done)}{planned} tokens" + (f" ({', '.join(notes)})" if notes else "")]
        if self.steps:
            parts.append(f"{self.steps} steps")
        parts.append(f"{duration(elapsed)} elapsed")
        eta = self.eta(now)
        if eta is not None:
            text = "past the plan" if self.past_plan(now) else f"ETA ~{duration(eta)}"
            if self.planned_seconds is not None:
                text += f" (plan {duration(self.planned_seconds)})"
            parts.append(text)
        return f"{self.name}: " + ", ".join(parts)


class _Display:
    """Writes a progress's line from a background thread: in place on a terminal, as plain lines otherwise."""

    def __init__(self, progress: StudyProgress, stream: TextIO, every: float | None) -> None:
        self.progress = progress
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = TERMINAL_EVERY if self.tty else (every_seconds() if every is None else every)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False

    def start(self) -> None:
        if self.every <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="reflectlab-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.write()

    def write(self) -> None:
        text = self.progress.line()
        try:
            if self.tty:
                width = max(20, shutil.get_terminal_size().columns - 1)
                self.stream.write("\r\x1b[K" + text[:width])
                self._drawn = True
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: the study goes on without its line
            self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._drawn:  # leave the terminal line empty for whatever is printed next
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\r\x1b[K")
                self.stream.flush()


@contextlib.contextmanager
def study_progress(
    name: str,
    planned_seconds: float | None = None,
    planned_tokens: int | None = None,
    stream: TextIO | None = None,
    *,
    every: float | None = None,
) -> Iterator[StudyProgress]:
    """Show one progress line for the study ``name`` while inside the block, and make it :func:`current` there.

    ``stream`` defaults to standard output; ``every`` (seconds between plain lines when it is not a terminal)
    defaults to ``REFLECTLAB_PROGRESS_EVERY`` or 30."""
    progress = StudyProgress(name, planned_seconds, planned_tokens)
    display = _Display(progress, stream if stream is not None else sys.stdout, every)
    token = _CURRENT.set(progress)
    display.start()
    try:
        yield progress
    finally:
        display.close()
        _CURRENT.reset(token)
