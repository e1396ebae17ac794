"""End to end: `platform run compounding preset=smoke` on the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker

pytestmark = pytest.mark.slow


def test_compounding_smoke(tmp_path: Path) -> None:
    out = platform("run", "compounding", "preset=smoke", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    findings = tracker.read_json_artifact(parent.info.run_id, "findings.json")
    assert {f["side"] for f in findings} == {"self-signal"}
    metrics = {f["metric"] for f in findings}
    assert {
        "verifier_gain",
        "simulated_minus_predicted_floor",
        "measured_minus_predicted",
        "exact_minus_none",
    } <= metrics
    children = {c.data.tags["reflectlab.study"]: c for c in tracker.children(parent.info.run_id)}
    training = children["compounding/self_training"]
    artifacts = {a.path for a in tracker.client.list_artifacts(training.info.run_id)}
    assert {"measured_vs_predicted.png", "rounds.jsonl", "samples.jsonl", "findings.json"} <= artifacts
    history = tracker.client.get_metric_history(training.info.run_id, "exact.kept_precision")
    assert [m.step for m in history] == [1, 2]  # kept-data precision measured every round
    recurrence = {a.path for a in tracker.client.list_artifacts(children["compounding/recurrence"].info.run_id)}
    assert {"accuracy_per_round.png", "predicted_floor.png", "grid.jsonl"} <= recurrence
