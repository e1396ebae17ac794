"""Exact match against the gold answer, after extraction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reflectlab.core.contracts import Verifier
from reflectlab.evals.extract import Number, extract_answer, same_number
from reflectlab.evals.verifiers.base import Item, check_batch


class ExactMatch(Verifier):
    """Accepts an output when its extracted answer equals the item's gold answer.

    Ints compare exactly; when either side is a float they compare within ``rel_tol``/``abs_tol``. An output with
    no extractable answer is rejected. ``extractor`` replaces :func:`~reflectlab.evals.extract.extract_answer`.
    """

    name = "exact"

    def __init__(
        self,
        *,
        rel_tol: float = 1e-6,
        abs_tol: float = 1e-9,
        extractor: Callable[[str], Number | None] = extract_answer,
    ) -> None:
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.extractor = extractor

    def check(self, gold: Number, output: str) -> bool:
        """Whether ``output`` states ``gold``."""
        value = self.extractor(output)
        return value is not None and same_number(value, gold, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def verify(self, items: Sequence[Item], outputs: Sequence[str]) -> list[bool]:
        """One verdict per output: True when it states its item's gold answer."""
        check_batch(items, outputs)
        return [self.check(item.answer, out) for item, out in zip(items, outputs, strict=True)]
