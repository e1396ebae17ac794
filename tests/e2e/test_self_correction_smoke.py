"""End to end: `platform run self-correction preset=smoke` on the embedded model, and the confirmatory study on an
imported JSONL of traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker
from reflectlab.evals.traces import example_path

pytestmark = pytest.mark.slow


def test_self_correction_smoke(tmp_path: Path) -> None:
    out = platform("run", "self-correction", "preset=smoke", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    findings = tracker.read_json_artifact(parent.info.run_id, "findings.json")
    assert {f["side"] for f in findings} == {"correction"}
    metrics = {f["metric"] for f in findings}
    assert {
        "confirmatory_minus_resample_agreement",
        "confirmatory_share",
        "corrective_transition_rate",
        "harmful_transition_rate",
        "final_minus_first_accuracy",
        "final_minus_truncated_accuracy",
        "self_bias",
        "own_minus_other_framing",
        "comparison_minus_pointwise_auroc",
        "delta.base",
        "delta.rl",
        "rl_minus_pair_sft_delta",
    } <= metrics
    assert all(f["verdict"] in ("present", "absent", "reversed", "inconclusive") for f in findings)
    # a transition rate has no problem to count where no trace moved from a wrong (or right) answer: inconclusive
    sparse = {"corrective_transition_rate", "harmful_transition_rate"}
    assert all(f["n"] > 0 for f in findings if f["metric"] not in sparse)
    assert all(f["verdict"] == "inconclusive" for f in findings if f["metric"] in sparse and f["n"] == 0)
    children = {c.data.tags["reflectlab.study"]: c for c in tracker.children(parent.info.run_id)}
    online = children["self-correction/offline_vs_online"]
    artifacts = {a.path for a in tracker.client.list_artifacts(online.info.run_id)}
    assert {"attempts.png", "samples.jsonl", "findings.json"} <= artifacts
    history = tracker.client.get_metric_history(online.info.run_id, "rl/train/reward")
    assert [m.step for m in history] == [1, 2]  # the rl trainer's steps reach the tracker


def test_imported_traces_are_analysed_by_the_same_study(tmp_path: Path) -> None:
    traces = tmp_path / "traces.jsonl"
    traces.write_text(example_path().read_text())
    out = platform("run", "self-correction/confirmatory_reflection", "preset=smoke",
                   f"studies.confirmatory_reflection.traces={traces}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    findings = tracker.read_json_artifact(tracker.get_run("latest").info.run_id, "findings.json")
    share = next(f for f in findings if f["metric"] == "confirmatory_share")
    assert share["n"] == 10 and share["details"]["transitions"]["F->T"] == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    out = platform("run", "self-correction/confirmatory_reflection", "preset=smoke",
                   f"studies.confirmatory_reflection.traces={bad}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2 and "line 1: missing field" in out.stderr and "Traceback" not in out.stderr
