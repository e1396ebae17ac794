"""The hf backend against plain transformers on a tiny random Llama."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from reflectlab.core.cache import Cache
from reflectlab.core.models.base import Placement, SamplingParams
from reflectlab.core.models.hf import HFModel
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec

PROMPTS = [
    "The quick brown fox",
    "Write two sentences about the ocean.",
    "one two",
    "Was this answer sampled at a high or a low temperature? Answer with one word",
]


#: The plain transformers model and tokenizer of the tiny model.
Reference = tuple[Any, Any]


def _model(path: Path, cache: Cache | None = None, batch_size: int = 8) -> HFModel:
    model = load_model(ModelSpec(name=str(path), batch_size=batch_size), cache)
    assert isinstance(model, HFModel)
    return model


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> Reference:
    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)


def _hf_greedy(ref: Reference, prompt_ids: list[int], n: int) -> list[int]:
    model, _ = ref
    out = model.generate(
        torch.tensor([prompt_ids]), max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0
    )
    return list(out[0, len(prompt_ids) :].tolist())


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_greedy_matches_plain_transformers(tiny_dir: Path, reference: Reference, batch_size: int) -> None:
    model = _model(tiny_dir, batch_size=batch_size)
    gens = model.generate(PROMPTS, SamplingParams(max_new_tokens=12))
    for prompt, g in zip(PROMPTS, gens, strict=True):
        expected = _hf_greedy(reference, model.encode(prompt), 12)
        n = len(g.token_ids)
        assert g.token_ids == expected[:n]
        assert g.finish_reason == ("length" if n == 12 else "stop")


#: 40 prompts of 1 to 40 words, so batches of 32 mix lengths (left padding) and rows finish at different steps.
MANY = [" ".join(f"word{(i * 7 + k) % 23}" for k in range(1 + i)) for i in range(40)]


@pytest.mark.parametrize("batch_size", [1, 8, 32])
def test_greedy_matches_plain_transformers_on_many_prompts(
    tiny_dir: Path, reference: Reference, batch_size: int
) -> None:
    model = _model(tiny_dir, batch_size=batch_size)
    gens = model.generate(MANY, SamplingParams(max_new_tokens=10))
    for prompt, g in zip(MANY, gens, strict=True):
        assert g.token_ids == _hf_greedy(reference, model.encode(prompt), 10)[: len(g.token_ids)]


def test_logprobs_of_chosen_tokens_match_a_forward_pass(tiny_dir: Path, reference: Reference) -> None:
    model = _model(tiny_dir)
    g = model.generate(PROMPTS[:1], SamplingParams(max_new_tokens=6))[0]
    ids = model.encode(PROMPTS[0]) + g.token_ids
    with torch.no_grad():
        logp = torch.log_softmax(reference[0](torch.tensor([ids])).logits[0].float(), -1)
    start = len(ids) - len(g.token_ids)
    expected = [float(logp[start - 1 + k, t]) for k, t in enumerate(g.token_ids)]
    np.testing.assert_allclose(g.logprobs, expected, atol=1e-4)


def test_sampling_is_seeded_per_row_and_independent_of_batching(tiny_dir: Path) -> None:
    params = SamplingParams(max_new_tokens=10, temperature=1.0)
    a = _model(tiny_dir, batch_size=8).generate(PROMPTS, params, seed=5)
    b = _model(tiny_dir, batch_size=1).generate(PROMPTS, params, seed=5)
    c = _model(tiny_dir, batch_size=8).generate(PROMPTS, params, seed=6)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]


def test_cache_answers_repeats_and_never_crosses_seed_or_temperature(tiny_dir: Path, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    model = _model(tiny_dir, cache)
    hot = SamplingParams(max_new_tokens=8, temperature=1.5)
    first = model.generate(PROMPTS, hot, seed=1)
    work = model.work_tokens
    again = _model(tiny_dir, cache).generate(PROMPTS, hot, seed=1)
    assert [g.to_dict() for g in again] == [g.to_dict() for g in first]
    fresh = _model(tiny_dir, cache)
    other_seed = fresh.generate(PROMPTS, hot, seed=2)
    assert fresh.work_tokens > 0 and work > 0
    assert [g.token_ids for g in other_seed] != [g.token_ids for g in first]
    fresh2 = _model(tiny_dir, cache)
    fresh2.generate(PROMPTS, SamplingParams(max_new_tokens=8, temperature=0.7), seed=1)
    assert fresh2.work_tokens > 0  # another temperature is a miss
    fresh3 = _model(tiny_dir, cache)
    fresh3.generate(PROMPTS, hot, seed=1)
    assert fresh3.work_tokens == 0  # the repeat did no model work


def test_score_matches_a_plain_forward_pass(tiny_dir: Path, reference: Reference) -> None:
    model = _model(tiny_dir, batch_size=2)
    conts = ["high or low", "the moon and the ocean, two sentences", "yes"]
    ctxs = ["Write two sentences about the ocean.", "The quick brown fox", None]
    placements: tuple[Placement, ...] = ("assistant", "user", "raw")
    for placement in placements:
        scored = model.score(conts, ctxs, placement=placement)
        for ctx, cont, s in zip(ctxs, conts, scored, strict=True):
            prefix = model._placement_prefix(ctx, placement)
            cont_ids = model.tokenizer(cont, add_special_tokens=False)["input_ids"]
            ids = prefix + cont_ids
            with torch.no_grad():
                logp = torch.log_softmax(reference[0](torch.tensor([ids])).logits[0].float(), -1)
            start = max(len(prefix), 1)
            exp_lp = [float(logp[j - 1, ids[j]]) for j in range(start, len(ids))]
            exp_ent = [float(-(logp[j - 1].exp() * logp[j - 1]).sum()) for j in range(start, len(ids))]
            assert s.token_ids == ids[start:]
            np.testing.assert_allclose(s.logprobs, exp_lp, atol=1e-4)
            np.testing.assert_allclose(s.entropies, exp_ent, atol=1e-4)


def test_score_in_chunks_matches_one_pass(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of scored positions and blocks of the vocabulary that divide neither the number of positions nor
    the vocabulary give the same numbers as one pass over everything."""
    from reflectlab.core.models import hf

    texts = [" ".join(MANY[i : i + 3]) for i in range(0, 30, 3)]
    whole_model = _model(tiny_dir, batch_size=16)
    whole = whole_model.score(texts, placement="raw")
    vocab = int(whole_model.hf_model.get_output_embeddings().weight.shape[0])
    assert vocab < hf._VOCAB_BLOCK  # so `whole` was one block
    block = vocab // 3 + 1  # three blocks, the last one shorter
    assert vocab % block
    monkeypatch.setattr(hf, "_VOCAB_BLOCK", block)
    monkeypatch.setattr(hf, "_LOGIT_BUDGET", block * 13)  # 13 positions at a time
    chunked = _model(tiny_dir, batch_size=16).score(texts, placement="raw")
    assert sum(len(s.token_ids) for s in whole) > 13 * 3
    for a, b in zip(whole, chunked, strict=True):
        assert a.token_ids == b.token_ids
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)
        np.testing.assert_allclose(a.entropies, b.entropies, atol=1e-5)


def test_score_with_an_adapter_on_the_output_layer(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LoRA on the output layer cannot be projected a vocabulary block at a time from its base weight; the
    scores still include the adapter's share of the logits."""
    from peft import LoraConfig, get_peft_model

    from reflectlab.core.models import hf

    monkeypatch.setattr(hf, "_VOCAB_BLOCK", 64)  # smaller than the tiny vocabulary, as for a real model
    torch.manual_seed(0)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["lm_head"], init_lora_weights=False)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dir), cfg).eval()
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    model = load_model(ModelSpec(name=str(tiny_dir), adapter=str(tmp_path / "adapter")))
    text = " ".join(MANY[12:15])
    scored = model.score([text], placement="raw")[0]
    ids = model._placement_prefix(None, "raw") + model.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert scored.token_ids == ids[1:]
    with torch.no_grad():
        logp = torch.log_softmax(peft_model(torch.tensor([ids])).logits[0].float(), -1)
        base = torch.log_softmax(AutoModelForCausalLM.from_pretrained(tiny_dir)(torch.tensor([ids])).logits[0], -1)
    expected = [float(logp[j - 1, ids[j]]) for j in range(1, len(ids))]
    np.testing.assert_allclose(scored.logprobs, expected, atol=1e-4)
    assert max(abs(float(base[j - 1, ids[j]]) - e) for j, e in zip(range(1, len(ids)), expected, strict=True)) > 1e-2


def test_teacher_forced_passes_split_by_tokens_give_the_one_pass_numbers(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU a batch is teacher-forced in passes of at most ``_CPU_PASS_TOKENS`` padded tokens; scores, next-token
    log-probabilities and hidden states come back in input order, equal to one pass over the batch."""
    from reflectlab.core.models import hf

    texts = [" ".join(MANY[i : i + 1 + i % 5]) for i in range(12)]  # mixed lengths, not sorted
    monkeypatch.setattr(hf, "_CPU_PASS_TOKENS", 10**9)
    one = _model(tiny_dir, batch_size=16)
    whole = (
        one.score(texts, placement="raw"),
        one.next_token_logprobs(texts, ["high", "low"]),
        one.hidden_states(texts, [0, 2], [-1] * len(texts)),
    )
    monkeypatch.setattr(hf, "_CPU_PASS_TOKENS", 24)
    split = _model(tiny_dir, batch_size=16)
    lengths = [len(split.encode(t)) for t in texts]
    passes = split._passes(lengths)
    assert sorted(i for p in passes for i in p) == list(range(len(texts)))
    assert len(passes) > 2
    assert all(len(p) == 1 or len(p) * max(lengths[i] for i in p) <= 24 for p in passes)
    widths: list[int] = []
    inner = split._next_token_pass

    def counted(rows: list[list[int]], opts: list[list[int]]) -> list[list[float]]:
        widths.append(len(rows))
        return inner(rows, opts)

    monkeypatch.setattr(split, "_next_token_pass", counted)
    parts = (
        split.score(texts, placement="raw"),
        split.next_token_logprobs(texts, ["high", "low"]),
        split.hidden_states(texts, [0, 2], [-1] * len(texts)),
    )
    assert len(widths) == len(passes)
    for a, b in zip(whole[0], parts[0], strict=True):
        assert a.token_ids == b.token_ids
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)
        np.testing.assert_allclose(a.entropies, b.entropies, atol=1e-5)
    np.testing.assert_allclose(whole[1], parts[1], atol=1e-5)
    np.testing.assert_allclose(whole[2], parts[2], atol=1e-5)


def test_placements_put_the_text_where_asked(tiny_dir: Path) -> None:
    model = _model(tiny_dir)

    def decode(ids: list[int]) -> str:
        return str(model.tokenizer.decode(ids))

    assert decode(model._placement_prefix("Hi", "assistant")).endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nHi<|im_end|>" in decode(model._placement_prefix("Hi", "assistant"))
    assert decode(model._placement_prefix(None, "user")) == "<|im_start|>user\n"
    assert decode(model._placement_prefix("Hi there", "raw")) == "Hi there"


def test_models_without_a_chat_template_use_a_plain_dialogue(tiny_base_dir: Path) -> None:
    model = _model(tiny_base_dir)
    assert not model.has_chat_template
    text, templated = model.render([{"role": "user", "content": "Hi"}])
    assert text == "User: Hi\nAssistant:" and not templated
    assert model.generate(["one two"], SamplingParams(max_new_tokens=3))[0].token_ids


def test_next_token_logprobs_match_a_forward_pass(tiny_dir: Path, reference: Reference) -> None:
    model = _model(tiny_dir, batch_size=3)
    lp = model.next_token_logprobs(PROMPTS, ["high", "low"])
    probs = model.option_probs(PROMPTS, ["high", "low"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    for i, prompt in enumerate(PROMPTS):
        ids = model.encode(prompt)
        with torch.no_grad():
            logp = torch.log_softmax(reference[0](torch.tensor([ids])).logits[0, -1].float(), -1)
        for j, opt in enumerate(["high", "low"]):
            variants = model.option_token_ids(opt)
            assert len(variants) >= 1
            expected = float(torch.logsumexp(logp[variants], 0))
            assert lp[i, j] == pytest.approx(expected, abs=1e-4)


def test_hidden_states_match_output_hidden_states(tiny_dir: Path, reference: Reference) -> None:
    model = _model(tiny_dir, batch_size=4)
    layers = [0, 1, 3]
    positions = [-1, 0, -2, 2]
    states = model.hidden_states(PROMPTS, layers, positions)
    assert states.shape == (len(PROMPTS), 3, 64)
    for i, prompt in enumerate(PROMPTS):
        ids = model.encode(prompt)
        with torch.no_grad():
            hs = reference[0](torch.tensor([ids]), output_hidden_states=True).hidden_states
        for k, layer in enumerate(layers):
            np.testing.assert_allclose(states[i, k], hs[layer][0, positions[i]].numpy(), atol=1e-4)


def test_steering_changes_outputs_inside_the_block_only(tiny_dir: Path, tmp_path: Path) -> None:
    model = _model(tiny_dir, Cache(tmp_path / "c.sqlite"))
    before = model.next_token_logprobs(PROMPTS, ["high", "low"])
    rng = np.random.default_rng(0)
    with model.steer({2: rng.normal(0, 4.0, 64)}):
        steered = model.next_token_logprobs(PROMPTS, ["high", "low"])
        states = model.hidden_states(PROMPTS[:1], [1, 2])
    after = model.next_token_logprobs(PROMPTS, ["high", "low"])
    assert not np.allclose(before, steered, atol=1e-3)
    np.testing.assert_allclose(before, after)
    plain = model.hidden_states(PROMPTS[:1], [1, 2])
    np.testing.assert_allclose(states[:, 0], plain[:, 0], atol=1e-5)  # layer 1 is before the injection
    assert not np.allclose(states[:, 1], plain[:, 1])
    with model.steer({2: np.zeros(64)}):
        zero = model.next_token_logprobs(PROMPTS, ["high", "low"])
    np.testing.assert_allclose(zero, before, atol=1e-5)


def test_stop_strings_end_a_row(tiny_dir: Path) -> None:
    model = _model(tiny_dir)
    free = model.generate(PROMPTS[:1], SamplingParams(max_new_tokens=12))[0]
    assert len(free.text.strip()) >= 2, "the seeded random model is expected to produce some text"
    stop = free.text.strip()[:2]
    cut = model.generate(PROMPTS[:1], SamplingParams(max_new_tokens=12, stop=(stop,)))[0]
    assert cut.finish_reason == "stop" and stop not in cut.text
