"""The results store under faults: a fresh store made by several processes at once, a folder that cannot be
written, runs left RUNNING by a dead process, artifacts written whole, and findings.json files that do not read."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reflectlab.core.atomic import DiskFull
from reflectlab.core.errors import UserError
from reflectlab.core.process import TAG_HOST, TAG_PID, process_alive
from reflectlab.core.synthesis import collect
from reflectlab.core.tracking import PARENT, TAG_KIND, TAG_MODEL, TAG_STUDY, Tracker, store_lock


def test_the_store_lock_lets_one_process_make_a_fresh_store_at_a_time(tmp_path: Path) -> None:
    """Two first runs at once both created MLflow's schema and one died; the lock serialises that step. (Runs
    started together on a fresh folder: tests/faults.)"""
    order: list[str] = []
    with store_lock(tmp_path / "results"):
        other = threading.Thread(target=lambda: _locked(tmp_path / "results", order))
        other.start()
        time.sleep(0.3)
        order.append("first done")
    other.join(timeout=30)
    assert order == ["first done", "second in"]


def _locked(results: Path, order: list[str]) -> None:
    with store_lock(results):
        order.append("second in")


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    """One store for the tests below (making a fresh MLflow store takes seconds)."""
    return Tracker(tmp_path_factory.mktemp("store") / "results")


def test_a_results_folder_that_cannot_be_written_is_one_line() -> None:
    with pytest.raises(UserError) as info:
        Tracker("/proc/nope")
    assert str(info.value) == (
        "cannot write the results folder /proc/nope (No such file or directory); give a writable one with "
        "results_dir=<folder>"
    )


def _dead_pid() -> str:
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def test_runs_name_their_process_and_a_dead_one_is_told_from_a_live_one(tracker: Tracker) -> None:
    parent = tracker.start("reflectlab/faults", "p", {TAG_KIND: "inquiry"})
    child = tracker.start("reflectlab/faults", "c", {TAG_KIND: "study", TAG_STUDY: "faults/c"}, parent=parent)
    tags = tracker.client.get_run(child).data.tags
    assert (tags[TAG_HOST], tags[TAG_PID], tags[PARENT]) == (socket.gethostname(), str(os.getpid()), parent)
    assert process_alive(tags) is True
    live = tracker.status_line(tracker.client.get_run(child))
    assert live == f"RUNNING (pid {os.getpid()} on {socket.gethostname()}, alive)"
    with pytest.raises(UserError, match=f"run {parent[:8]} is still running"):
        tracker.reap(parent)  # a live run is never resumed beside itself

    dead = _dead_pid()
    for run_id in (parent, child):
        tracker.client.set_tag(run_id, TAG_PID, dead)
    assert process_alive(tracker.client.get_run(child).data.tags) is False
    assert tracker.status_line(tracker.client.get_run(child)) == (
        f"DEAD (left RUNNING by pid {dead} on {socket.gethostname()}, which is gone)"
    )
    assert process_alive({TAG_HOST: "another-host", TAG_PID: dead}) is None  # cannot be told from here
    assert process_alive({}) is None

    assert tracker.reap(parent) == [child]
    assert tracker.client.get_run(child).info.status == "KILLED"
    assert tracker.status_line(tracker.client.get_run(child)) == "KILLED"


def test_end_open_ends_what_an_error_cut_short(tracker: Tracker) -> None:
    tracker = Tracker(tracker.results_dir)  # a tracker of its own: it ends only the runs it opened
    done = tracker.start("reflectlab/faults", "done", {})
    cut = tracker.start("reflectlab/faults", "cut", {})
    tracker.end(done)
    assert tracker.end_open("FAILED") == [cut]
    assert tracker.client.get_run(cut).info.status == "FAILED"
    assert tracker.client.get_run(done).info.status == "FINISHED"


def test_artifacts_are_written_whole_and_a_full_disk_keeps_the_old_ones(
    tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tracker.start("reflectlab/faults", "r", {})
    stage = tmp_path / "stage"
    (stage / "sub").mkdir(parents=True)
    (stage / "findings.json").write_text("[]")
    (stage / "sub" / "x.txt").write_text("x")
    tracker.log_artifacts(run, stage)
    assert tracker.artifact_paths(run) == ["findings.json", "sub/x.txt"]

    (stage / "findings.json").write_text('[{"study": "a"}]')

    def full(src: object, dst: object, **_: object) -> None:
        Path(str(dst)).write_text('[{"stu')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(DiskFull, match=r"disk full while writing .*findings\.json"):
        tracker.log_artifacts(run, stage)
    monkeypatch.undo()
    assert tracker.read_text_artifact(run, "findings.json") == "[]"
    folder = Path(tracker.client.get_run(run).info.artifact_uri.removeprefix("file://"))
    assert not [p for p in folder.rglob("*") if ".partial" in p.name]


GOOD = (
    '[{"study": "faults/good", "metric": "m", "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 20, '
    '"control": "chance", "control_value": 0.0, "side": "recognition", "verdict": "present", "model": "tiny"}]'
)


def _study_run(tracker: Tracker, tmp_path: Path, study: str, text: str, parent: str | None = None) -> str:
    run = tracker.start("reflectlab/faults", study, {TAG_KIND: "study", TAG_STUDY: study, TAG_MODEL: "tiny"}, parent)
    stage = tmp_path / f"stage-{run}"
    stage.mkdir()
    (stage / "findings.json").write_text(text)
    tracker.log_artifacts(run, stage)
    tracker.end(run)
    return run


def test_findings_that_do_not_read_are_skipped_with_one_line_naming_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker = Tracker(tmp_path / "results")
    good = _study_run(tracker, tmp_path, "faults/good", GOOD)
    truncated = _study_run(tracker, tmp_path, "faults/truncated", GOOD[:57])
    off_contract = _study_run(tracker, tmp_path, "faults/off", '[{"study": "faults/off", "value": 1}]')
    wrong_side = _study_run(tracker, tmp_path, "faults/side", GOOD.replace('"recognition"', '"elsewhere"'))
    capsys.readouterr()

    assert [f.study for f in tracker.findings(good)] == ["faults/good"]
    for run in (truncated, off_contract, wrong_side):
        assert tracker.findings(run) == []
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"warning: run {truncated} skipped: its findings.json does not parse (")
    assert lines[1] == (
        f"warning: run {off_contract} skipped: its findings.json does not follow the contract (record 0 lacks "
        "metric, ci_low, ci_high, n, control, control_value, side, verdict, model)"
    )
    assert lines[2].startswith(f"warning: run {wrong_side} skipped: its findings.json does not follow the contract")
    assert tracker.findings(truncated) == [] and capsys.readouterr().err == ""  # said once

    synthesis = collect(Tracker(tmp_path / "results"))  # a fresh reader, as `platform synthesize` is
    assert [f.study for m in synthesis.models.values() for f in m.all_findings()] == ["faults/good"]
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_a_finished_study_whose_findings_do_not_read_runs_again_on_resume(
    tracker: Tracker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = tracker.start("reflectlab/faults", "p", {TAG_KIND: "inquiry"})
    good = _study_run(tracker, tmp_path, "faults/good", GOOD, parent)
    bad = _study_run(tracker, tmp_path, "faults/bad", GOOD[:40], parent)
    tracker.end(parent, "KILLED")
    capsys.readouterr()
    finished = tracker.finished_studies(parent)
    assert {k: v.info.run_id for k, v in finished.items()} == {"faults/good": good}
    assert capsys.readouterr().err.startswith(f"warning: run {bad} runs again: its findings.json does not parse")
