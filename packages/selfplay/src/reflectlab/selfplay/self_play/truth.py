"""The ground truth of every self-play loop, kept apart from the loop so it can only be used to report.

Each loop works on :class:`Blind` items (an id and the question text: what a self-play loop may see) and produces
its own rewards. A :class:`GroundTruth` holds the gold answers, and only the ``report_*`` and ``measure`` steps of
the studies call it: nothing it returns flows into a reward, a kept example or a training call. Keeping the gold
answers out of the loop's data types makes that separation checkable by reading the signatures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from reflectlab.core.models.base import user


class _Gold(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def question(self) -> str: ...


@dataclass(frozen=True)
class Blind:
    """An item as a self-play loop sees it: no gold answer."""

    id: str
    question: str

    def messages(self) -> list[dict[str, str]]:
        return user(self.question)


G = TypeVar("G", bound=_Gold)


class GroundTruth(Generic[G]):
    """Gold items and the exact checker for them; used for reporting only (see the module docstring)."""

    def __init__(self, items: Sequence[G], checker: Callable[[G, str], bool]) -> None:
        self._items = {item.id: item for item in items}
        self._checker = checker

    def blind(self) -> list[Blind]:
        """The items as the loop may see them."""
        return [Blind(item.id, item.question) for item in self._items.values()]

    def correct(self, ids: Sequence[str], outputs: Sequence[str]) -> list[bool]:
        """Whether each output answers its item (by id) correctly."""
        if len(ids) != len(outputs):
            raise ValueError(f"need one output per id, got {len(ids)} and {len(outputs)}")
        return [self._checker(self._items[i], o) for i, o in zip(ids, outputs, strict=True)]
