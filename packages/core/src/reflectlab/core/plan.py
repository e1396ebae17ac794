"""Plan a run before running it: tokens of model work per study, and wall time from this machine's throughput.

Studies describe their work with :class:`Work` (per model: sequences generated and their prompt and new tokens,
tokens teacher-forced, tokens trained). Throughput is measured once per model, batch size and machine with a short
micro-benchmark (:func:`measure_throughput`) and cached in ``$REFLECTLAB_HOME/throughput.json``; the estimate is
``prefill + decode + forward + training`` seconds plus model loading. After a run, ``platform show`` puts the
estimate beside the measured time of each study.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reflectlab.core.models.embedded import reflectlab_home
from reflectlab.core.models.spec import ModelSpec


@dataclass
class ModelWork:
    """Model work of one kind on one model, in tokens."""

    generate_sequences: int = 0
    prompt_tokens: int = 0  # prompt tokens prefilled before generation
    new_tokens: int = 0  # tokens decoded (an upper bound: max_new_tokens per sequence)
    forward_tokens: int = 0  # teacher-forced tokens: scoring, next-token reads, hidden states
    train_tokens: int = 0  # tokens through forward and backward, all epochs
    train_runs: int = 0  # trainer set-ups (each costs TRAIN_RUN_OVERHEAD_S)

    def __iadd__(self, other: ModelWork) -> ModelWork:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)
        return self


@dataclass
class Work:
    """A study's model work, per model spec name."""

    per_model: dict[str, ModelWork] = field(default_factory=dict)
    note: str = ""

    def on(self, model: str) -> ModelWork:
        return self.per_model.setdefault(model, ModelWork())

    def generate(self, model: str, sequences: int, prompt_tokens: int, new_tokens_each: int) -> None:
        self.on(model).__iadd__(
            ModelWork(generate_sequences=sequences, prompt_tokens=prompt_tokens, new_tokens=sequences * new_tokens_each)
        )

    def forward(self, model: str, tokens: int) -> None:
        self.on(model).forward_tokens += tokens

    def train(self, model: str, tokens: int, runs: int = 1) -> None:
        self.on(model).train_tokens += tokens
        self.on(model).train_runs += runs

    def total_tokens(self) -> int:
        return sum(w.prompt_tokens + w.new_tokens + w.forward_tokens + w.train_tokens for w in self.per_model.values())


@dataclass
class Throughput:
    """Measured rates of one model on this machine (tokens per second)."""

    decode: float  # new tokens/s at the spec's batch size
    prefill: float  # prompt tokens/s
    forward: float  # teacher-forced tokens/s
    train: float  # tokens/s through forward + backward + optimizer step (LoRA)
    load_s: float  # seconds to load the weights
    key: str = ""


def _key(spec: ModelSpec, fingerprint: str) -> str:
    import torch

    return "|".join(
        [fingerprint, spec.dtype, spec.device, str(spec.batch_size), str(torch.get_num_threads()),
         str(os.cpu_count()), _platform.machine()]
    )  # fmt: skip


def _cache_file() -> Path:
    return reflectlab_home() / "throughput.json"


def cached_throughput(spec: ModelSpec, fingerprint: str) -> Throughput | None:
    path = _cache_file()
    if not path.exists():
        return None
    data = json.loads(path.read_text()).get(_key(spec, fingerprint))
    return Throughput(**data) if data else None


def measure_throughput(spec: ModelSpec, *, refresh: bool = False, echo: Any = None) -> Throughput:
    """Measure (or read from the cache) this model's rates with a short micro-benchmark (about a minute)."""
    from reflectlab.core.models.base import SamplingParams
    from reflectlab.core.models.loader import load_model

    model = load_model(spec)
    key = _key(spec, model.fingerprint)
    if not refresh:
        found = cached_throughput(spec, model.fingerprint)
        if found is not None:
            return found
    if echo:
        echo(f"measuring throughput of {spec.name} (once per model and machine) ...")
    import torch

    t0 = time.perf_counter()
    hf = model.hf_model if hasattr(model, "hf_model") else None
    load_s = time.perf_counter() - t0
    bs = max(1, spec.batch_size)
    prompts = [[{"role": "user", "content": f"Write a long story about the number {i}."}] for i in range(bs)]
    n_new = 24
    t0 = time.perf_counter()
    gens = model._generate_ids(
        [model.encode(p) for p in prompts], SamplingParams(max_new_tokens=n_new), list(range(bs))
    )
    gen_s = time.perf_counter() - t0
    new = sum(len(g.token_ids) for g in gens)
    texts = [model.tokenizer.decode(g.token_ids) for g in gens]
    prompt_tokens = sum(len(model.encode(p)) for p in prompts)
    pairs = [
        (model.encode(p), model.tokenizer(t, add_special_tokens=False)["input_ids"] * 3)
        for p, t in zip(prompts, texts, strict=True)
    ]
    t0 = time.perf_counter()
    model._score_ids(pairs)
    fwd_s = time.perf_counter() - t0
    fwd_tokens = sum(len(a) + len(b) for a, b in pairs)
    forward = fwd_tokens / fwd_s
    # Prefill runs at the forward rate; decode time is what generation took beyond it.
    decode = new / max(1e-6, gen_s - prompt_tokens / forward)
    train = forward / 3.0  # backward costs about twice a forward
    if hf is not None:
        train = _train_rate(hf, pairs[: min(8, len(pairs))]) or train
    tp = Throughput(decode=decode, prefill=forward, forward=forward, train=train, load_s=load_s, key=key)
    path = _cache_file()
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = asdict(tp)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    torch.set_grad_enabled(True)
    return tp


def _train_rate(hf: Any, pairs: list[tuple[list[int], list[int]]]) -> float | None:
    """Tokens/s of a forward + backward over the full model (an upper bound on LoRA's cost per token)."""
    import torch

    rows = [a + b for a, b in pairs]
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    hf.train()
    try:
        with torch.enable_grad():
            t0 = time.perf_counter()
            out = hf(input_ids=ids, attention_mask=mask, labels=ids)
            out.loss.backward()
            seconds = time.perf_counter() - t0
    finally:
        hf.zero_grad(set_to_none=True)
        hf.eval()
    return int(mask.sum()) / seconds if seconds > 0 else None


#: Seconds a trainer spends outside its steps (set-up, tokenising the dataset, saving), per training run.
TRAIN_RUN_OVERHEAD_S = 8.0


def estimate_seconds(work: Work, rates: dict[str, Throughput]) -> float:
    total = 0.0
    for name, w in work.per_model.items():
        tp = rates[name]
        total += tp.load_s
        total += w.prompt_tokens / tp.prefill + w.new_tokens / tp.decode
        total += w.forward_tokens / tp.forward + w.train_tokens / tp.train
        total += w.train_runs * TRAIN_RUN_OVERHEAD_S
    return total


class PlanContext:
    """What a study's ``plan`` may use: the model specs of the run and their tokenizers (no weights load)."""

    def __init__(self, spec: ModelSpec, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self._models: dict[str, Any] = {}

    @property
    def subject(self) -> str:
        return self.spec.name

    def spec_for(self, name: str) -> ModelSpec:
        if name == self.spec.name:
            return self.spec
        return ModelSpec(name=name, dtype=self.spec.dtype, device=self.spec.device, batch_size=self.spec.batch_size)

    def count(self, model: str, prompts: list[Any]) -> int:
        """Tokens of ``prompts`` (strings or chats) as ``model`` renders them."""
        from reflectlab.core.models.loader import load_model

        if model not in self._models:
            self._models[model] = load_model(self.spec_for(model))
        handle = self._models[model]
        return sum(len(handle.encode(p)) for p in prompts)
