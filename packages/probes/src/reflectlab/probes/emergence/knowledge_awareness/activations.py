"""Residual-stream states the study reads, all through :class:`Model` (cached, on the progress line): the state at
an entity's last token in a mention, and the states of every token of a generic text corpus."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reflectlab.core.models.base import Model, Prompt
from reflectlab.evals.tasks.entities import EntitySet
from reflectlab.probes.emergence.knowledge_awareness.entities import Labelled, mention_prompt


def resolve_layer(fraction: float, n_layers: int) -> int:
    """The block (1..n_layers) at ``fraction`` of the model's depth."""
    return min(n_layers, max(1, round(fraction * n_layers)))


def last_token_position(model: Model, prompt: Prompt, name: str) -> int:
    """Index (negative, from the end of the encoded prompt) of the last token of ``name``."""
    text, templated = model.render(prompt)
    end = text.rindex(name) + len(name)
    n_prefix = len(model.tokenizer(text[:end], add_special_tokens=not templated)["input_ids"])
    return n_prefix - 1 - len(model.encode(prompt))


def entity_states(
    model: Model, es: EntitySet, entities: Sequence[Labelled], layers: Sequence[int]
) -> dict[int, np.ndarray]:
    """Per layer, the (entities, d_model) states at the last token of each entity's name in its mention."""
    prompts = [mention_prompt(es, lab.entity) for lab in entities]
    positions = [last_token_position(model, p, lab.entity.name) for p, lab in zip(prompts, entities, strict=True)]
    hs = model.hidden_states(prompts, list(layers), positions)
    return {layer: hs[:, i, :] for i, layer in enumerate(layers)}


def corpus_rows(model: Model, n_tokens: int, chunk: int, seed: int) -> list[list[int]]:
    """``n_tokens`` of generic English (Python's documentation prose) in rows of ``chunk`` tokens, each with the
    tokenizer's BOS token (if it has one) in front."""
    from pydoc_data.topics import topics

    keys = sorted(topics)
    np.random.default_rng(seed).shuffle(keys)
    rows: list[list[int]] = []
    total = 0
    bos = [model.tokenizer.bos_token_id] if model.tokenizer.bos_token_id is not None else []
    for key in keys:
        ids = model.tokenizer(topics[key], add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids) - chunk + 1, chunk):
            rows.append(bos + list(ids[start : start + chunk]))
            total += chunk
            if total >= n_tokens:
                return rows
    return rows


def corpus_states(model: Model, layer: int, n_tokens: int, chunk: int, seed: int) -> np.ndarray:
    """(tokens, d_model) states at ``layer`` of every token of :func:`corpus_rows` but each row's first (the
    first position's attention-sink state has an outsized norm)."""
    states = model.token_states(
        corpus_rows(model, n_tokens, chunk, seed), [layer], slice(1, None), desc="corpus states"
    )
    if not states:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate([s[:, 0, :] for s in states])
