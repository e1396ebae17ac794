"""End to end on the real embedded model: `platform run introspection preset=smoke`, then the same command again."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker

CONTRACT = {
    "study",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "control",
    "control_value",
    "side",
    "verdict",
    "model",
}

pytestmark = pytest.mark.slow


def test_smoke_run_on_smollm2_then_cached_rerun(tmp_path: Path) -> None:
    t0 = time.time()
    first = platform("run", "introspection", "preset=smoke", cwd=tmp_path)
    first_s = time.time() - t0
    assert first.returncode == 0, first.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    findings = tracker.read_json_artifact(parent.info.run_id, "findings.json")
    assert findings and all(set(f) >= CONTRACT for f in findings)
    assert {f["side"] for f in findings} == {"recognition"}
    assert {f["model"] for f in findings} == {"smollm2-135m-instruct"}
    metrics = {f["metric"] for f in findings}
    assert {"self_auroc", "cross_auroc", "surprisal_auroc", "privileged_access", "style_confound"} <= metrics
    assert all(f["n"] > 0 for f in findings)
    (child,) = tracker.children(parent.info.run_id)
    samples_path = Path(tracker.client.download_artifacts(child.info.run_id, "samples.jsonl", str(tmp_path)))
    samples = [json.loads(line) for line in samples_path.read_text().splitlines()]
    assert len(samples) == 12 and {"prompt", "output", "verdict"} <= set(samples[0])
    assert child.data.metrics["model_work_tokens"] > 0

    t1 = time.time()
    second = platform("run", "introspection", "preset=smoke", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    rerun = tracker.get_run("latest")
    (child2,) = tracker.children(rerun.info.run_id)
    assert child2.data.metrics["model_work_tokens"] == 0  # every generation and score came from the cache
    assert tracker.read_json_artifact(rerun.info.run_id, "findings.json") == findings
    print(f"first run {first_s:.0f}s, cached rerun {time.time() - t1:.0f}s")
