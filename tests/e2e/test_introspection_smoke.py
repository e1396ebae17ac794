"""End to end on the real embedded models: `platform run introspection preset=smoke`, then the same command again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflectlab.core.findings import CONTRACT_FIELDS
from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker

CONTRACT = set(CONTRACT_FIELDS)

pytestmark = pytest.mark.slow


def test_smoke_run_on_smollm2_then_cached_rerun(tmp_path: Path) -> None:
    first = platform("run", "introspection", "preset=smoke", cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    findings = tracker.read_json_artifact(parent.info.run_id, "findings.json")
    assert findings and all(set(f) >= CONTRACT for f in findings)
    assert {f["side"] for f in findings} == {"recognition"}
    assert {f["model"] for f in findings} == {"smollm2-135m-instruct"}
    assert {f["study"] for f in findings} == {
        "introspection/temperature", "introspection/self_prediction", "introspection/concept_injection"
    }  # fmt: skip
    metrics = {f["metric"] for f in findings}
    assert {"self_advantage_interaction", "privileged_access", "style_confound", "self_minus_cross",
            "detection_vs_random"} <= metrics  # fmt: skip
    assert all(f["n"] > 0 for f in findings if f["value"] is not None)
    children = {c.data.tags["reflectlab.study"]: c for c in tracker.children(parent.info.run_id)}
    assert all(c.info.status == "FINISHED" for c in children.values())
    temperature = children["introspection/temperature"]
    samples_path = Path(tracker.client.download_artifacts(temperature.info.run_id, "samples.jsonl", str(tmp_path)))
    samples = [json.loads(line) for line in samples_path.read_text().splitlines()]
    assert len(samples) == 24 and {"prompt", "output", "verdict"} <= set(samples[0])
    assert {s["extras"]["author"] for s in samples} == {"subject", "cross"}  # both models' texts are judged
    assert all(c.data.metrics["model_work_tokens"] > 0 for c in children.values())
    adapters = {
        a.path for a in tracker.client.list_artifacts(children["introspection/self_prediction"].info.run_id, "adapters")
    }
    assert {"adapters/self-m-seed0", "adapters/cross-m-seed0", "adapters/self-x-seed0", "adapters/cross-x-seed0",
            "adapters/changed"} <= adapters  # fmt: skip

    second = platform("run", "introspection", "preset=smoke", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    rerun = tracker.get_run("latest")
    for child in tracker.children(rerun.info.run_id):  # every generation, score and training came from the caches
        assert child.data.metrics["model_work_tokens"] == 0, child.data.tags["reflectlab.study"]
    assert tracker.read_json_artifact(rerun.info.run_id, "findings.json") == findings
