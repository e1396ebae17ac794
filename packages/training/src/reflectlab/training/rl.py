"""Reinforcement learning on a reward: online GRPO through TRL's ``GRPOTrainer`` (trainer ``rl``), and a
group-normalised policy gradient on completions scored in advance (trainer ``rl-scored``).

``train_rl`` samples ``num_generations`` completions per prompt with the model being trained, scores them with the
caller's reward function and takes one GRPO step per ``prompts_per_step`` prompts. It runs on a CPU (no vLLM, no
bf16/fp16, gradient checkpointing off, since a small model on a CPU is limited by compute, not memory).

``train_on_scored`` is for loops whose reward cannot be computed inside TRL's step: a reward that needs the model
itself (a self-judge) or two attempts in a row. The caller samples the completions and scores them beforehand; each
group's rewards become advantages ``(r - mean) / std`` within the group (zero when all rewards are equal), and one
pass of ``-advantage * log p(completion)`` (token-averaged over the step's completions) updates the policy. The
completions were sampled from the model being trained, so the pass is on-policy and needs no ratio clipping.

Both write the output folder atomically with the record of :mod:`reflectlab.training.result`, and return a finished
run with the same inputs instead of training again (``reward_key`` names the reward function of ``train_rl``,
which cannot be fingerprinted from code). Both continue a LoRA adapter on the base spec as the ``sft`` trainer does.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from reflectlab.core.cache import content_key
from reflectlab.core.contracts import Trainer
from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec
from reflectlab.training.result import (
    RECORD_FILE,
    MetricsSink,
    TrainResult,
    read_finished,
    trained_spec,
    write_record,
)
from reflectlab.training.sft import _metrics_callback, _versions, base_weights

__all__ = ["RLSettings", "RewardFn", "ScoredGroup", "train_on_scored", "train_rl"]

Chat = list[dict[str, str]]
#: (chats, completion texts) -> one reward per completion; ``chats[i]`` is the prompt ``texts[i]`` answers.
RewardFn = Callable[[list[list[dict[str, str]]], list[str]], list[float]]


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


@dataclass
class ScoredGroup:
    """One prompt, completions sampled from the model beforehand, and one reward per completion."""

    chat: list[dict[str, str]]
    completions: list[str]
    rewards: list[float]

    def __post_init__(self) -> None:
        if len(self.completions) != len(self.rewards) or not self.completions:
            raise UserError(
                f"a scored group needs one reward per completion, got {len(self.completions)} completions and "
                f"{len(self.rewards)} rewards"
            )
        if any(not math.isfinite(r) for r in self.rewards):
            raise UserError("scored group rewards must be finite numbers")


# ----------------------------------------------------------------------------- shared plumbing
def _prepare_out(out_dir: Path) -> Path:
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not (out / RECORD_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not a training output; give an empty or new folder")
    return out


def _chat_rows(prompts: Sequence[Sequence[Any]]) -> list[Chat]:
    rows: list[Chat] = []
    for i, chat in enumerate(prompts):
        if isinstance(chat, str) or not chat:
            raise UserError(f"prompt {i}: expected a non-empty list of messages")
        msgs = []
        for m in chat:
            if (
                not isinstance(m, dict)
                or not isinstance(m.get("content"), str)
                or m.get("role")
                not in (
                    "system",
                    "user",
                    "assistant",
                )
            ):
                raise UserError(f"prompt {i}: each message needs a role (system/user/assistant) and string content")
            msgs.append({"role": str(m["role"]), "content": str(m["content"])})
        rows.append(msgs)
    if not rows:
        raise UserError("no prompts to train on")
    return rows


def _load_policy(folder: Path, base: ModelSpec, settings: RLSettings) -> tuple[Any, Any]:
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


def _finish(
    partial: Path, out: Path, key: str, base: ModelSpec, result: TrainResult, trainer: str, settings: RLSettings
) -> TrainResult:
    extra = {"trainer": trainer, "settings": asdict(settings), "versions": _versions()}
    write_record(partial, key, base, result, extra)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)  # atomic: an interrupted run never leaves a half-written model behind
    return result


def _renderer(base: ModelSpec, folder: Path) -> Any:
    from reflectlab.core.models.hf import HFModel

    # The tokenizer and prompt rendering of the Model handle, so training sees what Model.generate sees.
    return HFModel(replace(base, backend="hf", adapter=None), str(folder))


# ----------------------------------------------------------------------------- online GRPO (TRL)
def _grpo_config(settings: RLSettings, base: ModelSpec, scratch: Path) -> Any:
    from dataclasses import fields

    from trl import GRPOConfig

    names = {f.name for f in fields(GRPOConfig)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    batch = settings.num_generations * settings.prompts_per_step
    renamed: dict[str, Any] = {checkpointing: False}
    return GRPOConfig(
        output_dir=str(scratch),
        max_steps=settings.steps,
        per_device_train_batch_size=batch,  # one generation batch per optimizer step
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        use_vllm=False,
        bf16=False,
        fp16=False,
        use_cpu=base.device == "cpu",
        **renamed,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        push_to_hub=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,
        log_level="warning",
    )


def train_rl(
    base: ModelSpec,
    prompts: Sequence[list[dict[str, str]]],
    reward: RewardFn,
    settings: RLSettings,
    out_dir: Path,
    log_metrics: MetricsSink | None = None,
    reuse: bool = True,
    reward_key: str = "",
) -> TrainResult:
    """Online GRPO through TRL's GRPOTrainer (use_cpu, no vllm, no bf16/fp16, gradient checkpointing off).
    `reward_key` names the reward function so a finished run (same base, prompts, settings, reward_key) is reused.

    ``reward(chats, texts)`` gets the prompt chat of every sampled completion and the completion's text, and
    returns one float per completion. ``log_metrics(metrics, step)`` receives TRL's step logs as ``train/<name>``
    (``train/reward``, ``train/reward_std``, ...). Returns a :class:`TrainResult` whose ``spec`` loads the policy.
    """
    if not isinstance(settings, RLSettings):
        raise UserError(f"rl settings must be RLSettings, got {type(settings).__name__}")
    rows = _chat_rows(prompts)
    folder = base_weights(base)
    out = _prepare_out(out_dir)
    from reflectlab.core.models.loader import fingerprint

    key = content_key(
        "rl", fingerprint(base, str(folder)), base.device, asdict(settings), rows, reward_key, _versions()
    )
    if reuse:
        finished = read_finished(out, key, base)
        if finished is not None:
            return finished

    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    disable_progress_bar()
    renderer = _renderer(base, folder)
    templated = renderer.has_chat_template
    # Without a chat template the prompt goes to TRL as text rendered in the Model handle's plain dialogue format.
    data = [{"prompt": r if templated else renderer.render(r)[0], "row": i} for i, r in enumerate(rows)]

    def reward_func(prompts: list[Any], completions: list[Any], row: list[int], **_: Any) -> list[float | None]:
        texts = [c[0]["content"] if isinstance(c, list) else str(c) for c in completions]
        values: list[float | None] = [float(v) for v in reward([rows[i] for i in row], texts)]
        if len(values) != len(texts):
            raise UserError(f"the reward function returned {len(values)} rewards for {len(texts)} completions")
        return values

    reward_func.__name__ = reward_key or "reward"
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        losses: list[tuple[int, float]] = []
        model, peft_config = _load_policy(folder, base, settings)
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward_func,
            args=_grpo_config(settings, base, partial / "_trainer"),
            train_dataset=Dataset.from_list(data),
            processing_class=renderer.tokenizer,
            peft_config=peft_config,
            callbacks=[_metrics_callback(log_metrics, losses)],
        )
        for quiet in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(quiet)
        started = time.perf_counter()
        output = trainer.train()
        runtime = time.perf_counter() - started
        trained: Any = trainer.model
        trained.save_pretrained(partial)
        if settings.method == "full":
            renderer.tokenizer.save_pretrained(partial)
        shutil.rmtree(partial / "_trainer", ignore_errors=True)
        result = TrainResult(
            spec=trained_spec(base, out, settings.method),
            out_dir=out,
            method=settings.method,
            steps=int(output.global_step),
            train_loss=float(output.training_loss),
            losses=losses,
            n_examples=len(rows),
            runtime_s=runtime,
        )
        return _finish(partial, out, key, base, result, "rl", settings)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


# ----------------------------------------------------------------------------- policy gradient on fixed scores
def group_advantages(rewards: Sequence[float]) -> list[float]:
    """GRPO's advantage: the reward minus the group mean, over the group's standard deviation (0 when flat)."""
    n = len(rewards)
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / n)
    if std < 1e-8:
        return [0.0] * n
    return [(r - mean) / std for r in rewards]


def _completion_ids(renderer: Any, chat: Chat, completion: str) -> tuple[list[int], list[int]]:
    """Prompt ids and completion ids (with the template's end-of-turn tokens, as sampling would have ended)."""
    prompt = renderer.encode(chat)
    full = renderer.encode([*chat, {"role": "assistant", "content": completion}], add_generation_prompt=False)
    if full[: len(prompt)] == prompt and len(full) > len(prompt):
        return prompt, full[len(prompt) :]
    tail = list(renderer.tokenizer(completion, add_special_tokens=False)["input_ids"])
    eos = renderer.tokenizer.eos_token_id
    return prompt, tail + ([eos] if eos is not None else [])


def _policy_step(model: Any, batch: list[tuple[list[int], list[int], float]], pad_id: int) -> float:
    """Backpropagate ``-advantage * log p(completion)``, averaged over the completion tokens of the batch."""
    import torch

    width = max(len(p) + len(c) for p, c, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    weights = torch.zeros((len(batch), width - 1))
    for i, (p, c, adv) in enumerate(batch):
        seq = p + c
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        weights[i, len(p) - 1 : len(seq) - 1] = adv  # position t predicts token t + 1
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    n_tokens = max(1, sum(len(c) for _, c, _ in batch))
    loss = -(weights * logp).sum() / n_tokens
    loss.backward()
    return float(loss.detach())


def _fit_scored(
    model: Any, batches: list[list[tuple[list[int], list[int], float]]], settings: RLSettings, pad_id: int,
    sink: MetricsSink | None, rewards: list[list[float]],
) -> list[tuple[int, float]]:  # fmt: skip
    import torch

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    losses: list[tuple[int, float]] = []
    for step, (batch, step_rewards) in enumerate(zip(batches, rewards, strict=True), start=1):
        optimizer.zero_grad(set_to_none=True)
        loss = _policy_step(model, batch, pad_id) if any(a != 0.0 for _, _, a in batch) else 0.0
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0)) if loss != 0.0 else 0.0
        if loss != 0.0:
            optimizer.step()
        losses.append((step, loss))
        if sink is not None:
            mean_reward = sum(step_rewards) / len(step_rewards)
            sink({"train/loss": loss, "train/reward": mean_reward, "train/grad_norm": grad_norm}, step)
    model.eval()
    return losses


def train_on_scored(
    base: ModelSpec,
    groups: Sequence[ScoredGroup],
    settings: RLSettings,
    out_dir: Path,
    log_metrics: MetricsSink | None = None,
    reuse: bool = True,
) -> TrainResult:
    """Group-normalised policy gradient (GRPO advantage, one on-policy pass, no clipping needed) on completions and
    rewards fixed in advance: for loops whose reward needs the model itself (a self-judge) or two attempts.

    Groups are shuffled with ``settings.seed`` and taken ``prompts_per_step`` at a time, one optimizer step each, for
    at most ``settings.steps`` steps (groups beyond that are not used). A group whose rewards are all equal carries
    no signal (advantage 0). ``num_generations``, ``temperature``, ``max_completion_length`` and ``beta`` are the
    caller's sampling settings and do not enter the update.
    """
    if not isinstance(settings, RLSettings):
        raise UserError(f"rl settings must be RLSettings, got {type(settings).__name__}")
    if not groups:
        raise UserError("no scored groups to train on")
    rows = _chat_rows([g.chat for g in groups])
    folder = base_weights(base)
    out = _prepare_out(out_dir)
    from reflectlab.core.models.loader import fingerprint

    record = [[r, g.completions, g.rewards] for r, g in zip(rows, groups, strict=True)]
    key = content_key("rl-scored", fingerprint(base, str(folder)), base.device, asdict(settings), record, _versions())
    if reuse:
        finished = read_finished(out, key, base)
        if finished is not None:
            return finished

    import torch

    torch.manual_seed(settings.seed)
    renderer = _renderer(base, folder)
    order = list(range(len(groups)))
    random.Random(settings.seed).shuffle(order)
    order = order[: settings.steps * settings.prompts_per_step]
    batches: list[list[tuple[list[int], list[int], float]]] = []
    step_rewards: list[list[float]] = []
    for start in range(0, len(order), settings.prompts_per_step):
        batch, rewards = [], []
        for g in order[start : start + settings.prompts_per_step]:
            advantages = group_advantages(groups[g].rewards)
            for text, adv in zip(groups[g].completions, advantages, strict=True):
                prompt_ids, completion_ids = _completion_ids(renderer, rows[g], text)
                batch.append((prompt_ids, completion_ids, adv))
            rewards += groups[g].rewards
        batches.append(batch)
        step_rewards.append(rewards)

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        model, peft_config = _load_policy(folder, base, settings)
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        pad = renderer.tokenizer.pad_token_id
        started = time.perf_counter()
        losses = _fit_scored(model, batches, settings, int(pad if pad is not None else 0), log_metrics, step_rewards)
        runtime = time.perf_counter() - started
        model.save_pretrained(partial)
        if settings.method == "full":
            renderer.tokenizer.save_pretrained(partial)
        result = TrainResult(
            spec=trained_spec(base, out, settings.method),
            out_dir=out,
            method=settings.method,
            steps=len(losses),
            train_loss=sum(v for _, v in losses) / max(1, len(losses)),
            losses=losses,
            n_examples=sum(len(groups[g].completions) for g in order),
            runtime_s=runtime,
        )
        return _finish(partial, out, key, base, result, "rl-scored", settings)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


class RL(Trainer):
    """The ``rl`` trainer (online GRPO): ``train(base, (prompts, reward), settings, out_dir, log_metrics)``
    calls :func:`train_rl`; calling the trainer takes :func:`train_rl`'s own arguments."""

    name = "rl"

    def train(self, base: ModelSpec, data: Any, settings: Any, out_dir: str | Path,
              log_metrics: MetricsSink | None = None, **kwargs: Any) -> TrainResult:  # fmt: skip
        prompts, reward = data
        return train_rl(base, prompts, reward, settings, Path(out_dir), log_metrics, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        return train_rl(*args, **kwargs)


class RLScored(Trainer):
    """The ``rl-scored`` trainer: a policy-gradient pass over completions scored in advance
    (:func:`train_on_scored`)."""

    name = "rl-scored"

    def train(self, base: ModelSpec, data: Any, settings: Any, out_dir: str | Path,
              log_metrics: MetricsSink | None = None, **kwargs: Any) -> TrainResult:  # fmt: skip
        return train_on_scored(base, data, settings, Path(out_dir), log_metrics, **kwargs)
