"""The five verifiers resolve through the reflectlab.verifiers entry points and share one interface."""

from __future__ import annotations

import numpy as np
import pytest

from reflectlab.core.registry import verifiers
from reflectlab.evals.verifiers import Verifier

NAMES = ["exact", "majority", "corrupted", "judge", "refusal"]


class _AlwaysYes:
    def option_probs(self, prompts: object, options: object) -> np.ndarray:
        return np.array([[1.0, 0.0]])


ARGS: dict[str, tuple[object, ...]] = {"corrupted": (0.9, 0.1), "judge": (_AlwaysYes(),)}


@pytest.mark.parametrize("name", NAMES)
def test_entry_point_resolves_to_a_verifier_of_that_name(name: str) -> None:
    cls = verifiers.get(name)
    assert verifiers.source(name) == "reflectlab-evals"
    instance = cls(*ARGS.get(name, ()))
    assert isinstance(instance, Verifier)
    assert instance.name == name
