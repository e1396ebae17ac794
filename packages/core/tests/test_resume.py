"""An interrupted run is marked KILLED, keeps its finished studies, and ``resume=`` finishes it from the cache.

The run is a real ``platform`` process on the example plugin (tests/plugin_example) and a tiny random model. Its
``context_fit`` study stops at a gate file after its first scoring pass and announces it, so the signal arrives at
a known point without any timing; the gate is then opened and the run resumed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reflectlab.core.testing import run_platform as platform
from reflectlab.core.tracking import TAG_RESUMED, TAG_STUDY, Tracker

GREEDY = "example/greedy_vs_sampled"
GATED = "example/context_fit"


def _args(tiny_dir: Path, gate: Path) -> list[str]:
    return [
        "run",
        "example",
        "preset=smoke",
        f"model.name={tiny_dir}",
        "studies.context_fit.enabled=true",
        f"studies.context_fit.gate={gate}",
    ]


def _interrupted_run(tmp_path: Path, tiny_dir: Path, signum: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Start a run, wait until its gated study announces the gate, send ``signum``; return the finished process."""
    gate = tmp_path / "gate"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["OMP_NUM_THREADS"] = "1"
    exe = Path(sys.executable).parent / "platform"
    proc = subprocess.Popen(
        [str(exe), *_args(tiny_dir, gate)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waiting = Path(f"{gate}.waiting")
    # Poll for the announcement; the loop ends when it appears or the process exits (a bug), never on a clock.
    while not waiting.exists() and proc.poll() is None:
        time.sleep(0.1)
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(f"the run ended before its gate (exit {proc.returncode}):\n{out}\n{err}")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), gate


def _children(tracker: Tracker, run_id: str) -> dict[str, list[Any]]:
    by_study: dict[str, list[Any]] = {}
    for child in sorted(tracker.children(run_id), key=lambda r: r.info.start_time):
        by_study.setdefault(child.data.tags[TAG_STUDY], []).append(child)
    return by_study


@pytest.mark.slow  # a whole run in a subprocess, interrupted and resumed: about a minute
def test_sigterm_marks_killed_and_resume_finishes_without_redoing_work(tmp_path: Path, tiny_dir: Path) -> None:
    killed, gate = _interrupted_run(tmp_path, tiny_dir, signal.SIGTERM)
    assert killed.returncode == 128 + signal.SIGTERM, killed.stderr
    last = killed.stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: run ") and "resume=" in last, killed.stderr
    assert "Traceback" not in killed.stderr

    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    run_id = parent.info.run_id
    assert parent.info.status == "KILLED"
    assert f"platform run example resume={run_id}" in last
    before = _children(tracker, run_id)
    assert [c.info.status for c in before[GREEDY]] == ["FINISHED"]
    assert [c.info.status for c in before[GATED]] == ["KILLED"]
    kept = tracker.read_json_artifact(before[GREEDY][0].info.run_id, "findings.json")
    assert kept and kept[0]["metric"] == "logprob_gap"  # the finished study's findings survive the interrupt
    killed_work = before[GATED][0].data.metrics["model_work_tokens"]
    assert killed_work > 0  # the first scoring pass ran (and went to the cache) before the signal

    gate.touch()
    resumed = platform("run", "example", "resume=latest", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "finished studies skipped (greedy_vs_sampled)" in resumed.stdout

    parent = tracker.get_run("latest")
    assert parent.info.run_id == run_id and parent.info.status == "FINISHED"
    assert parent.data.tags[TAG_RESUMED] == "1"
    after = _children(tracker, run_id)
    assert [c.info.run_id for c in after[GREEDY]] == [before[GREEDY][0].info.run_id]  # not run again
    assert [c.info.status for c in after[GATED]] == ["KILLED", "FINISHED"]
    findings = tracker.read_json_artifact(run_id, "findings.json")
    assert [f["study"] for f in findings] == [GREEDY, GATED]

    # The same run uninterrupted, in a fresh store: same findings, and the interrupted study's two attempts
    # together did exactly its model work (the resumed attempt took the first pass from the cache).
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = platform(*_args(tiny_dir, gate), cwd=fresh_dir)
    assert fresh.returncode == 0, fresh.stderr
    fresh_tracker = Tracker(fresh_dir / "reflectlab-results")
    fresh_id = fresh_tracker.get_run("latest").info.run_id
    # Equal up to float rounding: the two processes may split a matrix product over threads differently.
    fresh_findings = fresh_tracker.read_json_artifact(fresh_id, "findings.json")
    assert len(fresh_findings) == len(findings)
    for got, want in zip(fresh_findings, findings, strict=True):
        numbers = {k for k, v in want.items() if isinstance(v, float)}
        assert {k: v for k, v in got.items() if k not in numbers} == {k: v for k, v in want.items() if k not in numbers}
        assert {k: got[k] for k in numbers} == pytest.approx({k: want[k] for k in numbers}, rel=1e-5)
    (fresh_gated,) = _children(fresh_tracker, fresh_id)[GATED]
    resumed_work = after[GATED][1].data.metrics["model_work_tokens"]
    assert resumed_work > 0
    assert killed_work + resumed_work == fresh_gated.data.metrics["model_work_tokens"]


@pytest.mark.slow  # a whole run in a subprocess, interrupted and resumed: about a minute
def test_sigint_marks_killed_and_resume_refuses_another_config(tmp_path: Path, tiny_dir: Path) -> None:
    killed, gate = _interrupted_run(tmp_path, tiny_dir, signal.SIGINT)
    assert killed.returncode == 128 + signal.SIGINT, killed.stderr
    tracker = Tracker(tmp_path / "reflectlab-results")
    parent = tracker.get_run("latest")
    assert parent.info.status == "KILLED"
    assert {c.info.status for c in tracker.children(parent.info.run_id)} == {"FINISHED", "KILLED"}

    gate.touch()
    other = platform("run", "example", f"resume={parent.info.run_id[:8]}", "seed=5", cwd=tmp_path)
    assert other.returncode == 2
    assert "resume: seed=5 differs from run" in other.stderr and len(other.stderr.strip().splitlines()) == 1
    wrong = platform("run", "introspection", f"resume={parent.info.run_id}", cwd=tmp_path)
    assert wrong.returncode == 2 and "not a run of the inquiry 'introspection'" in wrong.stderr
    assert tracker.get_run(parent.info.run_id).info.status == "KILLED"  # refused before the run was touched
