"""A third-party plugin package (tests/plugin_example, installed by the test set-up) is found and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import Tracker

pytestmark = pytest.mark.slow  # each test runs `platform` in a subprocess: about 50 s together


def test_platform_list_shows_the_plugin_and_the_builtins(tmp_path: Path) -> None:
    out = platform("list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "example" in out.stdout and "[reflectlab-example-plugin]" in out.stdout
    assert "example/greedy_vs_sampled" in out.stdout
    assert "introspection/temperature" in out.stdout


def test_plugin_runs_end_to_end_and_logs_the_contract(tmp_path: Path, tiny_dir: Path) -> None:
    out = platform("run", "example", "preset=smoke", f"model.name={tiny_dir}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    assert parent.info.status == "FINISHED"
    assert parent.data.params["studies.greedy_vs_sampled.n_prompts"] == "4"  # resolved config logged
    (child,) = tracker.children(parent.info.run_id)
    findings = tracker.read_json_artifact(child.info.run_id, "findings.json")
    assert findings[0]["metric"] == "logprob_gap" and findings[0]["verdict"] in (
        "present",
        "absent",
        "inconclusive",
    )
    artifacts = {a.path for a in tracker.client.list_artifacts(child.info.run_id)}
    assert {"findings.json", "samples.jsonl", "timing.json"} <= artifacts
    assert not (tmp_path / "mlruns").exists()  # nothing lands in the working directory by accident
    # the parent run carries every finding and the resolved config
    assert tracker.read_json_artifact(parent.info.run_id, "findings.json") == findings
    assert {"config.yaml", "findings.json"} <= {a.path for a in tracker.client.list_artifacts(parent.info.run_id)}


def test_a_failing_study_exits_1_and_the_others_are_kept(tmp_path: Path, tiny_dir: Path) -> None:
    out = platform(
        "run",
        "example",
        "preset=smoke",
        f"model.name={tiny_dir}",
        "studies.broken.enabled=true",
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "broken FAILED: RuntimeError: this study fails on purpose" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    statuses = {c.data.tags["reflectlab.study"]: c.info.status for c in tracker.children(parent.info.run_id)}
    assert statuses == {"example/greedy_vs_sampled": "FINISHED", "example/broken": "FAILED"}
    broken = next(c for c in tracker.children(parent.info.run_id) if c.info.status == "FAILED")
    assert "Traceback" in _artifact_text(tracker, broken.info.run_id, "error.txt")
    assert len(tracker.read_json_artifact(parent.info.run_id, "findings.json")) == 1


def _artifact_text(tracker: Tracker, run_id: str, name: str) -> str:
    import tempfile

    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=name, dst_path=tmp, tracking_uri=tracker.uri
        )
        return Path(path).read_text()


def test_show_and_synthesize_read_the_run_back(tmp_path: Path, tiny_dir: Path) -> None:
    assert platform("run", "example", "preset=smoke", f"model.name={tiny_dir}", cwd=tmp_path).returncode == 0
    show = platform("show", "latest", cwd=tmp_path)
    assert show.returncode == 0 and "logprob_gap" in show.stdout and "FINISHED" in show.stdout
    synth = platform("synthesize", cwd=tmp_path)
    assert synth.returncode == 0 and str(tiny_dir) in synth.stdout and "recognition:" in synth.stdout
    assert json.loads(json.dumps(synth.stdout))  # plain text, printable
