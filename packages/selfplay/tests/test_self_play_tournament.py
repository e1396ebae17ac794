"""SERL's tournament measures: planted judges of known accuracy are measured at that accuracy, a judge without
skill is not called accurate, and the self-made rewards follow the verdicts."""

from __future__ import annotations

import numpy as np

from reflectlab.core.findings import Finding
from reflectlab.selfplay.self_play.self_judging import SelfJudgingConfig, measure_real, measure_simulated, simulate
from reflectlab.selfplay.self_play.tournament import (
    GroupJudgement,
    RoundReport,
    bt_expected_accuracy,
    bt_judgement,
    report_round,
)


def _planted_round(strength: float, bias: float, n_groups: int = 400, seed: int = 0) -> RoundReport:
    rng = np.random.default_rng(seed)
    groups: list[GroupJudgement] = []
    correct: list[list[bool]] = []
    rewards: list[np.ndarray] = []
    for _ in range(n_groups):
        y = rng.random(4) < 0.5
        g = bt_judgement(y, [10, 12, 14, 16], strength=strength, position_bias=bias, rng=rng)
        groups.append(g)
        correct.append(list(y))
        rewards.append(g.actor_rewards(0.0, 24))
    return report_round(groups, correct, rewards)


def test_a_judge_of_known_accuracy_is_measured_at_that_accuracy() -> None:
    for strength, bias in ((2.0, 0.5), (0.7, 1.0)):
        report = _planted_round(strength, bias)
        expected = bt_expected_accuracy(strength, bias)
        n = len(report.judge_hits)
        se = np.sqrt(expected * (1 - expected) / n)
        assert n > 500
        assert abs(report.judge_accuracy - expected) < 3 * se, (report.judge_accuracy, expected)


def test_a_judge_without_skill_is_not_called_accurate() -> None:
    report = _planted_round(0.0, 0.0, n_groups=200)
    findings = {
        f.metric: f
        for f in measure_real([report], np.zeros(20), np.zeros(20), [0.0, 0.0], seed=0, n_bootstrap=300, margin=0.05)
    }
    assert findings["judge_accuracy"].verdict != "present"
    assert findings["reward_truth_auroc"].verdict != "present"
    # both at a floor (0/20 and 0/20): honest about the floor, neither a gain nor "absent"
    assert findings["heldout_gain"].verdict == "inconclusive"
    assert findings["judge_accuracy"].unit == "prompt" and findings["judge_accuracy"].n == len(
        set(report.hit_units.tolist())
    )
    worse = {f.metric: f for f in measure_real([report], np.ones(40), np.zeros(40), [1.0, 0.0], seed=0, n_bootstrap=300,
                                               margin=0.05)}  # fmt: skip
    assert worse["heldout_gain"].verdict == "reversed"  # a loss reads reversed, never absent
    skilled = _planted_round(3.0, 0.0, n_groups=200)
    good = {f.metric: f for f in measure_real([skilled], np.zeros(20), np.ones(20), [0.0, 1.0], seed=0, n_bootstrap=300,
                                              margin=0.05)}  # fmt: skip
    assert good["judge_accuracy"].verdict == "present"
    assert good["reward_truth_auroc"].verdict == "present"
    assert good["heldout_gain"].verdict == "present"


def test_position_bias_breaks_order_swap_agreement() -> None:
    fair = _planted_round(3.0, 0.0, n_groups=100)
    biased = _planted_round(0.0, 4.0, n_groups=100)  # nearly always prefers the answer shown first
    assert fair.agreement_rate > 0.6  # pairs of equal quality are coin flips (0.5); mixed pairs agree ~0.9
    assert biased.agreement_rate < 0.1


def test_win_rates_rewards_and_cycles_follow_the_verdicts() -> None:
    # pairs of 3: (0,1) (0,2) (1,2); 0 beats 1, 1 beats 2, 2 beats 0: a cycle
    g = GroupJudgement(np.array([10.0, 10.0, 30.0]), np.array([[0.9, 0.8], [0.2, 0.1], [0.7, 0.9]]))
    assert g.triples() == (1, 1)
    assert np.allclose(g.win_rates(), [0.5, 0.5, 0.5])
    assert np.allclose(g.judge_rewards(), 0.5)  # a flat ranking rewards no verdict
    r = g.actor_rewards(length_penalty=0.5, max_tokens=20)
    assert r[2] < r[0] == r[1]  # the long answer pays for its length
    # a transitive order: 0 > 1 > 2
    t = GroupJudgement(np.array([5.0, 5.0, 5.0]), np.array([[0.9, 0.9], [0.9, 0.9], [0.9, 0.6]]))
    assert t.triples() == (0, 1)
    assert np.allclose(t.win_rates(), [1.0, 0.5, 0.0])
    assert np.allclose(t.judge_rewards(), [[1, 0], [1, 0], [1, 0]])
    assert t.order_agreement().all()


def test_the_simulated_arm_tracks_its_judge_and_is_labelled() -> None:
    cfg = SelfJudgingConfig(sim_strengths=[0.0, 3.0], sim_rounds=6, sim_prompts=24, sim_replicates=12,
                            n_bootstrap=300)  # fmt: skip
    _reports, accuracy = simulate(cfg, 3.0, seed=0)
    assert accuracy.shape == (12, 7)
    assert accuracy[:, -1].mean() > accuracy[:, 0].mean() + 0.05  # a good judge's reward teaches
    results = {s: simulate(cfg, s, seed=0) for s in (0.0, 3.0)}
    findings: dict[str, Finding] = {f.metric: f for f in measure_simulated(results, cfg, seed=0, n_bootstrap=300)}
    assert findings["simulated.heldout_gain.s3"].verdict == "present"
    assert findings["simulated.heldout_gain.s0"].verdict != "present"  # a coin-flipping judge teaches nothing
    # measured at its set accuracy: the interval over replicates (at least Wilson's over 12 of them) holds it
    measured = findings["simulated.judge_accuracy.s3"]
    assert abs(measured.value - measured.control_value) < 0.03 and measured.unit == "replicate"
    assert measured.ci_low <= measured.control_value <= measured.ci_high
    assert all(f.details["simulation"] is True and f.model == "simulation" for f in findings.values())
