"""End to end: `platform run self-play preset=smoke` on the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker

pytestmark = pytest.mark.slow


def test_self_play_smoke(tmp_path: Path) -> None:
    out = platform("run", "self-play", "preset=smoke", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    findings = tracker.read_json_artifact(parent.info.run_id, "findings.json")
    assert {f["side"] for f in findings} == {"self-signal"}
    by_study: dict[str, set[str]] = {}
    for f in findings:
        by_study.setdefault(f["study"], set()).add(f["metric"])
    assert {"judge_accuracy", "reward_truth_auroc", "order_swap_agreement", "intransitive_rate", "heldout_gain",
            "simulated.heldout_gain.s2"} <= by_study["self-play/self_judging"]  # fmt: skip
    assert {"accuracy_gain", "self_reward_auroc.post-completion"} <= by_study["self-play/post_completion"]
    assert {"majority_precision", "simulated.majority_precision"} <= by_study["self-play/self_questioning"]
    assert {"replay_minus_none", "replay_minus_last", "judge_auroc"} <= by_study["self-play/skills"]
    simulated = [f for f in findings if f["metric"].startswith("simulated.")]
    assert simulated and all(f["model"] == "simulation" and f["details"]["simulation"] for f in simulated)
    children = {c.data.tags["reflectlab.study"]: c for c in tracker.children(parent.info.run_id)}
    judging = children["self-play/self_judging"].info.run_id
    assert [m.step for m in tracker.client.get_metric_history(judging, "true_sample_accuracy")] == [1]
    assert sorted(m.step for m in tracker.client.get_metric_history(judging, "heldout_accuracy")) == [0, 1]
    assert "truth_tracking.png" in {a.path for a in tracker.client.list_artifacts(judging)}
    questioning = children["self-play/self_questioning"].info.run_id
    assert [m.step for m in tracker.client.get_metric_history(questioning, "valid_rate")] == [1]
    artifacts = {a.path for a in tracker.client.list_artifacts(children["self-play/skills"].info.run_id)}
    assert {"skill_sets.jsonl", "samples.jsonl", "findings.json"} <= artifacts
