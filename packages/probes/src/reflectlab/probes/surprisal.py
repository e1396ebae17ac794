"""A non-introspective baseline: how surprising a text is to a model, teacher-forced."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reflectlab.core.models.base import Model, Placement, Prompt


def mean_surprisal(
    model: Model,
    texts: Sequence[str],
    contexts: Sequence[Prompt | None] | None = None,
    placement: Placement = "assistant",
) -> np.ndarray:
    """Mean negative log-probability per token (nats) of each text under ``model``."""
    scored = model.score(list(texts), contexts, placement=placement, desc="surprisal")
    return np.array([s.mean_surprisal for s in scored], dtype=float)
