"""The backend-neutral model handle.

A :class:`Model` renders prompts (chat template, or a plain dialogue format for models without one), tokenises,
batches by length, consults the content cache, and hands only the missing work to its backend, which implements
three primitives on token ids: ``_generate_ids``, ``_score_ids`` and ``_next_token_logprobs_ids``. Internals
(hidden states, token states, steering) are backend features; the ``hf`` backend has them. Every call goes through
the cache and advances the study's progress line (:mod:`reflectlab.core.progress`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import numpy as np

from reflectlab.core import progress
from reflectlab.core.cache import Cache, content_key
from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Message = Mapping[str, str]
Prompt = str | Sequence[Message]
Placement = Literal["assistant", "user", "raw"]
#: What :meth:`Model.token_states` reads: a prompt (rendered and encoded as every call does) or token ids as given.
TokenInput = Prompt | Sequence[int] | np.ndarray

_SENTINEL = "\u2063REFLECTLAB_SENTINEL\u2063"


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass
class Generation:
    """One sampled continuation; ``logprobs`` are the raw model log-probabilities of the chosen tokens."""

    text: str
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str  # "stop" (end of turn or a stop string) or "length"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scored:
    """Teacher-forced scores of a continuation: per-token log-probabilities and next-token entropies (nats)."""

    token_ids: list[int]
    logprobs: list[float]
    entropies: list[float] = field(default_factory=list)

    @property
    def mean_entropy(self) -> float:
        return float(np.mean(self.entropies)) if self.entropies else math.nan

    @property
    def sum_logprob(self) -> float:
        return float(np.sum(self.logprobs))

    @property
    def mean_surprisal(self) -> float:
        return float(-np.mean(self.logprobs)) if self.logprobs else math.nan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def user(text: str) -> list[dict[str, str]]:
    """A one-turn chat prompt: ``[{"role": "user", "content": text}]``."""
    return [{"role": "user", "content": text}]


def _progress(total: int, desc: str) -> Any:
    """A per-call bar, shown only on a terminal and only when no study progress line is active."""
    from tqdm.auto import tqdm

    quiet = progress.current() is not None
    return tqdm(total=total, desc=desc, unit="seq", leave=False, disable=True if quiet else None)


class Model(ABC):
    """A handle on a causal LM. Weights load lazily, on the first call the cache cannot answer."""

    backend_name: ClassVar[str] = "?"
    has_internals: ClassVar[bool] = False
    #: ``model.user(text)`` or ``Model.user(text)``: a one-turn chat prompt.
    user = staticmethod(user)

    def __init__(self, spec: ModelSpec, path: str, *, cache: Cache | None = None, fingerprint: str = "") -> None:
        self.spec = spec
        self.path = path
        self.cache = cache
        self._fingerprint = fingerprint
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._steer_key: str | None = None
        self.work_tokens = 0  # tokens the backend actually processed (cache misses)

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`UserError` (with the install line) when this backend's dependencies are missing."""
        return None

    # ----------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fingerprint(self) -> str:
        """Identifies the weights, adapter and dtype; part of every cache key."""
        return self._fingerprint

    def _state_key(self) -> list[Any]:
        return [self.fingerprint, self.spec.dtype, self._steer_key]

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self.path)
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            self._tokenizer = tok
        return self._tokenizer

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    # ----------------------------------------------------------------- prompts
    def render(self, prompt: Prompt, *, add_generation_prompt: bool = True) -> tuple[str, bool]:
        """The prompt as text, and whether a chat template produced it (then no special tokens are added)."""
        if isinstance(prompt, str):
            return prompt, False
        messages = [dict(m) for m in prompt]
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
            return str(text), True
        return _plain_dialogue(messages, add_generation_prompt), False

    def encode(self, prompt: Prompt, *, add_generation_prompt: bool = True) -> list[int]:
        text, templated = self.render(prompt, add_generation_prompt=add_generation_prompt)
        return list(self.tokenizer(text, add_special_tokens=not templated)["input_ids"])

    def _placement_prefix(self, context: Prompt | None, placement: Placement) -> list[int]:
        """Token ids that precede a continuation placed in the assistant turn, the user turn, or raw text."""
        if placement == "raw":
            text = "" if context is None else (context if isinstance(context, str) else self.render(context)[0])
            ids = self.tokenizer(text, add_special_tokens=True)["input_ids"] if text else []
            if not ids and self.tokenizer.bos_token_id is not None:
                ids = [self.tokenizer.bos_token_id]
            return list(ids)
        history: list[dict[str, str]] = []
        if isinstance(context, str):
            history = [{"role": "user", "content": context}]
        elif context is not None:
            history = [dict(m) for m in context]
        role = "assistant" if placement == "assistant" else "user"
        text, templated = self.render([*history, {"role": role, "content": _SENTINEL}], add_generation_prompt=False)
        prefix = text.split(_SENTINEL)[0]
        return list(self.tokenizer(prefix, add_special_tokens=not templated)["input_ids"])

    # ----------------------------------------------------------------- public API
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams | None = None,
        *,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        desc: str = "generate",
    ) -> list[Generation]:
        """Sample one continuation per prompt. Each row draws from its own generator seeded by
        (seed, prompt), so results do not depend on batch size or on which rows the cache answered."""
        params = params or SamplingParams()
        seeds = list(seeds) if seeds is not None else [seed] * len(prompts)
        if len(seeds) != len(prompts):
            raise ValueError("seeds must match prompts")
        rows = [self.encode(p) for p in prompts]
        greedy = params.temperature <= 0
        keys = [
            content_key("gen", *self._state_key(), ids, asdict(params), None if greedy else s)
            for ids, s in zip(rows, seeds, strict=True)
        ]
        row_seeds = [int(content_key(s, ids)[:15], 16) for ids, s in zip(rows, seeds, strict=True)]

        def compute(idx: list[int]) -> list[dict[str, Any]]:
            gens = self._generate_ids([rows[i] for i in idx], params, [row_seeds[i] for i in idx])
            self.work_tokens += sum(len(rows[i]) + len(g.token_ids) for i, g in zip(idx, gens, strict=True))
            return [g.to_dict() for g in gens]

        values = self._cached(keys, [len(r) for r in rows], compute, desc)
        return [Generation(**v) for v in values]

    def score(
        self,
        continuations: Sequence[str],
        contexts: Sequence[Prompt | None] | None = None,
        *,
        placement: Placement = "assistant",
        desc: str = "score",
    ) -> list[Scored]:
        """Teacher-forced log-probabilities and entropies of each continuation given its context.

        ``placement`` puts the continuation in the assistant turn (after the context as a user message),
        in the user turn, or as raw text after the context (no template)."""
        contexts = list(contexts) if contexts is not None else [None] * len(continuations)
        pairs = []
        for ctx, cont in zip(contexts, continuations, strict=True):
            prefix = self._placement_prefix(ctx, placement)
            cont_ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"])
            pairs.append((prefix, cont_ids))
        keys = [content_key("score", *self._state_key(), p, c) for p, c in pairs]

        def compute(idx: list[int]) -> list[dict[str, Any]]:
            out = self._score_ids([pairs[i] for i in idx])
            self.work_tokens += sum(len(pairs[i][0]) + len(pairs[i][1]) for i in idx)
            return [s.to_dict() for s in out]

        values = self._cached(keys, [len(p) + len(c) for p, c in pairs], compute, desc)
        return [Scored(**v) for v in values]

    def next_token_logprobs(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str = "read logits"
    ) -> np.ndarray:
        """Log-probability that the next token starts each option, shape (len(prompts), len(options)).

        An option counts through its first token, with and without a leading space and capitalised or not
        (the probabilities of the distinct variants are summed)."""
        option_ids = [self.option_token_ids(o) for o in options]
        rows = [self.encode(p) for p in prompts]
        keys = [content_key("next", *self._state_key(), ids, option_ids) for ids in rows]

        def compute(idx: list[int]) -> list[list[float]]:
            out = self._next_token_logprobs_ids([rows[i] for i in idx], option_ids)
            self.work_tokens += sum(len(rows[i]) for i in idx)
            return out

        values = self._cached(keys, [len(r) for r in rows], compute, desc)
        return np.asarray(values, dtype=float).reshape(len(prompts), len(options))

    def option_probs(self, prompts: Sequence[Prompt], options: Sequence[str]) -> np.ndarray:
        """Next-token probabilities of ``options``, renormalised over the options (rows sum to 1)."""
        lp = self.next_token_logprobs(prompts, options)
        lp = lp - lp.max(axis=1, keepdims=True)
        p = np.exp(lp)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def option_token_ids(self, option: str) -> list[int]:
        """The first-token ids through which :meth:`next_token_logprobs` counts ``option``: the first token of the
        option with and without a leading space, capitalised or not (distinct ids, in a fixed order)."""
        variants = {option, " " + option, option.capitalize(), " " + option.capitalize()}
        ids: list[int] = []
        for v in sorted(variants):
            toks = self.tokenizer(v, add_special_tokens=False)["input_ids"]
            if toks and toks[0] not in ids:
                ids.append(toks[0])
        return ids

    _option_token_ids = option_token_ids  # the old private name, until every caller uses the public one

    @property
    def num_layers(self) -> int:
        """Number of transformer blocks (internals backends only)."""
        raise UserError(f"the {self.backend_name} backend gives no internals; use model.backend=hf")

    def hidden_states(
        self, prompts: Sequence[Prompt], layers: Sequence[int], positions: Sequence[int] | None = None
    ) -> np.ndarray:
        """Residual-stream states, shape (len(prompts), len(layers), d_model). Layer 0 is the embedding output,
        layer i the output of block i; positions index each prompt's tokens (negative from the end; default -1).
        Cached like every other call (the key includes the active steering)."""
        if not self.has_internals:
            raise UserError(f"the {self.backend_name} backend gives no internals; use model.backend=hf")
        layers = list(layers)
        positions = list(positions) if positions is not None else [-1] * len(prompts)
        rows = [self.encode(p) for p in prompts]
        keys = [
            content_key("hidden", *self._state_key(), ids, layers, pos)
            for ids, pos in zip(rows, positions, strict=True)
        ]

        def compute(idx: list[int]) -> list[np.ndarray]:
            states = self._hidden_states_ids([rows[i] for i in idx], layers, [positions[i] for i in idx])
            self.work_tokens += sum(len(rows[i]) for i in idx)
            return [np.asarray(s, dtype=np.float32) for s in states]

        values = self._cached(keys, [len(r) for r in rows], compute, "hidden states", arrays=True)
        return np.asarray(values, dtype=np.float32).reshape(len(prompts), len(layers), -1)

    def token_states(
        self,
        inputs: Sequence[TokenInput],
        layers: Sequence[int],
        positions: slice | Sequence[slice] = slice(None),
        *,
        desc: str = "token states",
    ) -> list[np.ndarray]:
        """Residual-stream states of a span of tokens of each input: one float32 array of shape
        (tokens in the span, len(layers), d_model) per input, in input order.

        An input is a prompt (rendered and encoded as every call does) or a list of token ids, used as given (for
        example chunks of a corpus with a BOS token in front). ``positions`` slices each input's tokens, the same
        slice for all or one per input (``slice(1, None)`` skips the first token, ``slice(-3, None)`` keeps the
        last three). Layers count as in :meth:`hidden_states`. Inputs are right-padded, so each keeps positions
        0..n-1, and the pass stops at the deepest layer asked for. Cached like every other call."""
        if not self.has_internals:
            raise UserError(f"the {self.backend_name} backend gives no internals; use model.backend=hf")
        layers = list(layers)
        rows = [self._token_row(x) for x in inputs]
        slices = [positions] * len(rows) if isinstance(positions, slice) else list(positions)
        if len(slices) != len(rows):
            raise ValueError("positions must be one slice, or one slice per input")
        spans = [s.indices(len(r)) for s, r in zip(slices, rows, strict=True)]
        keys = [
            content_key("tokens", *self._state_key(), ids, layers, list(span))
            for ids, span in zip(rows, spans, strict=True)
        ]

        def compute(idx: list[int]) -> list[np.ndarray]:
            states = self._token_states_ids([rows[i] for i in idx], layers, [spans[i] for i in idx])
            self.work_tokens += sum(len(rows[i]) for i in idx)
            return [np.asarray(s, dtype=np.float32) for s in states]

        return self._cached(keys, [len(r) for r in rows], compute, desc, arrays=True)

    def _token_row(self, x: TokenInput) -> list[int]:
        """Token ids as given, or a prompt encoded (an empty list is no tokens)."""
        if isinstance(x, str):
            return self.encode(x)
        items = list(x)
        ids = [int(t) for t in items if isinstance(t, int | np.integer)]
        return ids if len(ids) == len(items) else self.encode(cast(Sequence[Message], items))

    def _hidden_states_ids(self, rows: list[list[int]], layers: list[int], positions: list[int]) -> np.ndarray:
        raise UserError(f"the {self.backend_name} backend gives no internals; use model.backend=hf")

    def _token_states_ids(
        self, rows: list[list[int]], layers: list[int], spans: list[tuple[int, int, int]]
    ) -> list[np.ndarray]:
        raise UserError(f"the {self.backend_name} backend gives no internals; use model.backend=hf")

    @contextlib.contextmanager
    def steer(
        self, vectors: Mapping[int, Any], *, scale: float = 1.0, last_n_positions: int | None = None
    ) -> Iterator[None]:
        """Add ``scale * vectors[layer]`` to the residual stream after each given layer while inside the block
        (to every position, or only the last ``last_n_positions`` of each forward pass). Cache keys include it."""
        if not self.has_internals:
            raise UserError(f"the {self.backend_name} backend cannot steer; use model.backend=hf")
        digest = hashlib.sha256()
        for layer in sorted(vectors):
            digest.update(str(layer).encode())
            digest.update(np.asarray(vectors[layer], dtype=np.float32).tobytes())
        digest.update(f"{scale}:{last_n_positions}".encode())
        previous = self._steer_key
        remove = self._install_steering(vectors, scale, last_n_positions)
        self._steer_key = digest.hexdigest()
        try:
            yield
        finally:
            remove()
            self._steer_key = previous

    # ----------------------------------------------------------------- batching and cache
    def _cached(
        self, keys: list[str], lengths: list[int], compute: Any, desc: str, *, arrays: bool = False
    ) -> list[Any]:
        """Values for ``keys``: from the cache where it has them, else from ``compute(indices)`` in length-sorted
        batches of ``spec.batch_size``, each stored as it comes. ``arrays`` values are numpy arrays, kept in the
        cache's array table; the others are JSON. Advances the study's progress line by each batch's tokens."""
        found: dict[str, Any] = {}
        if self.cache is not None:
            found = self.cache.get_arrays(keys) if arrays else self.cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        # Keep one computation per distinct key.
        first: dict[str, int] = {}
        todo = [i for i in missing if first.setdefault(keys[i], i) == i]
        progress.advance(cached_tokens=sum(lengths) - sum(lengths[i] for i in todo))
        if todo:
            todo.sort(key=lambda i: -lengths[i])  # length-sorted batches waste less padding
            bs = max(1, self.spec.batch_size)
            bar = _progress(len(todo), f"{self.name}: {desc}")
            try:
                for start in range(0, len(todo), bs):
                    idx = todo[start : start + bs]
                    before = self.work_tokens
                    values = compute(idx)
                    progress.advance(tokens=self.work_tokens - before)
                    new = [(keys[i], v) for i, v in zip(idx, values, strict=True)]
                    found.update(new)
                    if self.cache is not None:
                        (self.cache.put_arrays if arrays else self.cache.put_many)(new)
                    bar.update(len(idx))
            finally:
                bar.close()
        return [found[k] for k in keys]

    # ----------------------------------------------------------------- backend primitives
    @abstractmethod
    def _generate_ids(self, rows: list[list[int]], params: SamplingParams, seeds: list[int]) -> list[Generation]:
        """Generate for a batch of token-id prompts; ``seeds`` gives each row its own random stream."""

    @abstractmethod
    def _score_ids(self, pairs: list[tuple[list[int], list[int]]]) -> list[Scored]:
        """Teacher-force each (prefix, continuation) pair."""

    @abstractmethod
    def _next_token_logprobs_ids(self, rows: list[list[int]], option_ids: list[list[int]]) -> list[list[float]]:
        """Per row, log of the summed next-token probability of each option's token-id variants."""

    def _install_steering(self, vectors: Mapping[int, Any], scale: float, last_n: int | None) -> Any:
        raise UserError(f"the {self.backend_name} backend cannot steer; use model.backend=hf")


def _plain_dialogue(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """A neutral dialogue format for models without a chat template (base models)."""
    parts = []
    for m in messages:
        role, content = m["role"], m["content"]
        if role == "system":
            parts.append(f"{content}\n\n")
        elif role == "user":
            parts.append(f"User: {content}\n")
        else:
            parts.append(f"Assistant: {content}\n")
    if add_generation_prompt:
        parts.append("Assistant:")
    return "".join(parts)
