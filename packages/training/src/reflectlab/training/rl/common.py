"""What the ``rl`` and ``rl-scored`` trainers share: their settings, the checks on their prompts, the policy they
train (a LoRA adapter, continued when the base spec has one, or all weights), and the start and finish of a run:
the content key of its inputs, reuse of a finished run, and the output folder written atomically with its record."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from reflectlab.core.cache import content_key
from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec
from reflectlab.training.result import TrainResult, output_folder, read_finished, trained_spec, write_record
from reflectlab.training.sft import _versions, base_weights, save_trained

__all__ = ["Chat", "RLSettings", "Start", "chat_rows", "finish", "load_policy", "renderer", "scratch", "start"]

Chat = list[dict[str, str]]


@dataclass
class RLSettings:
    """How to train on rewards; the defaults suit the embedded model on 2 CPU cores."""

    steps: int = field(default=20, metadata={"help": "Optimizer steps (rl-scored: at most; one pass over groups)."})
    learning_rate: float = field(default=1e-5, metadata={"help": "Constant learning rate (AdamW)."})
    num_generations: int = field(default=4, metadata={"help": "Completions per prompt (a GRPO group)."})
    prompts_per_step: int = field(default=2, metadata={"help": "Prompts (groups) per optimizer step."})
    max_completion_length: int = field(default=48, metadata={"help": "New tokens per sampled completion."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the rollouts."})
    beta: float = field(default=0.0, metadata={"help": "KL penalty to the reference model; 0 = none (rl only)."})
    method: Literal["lora", "full"] = field(default="lora", metadata={"help": "Train a LoRA adapter, or all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (alpha = 2r, every linear layer)."})
    seed: int = field(default=0, metadata={"help": "Seeds the adapter initialisation, prompt order and sampling."})

    def __post_init__(self) -> None:
        for name in ("steps", "num_generations", "prompts_per_step", "max_completion_length", "lora_r"):
            if getattr(self, name) < 1:
                raise UserError(f"rl setting {name} must be at least 1, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise UserError("rl setting num_generations must be at least 2 (a group needs a comparison)")
        if self.learning_rate <= 0 or self.temperature <= 0 or self.beta < 0:
            raise UserError("rl settings: learning_rate and temperature must be positive, beta non-negative")
        if self.method not in ("lora", "full"):
            raise UserError(f"rl setting method must be 'lora' or 'full', got {self.method!r}")


def chat_rows(prompts: Sequence[Sequence[Any]]) -> list[Chat]:
    """The prompts as chats of plain role/content messages; anything else is a :class:`UserError`."""
    rows: list[Chat] = []
    for i, chat in enumerate(prompts):
        if isinstance(chat, str) or not chat:
            raise UserError(f"prompt {i}: expected a non-empty list of messages")
        msgs = []
        for m in chat:
            if (
                not isinstance(m, dict)
                or not isinstance(m.get("content"), str)
                or m.get("role") not in ("system", "user", "assistant")
            ):
                raise UserError(f"prompt {i}: each message needs a role (system/user/assistant) and string content")
            msgs.append({"role": str(m["role"]), "content": str(m["content"])})
        rows.append(msgs)
    if not rows:
        raise UserError("no prompts to train on")
    return rows


@dataclass
class Start:
    """A run about to train: the base weights' folder, the content key of the inputs and the output folder; or,
    with ``finished``, the result of an earlier run with the same inputs."""

    weights: Path
    key: str
    out: Path
    finished: TrainResult | None


def start(
    trainer: str,
    base: ModelSpec,
    settings: Any,
    inputs: Sequence[Any],
    out_dir: str | Path,
    *,
    keyed: bool,
    reuse: bool,
) -> Start:
    """Check the settings, key the run by everything that decides its result (``inputs`` are the trainer's data),
    choose the output folder (with ``keyed``, the key's subfolder of ``out_dir``) and find a finished run there."""
    if not isinstance(settings, RLSettings):
        raise UserError(f"rl settings must be RLSettings, got {type(settings).__name__}")
    from reflectlab.core.models.loader import fingerprint

    weights = base_weights(base)
    key = content_key(trainer, fingerprint(base, str(weights)), base.device, asdict(settings), *inputs, _versions())
    out = output_folder(out_dir, key, keyed=keyed)
    return Start(weights, key, out, read_finished(out, key, base) if reuse else None)


def load_policy(folder: Path, base: ModelSpec, settings: RLSettings) -> tuple[Any, Any]:
    """The model to train and the LoRA config to wrap it with (None when it is already a PEFT model or full FT)."""
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    if base.adapter:
        if settings.method == "lora":
            return PeftModel.from_pretrained(model, base.adapter, is_trainable=True), None
        model = PeftModel.from_pretrained(model, base.adapter).merge_and_unload()
    if settings.method == "full":
        return model, None
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=2 * settings.lora_r,
        lora_dropout=0.0,
        target_modules="all-linear",
        bias="none",
        task_type="CAUSAL_LM",
    )
    return model, config


def renderer(base: ModelSpec, folder: Path) -> Any:
    """The tokenizer and prompt rendering of the Model handle, so training sees what ``Model.generate`` sees."""
    from reflectlab.core.models.hf import HFModel

    return HFModel(replace(base, backend="hf", adapter=None), str(folder))


@contextmanager
def scratch(out: Path) -> Iterator[Path]:
    """A fresh ``<out>.partial`` folder to write the run into, removed when the run fails."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def finish(
    policy: Any, tokenizer: Any, partial: Path, run: Start, base: ModelSpec, settings: RLSettings, trainer: str, *,
    steps: int, train_loss: float, losses: list[tuple[int, float]], n_examples: int, runtime_s: float,
) -> TrainResult:  # fmt: skip
    """Save the trained policy (and, for full training, the tokenizer) with the run's record into ``partial``, then
    move it to the output folder in one rename, so an interrupted run never leaves a half-written model behind."""
    save_trained(policy, partial, base)
    if settings.method == "full":
        tokenizer.save_pretrained(partial)
    shutil.rmtree(partial / "_trainer", ignore_errors=True)
    result = TrainResult(
        spec=trained_spec(base, run.out, settings.method),
        out_dir=run.out,
        method=settings.method,
        steps=steps,
        train_loss=train_loss,
        losses=losses,
        n_examples=n_examples,
        runtime_s=runtime_s,
    )
    extra = {"trainer": trainer, "settings": asdict(settings), "versions": _versions()}
    write_record(partial, run.key, base, result, extra)
    shutil.rmtree(run.out, ignore_errors=True)
    partial.rename(run.out)
    return result
