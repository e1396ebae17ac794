"""The post-completion, self-questioning and skills measurements on planted data with known answers, and the
pure pieces of their loops (consistency reward, proposal parsing, self-made rewards, skill edits, replay)."""

from __future__ import annotations

import numpy as np
import pytest

from reflectlab.core.findings import Finding
from reflectlab.selfplay.self_play.post_completion import (
    ArmResult,
    consistency_reward,
    expected_calibration_error,
    rl_reward,
    with_span,
)
from reflectlab.selfplay.self_play.post_completion import (
    measure as measure_pcl,
)
from reflectlab.selfplay.self_play.self_questioning import (
    PROPOSE,
    Proposal,
    SelfQuestioningConfig,
    Solved,
    measure_simulated,
    parse_proposal,
    report_round,
    self_rewards,
)
from reflectlab.selfplay.self_play.skills import SkillsRecord, edit_skills, replay_select
from reflectlab.selfplay.self_play.skills import measure as measure_skills
from reflectlab.selfplay.self_play.truth import GroundTruth

N = 300


def _by_metric(findings: list[Finding]) -> dict[str, Finding]:
    return {f.metric: f for f in findings}


# ----------------------------------------------------------------------------- post-completion
def test_the_consistency_reward_defines_zero_over_zero() -> None:
    assert consistency_reward(0.0, 0.0) == 1.0  # the anchor's 0/0: a correct prediction of no reward
    assert consistency_reward(1.0, 1.0) == 1.0
    assert consistency_reward(0.0, 1.0) == 0.0
    assert consistency_reward(0.5, 1.0) == pytest.approx(0.5)
    assert rl_reward(True, "42\n<evaluation>ok</evaluation><reward>1</reward>") == 1.5
    assert rl_reward(False, "41<reward>0</reward>") == 0.5  # a right prediction of no reward (0/0) still pays
    assert rl_reward(True, "42 and nothing else") == 1.0
    assert with_span("42 ", 1).endswith("<reward>1</reward>") and with_span("42", 0).startswith("42\n<evaluation>")


def test_calibration_error_is_zero_for_a_calibrated_predictor_and_large_for_an_overconfident_one() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(float)
    assert expected_calibration_error(p, y, 5) < 0.02
    assert expected_calibration_error(np.full(1000, 0.95), np.r_[np.ones(500), np.zeros(500)], 5) == pytest.approx(0.45)


def _arm(rng: np.random.Generator, accuracy: float, informative: bool) -> ArmResult:
    correct = (rng.random(N) < accuracy).astype(float)
    predicted = np.clip(0.5 + (0.3 * (2 * correct - 1) if informative else 0) + rng.normal(0, 0.15, N), 0, 1)
    return ArmResult(correct, predicted, np.full(N, 6.0))


def test_an_informative_self_reward_is_found_and_an_uninformative_one_is_not() -> None:
    rng = np.random.default_rng(1)
    arms = {"answer-only": _arm(rng, 0.5, informative=False), "post-completion": _arm(rng, 0.5, informative=True)}
    f = _by_metric(measure_pcl(arms, seed=0, n_bootstrap=300, margin=0.05, bins=5))
    assert f["self_reward_auroc.post-completion"].verdict == "present"
    assert f["self_reward_auroc.answer-only"].verdict != "present"
    assert f["self_reward_brier_skill.post-completion"].verdict == "present"
    assert f["self_reward_brier_skill.answer-only"].verdict != "present"
    assert f["accuracy_gain"].verdict != "present"  # same accuracy in both arms


# ----------------------------------------------------------------------------- self-questioning
def test_proposals_parse_and_invalid_ones_are_marked() -> None:
    p = parse_proposal("What is 23 x 9?")
    assert p.valid and p.expression == "23 * 9" and p.difficulty == 2
    assert parse_proposal("What is 4 + 123?").difficulty == 3
    assert not parse_proposal("Let me think of a problem.").valid
    assert not parse_proposal("What is 3.34 + 3.34?").valid  # decimals are not whole numbers
    assert not parse_proposal("What is 3 + 2i?").valid
    assert parse_proposal("What is 15 + 26 * 2?").expression == "15 + 26"  # the first a op b
    assert "23 * 9" in p.blind().question and "arithmetic problem" in PROPOSE


def test_self_made_rewards_need_no_answer_key() -> None:
    assert self_rewards(["7", "7", "7", "7"]) == ([1.0] * 4, 0.0)  # unanimous: nothing to learn for the proposer
    assert self_rewards(["1", "2", "3", "4"]) == ([1.0, 0.0, 0.0, 0.0], 0.0)  # all different (ties: smaller wins)
    assert self_rewards(["7", "7", "8", "no idea"]) == ([1.0, 1.0, 0.0, 0.0], 1.0)
    assert self_rewards(["x", "y", "z", "w"]) == ([0.0] * 4, 0.0)


def test_the_truth_measures_the_majority_against_the_real_value() -> None:
    proposals = [parse_proposal("What is 2 + 3?"), parse_proposal("What is 6 * 7?"), Proposal("nothing")]
    solved = Solved(proposals, [["5", "5", "6"], ["40", "40", "42"]], [[1, 1, 0], [1, 1, 0]], [1.0, 1.0, 0.0])
    report = report_round(solved)
    assert report.majority_correct == [True, False]  # 6 * 7 is 42, not the majority's 40
    assert report.single_correct == [True, False]
    assert report.valid_rate == pytest.approx(2 / 3)


def test_the_simulated_solver_shows_majority_precision_and_drift() -> None:
    cfg = SelfQuestioningConfig(sim_rounds=8, sim_proposals=64, sim_replicates=10, n_bootstrap=300)
    f = _by_metric(measure_simulated(cfg, seed=0, n_bootstrap=300))
    assert f["simulated.majority_precision"].verdict == "present"  # a majority of 4 beats one sample
    assert f["simulated.majority_precision"].details["simulation"] is True
    assert "simulated.proposed_difficulty_final" in f and "simulated.heldout_gain" in f


# ----------------------------------------------------------------------------- skills
def test_skill_edits_and_replay_selection() -> None:
    assert edit_skills(["a", "b"], "c", 2) == ["b", "c"]
    assert edit_skills(["a"], "a", 3) == ["a"] and edit_skills(["a"], "", 3) == ["a"]
    assert replay_select([0.9, 0.5, 0.6], [0.1, 0.4, 0.4]) == 2
    assert replay_select([0.5, 0.5], [0.5, 0.5]) == 0
    assert replay_select([0.1, 0.6, 0.6], [0.0, 0.0, 0.0]) == 1  # no hard solve: the easier wins, earliest first


def test_skill_arms_with_a_planted_gain_and_a_judge_of_known_quality() -> None:
    rng = np.random.default_rng(2)
    none = (rng.random(N) < 0.2).astype(float)
    helped = np.maximum(none, (rng.random(N) < 0.3).astype(float))
    truth = rng.random(N) < 0.4
    informative = SkillsRecord(p_yes=list(np.where(truth, 0.8, 0.3) + rng.normal(0, 0.1, N)), truth=list(truth))
    f = _by_metric(measure_skills({"none": none, "last": none.copy(), "replay": helped}, informative, 0, seed=0,
                                  n_bootstrap=300, margin=0.05))  # fmt: skip
    assert f["replay_minus_none"].verdict == "present"
    # identical arms: no difference, yet at 300 tasks Newcombe's interval (+-0.06) is wider than the 0.02 margin
    assert f["last_minus_none"].value == 0 and f["last_minus_none"].verdict == "inconclusive"
    assert f["replay_minus_none"].unit == "task" and f["judge_auroc"].unit == "task"
    assert f["judge_auroc"].verdict == "present"
    blind_judge = SkillsRecord(p_yes=list(rng.random(N) * 0.2 + 0.7), truth=list(truth))  # says yes to everything
    g = _by_metric(measure_skills({"none": none, "last": none, "replay": none}, blind_judge, 0, seed=0,
                                  n_bootstrap=300, margin=0.05))  # fmt: skip
    assert g["judge_auroc"].verdict != "present"
    assert g["judge_overcredit"].verdict == "present"
    assert g["replay_minus_none"].verdict not in ("present", "reversed") and g["replay_minus_none"].value == 0


def test_ground_truth_only_reports() -> None:
    class Item:
        def __init__(self, id: str, question: str, answer: int) -> None:
            self.id, self.question, self.answer = id, question, answer

    truth = GroundTruth([Item("a", "1+1?", 2)], lambda item, out: out.strip() == str(item.answer))
    blind = truth.blind()
    assert not hasattr(blind[0], "answer")
    assert truth.correct(["a", "a"], ["2", "3"]) == [True, False]


def test_self_questioning_never_trains_on_a_held_out_question() -> None:
    from reflectlab.selfplay.self_play.self_questioning import (
        Solved,
        parse_proposal,
        question_keys,
        training_examples,
        without_held_out,
    )

    held_out = question_keys((3, 4), ("+",)) | question_keys((9, 2), ("-",))
    proposals = [parse_proposal(t) for t in ("What is 4 + 3?", "What is 5 * 6?", "nonsense", "What is 9 - 2?")]
    solved = Solved(proposals, [["7", "7"], ["30", "30"], ["7", "7"]], [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
                    [1.0, 1.0, 0.0, 1.0])  # fmt: skip
    kept = without_held_out(solved, held_out)
    assert [p.text for p in kept.proposals] == ["What is 5 * 6?", "nonsense"]  # the commuted twin of 3 + 4 goes too
    assert kept.answers == [["30", "30"]] and kept.proposer_rewards == [1.0, 0.0]
    trained_on = [turn["content"] for example in training_examples(kept) for turn in example]
    assert not any(q in text for text in trained_on for q in ("4 + 3", "3 + 4", "9 - 2"))
    assert len(training_examples(solved)) > len(training_examples(kept))
    assert question_keys((9, 2), ("-",)) == {"9 - 2"}  # subtraction does not commute
