"""The temperature study's data and measurement, on planted judges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.probes.introspection.temperature import (
    STYLES,
    TemperatureConfig,
    TemperatureSimulator,
    TemperatureStudy,
    build_items,
    classify,
    fit_threshold,
    load_topics,
    measure,
    split_topics,
)


def test_items_are_matched_across_styles_temperatures_and_authors() -> None:
    items = build_items(TemperatureConfig(n_topics=5))
    assert len(items) == 5 * len(STYLES) * 2 * 2
    for topic in load_topics(5):
        mine = [it for it in items if it.topic == topic]
        assert sorted((it.author, it.style, it.hot) for it in mine) == sorted(
            (a, s, h) for a in ("subject", "cross") for s in STYLES for h in (0, 1)
        )

    with pytest.raises(ConfigValueError, match="n_topics"):
        TemperatureConfig(n_topics=10_000)
    with pytest.raises(ConfigValueError, match="high_temperature"):
        TemperatureConfig(low_temperature=1.5, high_temperature=0.3)


def test_fit_threshold_separates_when_it_can() -> None:
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    cut, polarity = fit_threshold(s, y)
    assert 0.3 < cut < 0.7 and polarity == 1
    assert fit_threshold(np.array([0.5, 0.5]), np.array([0, 1])) is not None
    cut, polarity = fit_threshold(-s, y)  # a judge that reads it backwards: the split picks the polarity
    assert -0.7 < cut < -0.3 and polarity == -1
    assert (classify(-s, cut, polarity) == y).all()


def _planted(
    self_signal: float,
    cross_signal: float,
    style_signal: float = 0.0,
    n_topics: int = 60,
    *,
    self_on_cross_texts: float | None = None,
) -> dict[str, Finding]:
    """Both authors' texts of each topic (4 each); the self judge reads temperature with ``self_signal`` on the
    subject's texts and ``self_on_cross_texts`` (the same when None) on the cross model's; the cross judge with
    ``cross_signal`` on both."""
    rng = np.random.default_rng(0)
    hot = np.tile([0, 1, 0, 1], 2 * n_topics)
    wild = np.tile([0, 0, 1, 1], 2 * n_topics)
    topic = np.tile(np.repeat(np.arange(n_topics), 4), 2)
    author = np.repeat(["subject", "cross"], 4 * n_topics)
    on_cross = self_signal if self_on_cross_texts is None else self_on_cross_texts
    self_signal_per_text = np.where(author == "subject", self_signal, on_cross)

    def noise() -> np.ndarray:
        return rng.normal(0, 1, hot.size)

    scores = {
        "self": self_signal_per_text * hot + style_signal * wild + noise(),
        "cross": cross_signal * hot + noise(),
        "surprisal": 1.0 * hot + noise(),
    }
    fit = topic < n_topics // 2
    findings, _ = measure(scores, hot, wild, fit, topic, model="m", cross="c", margin=0.05, seed=0, n_bootstrap=500,
                          author=author)  # fmt: skip
    return {f.metric: f for f in findings}


def test_a_judge_that_reads_its_own_texts_better_comes_out_present() -> None:
    f = _planted(self_signal=3.0, cross_signal=0.0, self_on_cross_texts=0.0)
    assert {g.unit for g in f.values()} == {"topic"}
    primary = f["self_advantage_interaction"]
    assert primary.primary and [g.metric for g in f.values() if g.primary] == ["self_advantage_interaction"]
    assert primary.n == 60 and f["self_accuracy"].n == 30  # topics; accuracy on the held-out half
    assert primary.p_value < 0.01 and primary.verdict == "present"
    assert f["self_auroc"].verdict == "present" and f["self_accuracy"].verdict == "present"
    assert f["privileged_access"].verdict == "present"
    assert f["style_confound"].verdict != "present"
    # the interaction's self advantage comes from the subject judge, not the cross judge
    assert f["subject_own_minus_other_texts"].verdict == "present"
    assert f["cross_own_minus_other_texts"].verdict != "present"


def test_a_better_general_judge_is_not_privileged_access() -> None:
    # The subject reads temperature from any text, its own or not: the old headline (privileged_access, on the
    # subject's texts only) reads present; the interaction does not.
    f = _planted(self_signal=2.0, cross_signal=0.5)
    assert f["privileged_access"].verdict == "present"
    assert f["self_advantage_interaction"].verdict != "present"


def test_a_judge_that_cannot_read_it_is_not_present() -> None:
    f = _planted(self_signal=0.0, cross_signal=0.0)
    assert f["self_auroc"].verdict in ("absent", "inconclusive")
    assert f["self_advantage_interaction"].verdict in ("absent", "inconclusive")
    g = _planted(self_signal=2.0, cross_signal=2.0)  # equal access for self and cross
    assert g["self_advantage_interaction"].verdict in ("absent", "inconclusive")
    assert g["self_auroc"].verdict == "present" and g["cross_auroc"].verdict == "present"


def test_a_judge_that_reads_it_backwards_is_reversed_not_absent() -> None:
    f = _planted(self_signal=-3.0, cross_signal=0.0, self_on_cross_texts=0.0)
    assert f["self_auroc"].verdict == "reversed"
    assert f["self_advantage_interaction"].verdict == "reversed"
    assert f["self_accuracy"].verdict == "present"  # the fitted polarity reads it the right way round
    assert f["self_accuracy"].details["polarity"] == -1


def test_a_report_that_follows_the_prompt_style_is_flagged_both_ways() -> None:
    f = _planted(self_signal=0.0, cross_signal=0.0, style_signal=3.0)
    assert f["style_confound"].verdict == "present"
    assert f["self_auroc"].verdict != "present"
    g = _planted(self_signal=0.0, cross_signal=0.0, style_signal=-3.0)
    assert g["style_confound"].verdict == "reversed" and g["style_confound"].p_value < 0.01  # two-sided


def test_the_split_is_by_topic() -> None:
    topics = np.repeat(np.array(["a", "b", "c", "d"]), 4)
    fit = split_topics(topics, 0.5, seed=0)
    assert fit.sum() == 8 and all(len(set(fit[topics == t])) == 1 for t in "abcd")
    assert (split_topics(topics, 0.5, seed=0) == fit).all()


def _simulator(ability_gap: float) -> TemperatureSimulator:
    return TemperatureSimulator(TemperatureConfig(n_topics=28, n_bootstrap=300), ability_gap=ability_gap)


def test_the_simulator_writes_the_study_data_and_finds_a_planted_effect() -> None:
    sim = TemperatureStudy().simulator(TemperatureConfig(n_topics=28))
    data = sim.simulate(np.random.default_rng(0), 0.0)
    assert data.hot.size == 28 * 8 and set(data.scores) == {"self", "cross", "surprisal"}
    assert set(data.author) == {"subject", "cross"}
    sim = _simulator(0.0)
    sim.planted_effect = 2.0  # an AUROC advantage of about 0.3 on its own texts: 28 topics find it
    c = calibrate_study("introspection/temperature", sim, reps=60, mde=False)
    assert c.false_present_rate <= 0.1
    assert c.power >= 0.7


def test_a_better_general_judge_passes_the_old_headline_but_not_the_interaction() -> None:
    old = _simulator(0.6)
    old.metric = "privileged_access"  # the old headline: self minus cross on the subject's texts only
    assert calibrate_study("introspection/temperature", old, reps=60, mde=False).false_present_rate > 0.3
    c = calibrate_study("introspection/temperature", _simulator(0.6), reps=60, mde=False)
    assert c.false_present_rate <= 0.1


def test_the_study_runs_on_tiny_models(tmp_path: Path, tiny_dir: Path, tiny_base_dir: Path) -> None:
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)
    cfg = TemperatureConfig(n_topics=8, max_new_tokens=6, cross_judge=str(tiny_base_dir), n_bootstrap=50)
    findings = {f.metric: f for f in TemperatureStudy().run(ctx, cfg)}
    primary = findings["self_advantage_interaction"]
    assert primary.primary and primary.unit == "topic" and primary.n == 8
    assert {"self_auroc_on_cross_texts", "cross_auroc_on_cross_texts", "privileged_access"} <= set(findings)
    assert primary.details["reference_model"] == str(tiny_base_dir)
    assert primary.details["reference_role"] == "configured"
