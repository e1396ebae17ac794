"""The concept-injection study: planted trial records, and the pipeline on a tiny model."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.introspection.concept_injection import (
    ConceptInjectionConfig,
    ConceptInjectionSimulator,
    ConceptInjectionStudy,
    Trial,
    measure,
    names,
    resolve_layers,
)


def _trials(p_concept: float, p_random: float, named: bool, leak: bool, seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    out = []
    for layer, strength, concept, q in itertools.product(
        [4, 8], [2.0, 8.0], ["ocean", "fire", "snow", "gold"], range(4)
    ):
        out.append(Trial(layer, strength, concept, "concept", q, float(rng.random() < p_concept), named, leak))
        out.append(Trial(layer, strength, concept, "random", q, float(rng.random() < p_random), False, False))
    return out


def _by_metric(trials: list[Trial]) -> dict[str, Finding]:
    findings = measure(trials, np.zeros(4), 0.0, margin=0.05)
    return {f.metric: f for f in findings}


def test_a_model_that_notices_the_injection_comes_out_present() -> None:
    f = _by_metric(_trials(p_concept=0.9, p_random=0.1, named=True, leak=False))
    assert f["detection_vs_random"].verdict == "present" and f["detection_vs_random"].primary
    assert [g.metric for g in f.values() if g.primary] == ["detection_vs_random"]
    assert {g.unit for g in f.values()} == {"concept"} and f["detection_vs_random"].n == 4
    assert f["detection_minus_false_positive"].verdict == "present"
    assert f["naming_vs_leakage"].verdict == "present"
    assert "detection_vs_random.layer4" in f and "detection_vs_random.layer8" in f


def test_any_perturbation_saying_yes_is_not_detection() -> None:
    f = _by_metric(_trials(p_concept=0.8, p_random=0.8, named=False, leak=False))
    assert f["detection_vs_random"].verdict in ("absent", "inconclusive")
    assert f["detection_minus_false_positive"].verdict == "present"


def test_a_concept_that_says_yes_less_than_a_random_direction_is_reversed() -> None:
    f = _by_metric(_trials(p_concept=0.0, p_random=1.0, named=False, leak=False))
    assert f["detection_vs_random"].verdict == "reversed"


def test_a_model_that_never_says_yes_or_names_is_not_absent() -> None:
    """A floor in both arms: 4 concepts that never give a yes or a name are too few to call the effect absent."""
    f = _by_metric(_trials(p_concept=0.0, p_random=0.0, named=False, leak=False))
    for metric in ("detection_vs_random", "naming_vs_leakage", "naming_accuracy"):
        assert f[metric].verdict == "inconclusive", metric
        assert f[metric].ci_high - f[metric].ci_low > 0.3, metric  # Newcombe / Wilson over 4 concepts, not [0, 0]


def test_a_concept_that_leaks_into_every_answer_is_not_naming() -> None:
    f = _by_metric(_trials(p_concept=0.5, p_random=0.5, named=True, leak=True))
    assert f["naming_vs_leakage"].value == 0.0 and f["naming_vs_leakage"].verdict != "present"
    assert f["naming_accuracy"].value == 1.0 and f["naming_accuracy"].verdict == "present"


def test_helpers() -> None:
    assert names("I keep thinking about the OCEAN waves", "ocean")
    assert names("a dog barked", "dogs") and not names("a cat", "dogs")
    assert resolve_layers([0.0, 0.5, 1.0, 0.5], 30) == [1, 15, 30]
    with pytest.raises(ConfigValueError, match="n_concepts"):
        ConceptInjectionConfig(n_concepts=1)
    with pytest.raises(ConfigValueError, match="n_concepts"):
        ConceptInjectionConfig(n_concepts=17)
    with pytest.raises(ConfigValueError, match="n_questions"):
        ConceptInjectionConfig(n_questions=5)


def test_the_study_runs_on_a_tiny_model(tmp_path: Path, tiny_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = ConceptInjectionConfig(
        n_concepts=2, layers=[0.5], strengths=[4.0], n_questions=2, name_tokens=3, n_bootstrap=50
    )
    findings = ConceptInjectionStudy().run(ctx, cfg)
    metrics = {f.metric for f in findings}
    assert {"detection_vs_random", "naming_vs_leakage", "naming_accuracy", "p_yes_shift_vs_random"} <= metrics
    assert all(f.n > 0 for f in findings)
    samples = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 2 * 2 + 1  # 2 concepts x (concept, random) + the no-injection baseline


def test_the_simulator_holds_its_level_under_the_null_and_finds_a_planted_effect() -> None:
    cfg = ConceptInjectionConfig(n_concepts=8)
    sim = ConceptInjectionStudy().simulator(cfg)
    data = sim.simulate(np.random.default_rng(0), 0.0)
    assert len(data.trials) == 8 * 3 * 2 * 4 * 2 and len(data.baseline_p_yes) == 4
    c = calibrate_study("introspection/concept_injection", sim, reps=100, mde=False)
    assert c.false_present_rate <= 0.1
    assert c.power > 0.3  # 8 concepts at the planted effect (the full preset's 16 reach 80%)


def test_the_simulator_has_floor_models_under_the_null() -> None:
    sim = ConceptInjectionSimulator(ConceptInjectionConfig(n_concepts=8), floor_share=1.0)
    findings = {f.metric: f for f in sim.measure(sim.simulate(np.random.default_rng(0), 0.0), seed=0)}
    assert findings["detection_vs_random"].value == 0.0 and findings["detection_vs_random"].verdict == "inconclusive"
