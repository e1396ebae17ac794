"""End to end: `platform run emergence preset=smoke` on the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker

pytestmark = pytest.mark.slow


def test_emergence_smoke(tmp_path: Path) -> None:
    out = platform("run", "emergence", "preset=smoke", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    findings = tracker.read_json_artifact(parent.info.run_id, "findings.json")
    assert {f["side"] for f in findings} == {"recognition"}
    assert {f["study"] for f in findings} == {
        "emergence/self_description",
        "emergence/knowledge_awareness",
        "emergence/on_policy_entropy",
    }
    assert all(f["control"] and f["n"] > 0 for f in findings)
    # One primary per study; steering is a diagnostic beside the detection's primary.
    primary = {f["study"]: f["metric"] for f in findings if f["primary"]}
    assert primary == {
        "emergence/self_description": "self_report_twin_contrast",
        "emergence/knowledge_awareness": "real_direction_minus_familiarity_auroc",
        "emergence/on_policy_entropy": "self_preference_interaction",
    }
    assert "steer_refusal_vs_random" in {f["metric"] for f in findings if not f["primary"]}
    children = {c.data.tags["reflectlab.study"]: c for c in tracker.children(parent.info.run_id)}

    def artifacts(study: str, path: str | None = None) -> set[str]:
        run_id = children[study].info.run_id
        return {a.path for a in tracker.client.list_artifacts(run_id, path)}

    assert {"samples.jsonl", "findings.json", "adapters"} <= artifacts("emergence/self_description")
    assert "adapters/risky-seed0" in artifacts("emergence/self_description", "adapters")
    assert {"sae", "sae_quality.json", "steering.jsonl"} <= artifacts("emergence/knowledge_awareness")
    assert {"samples.jsonl", "findings.json"} <= artifacts("emergence/on_policy_entropy")

    # The logged SAE loads with sae-lens and the logged adapter with PEFT.
    from peft import PeftConfig
    from sae_lens import SAE

    sae_dir = tracker.client.download_artifacts(children["emergence/knowledge_awareness"].info.run_id, "sae",
                                                str(tmp_path / "dl"))  # fmt: skip
    assert SAE.load_from_disk(sae_dir).cfg.d_sae == 256
    adapter = tracker.client.download_artifacts(children["emergence/self_description"].info.run_id,
                                                "adapters/risky-seed0", str(tmp_path / "dl"))  # fmt: skip
    assert PeftConfig.from_pretrained(adapter).peft_type == "LORA"
