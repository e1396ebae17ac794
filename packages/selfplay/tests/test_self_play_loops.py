"""Each self-play loop end to end on a tiny random model: it runs, logs its per-round truth-tracking records and
returns the findings its docs promise. (The measurements themselves are tested on planted data elsewhere.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflectlab.core.config import ConfigValueError, FineTune, build_config
from reflectlab.core.errors import UserError
from reflectlab.core.inquiry import RunContext
from reflectlab.core.models.spec import ModelSpec
from reflectlab.core.registry import inquiries
from reflectlab.selfplay.self_play.post_completion import PostCompletionConfig, PostCompletionStudy
from reflectlab.selfplay.self_play.self_judging import SelfJudgingConfig, SelfJudgingStudy
from reflectlab.selfplay.self_play.self_questioning import SelfQuestioningConfig, SelfQuestioningStudy
from reflectlab.selfplay.self_play.skills import SkillsConfig, SkillsStudy


def _ctx(tiny_dir: Path, tmp_path: Path) -> RunContext:
    return RunContext(model_spec=ModelSpec(name=str(tiny_dir)), seed=0, out_dir=tmp_path)


def test_the_inquiry_is_registered_and_every_preset_builds() -> None:
    inquiry = inquiries.get("self-play")()
    assert set(inquiry.studies) == {"self_judging", "post_completion", "self_questioning", "skills"}
    for preset in ("smoke", "quick", "full"):
        cfg = build_config(inquiry.config_class(), inquiry.presets(), [f"preset={preset}"])
        assert cfg.studies.skills.enabled
    smoke = build_config(inquiry.config_class(), inquiry.presets(), ["preset=smoke"])
    assert smoke.studies.post_completion.train.epochs == 1.0 and smoke.studies.post_completion.train.lora_r == 16


def test_bad_values_are_refused_before_a_run_naming_the_key() -> None:
    inquiry = inquiries.get("self-play")()
    with pytest.raises(UserError, match=r"studies\.self_questioning\.trainer"):
        build_config(inquiry.config_class(), inquiry.presets(), ["studies.self_questioning.trainer=ppo"])
    with pytest.raises(ConfigValueError, match="responses"):
        SelfJudgingConfig(responses=1)


def test_self_judging_runs_with_the_rl_scored_trainer(tiny_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("reflectlab.training.rl")
    cfg = SelfJudgingConfig(rounds=2, n_prompts=2, responses=3, n_heldout=4, answer_tokens=4, judge_groups=3,
                            sim_strengths=[1.0], sim_rounds=2, sim_prompts=4, sim_replicates=2, n_bootstrap=50)  # fmt: skip
    findings = {f.metric for f in SelfJudgingStudy().run(_ctx(tiny_dir, tmp_path), cfg)}
    assert {"judge_accuracy", "reward_truth_auroc", "order_swap_agreement", "intransitive_rate",
            "heldout_gain", "simulated.heldout_gain.s1"} <= findings  # fmt: skip
    rows = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 3 and {r["extras"]["round"] for r in rows} == {1, 2}
    assert {r["item"] for r in rows} == {0, 1, 2} and all(isinstance(r["verdict"], bool) for r in rows)


def test_post_completion_trains_every_arm(tiny_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("reflectlab.training.rl")
    cfg = PostCompletionConfig(n_train=4, samples_per_problem=2, n_heldout=4, answer_tokens=4,
                               train=FineTune(epochs=1.0), rl_arm=True, rl_samples=2, span_tokens=4, n_bootstrap=50)  # fmt: skip
    findings = {f.metric: f for f in PostCompletionStudy().run(_ctx(tiny_dir, tmp_path), cfg)}
    assert {"accuracy_gain", "accuracy_gain.rl", "self_reward_auroc.post-completion", "self_reward_auroc.answer-only",
            "self_reward_auroc.post-completion+rl", "self_reward_brier_skill.post-completion"} <= set(findings)  # fmt: skip
    tokens = findings["accuracy_gain"].details["mean_answer_tokens"]
    assert set(tokens) == {"answer-only", "post-completion", "post-completion+rl"}
    assert all(v <= 4 for v in tokens.values())  # equal inference budget, the span never generated
    assert {p.name for p in (tmp_path / "adapters").iterdir()} == {"answer-only", "post-completion", "rl"}
    rows = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert {r["arm"] for r in rows} == {"answer-only", "post-completion", "post-completion+rl"}


def test_self_questioning_runs_both_updates(tiny_dir: Path, tmp_path: Path) -> None:
    for trainer in ("sft", "rl-scored"):
        if trainer == "rl-scored":
            pytest.importorskip("reflectlab.training.rl")
        cfg = SelfQuestioningConfig(trainer=trainer, rounds=2, n_proposals=3, solutions=3, n_heldout=4,
                                    proposal_tokens=8, answer_tokens=4, sim_rounds=2, sim_proposals=8,
                                    sim_replicates=2, n_bootstrap=50)  # fmt: skip
        out = tmp_path / trainer
        out.mkdir()
        findings = {f.metric for f in SelfQuestioningStudy().run(_ctx(tiny_dir, out), cfg)}
        assert {"majority_precision", "heldout_gain", "simulated.majority_precision"} <= findings
        rows = (out / "samples.jsonl").read_text().splitlines()
        assert len(rows) == 2 * 3


def test_skills_compares_three_skill_sets(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = SkillsConfig(iterations=2, n_tasks=2, n_replay=4, n_heldout=4, answer_tokens=4, skill_tokens=8,
                       n_bootstrap=50)  # fmt: skip
    findings = {f.metric for f in SkillsStudy().run(_ctx(tiny_dir, tmp_path), cfg)}
    assert {"replay_minus_none", "last_minus_none", "replay_minus_last", "judge_auroc", "judge_overcredit"} <= findings
    sets = [json.loads(x) for x in (tmp_path / "skill_sets.jsonl").read_text().splitlines()]
    assert [s["iteration"] for s in sets] == [1, 2]
