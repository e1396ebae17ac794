"""The topics that ship with the probes (``introspection/topics.txt``): short noun phrases to write about."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def shipped_topics() -> tuple[str, ...]:
    """Every shipped topic, in file order (blank lines and ``#`` comments skipped)."""
    text = resources.files("reflectlab.probes.introspection").joinpath("topics.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
