"""The temperature study's data and measurement, on planted judges."""

from __future__ import annotations

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError
from reflectlab.core.findings import Finding
from reflectlab.probes.introspection.temperature import (
    STYLES,
    TemperatureConfig,
    TemperatureSimulator,
    TemperatureStudy,
    build_items,
    fit_threshold,
    load_topics,
    measure,
    split_topics,
)


def test_items_are_matched_across_styles_and_temperatures() -> None:
    items = build_items(TemperatureConfig(n_topics=5))
    assert len(items) == 5 * len(STYLES) * 2
    for topic in load_topics(5):
        mine = [it for it in items if it.topic == topic]
        assert sorted((it.style, it.hot) for it in mine) == sorted((s, h) for s in STYLES for h in (0, 1))

    with pytest.raises(ConfigValueError, match="n_topics"):
        TemperatureConfig(n_topics=10_000)
    with pytest.raises(ConfigValueError, match="high_temperature"):
        TemperatureConfig(low_temperature=1.5, high_temperature=0.3)


def test_fit_threshold_separates_when_it_can() -> None:
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    cut = fit_threshold(s, y)
    assert 0.3 < cut < 0.7
    assert fit_threshold(np.array([0.5, 0.5]), np.array([0, 1])) is not None


def _planted(
    self_signal: float, cross_signal: float, style_signal: float = 0.0, n_topics: int = 60
) -> dict[str, Finding]:
    rng = np.random.default_rng(0)
    hot = np.tile([0, 1, 0, 1], n_topics)
    wild = np.tile([0, 0, 1, 1], n_topics)
    topic = np.repeat(np.arange(n_topics), 4)

    def noise() -> np.ndarray:
        return rng.normal(0, 1, hot.size)

    scores = {
        "self": self_signal * hot + style_signal * wild + noise(),
        "cross": cross_signal * hot + noise(),
        "surprisal": 1.0 * hot + noise(),
    }
    fit = topic < n_topics // 2
    findings, _ = measure(scores, hot, wild, fit, topic, model="m", cross="c", margin=0.05, seed=0, n_bootstrap=500)
    return {f.metric: f for f in findings}


def test_a_judge_that_reads_the_state_comes_out_present() -> None:
    f = _planted(self_signal=3.0, cross_signal=0.0)
    assert {g.unit for g in f.values()} == {"topic"}
    assert f["privileged_access"].n == 60 and f["self_accuracy"].n == 30  # topics; accuracy on the held-out half
    assert f["privileged_access"].p_value < 0.01
    assert f["self_auroc"].verdict == "present"
    assert f["self_accuracy"].verdict == "present"
    assert f["privileged_access"].verdict == "present" and f["privileged_access"].primary
    assert f["style_confound"].verdict != "present"


def test_a_judge_that_cannot_read_it_is_not_present() -> None:
    f = _planted(self_signal=0.0, cross_signal=0.0)
    assert f["self_auroc"].verdict in ("absent", "inconclusive")
    assert f["privileged_access"].verdict in ("absent", "inconclusive")
    # equal access for self and cross: no privileged access
    g = _planted(self_signal=2.0, cross_signal=2.0)
    assert g["privileged_access"].verdict in ("absent", "inconclusive")
    assert g["self_auroc"].verdict == "present" and g["cross_auroc"].verdict == "present"


def test_a_judge_that_reads_it_backwards_is_reversed_not_absent() -> None:
    f = _planted(self_signal=-3.0, cross_signal=0.0)
    assert f["self_auroc"].verdict == "reversed"
    assert f["privileged_access"].verdict == "reversed"


def test_a_report_that_follows_the_prompt_style_is_flagged() -> None:
    f = _planted(self_signal=0.0, cross_signal=0.0, style_signal=3.0)
    assert f["style_confound"].verdict == "present"
    assert f["self_auroc"].verdict != "present"


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
    assert data.hot.size == 28 * 4 and set(data.scores) == {"self", "cross", "surprisal"}
    sim = _simulator(0.0)
    sim.planted_effect = 1.0  # an AUROC difference of about 0.2: 28 topics find it
    c = calibrate_study("introspection/temperature", sim, reps=60, mde=False)
    assert c.false_present_rate <= 0.1  # equal judges: the topic-resampled interval holds its level
    assert c.power >= 0.7


def test_a_better_general_judge_passes_for_privileged_access() -> None:
    """The known failure of the current design (pending the redesign): a subject that judges text better in general,
    with no access to its own sampling state, reads as privileged access."""
    c = calibrate_study("introspection/temperature", _simulator(0.5), reps=60, mde=False)
    assert c.false_present_rate > 0.1
