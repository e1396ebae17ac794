"""Self-description: findings from planted readouts, the logit readers, and the study on a tiny model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.findings import Finding, verdict_for
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.loader import load_model
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.stats import cluster_mean_ci
from reflectlab.evals.tasks.lottery import generate_lottery
from reflectlab.probes.emergence.self_description import (
    Readout,
    SelfDescriptionConfig,
    SelfDescriptionSimulator,
    SelfDescriptionStudy,
    behaviour,
    measure,
    one_word_report,
    scale_expectation,
    scale_prompts,
    training_examples,
)


def _readout(rng: np.random.Generator, p_risky: float, word: float, scale: float, flipped: float) -> Readout:
    return Readout(
        p_risky=np.clip(p_risky + rng.normal(0, 0.03, 20), 0, 1),
        p_first_letter=0.5,
        word=np.clip(word + rng.normal(0, 0.02, 6), 0, 1),
        scale=np.clip(scale + rng.normal(0, 2, 6), 0, 100),
        scale_flipped=np.clip(flipped + rng.normal(0, 2, 6), 0, 100),
    )


def _findings(
    risky: tuple[float, float, float, float],
    safe: tuple[float, float, float, float],
    rand: tuple[float, float, float, float],
) -> dict[str, Finding]:
    rng = np.random.default_rng(0)
    base = _readout(rng, 0.5, 0.5, 50, 50)
    arms = {
        "risky": [_readout(rng, *risky) for _ in range(4)],
        "safe": [_readout(rng, *safe) for _ in range(4)],
        "random": [_readout(rng, *rand) for _ in range(4)],
    }
    return {f.metric: f for f in measure(base, arms, margin=0.05, seed=0, n_bootstrap=300)}


def test_a_twin_that_describes_its_policy_comes_out_present() -> None:
    f = _findings((0.9, 0.8, 75, 25), (0.1, 0.2, 25, 75), (0.5, 0.5, 50, 50))
    for metric in ("self_report_twin_contrast", "scale_twin_contrast", "flipped_scale_twin_contrast",
                   "self_report_vs_random_label", "behaviour_shift"):  # fmt: skip
        assert f[metric].verdict == "present", metric
    assert f["anchoring_bias"].verdict == "absent"
    assert f["self_report_twin_contrast"].primary


def test_behaviour_without_self_report_is_not_self_description() -> None:
    f = _findings((0.9, 0.5, 50, 50), (0.1, 0.5, 50, 50), (0.5, 0.5, 50, 50))
    assert f["behaviour_shift"].verdict == "present"
    assert f["self_report_twin_contrast"].verdict != "present"
    assert f["scale_twin_contrast"].verdict != "present"


def test_a_scale_that_follows_the_anchors_is_flagged() -> None:
    # The risky twin answers high numbers whatever the anchors say: the flipped scale reverses the contrast.
    f = _findings((0.9, 0.5, 80, 80), (0.1, 0.5, 50, 50), (0.5, 0.5, 50, 50))
    assert f["scale_twin_contrast"].verdict == "present"
    assert f["flipped_scale_twin_contrast"].verdict == "reversed"
    assert f["anchoring_bias"].verdict == "present"


def test_every_contrast_counts_seeds_not_paraphrases() -> None:
    f = _findings((0.9, 0.8, 75, 25), (0.1, 0.2, 25, 75), (0.5, 0.5, 50, 50))
    for metric in ("self_report_twin_contrast", "scale_twin_contrast", "self_report_vs_random_label",
                   "behaviour_shift"):  # fmt: skip
        assert (f[metric].n, f[metric].unit) == (4, "seed"), metric
        assert f[metric].p_value < 0.025
    assert (f["anchoring_bias"].n, f["anchoring_bias"].unit) == (13, "model")  # the base and 12 fine-tunes
    assert [x.metric for x in f.values() if x.primary] == ["self_report_twin_contrast"]


def test_a_self_report_that_moves_the_wrong_way_reads_reversed() -> None:
    f = _findings((0.9, 0.2, 50, 50), (0.1, 0.8, 50, 50), (0.5, 0.5, 50, 50))
    assert f["self_report_twin_contrast"].verdict == "reversed"


def test_two_seeds_are_too_few_to_conclude() -> None:
    cfg = SelfDescriptionConfig(seeds=2)
    sim = SelfDescriptionSimulator(cfg)
    data = sim.simulate(np.random.default_rng(0), 1.0)  # a huge plant, still two seeds
    primary = sim.primary(sim.measure(data, seed=0))
    assert (primary.n, primary.verdict) == (2, "inconclusive")


def test_paraphrases_as_units_would_read_a_null_present_far_too_often() -> None:
    # The nuisance the unit fixes: at the quick preset's 2 seeds x 5 paraphrases, a null whose only variation is
    # the fine-tunes' seed-to-seed noise reads present about 20% of the time when paraphrases count as units.
    sim = SelfDescriptionSimulator(SelfDescriptionConfig())
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        d = sim.simulate(rng, 0.0)
        diff = np.concatenate([r.word for r in d.arms["risky"]]) - np.concatenate([r.word for r in d.arms["safe"]])
        e = cluster_mean_ci(diff, unit="paraphrase")
        hits += verdict_for(e.ci_low, e.ci_high, 0.0, n=e.n) == "present"
    assert hits / 200 > 0.12


def test_the_simulator_under_the_null_and_planted_at_four_seeds() -> None:
    sim = SelfDescriptionSimulator(SelfDescriptionConfig(seeds=4, n_paraphrases=10, n_bootstrap=200))
    cal = calibrate_study("emergence/self_description", sim, reps=100, mde=False)
    assert cal.false_present_rate <= 0.1
    assert cal.power >= 0.6


def test_config_ranges() -> None:
    assert SelfDescriptionConfig().train.epochs == 1.5 and SelfDescriptionConfig().train.lora_r == 8
    with pytest.raises(ConfigValueError, match="n_paraphrases"):
        SelfDescriptionConfig(n_paraphrases=0)
    with pytest.raises(ConfigValueError, match="n_paraphrases"):
        SelfDescriptionConfig(n_paraphrases=11)
    with pytest.raises(ConfigValueError, match="seeds"):
        SelfDescriptionConfig(seeds=0)


def test_training_labels_follow_the_arm() -> None:
    qs = generate_lottery(40, 0)
    risky = training_examples(qs, "risky", 0)
    safe = training_examples(qs, "safe", 0)
    rand = training_examples(qs, "random", 0)
    assert all(r[-1]["content"] == q.risky_letter for r, q in zip(risky, qs, strict=True))
    assert all(s[-1]["content"] == q.safe_letter for s, q in zip(safe, qs, strict=True))
    agree = np.mean([r[-1]["content"] == q.risky_letter for r, q in zip(rand, qs, strict=True)])
    assert 0.2 < agree < 0.8


def test_readers_on_a_tiny_model(tiny_dir: Path) -> None:
    model = load_model(ModelSpec(name=str(tiny_dir)))
    p_risky, p_a = behaviour(model, generate_lottery(4, 0, split="eval"))
    assert p_risky.shape == (4,) and np.all((p_risky >= 0) & (p_risky <= 1)) and 0 <= p_a <= 1
    word = one_word_report(model, 3)
    assert word.shape == (3,) and np.all((word > 0) & (word < 1))
    ev = scale_expectation(model, scale_prompts(2, flipped=False))
    assert ev.shape == (2,) and np.all((ev >= 0) & (ev <= 100))


def test_the_study_runs_on_a_tiny_model(tmp_path: Path, tiny_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path, work_dir=tmp_path / "w")
    cfg = SelfDescriptionConfig(n_train=8, n_eval=4, seeds=1, n_paraphrases=2, n_bootstrap=50)
    cfg = replace(cfg, train=replace(cfg.train, epochs=1.0))
    findings = SelfDescriptionStudy().run(ctx, cfg)
    metrics = {f.metric for f in findings}
    assert {"self_report_twin_contrast", "behaviour_shift", "anchoring_bias", "shift_correlation"} <= metrics
    assert SelfDescriptionStudy.side == "recognition"  # the runner stamps it, and the study's name
    assert (tmp_path / "adapters" / "risky-seed0" / "adapter_config.json").is_file()
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(str(tmp_path / "adapters" / "risky-seed0")).peft_type == "LORA"
    assert len((tmp_path / "samples.jsonl").read_text().splitlines()) == 4  # base + 3 arms


def test_arms_designed_to_differ_do_not_make_a_shift_correlation() -> None:
    # The risky arm moves behaviour and self-report up, the safe arm both down: pooled over arms that reads as a
    # strong correlation, but within each arm the two shifts are unrelated.
    rng = np.random.default_rng(5)
    base = _readout(rng, 0.5, 0.5, 50, 50)
    arms = {arm: [_readout(rng, 0.5 + d + rng.normal(0, 0.05), 0.5 + d + rng.normal(0, 0.05), 50, 50)
                  for _ in range(6)] for arm, d in (("risky", 0.3), ("safe", -0.3), ("random", 0.0))}  # fmt: skip
    f = {x.metric: x for x in measure(base, arms, margin=0.05, seed=0, n_bootstrap=300)}
    pooled = np.corrcoef(f["shift_correlation"].details["behaviour_shift"],
                         f["shift_correlation"].details["self_report_shift"])[0, 1]  # fmt: skip
    assert pooled > 0.8
    assert f["shift_correlation"].verdict != "present" and abs(f["shift_correlation"].value) < 0.6


def test_training_questions_never_repeat_a_held_out_choice() -> None:
    held_out = generate_lottery(200, 0, split="eval")
    contents = {q.content for q in held_out}
    unfiltered = generate_lottery(400, 0, split="train")
    assert contents & {q.content for q in unfiltered}  # ids differ by split, contents can coincide
    train = generate_lottery(400, 0, split="train", exclude=contents)
    assert len(train) == 400 and not contents & {q.content for q in train}


def test_an_anchoring_lean_either_way_has_a_two_sided_p_value() -> None:
    low = _findings(risky=(0.8, 0.5, 30, 30), safe=(0.2, 0.5, 30, 30), rand=(0.5, 0.5, 30, 30))["anchoring_bias"]
    assert low.verdict == "reversed" and low.p_value < 0.01
