"""Plan a run before running it: tokens of model work per study, and wall time from this machine's throughput.

Studies describe their work with :class:`Work` (per model: sequences generated and their prompt and new tokens,
tokens teacher-forced and scored, tokens trained, decoding steps at a small batch). Throughput is measured once per
model, batch size and machine with a short micro-benchmark (:func:`measure_throughput`) and cached in
``$REFLECTLAB_HOME/throughput.json``. The estimate adds, per model: prefill, batched decode, small-batch decoding
steps, the decoder over teacher-forced tokens, the vocabulary projection of scored positions, LoRA training, a
fixed cost per training run, and loading. After a run, ``platform show`` puts the estimate beside the measured time
of each study.
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
    decode_steps: int = 0  # decoding steps at a small batch (see Work.small_batch_decode), priced per step
    decode_step_rows: int = 0  # rows summed over those steps (a step's cost grows with its batch)
    forward_tokens: int = 0  # teacher-forced tokens: scoring, next-token reads, hidden states
    scored_tokens: int = 0  # of those, positions projected to the vocabulary (log-probabilities, entropies)
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

    def small_batch_decode(self, model: str, steps: int, prompt_tokens: int, batch: int) -> None:
        """Generation at a batch far below the planner's (a trainer's own sampling, such as TRL's GRPO groups, or
        one batch per steering hook): ``steps`` decoding steps of ``batch`` rows, priced at a step's latency at
        that batch rather than at the batched decode rate, after ``prompt_tokens`` of prefill."""
        self.on(model).decode_steps += steps
        self.on(model).decode_step_rows += steps * batch
        self.on(model).prompt_tokens += prompt_tokens

    def forward(self, model: str, tokens: int, scored: int = 0) -> None:
        """``tokens`` through the decoder without sampling; ``scored`` of them projected to the vocabulary (a
        scored continuation). A next-token read or a hidden-state read projects at most one position."""
        self.on(model).forward_tokens += tokens
        self.on(model).scored_tokens += scored

    def train(self, model: str, tokens: int, runs: int = 1) -> None:
        self.on(model).train_tokens += tokens
        self.on(model).train_runs += runs

    def total_tokens(self) -> int:  # scored positions are among the forward tokens
        return sum(w.prompt_tokens + w.new_tokens + w.forward_tokens + w.train_tokens for w in self.per_model.values())


@dataclass
class Throughput:
    """Measured rates of one model on this machine (tokens per second)."""

    decode: float  # new tokens/s at the spec's batch size
    prefill: float  # prompt tokens/s (the last position projected to the vocabulary, as generation does)
    forward: float  # teacher-forced tokens/s through the decoder (measured as prefill)
    train: float  # tokens/s through forward + backward + optimizer step of a LoRA adapter
    load_s: float  # seconds to load the weights
    step_s: float = 0.0  # seconds of one decoding step at a batch of SMALL_BATCH
    step1_s: float = 0.0  # seconds of one decoding step at a batch of 1
    project: float = 0.0  # scored positions/s of the vocabulary projection, log-softmax and entropy (0: unknown)
    key: str = ""


#: Rows of the small batch whose decoding step ``measure_throughput`` times beside a one-row step.
SMALL_BATCH = 8

#: Bumped when what ``measure_throughput`` measures, or the backend code it times, changes, so older cached
#: figures are measured again (3: scoring folds the vocabulary a block at a time; 4: teacher-forced work runs in
#: passes of a bounded token count).
MEASURE_VERSION = "4"


def _key(spec: ModelSpec, fingerprint: str) -> str:
    import torch

    return "|".join(
        [f"v{MEASURE_VERSION}", fingerprint, spec.dtype, spec.device, str(spec.batch_size),
         str(torch.get_num_threads()), str(os.cpu_count()), _platform.machine()]
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
    """Measure (or read from the cache) this model's rates with a short micro-benchmark (a minute or two)."""
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
    prompts = [
        [{"role": "user", "content": f"Write a long story about the number {i}."}] for i in range(max(bs, SMALL_BATCH))
    ]
    rows = [model.encode(p) for p in prompts]
    model._generate_ids(rows[:2], SamplingParams(max_new_tokens=2), [0, 1])  # warm-up, not timed
    # Prefill: a generation of one token over a slice of the prompts (compute-bound, so the slice's rate holds).
    few = rows[: min(32, bs)]
    t0 = time.perf_counter()
    model._generate_ids(few, SamplingParams(max_new_tokens=1), list(range(len(few))))
    prefill = sum(len(r) for r in few) / max(1e-6, time.perf_counter() - t0)
    decode_s, gens = _decode_seconds(model, rows[:bs], 24, prefill)
    decode = sum(len(g.token_ids) for g in gens) / decode_s
    # A decoding step's latency at batches of 1 and 8 (small batches use the CPU poorly: a step at 8 rows costs
    # about three at one row, where 128 rows cost about eleven).
    step1_s, step_s = (_step_seconds(model, rows[:b], prefill) for b in (1, SMALL_BATCH))
    texts = [model.tokenizer.decode(g.token_ids) for g in gens]
    pairs = [
        (row, model.tokenizer(t, add_special_tokens=False)["input_ids"] * 3)
        for row, t in zip(rows[: min(32, bs)], texts[: min(32, bs)], strict=True)
    ]
    t0 = time.perf_counter()
    model._score_ids(pairs)
    score_s = time.perf_counter() - t0
    # Scoring = the decoder over every token + the vocabulary projection over the scored ones.
    total, scored = sum(len(a) + len(b) for a, b in pairs), sum(len(b) for _, b in pairs)
    project = scored / max(score_s - total / prefill, 0.05 * score_s)
    train = prefill / 3.0  # where no training step can be timed: about what the embedded model's LoRA step gives
    if hf is not None:
        train = _lora_train_rate(hf, pairs[: min(8, len(pairs))]) or train
    tp = Throughput(
        decode=decode,
        prefill=prefill,
        forward=prefill,
        train=train,
        load_s=load_s,
        step_s=step_s,
        step1_s=step1_s,
        project=project,
        key=key,
    )
    path = _cache_file()
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = asdict(tp)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    torch.set_grad_enabled(True)
    return tp


def _decode_seconds(model: Any, rows: list[list[int]], n_new: int, prefill: float) -> tuple[float, list[Any]]:
    """Seconds a greedy generation of ``n_new`` tokens over ``rows`` spent beyond its prefill, and the generations."""
    from reflectlab.core.models.base import SamplingParams

    t0 = time.perf_counter()
    gens = model._generate_ids(rows, SamplingParams(max_new_tokens=n_new), list(range(len(rows))))
    seconds = time.perf_counter() - t0 - sum(len(r) for r in rows) / prefill
    return max(1e-6, seconds), gens


def _step_seconds(model: Any, rows: list[list[int]], prefill: float) -> float:
    """Seconds of one decoding step at a batch of ``len(rows)``: 12 greedy steps after the prefill."""
    seconds, gens = _decode_seconds(model, rows, 12, prefill)
    return seconds / max(1, max(len(g.token_ids) for g in gens))


def _lora_train_rate(hf: Any, pairs: list[tuple[list[int], list[int]]]) -> float | None:
    """Tokens/s of a LoRA training step (forward, backward, AdamW) on a copy of the model, as the trainers run it:
    rank 16 on every linear layer, a batch of 8 padded rows. The first step warms up; the second is timed."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    rows = [a + b for a, b in pairs]
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
    student: Any = get_peft_model(copy.deepcopy(hf), config)
    student.train()
    optim = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-4)
    seconds = 0.0
    with torch.enable_grad():
        for _ in range(2):
            t0 = time.perf_counter()
            student(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - t0
    del student, optim
    return int(mask.sum()) / seconds if seconds > 0 else None


#: Seconds a trainer spends outside its steps (set-up, tokenising the dataset, saving), per training run.
TRAIN_RUN_OVERHEAD_S = 8.0


def _small_batch_seconds(w: ModelWork, tp: Throughput) -> float:
    """Small-batch decoding steps, a step's cost taken as linear in its batch between the one-row and SMALL_BATCH
    latencies."""
    one = tp.step1_s or tp.step_s
    per_row = max(0.0, tp.step_s - one) / (SMALL_BATCH - 1)
    return w.decode_steps * one + max(0, w.decode_step_rows - w.decode_steps) * per_row


def estimate_seconds(work: Work, rates: dict[str, Throughput]) -> float:
    total = 0.0
    for name, w in work.per_model.items():
        tp = rates[name]
        total += tp.load_s
        total += w.prompt_tokens / tp.prefill + w.new_tokens / tp.decode + _small_batch_seconds(w, tp)
        total += w.forward_tokens / tp.forward + w.train_tokens / tp.train
        total += w.scored_tokens / tp.project if tp.project > 0 else 0.0
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
