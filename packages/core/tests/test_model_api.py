"""What studies need from ``Model`` beyond generate and score: chat turns, option ids, padding, token states, and
hidden states kept in the cache as arrays."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from reflectlab.core import progress
from reflectlab.core.cache import Cache
from reflectlab.core.errors import UserError
from reflectlab.core.models.base import Model, SamplingParams, user
from reflectlab.core.models.batching import pad_batch
from reflectlab.core.models.hf import HFModel
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec

TEXTS = ["The quick brown fox", "Write two sentences about the ocean.", "one two", "Yes no maybe. One two three"]


def _model(path: Path, cache: Cache | None = None, batch_size: int = 8) -> HFModel:
    model = load_model(ModelSpec(name=str(path), batch_size=batch_size), cache)
    assert isinstance(model, HFModel)
    return model


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> Any:
    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


def _reference_states(reference: Any, ids: list[int]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return tuple(reference(torch.tensor([ids]), output_hidden_states=True).hidden_states)


def _table_counts(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(path)
    try:
        entries, arrays = (int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in ("entries", "arrays"))
        return entries, arrays
    finally:
        db.close()


# ----------------------------------------------------------------------------- prompts and options
def test_user_wraps_one_chat_turn(tiny_dir: Path) -> None:
    expected = [{"role": "user", "content": "Hi there"}]
    assert user("Hi there") == expected
    assert Model.user("Hi there") == expected
    model = _model(tiny_dir)
    assert model.user("Hi there") == expected
    assert model.encode(model.user("Hi there")) == model.encode(expected)


def test_option_token_ids_are_the_ids_next_token_logprobs_counts(tiny_dir: Path) -> None:
    model = _model(tiny_dir)
    ids = model.option_token_ids("high")
    assert ids and len(set(ids)) == len(ids)
    assert ids == model._option_token_ids("high")  # the old name still answers
    firsts = {model.tokenizer(v, add_special_tokens=False)["input_ids"][0] for v in ("high", " high", "High", " High")}
    assert set(ids) == firsts
    lp = model.next_token_logprobs(TEXTS[:1], ["high"])
    with torch.inference_mode():
        logits = model.hf_model(torch.tensor([model.encode(TEXTS[0])])).logits[0, -1].float()
    expected = float(torch.logsumexp(torch.log_softmax(logits, -1)[ids], 0))
    assert lp[0, 0] == pytest.approx(expected, abs=1e-4)


# ----------------------------------------------------------------------------- padding
def test_pad_batch_right_and_left() -> None:
    rows = [[5, 6, 7], [8], []]
    ids, mask = pad_batch(rows, 0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long
    ids, mask = pad_batch(rows, 9, side="left")
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8], [9, 9, 9]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]
    ids, mask = pad_batch([[1, 2]], 0, width=4)
    assert ids.tolist() == [[1, 2, 0, 0]] and mask.tolist() == [[1, 1, 0, 0]]
    assert pad_batch([], 0)[0].shape == (0, 0)
    with pytest.raises(ValueError, match="width"):
        pad_batch([[1, 2, 3]], 0, width=2)
    with pytest.raises(ValueError, match="side"):
        pad_batch([[1]], 0, side="middle")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- token states
def test_token_states_match_output_hidden_states(tiny_dir: Path, reference: Any) -> None:
    model = _model(tiny_dir, batch_size=3)
    layers = [0, 2, 3]  # (output_hidden_states applies the final norm to the last block's output)
    states = model.token_states(TEXTS, layers)
    assert len(states) == len(TEXTS)
    for text, got in zip(TEXTS, states, strict=True):
        ids = model.encode(text)
        assert got.shape == (len(ids), len(layers), 64) and got.dtype == np.float32
        hs = _reference_states(reference, ids)
        for k, layer in enumerate(layers):
            np.testing.assert_allclose(got[:, k], hs[layer][0].numpy(), atol=1e-4)


def test_token_states_take_token_ids_and_spans(tiny_dir: Path, reference: Any) -> None:
    model = _model(tiny_dir)
    rows = [model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    skip_first = model.token_states(rows, [1], slice(1, None))
    for row, got in zip(rows, skip_first, strict=True):
        assert got.shape == (len(row) - 1, 1, 64)
        np.testing.assert_allclose(got[:, 0], _reference_states(reference, row)[1][0, 1:].numpy(), atol=1e-4)
    # one slice per input; negative bounds count from each input's end; numpy ids are ids too
    spans = [slice(-2, None), slice(0, 1), slice(1, 3), slice(None, None, 2)]
    per_input = model.token_states([np.asarray(r) for r in rows], [3], spans)
    for row, span, got in zip(rows, spans, per_input, strict=True):
        np.testing.assert_allclose(got[:, 0], _reference_states(reference, row)[3][0, span].numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="one slice per input"):
        model.token_states(rows, [1], [slice(None)])
    with pytest.raises(UserError, match="out of range"):
        model.token_states(rows, [9])


def test_token_states_do_not_depend_on_batching_or_passes(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same numbers, bit for bit, whatever the batch size and however a batch is split into passes."""
    from reflectlab.core.models import hf

    rows = [[0, *range(3 + i % 7, 40 + i % 7)] for i in range(20)]
    one = _model(tiny_dir, batch_size=1).token_states(rows, [2], slice(1, None))
    monkeypatch.setattr(hf, "_CPU_PASS_TOKENS", 80)
    many = _model(tiny_dir, batch_size=16).token_states(rows, [2], slice(1, None))
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- the cache keeps arrays
def test_hidden_states_through_the_cache_are_the_uncached_values(tiny_dir: Path, tmp_path: Path) -> None:
    layers, positions = [0, 1, 3], [-1, 0, -2, 2]
    plain = _model(tiny_dir).hidden_states(TEXTS, layers, positions)
    path = tmp_path / "c.sqlite"
    first = _model(tiny_dir, Cache(path)).hidden_states(TEXTS, layers, positions)
    assert _table_counts(path) == (0, len(TEXTS))  # arrays, not JSON lists of floats
    again = _model(tiny_dir, Cache(path))
    second = again.hidden_states(TEXTS, layers, positions)
    assert again.work_tokens == 0 and again.cache is not None and again.cache.hits == len(TEXTS)
    assert plain.dtype == first.dtype == second.dtype == np.float32
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)
    # the values the JSON cache held (float32 -> Python float -> float32) are these same values
    np.testing.assert_array_equal(np.asarray(json.loads(json.dumps(plain.tolist())), dtype=np.float32), plain)


def test_token_states_are_cached_as_arrays(tiny_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    plain = _model(tiny_dir).token_states(TEXTS, [1, 2], slice(1, None))
    first = _model(tiny_dir, Cache(path)).token_states(TEXTS, [1, 2], slice(1, None))
    again = _model(tiny_dir, Cache(path))
    second = again.token_states(TEXTS, [1, 2], slice(1, None))
    assert again.work_tokens == 0
    assert _table_counts(path) == (0, len(TEXTS))
    for a, b, c in zip(plain, first, second, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    # another span or layer is another key
    other = again.token_states(TEXTS, [1, 2], slice(2, None))
    assert again.work_tokens > 0
    np.testing.assert_array_equal(other[0], plain[0][1:])


def test_cache_round_trips_arrays_bit_for_bit(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {
        "a": rng.normal(size=(3, 2, 5)).astype(np.float32),
        "b": np.arange(6, dtype=np.int64).reshape(2, 3)[:, ::2],  # not contiguous
        "c": np.zeros((0, 4), dtype=np.float32),
    }
    cache.put_arrays(arrays.items())
    cache.put_many([("j", [1.5])])
    found = cache.get_arrays(["a", "b", "c", "missing", "j"])
    assert set(found) == {"a", "b", "c"}
    for k, v in arrays.items():
        assert found[k].dtype == v.dtype and found[k].shape == v.shape
        np.testing.assert_array_equal(found[k], v)
    found["a"][0, 0, 0] = 1.0  # a writable copy
    assert len(cache) == 4
    cache.close()
    np.testing.assert_array_equal(Cache(tmp_path / "c.sqlite").get_arrays(["a"])["a"], arrays["a"])


# ----------------------------------------------------------------------------- progress
def test_model_calls_advance_the_study_progress_and_hide_their_bars(tiny_dir: Path, tmp_path: Path) -> None:
    from reflectlab.core.models.base import _progress

    model = _model(tiny_dir, Cache(tmp_path / "c.sqlite"))
    with progress.study_progress("tests/study", planned_tokens=1000, every=0) as p:
        assert _progress(3, "x").disable is True
        model.generate(TEXTS, SamplingParams(max_new_tokens=4))
        assert p.tokens == model.work_tokens > 0 and p.cached_tokens == 0
        model.token_states(TEXTS, [1])
        assert p.tokens == model.work_tokens
        spent = model.work_tokens
        model.generate(TEXTS, SamplingParams(max_new_tokens=4))  # answered by the cache
        assert model.work_tokens == spent and p.tokens == spent
        assert p.cached_tokens == sum(len(model.encode(t)) for t in TEXTS)
    assert progress.current() is None
