"""The self-correction inquiry: each study's metrics on planted cases (with a no-plant case that must not come out
present), and each study run end to end on a tiny random model (seconds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import numpy as np
import pytest

from reflectlab.core.calibrate import calibrate_study
from reflectlab.core.config import ConfigValueError, FineTune, build_config
from reflectlab.core.errors import UserError
from reflectlab.core.findings import Finding
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.registry import inquiries
from reflectlab.evals.traces import Trace, analyse
from reflectlab.training.self_correction import SelfCorrection, confirmatory, offline_online, self_trust
from reflectlab.training.self_correction.confirmatory import (
    ConfirmatoryConfig,
    ConfirmatorySimulator,
    ConfirmatoryStudy,
    TraceResult,
)
from reflectlab.training.self_correction.offline_online import (
    ArmResult,
    OfflineOnlineConfig,
    OfflineOnlineSimulator,
    OfflineOnlineStudy,
    changed_answer,
    edit_distance,
)
from reflectlab.training.self_correction.self_trust import (
    Judged,
    SelfTrustConfig,
    SelfTrustSimulator,
    SelfTrustStudy,
    candidates,
)

N = 60


class Measure(TypedDict):
    margin: float
    seed: int
    n_bootstrap: int


KW: Measure = {"margin": 0.05, "seed": 0, "n_bootstrap": 300}


def _by_metric(findings: list[Finding]) -> dict[str, Finding]:
    return {f.metric: f for f in findings}


# ----------------------------------------------------------------------------- confirmatory reflection
def _traces(
    values_per_trace: list[list[int]], gold: int = 5, resampled: list[list[int | None]] | None = None
) -> list[TraceResult]:
    """Traces with these candidates; each problem's independent first answers are ``resampled`` (cycled), by default
    answers that agree half the time."""
    pool = resampled or [[5, 5, 3, 3]]
    out = []
    for i, values in enumerate(values_per_trace):
        text = "\n".join(f"Answer: {v}" for v in values)
        a = analyse(Trace(f"t{i}", "What is 2 + 3?", gold, text))
        out.append(TraceResult(a, truncated_correct=a.first_correct, tokens_total=10, tokens_after_first=4,
                               resampled=list(pool[i % len(pool)])))  # fmt: skip
    return out


def test_confirmatory_planted_confirmation() -> None:
    found = _by_metric(confirmatory.measure(_traces([[5, 5, 5], [3, 3]] * (N // 2)), **KW))
    assert found["confirmatory_share"].value == 1.0 and found["confirmatory_share"].verdict == "present"
    primary = found["confirmatory_minus_resample_agreement"]
    assert primary.primary and primary.value == pytest.approx(1 - 2 / 6)  # resamples agree in 2 of their 6 pairs
    assert primary.verdict == "present" and primary.bearing == "opposes"
    # no trace changes its answer, but 60 problems at an accuracy of 0.5 cannot show the gain is inside 0.05
    assert found["final_minus_first_accuracy"].verdict == "inconclusive"
    assert found["confirmatory_share"].details["transitions"] == {
        "T->T": N, "F->F same": N // 2, "F->F different": 0, "F->T": 0, "T->F": 0,
    }  # fmt: skip
    assert found["final_minus_truncated_accuracy"].details["tokens_after_first_share"] == pytest.approx(0.4)


def test_confirmatory_planted_correction() -> None:
    found = _by_metric(confirmatory.measure(_traces([[3, 5]] * N), **KW))
    assert found["final_minus_first_accuracy"].value == 1.0
    assert found["final_minus_first_accuracy"].verdict == "present"
    assert found["final_minus_truncated_accuracy"].verdict == "present"
    assert found["confirmatory_share"].verdict == "reversed"  # no transition confirms: the opposite tendency
    assert found["final_minus_first_accuracy"].details["corrective_rate"] == 1.0
    assert found["corrective_transition_rate"].value == 1.0 and found["corrective_transition_rate"].verdict == "present"
    assert np.isnan(found["harmful_transition_rate"].value)  # no transition from a right answer


def test_confirmatory_no_plant_is_not_present() -> None:
    """Half the reflections change the answer (to and from right equally): no tendency, no net correction."""
    found = _by_metric(confirmatory.measure(_traces([[5, 5], [3, 3], [3, 5], [5, 3]] * (N // 4)), **KW))
    assert found["confirmatory_share"].value == 0.5 and found["confirmatory_share"].verdict != "present"
    assert found["final_minus_first_accuracy"].verdict != "present"


def test_a_model_that_repeats_itself_anyway_is_not_confirming() -> None:
    """Every answer to a problem is the same, in the trace and in independent resamples: the old control (half of
    the transitions) reads confirmation; against the resamples' agreement there is none."""
    traces = _traces([[5, 5, 5], [3, 3]] * (N // 2), resampled=[[5, 5, 5, 5], [3, 3, 3, 3]])
    found = _by_metric(confirmatory.measure(traces, **KW))
    assert found["confirmatory_share"].verdict == "present"
    primary = found["confirmatory_minus_resample_agreement"]
    assert primary.value == 0.0 and primary.verdict != "present"
    unreadable = _traces([[5, 5]] * 4, resampled=[[None, 5, None, None]])  # fewer than two readable resamples
    assert np.isnan(unreadable[0].resample_agreement)


# ----------------------------------------------------------------------------- self-trust
def _judged(correct: np.ndarray, own: np.ndarray, p_own: np.ndarray, p_other: np.ndarray, p_cmp: np.ndarray) -> Judged:
    n = len(correct)
    return Judged(np.arange(n) // 4, own, correct, p_own, p_other, -np.arange(n, dtype=float), p_cmp)


def _layout() -> tuple[np.ndarray, np.ndarray]:
    """Four candidates per problem: own (wrong every other problem), and three others of which one is correct."""
    rng = np.random.default_rng(0)
    own = np.tile([True, False, False, False], N)
    correct = np.zeros(4 * N, dtype=bool)
    for i in range(N):
        correct[4 * i] = i % 2 == 0
        if i % 2:
            correct[4 * i + 1 + rng.integers(3)] = True
    return own, correct


def test_self_trust_planted_overtrust_and_framing() -> None:
    own, correct = _layout()
    truth = correct.astype(float)
    p = np.where(own, 0.95, 0.15 + 0.7 * truth)  # trusts its own answer whatever it is
    found = _by_metric(self_trust.measure(_judged(correct, own, p, p - 0.2, p), **KW))  # 'another's': 0.2 lower
    assert found["self_bias"].verdict == "present" and found["self_bias"].value == pytest.approx(0.45)
    assert found["own_minus_other_framing"].verdict == "present"
    assert found["comparison_minus_pointwise_auroc"].verdict != "present"


def test_self_trust_planted_comparison_arm_and_discrimination() -> None:
    own, correct = _layout()
    truth = correct.astype(float)
    pointwise = np.full(len(truth), 0.5) + 0.01 * np.random.default_rng(1).standard_normal(len(truth))
    found = _by_metric(self_trust.measure(_judged(correct, own, pointwise, pointwise, 0.1 + 0.8 * truth), **KW))
    assert found["comparison_minus_pointwise_auroc"].verdict == "present"
    assert found["judge_auroc"].verdict != "present"


def test_self_trust_no_plant_is_not_present() -> None:
    """A calibrated judge that ignores framing: no self-bias, no framing effect."""
    own, correct = _layout()
    p = 0.1 + 0.8 * correct.astype(float)
    found = _by_metric(self_trust.measure(_judged(correct, own, p, p, p), **KW))
    assert found["self_bias"].verdict == "absent"
    assert found["own_minus_other_framing"].verdict == "absent"
    assert found["judge_auroc"].verdict == "present" and found["brier_minus_base_rate"].verdict == "present"


def test_candidates_deduplicate_and_mark_the_own_answer() -> None:
    from reflectlab.evals.tasks.arithmetic import generate_problems

    p = generate_problems(1, seed=3, digits=1, ops="+")[0]
    assert candidates(p, p.answer + 1, [-1, 1]) == [(p.answer + 1, True), (p.answer, False), (p.answer - 1, False)]
    assert candidates(p, None, [1]) == [(p.answer, False), (p.answer + 1, False)]


# ----------------------------------------------------------------------------- offline vs online
def _arm(name: str, r1: list[int], r2: list[int], first: list[str], second: list[str]) -> ArmResult:
    return ArmResult(name, first, second, np.array(r1, dtype=float), np.array(r2, dtype=float))


def test_offline_online_planted_rl_gain_and_sft_collapse() -> None:
    r1 = [1, 0] * (N // 2)
    same = [f"2 + 3 = {4 + v}" for v in r1]
    fixed = ["2 + 3 = 5"] * N
    results = {
        "base": _arm("base", r1, r1, same, [f"Hmm, {s}" if i % 2 else s for i, s in enumerate(same)]),
        "pair_sft": _arm("pair_sft", r1, r1, same, same),
        "rl": _arm("rl", r1, [1] * N, same, fixed),
    }
    found = _by_metric(offline_online.measure(results, **KW))
    assert found["delta.rl"].verdict == "present" and found["delta.rl"].value == pytest.approx(0.5)
    assert found["delta_minus_base.rl"].verdict == "present" and found["rl_minus_pair_sft_delta"].verdict == "present"
    # no answer moves, but 60 problems at an accuracy of 0.5 cannot show the delta is inside the margin
    assert found["delta.base"].verdict == "inconclusive" and found["delta.pair_sft"].verdict == "inconclusive"
    details = found["delta.rl"].details
    assert details["delta_i_to_c"][0] == pytest.approx(0.5) and details["delta_c_to_i"][0] == 0.0
    assert details["answer_changed_share"][0] == pytest.approx(0.5)
    # a floor in both arms (0 of 60 changed) is not "absent": Newcombe's interval [-0.06, 0.06] exceeds the margin
    assert found["answer_change_minus_base.pair_sft"].verdict == "inconclusive"


def test_offline_online_planted_collapse() -> None:
    r1 = [1, 0] * (N // 2)
    first = [f"2 + 3 = {4 + v}" for v in r1]
    changes = [f"2 + 3 = {7 + i % 3}" for i in range(N)]
    results = {"base": _arm("base", r1, [0] * N, first, changes), "star": _arm("star", r1, r1, first, first)}
    found = _by_metric(offline_online.measure(results, **KW))
    assert found["answer_change_minus_base.star"].verdict == "present"
    assert found["delta.base"].verdict == "reversed"  # the opposite of a gain: it breaks right answers


def test_edit_distance_and_answer_change() -> None:
    assert edit_distance("abc", "abc") == 0.0 and edit_distance("", "") == 0.0
    assert edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert not changed_answer("2 + 3 = 5", "The answer is 5.")
    assert changed_answer("2 + 3 = 5", "2 + 3 = 6") and changed_answer("no idea", "5") and not changed_answer("a", "b")


# ----------------------------------------------------------------------------- units, primaries, simulators
def test_one_primary_per_study_counted_in_problems() -> None:
    rng = np.random.default_rng(0)
    sims = {
        "confirmatory_minus_resample_agreement": ConfirmatorySimulator(ConfirmatoryConfig()),
        "own_minus_other_framing": SelfTrustSimulator(SelfTrustConfig(n_bootstrap=100)),
        "delta.rl": OfflineOnlineSimulator(OfflineOnlineConfig()),
    }
    bearing = {"confirmatory_minus_resample_agreement": "opposes", "own_minus_other_framing": "opposes",
               "delta.rl": "supports"}  # fmt: skip
    for metric, sim in sims.items():
        found = sim.measure(sim.simulate(rng, 0.0), seed=0)
        assert [f.metric for f in found if f.primary] == [metric]
        assert all(f.unit == "problem" for f in found), metric
        primary = sim.primary(found)
        assert primary.bearing == bearing[metric] and primary.p_value == primary.p_value  # a p-value, not NaN
    size = {"own_minus_other_framing": 96, "delta.rl": 80}
    for metric, sim in sims.items():
        primary = sim.primary(sim.measure(sim.simulate(rng, 0.0), seed=0))
        # the confirmation primary counts the problems whose trace has a transition (and resamples that agree or not)
        assert primary.n <= size.get(metric, primary.details.get("traces_with_reflection", 0))


def test_confirmatory_simulator_null_and_planted_where_accuracy_is_middling() -> None:
    sim = ConfirmatorySimulator(ConfirmatoryConfig(), accuracy=0.5)
    cal = calibrate_study("self-correction/confirmatory_reflection", sim, reps=100, mde=False)
    assert cal.false_present_rate <= 0.1 and cal.power >= 0.6


def test_resampling_at_a_ceiling_fooled_the_old_control_not_the_resample_agreement() -> None:
    """A model that is usually right and only resamples its answer: against 0.5 (the old headline) that reads
    ``present`` nearly always; against the agreement of independent resamples it holds its level."""
    old = ConfirmatorySimulator(ConfirmatoryConfig(), accuracy=0.9, metric="confirmatory_share")
    assert calibrate_study("c", old, reps=60, mde=False).false_present_rate > 0.5
    new = ConfirmatorySimulator(ConfirmatoryConfig(), accuracy=0.9)
    assert calibrate_study("c", new, reps=100, mde=False).false_present_rate <= 0.1


def test_final_minus_first_is_calibrated_under_resampling() -> None:
    sim = ConfirmatorySimulator(ConfirmatoryConfig(), metric="final_minus_first_accuracy")
    assert calibrate_study("c", sim, reps=100, mde=False).false_present_rate <= 0.1


def test_self_trust_simulator_null_and_planted() -> None:
    cal = calibrate_study("self-correction/self_trust", SelfTrustSimulator(SelfTrustConfig()), reps=100, mde=False)
    assert cal.false_present_rate <= 0.1 and cal.power >= 0.6


def test_a_general_yes_lean_reads_as_self_bias_but_not_as_framing() -> None:
    """self_bias (a diagnostic) cannot tell a lean to 'yes' on every candidate from trusting its own answers; the
    framing contrast, the primary, can."""
    sim = SelfTrustSimulator(SelfTrustConfig(), yes_lean_sd=0.0)
    data = sim.simulate(np.random.default_rng(0), 0.0)
    data.p_own_frame = np.clip(data.p_own_frame + 0.3, 0.0, 1.0)
    data.p_other_frame = np.clip(data.p_other_frame + 0.3, 0.0, 1.0)
    found = _by_metric(sim.measure(data, seed=0))
    assert found["self_bias"].verdict == "present"
    assert found["own_minus_other_framing"].verdict != "present"


def test_offline_online_simulator_null_and_planted() -> None:
    sim = OfflineOnlineSimulator(OfflineOnlineConfig(arms=["base", "rl"]))
    cal = calibrate_study("self-correction/offline_vs_online", sim, reps=100, mde=False)
    assert cal.false_present_rate <= 0.1 and cal.power >= 0.5


def test_offline_online_floor_is_never_present() -> None:
    sim = OfflineOnlineSimulator(OfflineOnlineConfig(arms=["base", "rl"]), accuracy=0.01, seed_sd=0.0)
    found = sim.primary(sim.measure(sim.simulate(np.random.default_rng(0), 0.0), seed=0))
    assert found.verdict in ("absent", "inconclusive")


# ----------------------------------------------------------------------------- the studies on a tiny model
def _ctx(tiny_dir: Path, tmp_path: Path) -> RunContext:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)


def test_confirmatory_study_generates_and_imports(tiny_dir: Path, tmp_path: Path) -> None:
    study = ConfirmatoryStudy()
    cfg = ConfirmatoryConfig(n_problems=4, solve_tokens=8, check_tokens=8, force_tokens=4, n_bootstrap=50)
    found = _by_metric(study.run(_ctx(tiny_dir, tmp_path), cfg))
    assert set(found) == {
        "confirmatory_minus_resample_agreement",
        "confirmatory_share",
        "corrective_transition_rate",
        "harmful_transition_rate",
        "final_minus_first_accuracy",
        "final_minus_truncated_accuracy",
    }
    assert found["final_minus_first_accuracy"].n == 4 and found["final_minus_first_accuracy"].verdict == "inconclusive"
    assert found["confirmatory_minus_resample_agreement"].primary
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and all(confirmatory.CHECK_CUE in s["output"] for s in samples)
    assert all(len(s["extras"]["resampled_first_answers"]) == cfg.resamples for s in samples)
    imported = _by_metric(study.run(_ctx(tiny_dir, tmp_path / "imp"), ConfirmatoryConfig(traces="example")))
    share = imported["confirmatory_share"]
    assert share.model == "hand-written (reflectlab example)" and share.n == 10
    assert share.details["transitions"]["T->T"] == 7 and share.details["source"] == "imported from example"
    llm = ConfirmatoryConfig(traces="example", extractor="llm", n_bootstrap=50)
    assert _by_metric(study.run(_ctx(tiny_dir, tmp_path / "llm"), llm))["final_minus_first_accuracy"].n == 12


def test_self_trust_study(tiny_dir: Path, tmp_path: Path) -> None:
    found = SelfTrustStudy().run(_ctx(tiny_dir, tmp_path), SelfTrustConfig(n_problems=5, answer_tokens=6,
                                                                          n_bootstrap=50))  # fmt: skip
    metrics = _by_metric(found)
    assert (metrics["judge_auroc"].n, metrics["judge_auroc"].unit) == (5, "problem")  # problems, not candidates
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(rows) >= 5 * 4  # gold and three distractors per problem at least
    assert all(0.0 <= r["extras"]["p_compare"] <= 1.0 for r in rows)
    assert {r["arm"] for r in rows} <= {"own", "offered"} and all(0.0 <= r["score"] <= 1.0 for r in rows)
    by_problem: dict[str, float] = {}
    for r in rows:
        by_problem[r["unit"]] = by_problem.get(r["unit"], 0.0) + r["extras"]["p_compare"]
    assert all(total == pytest.approx(1.0) for total in by_problem.values())  # one distribution per problem


def test_offline_online_study_trains_every_arm(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = OfflineOnlineConfig(n_train=6, n_eval=6, attempt_tokens=6, second_samples=2, train=FineTune(epochs=1.0),
                              rl_steps=1, n_bootstrap=50)  # fmt: skip
    ctx = RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path, work_dir=tmp_path / "work")
    found = _by_metric(OfflineOnlineStudy().run(ctx, cfg))
    assert {"delta.base", "delta.pair_sft", "delta.star", "delta.rl", "rl_minus_pair_sft_delta"} <= set(found)
    assert found["delta.pair_sft"].details["n_train_examples"] > 0  # a random model gets most first attempts wrong
    assert found["delta.rl"].details["train_steps"] == 1
    assert (tmp_path / "attempts.png").is_file()
    # Each trained arm in its content-keyed folder, its adapter copied (star has no data: a random model makes no
    # successful correction).
    for arm in ("pair_sft", "rl"):
        assert any((tmp_path / "work" / "fine-tunes" / arm).iterdir()) and (tmp_path / "adapters" / arm).is_dir()


def test_registered_and_bad_config() -> None:
    assert inquiries.get("self-correction") is SelfCorrection
    assert set(SelfCorrection.studies) == {"confirmatory_reflection", "self_trust", "offline_vs_online"}
    with pytest.raises(ConfigValueError, match="unknown or empty"):
        OfflineOnlineConfig(arms=["dpo"])
    with pytest.raises(ConfigValueError, match="ops"):
        SelfTrustConfig(ops="/")
    with pytest.raises(ConfigValueError, match="extractor"):
        ConfirmatoryConfig(extractor="regex")
    with pytest.raises(UserError, match="no traces file"):
        confirmatory._source(ConfirmatoryConfig(traces="/nonexistent/traces.jsonl"))


def test_bad_values_are_refused_naming_the_key() -> None:
    inquiry = SelfCorrection()
    cls, presets = inquiry.config_class(), inquiry.presets()
    with pytest.raises(UserError, match=r"'studies\.offline_vs_online\.arms'"):
        build_config(cls, presets, ["preset=smoke", "studies.offline_vs_online.arms=[dpo]"])
    with pytest.raises(UserError, match=r"'studies\.offline_vs_online\.(train\.)?epochs'"):
        build_config(cls, presets, ["studies.offline_vs_online.train.epochs=0"])
    cfg = build_config(cls, presets, ["preset=smoke"])
    assert cfg.studies.offline_vs_online.train.epochs == 1.0 and cfg.studies.offline_vs_online.train.lora_r == 16
