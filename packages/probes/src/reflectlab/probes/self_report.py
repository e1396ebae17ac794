"""Self-reports read from logits rather than sampled text.

A two-way question is asked twice, once with each answer order in the instruction, and the probability of the
first option (renormalised over the two) is averaged over both orders, which cancels a bias toward whichever
option is named first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from reflectlab.core.models.base import Model, Prompt


def two_way_choice(
    model: Model,
    make_prompt: Callable[[int, str, str], Prompt],
    n_items: int,
    option_a: str,
    option_b: str,
) -> tuple[np.ndarray, np.ndarray]:
    """P(option_a) per item, averaged over both answer orders; also returns the per-order values (n, 2).

    ``make_prompt(i, first, second)`` builds item ``i``'s prompt naming the options in that order.
    """
    prompts: list[Prompt] = []
    for i in range(n_items):
        prompts.append(make_prompt(i, option_a, option_b))
        prompts.append(make_prompt(i, option_b, option_a))
    probs = model.option_probs(prompts, [option_a, option_b])[:, 0].reshape(n_items, 2)
    return probs.mean(axis=1), probs


def order_bias(per_order: np.ndarray) -> float:
    """Mean P(first-named option) minus 0.5: how much naming an option first raises its probability."""
    p_first = np.concatenate([per_order[:, 0], 1.0 - per_order[:, 1]])
    return float(np.mean(p_first) - 0.5)
