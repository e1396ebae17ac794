"""The run-layout reader in ``reflectlab.core.tracking``: what a run leaves in the store, read back in one place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reflectlab.core.findings import Finding
from reflectlab.core.plots import pyplot, save_figure
from reflectlab.core.tracking import (
    FINDINGS_ARTIFACT,
    MLFLOW_ENV,
    TAG_INQUIRY,
    TAG_KIND,
    TAG_PRESET,
    TAG_STUDY,
    WALL_SECONDS,
    Tracker,
    quiet_mlflow,
    wall_seconds,
)


def _finding(study: str) -> Finding:
    return Finding(
        study=study, metric="effect", value=0.3, ci_low=0.2, ci_high=0.4, n=50, control="control",
        control_value=0.0, side="recognition", model="m",
    )  # fmt: skip


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    t = Tracker(tmp_path_factory.mktemp("layout") / "results")
    parent = t.start("reflectlab/intro", "intro", {TAG_KIND: "inquiry", TAG_INQUIRY: "intro", TAG_PRESET: "smoke"})
    for study, preset in (("intro/a", "smoke"), ("intro/b", "quick")):
        tags = {TAG_KIND: "study", TAG_INQUIRY: "intro", TAG_STUDY: study, TAG_PRESET: preset}
        run_id = t.start("reflectlab/intro", study, tags, parent=parent)
        with t.staging() as stage:
            (stage / FINDINGS_ARTIFACT).write_text(json.dumps([_finding(study).to_dict()]))
            (stage / "plots").mkdir()
            (stage / "plots" / "curve.png").write_bytes(b"\x89PNG")
            t.log_artifacts(run_id, stage)
        t.log_metrics(run_id, {"accuracy": 0.5}, step=0)
        t.log_metrics(run_id, {"accuracy": 0.7, WALL_SECONDS: 12.0}, step=1)
        t.end(run_id)
    t.end(parent)
    return t


def test_runs_are_found_by_kind_parent_and_preset(tracker: Tracker) -> None:
    (parent,) = tracker.parent_runs("intro")
    assert tracker.parent_runs("other") == []
    assert tracker.get_run("latest", inquiry="intro").info.run_id == parent.info.run_id
    studies = tracker.study_runs(parent.info.run_id)
    assert sorted(r.data.tags[TAG_STUDY] for r in studies) == ["intro/a", "intro/b"]
    assert [r.data.tags[TAG_STUDY] for r in tracker.study_runs(preset="quick")] == ["intro/b"]
    assert tracker.run_by_id(parent.info.run_id) is not None and tracker.run_by_id("0" * 32) is None


def test_findings_artifacts_and_metrics_read_back(tracker: Tracker) -> None:
    (run,) = tracker.study_runs(preset="smoke")
    run_id = run.info.run_id
    assert [f.to_dict() for f in tracker.findings(run_id)] == [_finding("intro/a").to_dict()]  # NaN p-values
    assert tracker.artifact_paths(run_id) == [FINDINGS_ARTIFACT, "plots/curve.png"]
    assert tracker.artifact_bytes(run_id, "plots/curve.png") == b"\x89PNG"
    assert tracker.artifact_bytes(run_id, "missing.txt") is None and tracker.read_text_artifact(run_id, "x") is None
    assert tracker.metric_history(run_id, "accuracy") == [(0, 0.5), (1, 0.7)]
    assert wall_seconds(run) == 12.0 and wall_seconds(tracker.parent_runs()[0]) is None
    parent_id = tracker.parent_runs()[0].info.run_id
    assert tracker.findings(parent_id) == []


def test_quiet_mlflow_fills_only_unset_keys() -> None:
    env = {"DO_NOT_TRACK": "false"}
    quiet_mlflow(env)
    assert env == {**MLFLOW_ENV, "DO_NOT_TRACK": "false"}


@pytest.mark.slow  # a fresh interpreter imports MLflow
def test_importing_tracking_leaves_the_environment_alone_and_a_tracker_turns_telemetry_off(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "before = dict(os.environ)\n"
        "import reflectlab.core.tracking as t\n"
        "assert dict(os.environ) == before and 'mlflow' not in sys.modules\n"
        f"t.Tracker({str(tmp_path)!r})\n"
        "from mlflow.telemetry import get_telemetry_client\n"
        "from mlflow.telemetry.utils import is_telemetry_disabled\n"
        "assert is_telemetry_disabled() and get_telemetry_client() is None\n"
        "assert all(os.environ[k] == v for k, v in t.MLFLOW_ENV.items())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in MLFLOW_ENV and k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_save_figure_writes_and_closes(tmp_path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "sub" / "line.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig.number)
