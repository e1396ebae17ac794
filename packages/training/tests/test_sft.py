"""The sft trainer on a tiny random Llama (seconds), and once on the embedded SmolLM2 (slow)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from reflectlab.core.errors import UserError
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.registry import trainers
from reflectlab.training import SFTSettings, TrainResult, train_sft
from reflectlab.training.result import RECORD_FILE
from reflectlab.training.sft import SFT

Chats = list[list[dict[str, str]]]
# Learning rates high enough for a random 64-wide model to memorise 16 answers in a few epochs.
LORA = SFTSettings(epochs=8, learning_rate=1e-2, seed=3)
FULL = SFTSettings(lora=False, epochs=5, learning_rate=1e-3, seed=3)


@dataclass
class Recorder:
    """Collects what ``log_metrics(metrics, step)`` receives."""

    calls: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append((step, dict(metrics)))


@dataclass
class Trained:
    result: TrainResult
    recorder: Recorder
    base_scores: list[float]
    base_digest: str


def _targets(chats: Chats) -> tuple[list[str], list[list[dict[str, str]]]]:
    return [c[-1]["content"] for c in chats], [c[:-1] for c in chats]


def _target_logprobs(spec: ModelSpec, chats: Chats) -> list[float]:
    targets, contexts = _targets(chats)
    return [s.sum_logprob for s in load_model(spec).score(targets, contexts)]


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def _train(base: ModelSpec, chats: Chats, settings: SFTSettings, out: Path) -> Trained:
    before = _target_logprobs(base, chats)
    digest = _digest(Path(base.name))
    recorder = Recorder()
    result = train_sft(base, chats, settings, out, recorder)
    return Trained(result, recorder, before, digest)


@pytest.fixture(scope="module")
def lora(tiny_dir: Path, chats: Chats, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return _train(ModelSpec(name=str(tiny_dir)), chats, LORA, tmp_path_factory.mktemp("lora") / "adapter")


@pytest.fixture(scope="module")
def full(tiny_dir: Path, chats: Chats, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return _train(ModelSpec(name=str(tiny_dir)), chats, FULL, tmp_path_factory.mktemp("full") / "weights")


def _assert_learned(trained: Trained, chats: Chats) -> None:
    losses = [loss for _, loss in trained.result.losses]
    assert len(losses) == trained.result.steps
    assert sum(losses[-2:]) / 2 < losses[0] - 0.3
    after = _target_logprobs(trained.result.spec, chats)
    assert sum(after) > sum(trained.base_scores) + 50  # nats over 16 targets
    assert sum(a > b for a, b in zip(after, trained.base_scores, strict=True)) >= 14


def _assert_base_unchanged(trained: Trained, chats: Chats, base_dir: Path) -> None:
    assert _digest(base_dir) == trained.base_digest
    assert _target_logprobs(ModelSpec(name=str(base_dir)), chats) == trained.base_scores


def test_lora_memorises_and_leaves_the_base_alone(lora: Trained, chats: Chats, tiny_dir: Path) -> None:
    result = lora.result
    assert result.method == "lora" and not result.reused
    assert result.spec == ModelSpec(name=str(tiny_dir), adapter=str(result.out_dir))
    assert (result.out_dir / "adapter_config.json").is_file()
    assert result.steps == 16 and result.n_examples == 16  # 8 epochs of 2 batches of 8
    _assert_learned(lora, chats)
    _assert_base_unchanged(lora, chats, tiny_dir)


def test_adapter_loads_with_plain_peft(lora: Trained, tiny_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = json.loads((lora.result.out_dir / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 32
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), lora.result.out_dir).eval()
    handle = load_model(lora.result.spec)
    ids = torch.tensor([handle.encode([{"role": "user", "content": "Say number 3"}])])
    with torch.no_grad():
        expected = plain(input_ids=ids).logits
        got = handle.hf_model(input_ids=ids).logits  # type: ignore[attr-defined]
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_step_metrics_reach_the_callback(lora: Trained) -> None:
    steps = [step for step, _ in lora.recorder.calls]
    assert steps == list(range(1, lora.result.steps + 1))
    for step, metrics in lora.recorder.calls:
        assert {"train/loss", "train/learning_rate", "train/grad_norm"} <= set(metrics)
        assert (step, metrics["train/loss"]) in lora.result.losses


def test_same_seed_same_adapter_other_seed_differs(lora: Trained, tiny_dir: Path, chats: Chats, tmp_path: Path) -> None:
    base = ModelSpec(name=str(tiny_dir))
    again = train_sft(base, chats, LORA, tmp_path / "again")
    other = train_sft(base, chats, SFTSettings(epochs=8, learning_rate=1e-2, seed=4), tmp_path / "other")
    first = load_file(lora.result.out_dir / "adapter_model.safetensors")
    second = load_file(again.out_dir / "adapter_model.safetensors")
    third = load_file(other.out_dir / "adapter_model.safetensors")
    assert first.keys() == second.keys() and first
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert again.losses == lora.result.losses
    assert not all(torch.equal(first[k], third[k]) for k in first)


def test_a_finished_run_is_reused(lora: Trained, tiny_dir: Path, chats: Chats) -> None:
    recorder = Recorder()
    again = train_sft(ModelSpec(name=str(tiny_dir)), chats, LORA, lora.result.out_dir, recorder)
    assert again.reused and not recorder.calls
    assert again.spec == lora.result.spec and again.losses == lora.result.losses
    changed = train_sft(ModelSpec(name=str(tiny_dir)), chats[:8], LORA, lora.result.out_dir.parent / "changed")
    assert not changed.reused


def test_full_finetuning(full: Trained, chats: Chats, tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    result = full.result
    assert result.method == "full"
    assert result.spec.name == str(result.out_dir) and result.spec.adapter is None
    assert (result.out_dir / "model.safetensors").is_file() and (result.out_dir / "tokenizer.json").is_file()
    AutoModelForCausalLM.from_pretrained(result.out_dir)  # a plain transformers folder
    _assert_learned(full, chats)
    _assert_base_unchanged(full, chats, tiny_dir)


def test_lora_continues_the_adapter_of_its_base(lora: Trained, chats: Chats, tmp_path: Path) -> None:
    more = train_sft(lora.result.spec, chats, SFTSettings(epochs=2, learning_rate=1e-3, lora_r=4), tmp_path / "more")
    assert more.spec.name == lora.result.spec.name and more.spec.adapter == str(more.out_dir)
    assert json.loads((more.out_dir / "adapter_config.json").read_text())["r"] == 16  # the adapter's own rank
    # It starts where the first run ended (a fresh adapter would start near ln(vocab) = 6) and goes on learning.
    assert abs(more.losses[0][1] - lora.result.losses[-1][1]) < 0.1
    assert sum(_target_logprobs(more.spec, chats)) > sum(_target_logprobs(lora.result.spec, chats))


def test_prompt_completion_pairs_on_a_model_without_chat_template(tiny_base_dir: Path, tmp_path: Path) -> None:
    pairs = [{"prompt": f"Say number {i}", "completion": f"The answer is {i * 7 % 10}."} for i in range(8)]
    base = ModelSpec(name=str(tiny_base_dir))
    targets = [p["completion"] for p in pairs]
    contexts = [p["prompt"] for p in pairs]
    before = load_model(base).score(targets, contexts)
    result = train_sft(base, pairs, {"epochs": 6, "learning_rate": 1e-2, "batch_size": 4}, tmp_path / "pairs")
    after = load_model(result.spec).score(targets, contexts)
    assert sum(s.sum_logprob for s in after) > sum(s.sum_logprob for s in before) + 10


def test_registered_as_the_sft_trainer() -> None:
    assert isinstance(trainers.get("sft"), SFT)
    assert trainers.source("sft") == "reflectlab-training"


@pytest.mark.parametrize(
    "examples",
    [
        [[{"role": "user", "content": "hi"}]],  # no assistant target
        [[{"role": "assistant", "content": "hi"}]],  # no context
        [{"prompt": "hi"}],
        [[{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]],
        [],
    ],
)
def test_malformed_examples_are_user_errors(examples: list[Any], tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError):
        train_sft(ModelSpec(name=str(tiny_dir)), examples, None, tmp_path / "out")


def test_settings_errors(tiny_dir: Path, chats: Chats, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"lora_rank.*allowed: lora, lora_r"):
        SFTSettings.from_mapping({"lora_rank": 8})
    with pytest.raises(UserError, match="batch_size"):
        SFTSettings(batch_size=0)
    assert SFTSettings(target_modules="q_proj, v_proj").lora_targets() == ["q_proj", "v_proj"]
    assert SFTSettings(lora=False).effective_learning_rate == 2e-5
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a training output"):
        train_sft(ModelSpec(name=str(tiny_dir)), chats, None, foreign)


def test_gguf_only_folder_is_refused(tiny_dir: Path, chats: Chats, tmp_path: Path) -> None:
    folder = tmp_path / "gguf"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_dir / "config.json").read_text())
    (folder / "model.gguf").write_bytes(b"GGUF")
    with pytest.raises(UserError, match="GGUF"):
        train_sft(ModelSpec(name=str(folder)), chats, None, tmp_path / "out")


@pytest.mark.slow
def test_lora_on_the_embedded_model_from_its_safetensors_cache(chats: Chats, tmp_path: Path) -> None:
    from reflectlab.core.models.embedded import EMBEDDED
    from reflectlab.training.sft import base_weights

    embedded = EMBEDDED["smollm2-135m-instruct"]
    if not (embedded.cached() or embedded.installed()):
        pytest.skip(f"embedded model not installed: {embedded.install_line}")
    base = ModelSpec(name=embedded.name)
    assert base_weights(base) == embedded.materialize()  # the local safetensors cache, not the GGUF
    recorder = Recorder()
    result = train_sft(base, chats, SFTSettings(max_steps=2), tmp_path / "smol", recorder)
    assert result.steps == 2 and [s for s, _ in recorder.calls] == [1, 2]
    assert all(loss == loss and loss > 0 for _, loss in result.losses)
    assert json.loads((result.out_dir / RECORD_FILE).read_text())["base"]["name"] == embedded.name
    targets, contexts = _targets(chats[:2])
    trained = load_model(result.spec).score(targets, contexts)
    original = load_model(base).score(targets, contexts)
    assert [s.token_ids for s in trained] == [s.token_ids for s in original]
    assert [s.logprobs for s in trained] != [s.logprobs for s in original]
