"""Self-prediction: the object-level data, properties and behaviour change, and the study on tiny models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.introspection.self_prediction import (
    FAMILIES,
    PROPERTIES,
    BehaviourChange,
    SelfPredictionConfig,
    SelfPredictionSimulator,
    SelfPredictionStudy,
    answer_word,
    build_prompts,
    changed_answer,
    majority_baseline,
    measure,
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


def _planted(p_self: float, p_cross: float, n_prompts: int = 40, seed: int = 0) -> dict[str, Finding]:
    """Two held-out items per prompt; each predictor right with its probability; S's behaviour then flips on half
    the items, and S' keeps predicting the old behaviour."""
    rng = np.random.default_rng(seed)
    units = np.repeat([f"animal/w{i}" for i in range(n_prompts)], 2)
    truth_test = rng.random(units.size) < 0.5

    def predictor(p: float) -> np.ndarray:
        return np.where(rng.random(units.size) < p, truth_test, ~truth_test)

    new = np.where(np.arange(units.size) % 2 == 0, ~truth_test, truth_test)
    change = BehaviourChange(truth_test, new, truth_test.copy())
    findings = measure(truth_test, predictor(p_self), predictor(p_cross), rng.random(100) < 0.5, units,
                       cross_name="c", margin=0.05, change=change)  # fmt: skip
    return {f.metric: f for f in findings}


def test_a_self_predictor_that_knows_itself_comes_out_present() -> None:
    f = _planted(p_self=0.95, p_cross=0.6)
    assert f["self_minus_cross"].verdict == "present" and f["self_minus_cross"].primary
    assert [g.metric for g in f.values() if g.primary] == ["self_minus_cross"]
    assert {g.unit for g in f.values()} == {"prompt"} and f["self_minus_cross"].n == 40
    # S' predicts its old behaviour on every changed item: the opposite of following the new one
    assert f["follows_new_behaviour"].verdict == "reversed"


def test_equal_predictors_are_not_present_and_a_worse_self_is_reversed() -> None:
    assert _planted(p_self=0.7, p_cross=0.7)["self_minus_cross"].verdict in ("absent", "inconclusive")
    assert _planted(p_self=0.55, p_cross=0.95)["self_minus_cross"].verdict == "reversed"


def test_predictors_at_a_ceiling_are_not_called_absent_on_few_prompts() -> None:
    f = _planted(p_self=1.0, p_cross=1.0, n_prompts=5)
    assert f["self_minus_cross"].value == 0.0 and f["self_minus_cross"].verdict == "inconclusive"


def test_the_simulator_writes_the_study_data_at_the_config_sizes() -> None:
    cfg = SelfPredictionConfig(n_context_words=30)
    sim = SelfPredictionStudy().simulator(cfg)
    data = sim.simulate(np.random.default_rng(0), 0.0)
    assert data.truth_test.size == 84 and len(set(data.units.tolist())) == 48  # 12 held-out words x 4 families
    assert data.change is not None and data.change.old.size == 84


def test_the_simulator_null_holds_its_level_without_the_confounds_and_finds_a_planted_effect() -> None:
    sim = SelfPredictionSimulator(SelfPredictionConfig(n_context_words=30), ability_gap=0.0, seed_sd=0.0)
    c = calibrate_study("introspection/self_prediction", sim, reps=100, mde=False)
    assert c.false_present_rate <= 0.1
    sim.planted_effect = 1.5
    assert calibrate_study("introspection/self_prediction", sim, reps=40, mde=False).power >= 0.7


def test_a_better_general_predictor_passes_for_self_knowledge() -> None:
    """The known failure of the current design (pending the redesign): one fine-tune each, and a subject that is the
    better general predictor, read as privileged self-knowledge."""
    sim = SelfPredictionSimulator(SelfPredictionConfig(n_context_words=30), ability_gap=0.5, seed_sd=0.2)
    assert calibrate_study("introspection/self_prediction", sim, reps=100, mde=False).false_present_rate > 0.1


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
