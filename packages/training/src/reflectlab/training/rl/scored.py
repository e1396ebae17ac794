"""A group-normalised policy gradient on completions scored in advance: the ``rl-scored`` trainer.

``train_on_scored`` is for loops whose reward cannot be computed inside TRL's step: a reward that needs the model
itself (a self-judge) or two attempts in a row. The caller samples the completions and scores them beforehand; each
group's rewards become advantages ``(r - mean) / std`` within the group (zero when all rewards are equal), and one
pass of ``-advantage * log p(completion)`` (token-averaged over the step's completions) updates the policy. The
completions were sampled from the model being trained, so the pass is on-policy and needs no ratio clipping.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reflectlab.core import progress
from reflectlab.core.contracts import Trainer
from reflectlab.core.errors import UserError
from reflectlab.core.models.batching import pad_batch
from reflectlab.core.models.spec import ModelSpec
from reflectlab.training.result import MetricsSink, TrainResult
from reflectlab.training.rl.common import Chat, RLSettings, chat_rows, finish, load_policy, renderer, scratch, start

__all__ = ["RLScored", "ScoredGroup", "group_advantages", "train_on_scored"]

#: One completion to learn from: prompt token ids, completion token ids and its advantage.
Sample = tuple[list[int], list[int], float]


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


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """GRPO's advantage: the reward minus the group mean, over the group's standard deviation (0 when flat)."""
    n = len(rewards)
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / n)
    if std < 1e-8:
        return [0.0] * n
    return [(r - mean) / std for r in rewards]


def _completion_ids(render: Any, chat: Chat, completion: str) -> tuple[list[int], list[int]]:
    """Prompt ids and completion ids (with the template's end-of-turn tokens, as sampling would have ended)."""
    prompt = render.encode(chat)
    full = render.encode([*chat, {"role": "assistant", "content": completion}], add_generation_prompt=False)
    if full[: len(prompt)] == prompt and len(full) > len(prompt):
        return prompt, full[len(prompt) :]
    tail = list(render.tokenizer(completion, add_special_tokens=False)["input_ids"])
    eos = render.tokenizer.eos_token_id
    return prompt, tail + ([eos] if eos is not None else [])


def _policy_step(model: Any, batch: list[Sample], pad_id: int) -> float:
    """Backpropagate ``-advantage * log p(completion)``, averaged over the completion tokens of the batch."""
    import torch

    ids, mask = pad_batch([p + c for p, c, _ in batch], pad_id)
    weights = torch.zeros((len(batch), ids.shape[1] - 1))
    for i, (p, c, adv) in enumerate(batch):
        weights[i, len(p) - 1 : len(p) + len(c) - 1] = adv  # position t predicts token t + 1
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    n_tokens = max(1, sum(len(c) for _, c, _ in batch))
    loss = -(weights * logp).sum() / n_tokens
    loss.backward()
    return float(loss.detach())


def _fit_scored(
    model: Any, batches: list[list[Sample]], settings: RLSettings, pad_id: int, sink: MetricsSink | None,
    rewards: list[list[float]],
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
        progress.advance(steps=1)  # the study's progress line counts optimizer steps
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
    out_dir: str | Path,
    log_metrics: MetricsSink | None = None,
    reuse: bool = True,
    *,
    keyed: bool = False,
) -> TrainResult:
    """Group-normalised policy gradient (GRPO advantage, one on-policy pass, no clipping needed) on completions and
    rewards fixed in advance: for loops whose reward needs the model itself (a self-judge) or two attempts.

    Groups are shuffled with ``settings.seed`` and taken ``prompts_per_step`` at a time, one optimizer step each, for
    at most ``settings.steps`` steps (groups beyond that are not used). A group whose rewards are all equal carries
    no signal (advantage 0). ``num_generations``, ``temperature``, ``max_completion_length`` and ``beta`` are the
    caller's sampling settings and do not enter the update. With ``keyed`` the output goes to the subfolder of
    ``out_dir`` named by the content key of the inputs; a finished run with the same inputs is returned as is.
    """
    if not isinstance(settings, RLSettings):
        raise UserError(f"rl settings must be RLSettings, got {type(settings).__name__}")
    if not groups:
        raise UserError("no scored groups to train on")
    rows = chat_rows([g.chat for g in groups])
    record = [[r, g.completions, g.rewards] for r, g in zip(rows, groups, strict=True)]
    run = start("rl-scored", base, settings, (record,), out_dir, keyed=keyed, reuse=reuse)
    if run.finished is not None:
        return run.finished

    import torch

    torch.manual_seed(settings.seed)
    render = renderer(base, run.weights)
    order = list(range(len(groups)))
    random.Random(settings.seed).shuffle(order)
    order = order[: settings.steps * settings.prompts_per_step]
    batches: list[list[Sample]] = []
    step_rewards: list[list[float]] = []
    for first in range(0, len(order), settings.prompts_per_step):
        batch: list[Sample] = []
        rewards: list[float] = []
        for g in order[first : first + settings.prompts_per_step]:
            advantages = group_advantages(groups[g].rewards)
            for text, adv in zip(groups[g].completions, advantages, strict=True):
                prompt_ids, completion_ids = _completion_ids(render, rows[g], text)
                batch.append((prompt_ids, completion_ids, adv))
            rewards += groups[g].rewards
        batches.append(batch)
        step_rewards.append(rewards)

    with scratch(run.out) as partial:
        model, peft_config = load_policy(run.weights, base, settings)
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        pad = render.tokenizer.pad_token_id
        started = time.perf_counter()
        losses = _fit_scored(model, batches, settings, int(pad if pad is not None else 0), log_metrics, step_rewards)
        runtime = time.perf_counter() - started
        return finish(
            model, render.tokenizer, partial, run, base, settings, "rl-scored",
            steps=len(losses), train_loss=sum(v for _, v in losses) / max(1, len(losses)), losses=losses,
            n_examples=sum(len(groups[g].completions) for g in order), runtime_s=runtime,
        )  # fmt: skip


class RLScored(Trainer):
    """The ``rl-scored`` trainer: a policy-gradient pass over completions scored in advance
    (:func:`train_on_scored`)."""

    name = "rl-scored"

    def train(
        self,
        base: ModelSpec,
        data: Any,
        settings: Any,
        out_dir: str | Path,
        log_metrics: MetricsSink | None = None,
        **kwargs: Any,
    ) -> TrainResult:
        return train_on_scored(base, data, settings, out_dir, log_metrics, **kwargs)
