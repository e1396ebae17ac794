"""The rl and rl-scored trainers on a tiny random Llama (seconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from reflectlab.core.errors import UserError
from reflectlab.core.models.base import SamplingParams
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.registry import trainers
from reflectlab.training.result import RECORD_FILE
from reflectlab.training.rl import RL, RLScored, RLSettings, ScoredGroup, group_advantages, train_on_scored, train_rl

PROMPTS = [[{"role": "user", "content": f"Say number {i}"}] for i in range(6)]
GOOD, BAD = "7 7 7 7", "the lazy dog"


def _digit_share(chats: list[list[dict[str, str]]], texts: list[str]) -> list[float]:
    """A dense reward a random model can climb: the share of its characters that are digits."""
    return [sum(ch.isdigit() for ch in t) / max(1, len(t)) for t in texts]


def _sampled_reward(spec: ModelSpec) -> float:
    gens = load_model(spec).generate(PROMPTS, SamplingParams(max_new_tokens=8, temperature=1.0), seed=5)
    texts = [g.text for g in gens]
    return sum(_digit_share(PROMPTS, texts)) / len(texts)


def _logprob(spec: ModelSpec, text: str) -> float:
    return sum(s.sum_logprob for s in load_model(spec).score([text] * 3, [p for p in PROMPTS[:3]]))


def test_grpo_raises_the_reward_and_is_reused(tiny_dir: Path, tmp_path: Path) -> None:
    base = ModelSpec(name=str(tiny_dir))
    settings = RLSettings(steps=12, learning_rate=5e-2, max_completion_length=8, method="full", seed=1)
    logged: list[tuple[int, dict[str, float]]] = []
    result = train_rl(base, PROMPTS, _digit_share, settings, tmp_path / "rl", lambda m, s: logged.append((s, m)),
                      reward_key="digits")  # fmt: skip
    assert result.steps == 12 and result.method == "full" and not result.reused
    assert [s for s, _ in logged] == list(range(1, 13)) and all("train/reward" in m for _, m in logged)
    rewards = [m["train/reward"] for _, m in logged]
    assert sum(rewards[-4:]) / 4 > sum(rewards[:4]) / 4  # the policy learned to emit more digits
    assert _sampled_reward(result.spec) > _sampled_reward(base) + 0.2
    record = json.loads((result.out_dir / RECORD_FILE).read_text())
    assert record["trainer"] == "rl" and record["settings"]["num_generations"] == 4
    again = train_rl(base, PROMPTS, _digit_share, settings, result.out_dir, reward_key="digits")
    assert again.reused and again.losses == result.losses
    other = train_rl(base, PROMPTS, _digit_share, settings, tmp_path / "other", reward_key="another")
    assert not other.reused


def test_scored_groups_move_toward_the_rewarded_completion(tiny_dir: Path, tmp_path: Path) -> None:
    base = ModelSpec(name=str(tiny_dir))
    groups = [ScoredGroup(p, [GOOD, BAD], [1.0, 0.0]) for p in PROMPTS]
    settings = RLSettings(steps=20, learning_rate=1e-2, prompts_per_step=2, lora_r=8)
    result = train_on_scored(base, groups * 3, settings, tmp_path / "scored")
    assert result.steps == 9 and result.n_examples == 36  # 18 groups of 2, 2 groups per step
    assert _logprob(result.spec, GOOD) > _logprob(base, GOOD) + 5
    assert _logprob(result.spec, BAD) < _logprob(base, BAD) - 5
    assert train_on_scored(base, groups * 3, settings, result.out_dir).reused


def test_flat_rewards_teach_nothing(tiny_dir: Path, tmp_path: Path) -> None:
    """No plant: equal rewards give zero advantages, so the LoRA update stays at its zero start."""
    base = ModelSpec(name=str(tiny_dir))
    groups = [ScoredGroup(p, [GOOD, BAD], [0.5, 0.5]) for p in PROMPTS]
    result = train_on_scored(base, groups, RLSettings(learning_rate=1e-2, lora_r=8), tmp_path / "flat", keyed=True)
    assert result.out_dir.parent == (tmp_path / "flat").resolve()  # keyed: the inputs' own subfolder
    weights = load_file(result.out_dir / "adapter_model.safetensors")
    assert all(torch.count_nonzero(w) == 0 for k, w in weights.items() if "lora_B" in k)
    assert _logprob(result.spec, GOOD) == pytest.approx(_logprob(base, GOOD), abs=1e-4)


def test_group_advantages() -> None:
    assert group_advantages([1.0, 0.0]) == [1.0, -1.0]
    assert group_advantages([2.0, 2.0, 2.0]) == [0.0, 0.0, 0.0]
    adv = group_advantages([0.0, 0.0, 0.0, 1.0])
    assert sum(adv) == pytest.approx(0.0) and adv[3] > 0 > adv[0]


def test_registered_as_trainers() -> None:
    assert isinstance(trainers.get("rl"), RL) and isinstance(trainers.get("rl-scored"), RLScored)


def test_bad_input_is_a_user_error(tiny_dir: Path, tmp_path: Path) -> None:
    base = ModelSpec(name=str(tiny_dir))
    with pytest.raises(UserError, match="num_generations"):
        RLSettings(num_generations=1)
    with pytest.raises(UserError, match="one reward per completion"):
        ScoredGroup(PROMPTS[0], [GOOD, BAD], [1.0])
    with pytest.raises(UserError, match="no scored groups"):
        train_on_scored(base, [], RLSettings(), tmp_path / "none")
    with pytest.raises(UserError, match="messages"):
        train_rl(base, ["not a chat"], _digit_share, RLSettings(), tmp_path / "bad")  # type: ignore[list-item]
