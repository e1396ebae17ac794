"""Online GRPO through TRL's ``GRPOTrainer``: the ``rl`` trainer.

``train_rl`` samples ``num_generations`` completions per prompt with the model being trained, scores them with the
caller's reward function and takes one GRPO step per ``prompts_per_step`` prompts. It runs on a CPU (no vLLM, no
bf16/fp16, gradient checkpointing off, since a small model on a CPU is limited by compute, not memory). A finished
run with the same inputs is returned instead of training again; ``reward_key`` names the reward function, which
cannot be fingerprinted from code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from reflectlab.core.contracts import Trainer
from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec
from reflectlab.training.result import MetricsSink, TrainResult
from reflectlab.training.rl.common import RLSettings, chat_rows, finish, load_policy, renderer, scratch, start
from reflectlab.training.sft import _metrics_callback

__all__ = ["RL", "RewardFn", "train_rl"]

#: (chats, completion texts) -> one reward per completion; ``chats[i]`` is the prompt ``texts[i]`` answers.
RewardFn = Callable[[list[list[dict[str, str]]], list[str]], list[float]]


def _grpo_config(settings: RLSettings, base: ModelSpec, scratch_dir: Path) -> Any:
    from trl import GRPOConfig

    names = {f.name for f in fields(GRPOConfig)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    batch = settings.num_generations * settings.prompts_per_step
    renamed: dict[str, Any] = {checkpointing: False}
    return GRPOConfig(
        output_dir=str(scratch_dir),
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
    out_dir: str | Path,
    log_metrics: MetricsSink | None = None,
    reuse: bool = True,
    reward_key: str = "",
    *,
    keyed: bool = False,
) -> TrainResult:
    """Online GRPO through TRL's GRPOTrainer (use_cpu, no vllm, no bf16/fp16, gradient checkpointing off).
    `reward_key` names the reward function so a finished run (same base, prompts, settings, reward_key) is reused;
    with ``keyed`` the output goes to the subfolder of ``out_dir`` named by the content key of the inputs.

    ``reward(chats, texts)`` gets the prompt chat of every sampled completion and the completion's text, and
    returns one float per completion. ``log_metrics(metrics, step)`` receives TRL's step logs as ``train/<name>``
    (``train/reward``, ``train/reward_std``, ...). Returns a :class:`TrainResult` whose ``spec`` loads the policy.
    """
    rows = chat_rows(prompts)
    run = start("rl", base, settings, (rows, reward_key), out_dir, keyed=keyed, reuse=reuse)
    if run.finished is not None:
        return run.finished

    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    disable_progress_bar()
    render = renderer(base, run.weights)
    templated = render.has_chat_template
    # Without a chat template the prompt goes to TRL as text rendered in the Model handle's plain dialogue format.
    data = [{"prompt": r if templated else render.render(r)[0], "row": i} for i, r in enumerate(rows)]

    def reward_func(prompts: list[Any], completions: list[Any], row: list[int], **_: Any) -> list[float | None]:
        texts = [c[0]["content"] if isinstance(c, list) else str(c) for c in completions]
        values: list[float | None] = [float(v) for v in reward([rows[i] for i in row], texts)]
        if len(values) != len(texts):
            raise UserError(f"the reward function returned {len(values)} rewards for {len(texts)} completions")
        return values

    reward_func.__name__ = reward_key or "reward"
    with scratch(run.out) as partial:
        losses: list[tuple[int, float]] = []
        model, peft_config = load_policy(run.weights, base, settings)
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward_func,
            args=_grpo_config(settings, base, partial / "_trainer"),
            train_dataset=Dataset.from_list(data),
            processing_class=render.tokenizer,
            peft_config=peft_config,
            callbacks=[_metrics_callback(log_metrics, losses)],
        )
        for quiet in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(quiet)
        started = time.perf_counter()
        output = trainer.train()
        runtime = time.perf_counter() - started
        return finish(
            trainer.model, render.tokenizer, partial, run, base, settings, "rl",
            steps=int(output.global_step), train_loss=float(output.training_loss), losses=losses,
            n_examples=len(rows), runtime_s=runtime,
        )  # fmt: skip


class RL(Trainer):
    """The ``rl`` trainer (online GRPO): ``train(base, (prompts, reward), settings, out_dir, log_metrics)``
    calls :func:`train_rl`; calling the trainer takes :func:`train_rl`'s own arguments."""

    name = "rl"

    def train(
        self,
        base: ModelSpec,
        data: Any,
        settings: Any,
        out_dir: str | Path,
        log_metrics: MetricsSink | None = None,
        **kwargs: Any,
    ) -> TrainResult:
        prompts, reward = data
        return train_rl(base, prompts, reward, settings, out_dir, log_metrics, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        return train_rl(*args, **kwargs)
