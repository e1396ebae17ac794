"""Self-prediction: the object-level data, properties and behaviour change, and the study on tiny models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.introspection import self_prediction
from reflectlab.probes.introspection.self_prediction import (
    FAMILIES,
    PROPERTIES,
    BehaviourChange,
    SelfPredictionConfig,
    SelfPredictionSimulator,
    SelfPredictionStudy,
    Side,
    answer_word,
    build_prompts,
    changed_answer,
    majority_baseline,
    measure,
    meta_examples,
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


def test_majority_baseline_is_per_family_and_property() -> None:
    train = np.array([1.0, 1.0, 0.0])
    test = np.array([1.0, 0.0, 1.0, 1.0])
    assert majority_baseline(train, test).tolist() == [True, False, True, True]
    # per group: animals' vowel answers are mostly "no", numbers' parity mostly "yes"
    groups_train = np.array(["animal/v", "animal/v", "animal/v", "number/e", "number/e", "number/e"])
    train = np.array([0.0, 0.0, 0.0, 1.0, 1.0, np.nan])  # an unparsed answer is left out
    test, groups = np.array([0.0, 1.0, 1.0]), np.array(["animal/v", "number/e", "colour/v"])
    assert majority_baseline(train, test, groups_train, groups).tolist() == [True, True, False]  # unseen: overall 0


def test_unparsed_answers_are_unknown_not_no() -> None:
    prompts = build_prompts(SelfPredictionConfig(n_context_words=2), seed=0)
    items = meta_items(prompts)[:2]
    t = truth(items, [""] * len(prompts))
    assert np.isnan(t).all()
    assert meta_examples(prompts, items, t) == []  # nothing to train on, nothing scored


def _side(rng: np.random.Generator, p_self: float, p_cross: float, n_prompts: int) -> Side:
    units = np.repeat([f"animal/w{i}" for i in range(n_prompts)], 2)
    truth_test = (rng.random(units.size) < 0.5).astype(float)

    def predictor(p: float) -> np.ndarray:
        return np.where(rng.random(units.size) < p, truth_test == 1, truth_test == 0)

    groups = np.full(units.size, "animal/v")
    return Side(truth_test, predictor(p_self), predictor(p_cross), units, groups,
                (rng.random(100) < 0.5).astype(float), np.full(100, "animal/v"))  # fmt: skip


def _planted(
    p_self: float,
    p_cross: float,
    n_prompts: int = 40,
    seeds: int = 3,
    *,
    p_self_other: float | None = None,
    p_cross_other: float | None = None,
) -> dict[str, Finding]:
    """Two held-out items per prompt, both directions; each predictor right with its probability (the other
    direction's the same unless given); S's behaviour then flips on half the items, and S' keeps predicting the old
    behaviour."""
    rng = np.random.default_rng(0)
    sides = [
        {"subject": _side(rng, p_self, p_cross, n_prompts),
         "cross": _side(rng, p_self if p_self_other is None else p_self_other,
                        p_cross if p_cross_other is None else p_cross_other, n_prompts)}
        for _ in range(seeds)
    ]  # fmt: skip
    old = sides[0]["subject"].truth
    new = np.where(np.arange(old.size) % 2 == 0, 1 - old, old)
    change = BehaviourChange(old, new, old.copy(), sides[0]["subject"].prompts)
    return {f.metric: f for f in measure(sides, subject="m", cross="c", margin=0.05, change=change)}


def test_a_self_predictor_that_knows_itself_comes_out_present() -> None:
    f = _planted(p_self=0.95, p_cross=0.6)
    primary = f["self_advantage_both_ways"]
    assert primary.verdict == "present" and [g.metric for g in f.values() if g.primary] == [primary.metric]
    assert (primary.unit, primary.n, primary.details["n_prompts"]) == ("seed", 3, 40)
    assert f["self_minus_cross"].verdict == "present"
    # S' predicts its old behaviour on every changed item: the opposite of following the new one
    assert f["follows_new_behaviour"].verdict == "reversed" and f["follows_new_behaviour"].unit == "prompt"


def test_a_better_general_predictor_is_not_self_knowledge() -> None:
    # Predictors built on the subject are better at predicting anyone: self-minus-cross reads present on the
    # subject's side and reversed on the other; averaged both ways, nothing is left.
    f = _planted(p_self=0.9, p_cross=0.6, p_self_other=0.6, p_cross_other=0.9)
    assert f["self_minus_cross"].verdict == "present"
    assert f["cross_self_minus_other"].verdict == "reversed"
    assert f["self_advantage_both_ways"].verdict != "present"


def test_equal_predictors_are_not_present_and_a_worse_self_is_reversed() -> None:
    assert _planted(p_self=0.7, p_cross=0.7)["self_advantage_both_ways"].verdict in ("absent", "inconclusive")
    assert _planted(p_self=0.55, p_cross=0.95)["self_advantage_both_ways"].verdict == "reversed"


def test_one_seed_cannot_conclude() -> None:
    f = _planted(p_self=0.95, p_cross=0.6, seeds=1)
    assert f["self_advantage_both_ways"].n == 1 and f["self_advantage_both_ways"].verdict == "inconclusive"


def test_the_simulator_writes_the_study_data_at_the_config_sizes() -> None:
    cfg = SelfPredictionConfig(n_context_words=30, seeds=3)
    sim = SelfPredictionStudy().simulator(cfg)
    data = sim.simulate(np.random.default_rng(0), 0.0)
    assert len(data.sides) == 3 and set(data.sides[0]) == {"subject", "cross"}
    side = data.sides[0]["subject"]
    assert side.truth.size == 84 and len(set(side.prompts.tolist())) == 48  # 12 held-out words x 4 families
    assert data.change is not None and data.change.old.size == 84


def test_the_simulator_null_holds_its_level_and_finds_a_planted_effect() -> None:
    sim = SelfPredictionSimulator(SelfPredictionConfig(n_context_words=30, seeds=3))
    c = calibrate_study("introspection/self_prediction", sim, reps=100, mde=False)
    assert c.false_present_rate <= 0.1
    sim.planted_effect = 1.5
    assert calibrate_study("introspection/self_prediction", sim, reps=40, mde=False).power >= 0.7


def test_the_old_headline_reads_a_better_general_predictor_and_seed_noise_as_self_knowledge() -> None:
    old = SelfPredictionSimulator(SelfPredictionConfig(n_context_words=30, seeds=3), ability_gap=0.5)
    old.metric = "self_minus_cross"
    assert calibrate_study("introspection/self_prediction", old, reps=100, mde=False).false_present_rate > 0.1


@pytest.mark.slow  # sixteen LoRA fine-tunes of tiny models
def test_a_model_whose_answers_name_nothing_is_one_clear_error(tmp_path: Path, tiny_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = SelfPredictionConfig(n_context_words=3, answer_tokens=3, cross_model=str(tiny_dir), seeds=1)
    with pytest.raises(UserError, match="no answer to the 8 training prompts names anything"):
        SelfPredictionStudy().run(ctx, cfg)  # the tiny random model answers with newlines


@pytest.mark.slow  # sixteen LoRA fine-tunes of tiny models
def test_the_study_runs_on_tiny_models(
    tmp_path: Path, tiny_dir: Path, tiny_base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tiny random models answer with newlines; read a word off the prompt's family and the answer's length
    # instead, so that the fine-tunes, predictions and measurement all run.
    words = {
        "animal": ["owl", "tiger"],
        "country": ["italy", "peru"],
        "colour": ["red", "indigo"],
        "number": ["7", "42"],
    }
    monkeypatch.setattr(self_prediction, "answer_word", lambda text, family: words[family][len(text) % 2])
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = SelfPredictionConfig(n_context_words=3, answer_tokens=3, cross_model=str(tiny_base_dir), n_bootstrap=50,
                               seeds=2)  # fmt: skip
    cfg = replace(cfg, train=replace(cfg.train, epochs=1.0))
    findings = {f.metric: f for f in SelfPredictionStudy().run(ctx, cfg)}
    assert {"self_minus_cross", "cross_self_minus_other", "self_minus_majority", "cross_minus_majority",
            "follows_new_behaviour", "self_advantage_both_ways"} <= set(findings)  # fmt: skip
    primary = findings["self_advantage_both_ways"]
    assert primary.primary and primary.n <= 2 and primary.unit == "seed"
    assert primary.details["reference_model"] == str(tiny_base_dir)
    assert set(primary.details["answer_variety_before_training"]) == {"subject", "cross"}
    adapters = {p.name for p in (tmp_path / "adapters").iterdir()}  # every fine-tune is kept as an artifact
    assert {"self-m-seed0", "cross-m-seed0", "self-x-seed1", "cross-x-seed1", "changed"} <= adapters
    # a re-run reuses every trained adapter
    again = {f.metric: f.value for f in SelfPredictionStudy().run(ctx, cfg)}
    np.testing.assert_equal(again, {m: f.value for m, f in findings.items()})  # NaN-aware
