"""Self-prediction: the object-level data, properties and behaviour change, and the study on tiny models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.config import ConfigValueError
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.introspection.self_prediction import (
    FAMILIES,
    PROPERTIES,
    SelfPredictionConfig,
    SelfPredictionStudy,
    answer_word,
    build_prompts,
    changed_answer,
    majority_baseline,
    meta_items,
    truth,
)


def test_prompts_split_by_context_word_across_families() -> None:
    prompts = build_prompts(SelfPredictionConfig(n_context_words=10, held_out_fraction=0.4), seed=0)
    assert len(prompts) == 10 * len(FAMILIES)
    held = {p.word for p in prompts if p.held_out}
    assert len(held) == 4
    for family in FAMILIES:  # every family has the same held-out words
        assert {p.word for p in prompts if p.family == family and p.held_out} == held
    assert build_prompts(SelfPredictionConfig(n_context_words=10), seed=0) == build_prompts(
        SelfPredictionConfig(n_context_words=10), seed=0
    )
    with pytest.raises(ConfigValueError, match="n_context_words"):
        SelfPredictionConfig(n_context_words=10_000)


def test_answers_and_properties() -> None:
    assert answer_word("The animal is a lion.", "animal") == "lion"
    assert answer_word("I would pick 42, a nice number", "number") == "42"
    assert answer_word("", "colour") == "" and answer_word("The the a", "colour") == ""
    assert answer_word("  Elephant! It is big.", "animal") == "elephant"
    assert answer_word("**42**", "number") == "42"
    vowel, longer, even = (PROPERTIES[k][2] for k in ("starts_with_vowel", "longer_than_five_letters", "even_number"))
    assert vowel("owl") and not vowel("dog") and not vowel("")
    assert longer("elephant") and not longer("tiger")
    assert even("42") and not even("7") and not even("seven")
    prompts = build_prompts(SelfPredictionConfig(n_context_words=2), seed=0)
    items = meta_items(prompts)
    # two properties for word families, one (parity) for numbers
    assert len(items) == 2 * (2 * 3 + 1)
    answers = ["owl"] * len(prompts)
    assert truth([(0, "starts_with_vowel")], answers).tolist() == [True]


def test_behaviour_change_flips_the_main_property() -> None:
    prompts = build_prompts(SelfPredictionConfig(n_context_words=3), seed=0)
    for k, p in enumerate(prompts):
        if p.family == "number":
            assert int(changed_answer(p, "42", k)) % 2 == 1
        else:
            for old in ("owl", "dog"):
                new = answer_word(changed_answer(p, old, k), p.family)
                assert (new[0] in "aeiou") != (old[0] in "aeiou")


def test_majority_baseline() -> None:
    train = np.array([True, True, False])
    test = np.array([True, False, True, True])
    assert majority_baseline(train, test).tolist() == [True, False, True, True]


def test_the_study_runs_on_tiny_models(tmp_path: Path, tiny_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = SelfPredictionConfig(n_context_words=3, answer_tokens=3, cross_model=str(tiny_dir), n_bootstrap=50)
    cfg = replace(cfg, train=replace(cfg.train, epochs=1.0))
    findings = {f.metric: f for f in SelfPredictionStudy().run(ctx, cfg)}
    assert {"self_minus_cross", "self_minus_majority", "cross_minus_majority", "follows_new_behaviour"} <= set(findings)
    assert findings["self_minus_cross"].primary and findings["self_minus_cross"].n > 0
    assert (tmp_path / "adapters" / "self" / "adapter_config.json").exists()  # the adapter is kept as an artifact
    # a re-run reuses every trained adapter
    again = {f.metric: f.value for f in SelfPredictionStudy().run(ctx, cfg)}
    np.testing.assert_equal(again, {m: f.value for m, f in findings.items()})  # NaN-aware
