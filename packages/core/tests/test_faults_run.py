"""Faults met by a whole ``platform run`` (in this process, on the example plugin and a tiny model): each ends in
one line on stderr, opens no run where it can be checked up front, and keeps what finished.

The same faults against real processes (SIGKILL, SIGTERM, runs started together) are in tests/faults (slow)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reflectlab.core.cli import main
from reflectlab.core.models.loader import check_hub_name
from reflectlab.core.process import TAG_PID
from reflectlab.core.tracking import TAG_STUDY, Tracker

pytestmark = pytest.mark.slow  # whole runs on a tiny model, one after another: about 12 s

GREEDY = "example/greedy_vs_sampled"


def _platform(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    """The one line a fault ends with (progress bars, redrawn with carriage returns, are not lines of text)."""
    lines = [line for line in err.strip().splitlines() if line.strip() and "\r" not in line and "it/s]" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _example(tiny_dir: Path, results: Path, *extra: str) -> list[str]:
    return ["run", "example", "preset=smoke", f"model.name={tiny_dir}", f"results_dir={results}", *extra]


def test_an_unwritable_results_folder_is_one_line(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _platform(capsys, *_example(tiny_dir, Path("/proc/nope")))
    assert code == 2
    assert _one_line(err) == (
        "error: cannot write the results folder /proc/nope (No such file or directory); give a writable one with "
        "results_dir=<folder>"
    )


def test_a_hub_name_offline_stops_before_any_run_in_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    check_hub_name.cache_clear()
    t0 = time.perf_counter()
    code, _, err = _platform(capsys, "run", "example", "model.name=Qwen/Qwen2.5-0.5B-Instruct")
    assert code == 2 and time.perf_counter() - t0 < 5
    assert _one_line(err).startswith("error: model.name='Qwen/Qwen2.5-0.5B-Instruct' is neither a local folder nor")
    assert not (tmp_path / "reflectlab-results").exists()  # refused before anything was written


def test_a_cache_that_is_not_sqlite_stops_before_any_run(
    tmp_path: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "cache.sqlite").write_text("not a database\n" * 200)
    code, _, err = _platform(capsys, *_example(tiny_dir, results))
    assert code == 2
    assert _one_line(err) == (
        f"error: the cache {results / 'cache.sqlite'} is not a SQLite database; move it away or delete it (the cache "
        "is rebuilt from scratch), or run with cache=false"
    )
    assert Tracker(results).runs() == []


def test_a_full_disk_is_one_line_keeps_finished_studies_and_resumes(
    tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    copies: list[str] = []
    real = shutil.copyfile

    def copyfile(src: str, dst: str, **kw: bool) -> str:
        name = os.path.basename(src)
        copies.append(name)
        if name == "findings.json" and copies.count(name) == 2:  # the parent's, after the study's
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, **kw)

    monkeypatch.setattr(shutil, "copyfile", copyfile)
    code, _, err = _platform(capsys, *_example(tiny_dir, results))
    monkeypatch.undo()
    assert code == 2
    line = _one_line(err)
    tracker = Tracker(results)
    parent = tracker.get_run("latest")
    run_id = parent.info.run_id
    assert line.startswith("error: disk full while writing ") and "findings.json (No space left on device)" in line
    assert line.endswith(
        f"; the finished studies are kept; free some space, then continue with: platform run example resume={run_id} "
        f"results_dir={results}"
    )
    assert parent.info.status == "FAILED"
    (study,) = tracker.children(run_id)
    assert study.info.status == "FINISHED"
    assert [p for p in results.rglob("*") if ".partial" in p.name] == []

    code, out, err = _platform(capsys, *_example(tiny_dir, results, "resume=latest"))
    assert code == 0, err
    assert "finished studies skipped (greedy_vs_sampled)" in out
    assert tracker.get_run(run_id).info.status == "FINISHED"
    assert [f.to_dict() for f in tracker.findings(run_id)] == [f.to_dict() for f in tracker.findings(study.info.run_id)]


def test_a_run_left_running_by_a_dead_process_shows_dead_and_resume_marks_it_killed(
    tmp_path: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    code, _, err = _platform(capsys, *_example(tiny_dir, results))
    assert code == 0, err
    tracker = Tracker(results)
    parent = tracker.get_run("latest")
    run_id = parent.info.run_id
    (study,) = tracker.children(run_id)
    # What SIGKILL leaves: both runs RUNNING, their process gone.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for rid in (run_id, study.info.run_id):
        tracker.client.update_run(rid, status="RUNNING")
        tracker.client.set_tag(rid, TAG_PID, dead.stdout.strip())

    code, out, _ = _platform(capsys, "show", run_id[:8], "--results-dir", str(results))
    assert code == 0
    assert f"status DEAD (left RUNNING by pid {dead.stdout.strip()} on " in out.splitlines()[0]
    assert f"{GREEDY}: DEAD (left RUNNING by pid" in out

    code, out, err = _platform(capsys, *_example(tiny_dir, results, f"resume={run_id[:8]}"))
    assert code == 0, err
    statuses = sorted((c.data.tags[TAG_STUDY], c.info.status) for c in tracker.children(run_id))
    assert statuses == [(GREEDY, "FINISHED"), (GREEDY, "KILLED")]
    assert tracker.get_run(run_id).info.status == "FINISHED"
