"""On-policy entropy: findings from planted entropies, length matching, and the study on tiny models."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.references import pick_reference
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.emergence.on_policy_entropy import (
    PLACEMENTS,
    OnPolicyEntropyConfig,
    OnPolicyEntropySimulator,
    OnPolicyEntropyStudy,
    cut_words,
    match_lengths,
    measure,
)


def _cells(subject_own: float, reference_own: float, n: int = 40) -> dict[tuple[str, str, str], np.ndarray]:
    rng = np.random.default_rng(0)
    h: dict[tuple[str, str, str], np.ndarray] = {}
    for scorer in ("subject", "reference"):
        for author in ("subject", "reference"):
            for placement in PLACEMENTS:
                level = 2.0
                if scorer == author and placement == "assistant":
                    level = subject_own if scorer == "subject" else reference_own
                h[(scorer, author, placement)] = level * np.exp(rng.normal(0, 0.1, n))
    return h


def _findings(subject_own: float, reference_own: float) -> dict[str, Finding]:
    found = measure(_cells(subject_own, reference_own), subject="chat", reference="base", margin=0.05, seed=0,
                    n_bootstrap=300)  # fmt: skip
    return {f.metric: f for f in found}


def test_a_chat_model_that_favours_its_own_text_comes_out_present() -> None:
    f = _findings(subject_own=0.6, reference_own=2.0)
    assert f["off_on_ratio"].verdict == "present"
    assert abs(f["off_on_ratio"].value - 2.0 / 0.6) < 0.3
    assert f["user_assistant_ratio"].verdict == "present"
    assert f["reference_off_on_ratio"].verdict != "present"
    assert f["subject_minus_reference_log_ratio"].verdict == "present"
    assert f["own_turn_minus_other_turn_log_ratio"].verdict == "present"
    assert f["self_preference_interaction"].verdict == "present"


def test_the_interaction_counts_both_models_own_text_advantage() -> None:
    # Both models surer on their own text: self-preference (the interaction) is present, but the chat-vs-base
    # diagnostic finds no difference between them.
    f = _findings(subject_own=0.6, reference_own=0.6)
    assert f["off_on_ratio"].verdict == "present"
    assert f["self_preference_interaction"].verdict == "present"
    assert f["subject_minus_reference_log_ratio"].verdict != "present"


def test_without_a_plant_nothing_is_present() -> None:
    f = _findings(subject_own=2.0, reference_own=2.0)
    assert all(x.verdict != "present" for x in f.values())


def test_the_unit_is_the_prompt() -> None:
    h = _cells(subject_own=0.6, reference_own=2.0, n=40)
    found = measure(h, subject="chat", reference="base", margin=0.05, seed=0, n_bootstrap=10,
                    prompts=[i // 2 for i in range(40)])  # fmt: skip
    primary = next(f for f in found if f.primary)
    assert (primary.n, primary.unit) == (20, "prompt")
    assert primary.p_value < 0.025
    assert [f.metric for f in found if f.primary] == ["self_preference_interaction"]


def test_a_base_model_that_favours_its_own_text_more_reads_reversed() -> None:
    f = _findings(subject_own=2.0, reference_own=0.6)
    assert f["subject_minus_reference_log_ratio"].verdict == "reversed"


def test_the_simulator_without_the_difficulty_confound() -> None:
    sim = OnPolicyEntropySimulator(OnPolicyEntropyConfig(n_prompts=200), difficulty=0.0)
    cal = calibrate_study("emergence/on_policy_entropy", sim, reps=100, mde=False)
    assert cal.false_present_rate <= 0.1
    assert cal.power >= 0.8


def test_the_difficulty_confound_that_fooled_the_old_headline_does_not_fool_the_interaction() -> None:
    # A reference text harder for both scorers raises the subject's off/on ratio and lowers the reference's: the old
    # headline (now a diagnostic) reads twice that difficulty as an on-policy advantage; the interaction cancels it.
    sim = OnPolicyEntropySimulator(OnPolicyEntropyConfig(n_prompts=200), difficulty=0.1)
    found = {f.metric: f for f in sim.measure(sim.simulate(np.random.default_rng(1), 0.0), seed=0)}
    assert found["subject_minus_reference_log_ratio"].verdict == "present"
    assert abs(found["subject_minus_reference_log_ratio"].value - 0.2) < 0.05
    assert found["self_preference_interaction"].verdict != "present"
    assert found["own_turn_minus_other_turn_log_ratio"].verdict != "present"
    cal = calibrate_study("emergence/on_policy_entropy", sim, reps=100, mde=False)
    assert cal.false_present_rate <= 0.1
    assert cal.power >= 0.8


def test_length_matching() -> None:
    assert cut_words("one two  three\nfour", 3) == "one two  three"
    keep, a, b = match_lengths(["a b c d e f", "x y", "p q r s"], ["1 2 3 4", "1 2 3 4 5", "1 2 3 4 5 6 7"], 3)
    assert keep == [0, 2]
    assert [len(t.split()) for t in a] == [len(t.split()) for t in b] == [4, 4]


def test_the_study_runs_on_tiny_models(tmp_path: Path, tiny_dir: Path, tiny_base_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = OnPolicyEntropyConfig(n_prompts=4, max_new_tokens=10, min_words=1, reference_model=str(tiny_base_dir),
                                n_bootstrap=50)  # fmt: skip
    findings = OnPolicyEntropyStudy().run(ctx, cfg)
    metrics = {f.metric for f in findings}
    assert {"off_on_ratio", "user_assistant_ratio", "reference_off_on_ratio", "subject_minus_reference_log_ratio",
            "own_turn_minus_other_turn_log_ratio", "self_preference_interaction"} <= metrics  # fmt: skip
    primary = next(f for f in findings if f.primary)
    assert primary.metric == "self_preference_interaction"
    assert len(primary.details["matrix_mean_entropy"]) == 12  # 2 scorers x 2 authors x 3 placements
    assert (primary.details["reference_model"], primary.details["reference_role"]) == (str(tiny_base_dir), "configured")
    assert OnPolicyEntropyStudy.side == "recognition"


def test_config_ranges() -> None:
    with pytest.raises(ConfigValueError, match="n_prompts"):
        OnPolicyEntropyConfig(n_prompts=0)
    with pytest.raises(ConfigValueError, match="n_prompts"):
        OnPolicyEntropyConfig(n_prompts=100_000)
    with pytest.raises(ConfigValueError, match="min_words"):
        OnPolicyEntropyConfig(min_words=0)


def test_the_reference_is_chosen_per_subject() -> None:
    embedded = pick_reference("smollm2-135m-instruct")
    assert (embedded.name, embedded.role) == ("gemma3-270m", "fallback") and "not smollm2" in embedded.why
    assert pick_reference("HuggingFaceTB/SmolLM2-360M-Instruct").name == "HuggingFaceTB/SmolLM2-360M"
    assert pick_reference("qwen2.5-7b-instruct").name == "Qwen/Qwen2.5-7B"  # without the organisation, any case
    assert pick_reference("org/some-7b-chat", base="org/some-7b").role == "base"
    assert pick_reference("org/some-7b-chat", "org/other-7b").role == "configured"
    with pytest.raises(
        UserError, match=re.escape("no known base model for org/some-7b-chat: set studies.x.reference_model=")
    ):
        pick_reference("org/some-7b-chat", key="studies.x.reference_model")
