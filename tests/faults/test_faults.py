"""The fault-injection suite (slow lane): real ``platform`` processes killed, started together, fed a damaged cache
or store, or stopped by a full disk; every fault ends in one clear line, and nothing finished is lost.

The target is the ``introspection/temperature`` study at its ``smoke`` preset on two tiny random models (subject
and cross-model judge): the cheapest real study, so a whole run is a few seconds of model work and the suite's
time goes into the faults. Every process runs with one torch thread, so two runs of one config compute the same
floats and findings are compared value for value.

Kills: a run killed at seeded random points, each time resumed with ``resume=latest``, ends with the findings of
an uninterrupted run (same seed, cache off) and no run left RUNNING. SIGKILL is what the OOM killer and a
pre-empted node send: the process cannot mark its runs, so the resume must find them RUNNING with their process
gone and mark them KILLED. SIGTERM is what schedulers and ``kill`` send: the run marks itself KILLED and exits 143
(or, when the signal lands before the handler is set or after it is removed, the process just ends). A kill point
is a time after the run opened, drawn from a seeded generator over the span an uninterrupted run stays open (from
its first line to its findings: model work, MLflow writes, artifact copies). A resumed run does less work, so a
point may fall after it has closed: that run must then have finished with the same findings, the next attempt
starts afresh, and later points are drawn over its shorter span.
SIGKILL and SIGTERM are tried side by side, each in its own results folder.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reflectlab.core.tracking import Tracker

pytestmark = pytest.mark.slow

#: The line ``platform run`` prints when the run has ended: ``9 findings in 3s (run ...)``.
CLOSED = re.compile(r"^\d+ findings in ")

PLATFORM = Path(sys.executable).parent / "platform"


def platform_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


@dataclass
class Proc:
    """A running ``platform`` process whose output is read as it comes."""

    popen: subprocess.Popen[str]
    started: float
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    announced: threading.Event = field(default_factory=threading.Event)
    announced_at: float | None = None
    closed_at: float | None = None  # when it printed its findings (the run has ended; the process exits next)
    _readers: list[threading.Thread] = field(default_factory=list)

    def wait_announced(self, timeout: float = 600) -> bool:
        """Wait until the run is opened (its ``run <id>`` line) or the process ends; True when it was opened."""
        deadline = time.monotonic() + timeout
        while not self.announced.wait(0.05):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                return self.announced.is_set()
        return True

    def finish(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        code = self.popen.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=30)
        return subprocess.CompletedProcess(self.popen.args, code, "".join(self.out), "".join(self.err))


def start(args: list[str], cwd: Path, command: list[str] | None = None) -> Proc:
    popen = subprocess.Popen(
        [*(command or [str(PLATFORM)]), *args],
        cwd=cwd,
        env=platform_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc = Proc(popen, time.monotonic())

    def read_out() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            proc.out.append(line)
            if line.startswith(("run ", "resuming run ")) and not proc.announced.is_set():
                proc.announced_at = time.monotonic()
                proc.announced.set()
            elif CLOSED.match(line) and proc.closed_at is None:
                proc.closed_at = time.monotonic()

    def read_err() -> None:
        assert popen.stderr is not None
        for line in popen.stderr:
            proc.err.append(line)

    proc._readers = [threading.Thread(target=read_out, daemon=True), threading.Thread(target=read_err, daemon=True)]
    for reader in proc._readers:
        reader.start()
    return proc


def platform(args: list[str], cwd: Path, command: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return start(args, cwd, command).finish()


def text_lines(err: str) -> list[str]:
    """stderr without progress bars (redrawn with carriage returns)."""
    return [line for line in err.splitlines() if line.strip() and "\r" not in line and "it/s]" not in line]


def parent_findings(results: Path, run_ref: str = "latest") -> list[dict[str, Any]]:
    tracker = Tracker(results)
    run = tracker.get_run(run_ref)
    text = tracker.read_text_artifact(run.info.run_id, "findings.json")
    assert text is not None, f"run {run.info.run_id} has no findings.json"
    records = json.loads(text)
    assert isinstance(records, list)
    return records


def running_runs(results: Path) -> list[str]:
    """Runs of the store still marked RUNNING (after a run has ended, none may be)."""
    return [f"{r.info.run_id} {r.info.run_name}" for r in Tracker(results).runs() if r.info.status == "RUNNING"]


@pytest.fixture(scope="session")
def target(tiny_dir: Path, tiny_base_dir: Path) -> list[str]:
    """The run every fault is tried on (see the module docstring)."""
    return [
        "run",
        "introspection/temperature",
        "preset=smoke",
        f"model.name={tiny_dir}",
        f"studies.temperature.cross_judge={tiny_base_dir}",
    ]


@dataclass
class Baseline:
    findings: list[dict[str, Any]]
    seconds_open: float  # from the run's first line to its findings (the span the run is open)


def run_baseline(target: list[str], cwd: Path) -> Baseline:
    """The uninterrupted run with the same seed and the cache off, and how long it ran after it opened."""
    proc = start([*target, "cache=false"], cwd)
    done = proc.finish()
    assert done.returncode == 0, done.stderr[-3000:]
    assert proc.announced_at is not None and proc.closed_at is not None
    findings = parent_findings(cwd / "reflectlab-results")
    assert findings and {f["study"] for f in findings} == {"introspection/temperature"}
    return Baseline(findings, proc.closed_at - proc.announced_at)


# ------------------------------------------------------------------------------------------------ kills
KILLS = 5  # kill points per signal that land while the process runs
SEED: dict[int, int] = {signal.SIGKILL: 23, signal.SIGTERM: 230}


@dataclass
class Chain:
    sig: int
    kills: list[tuple[float, int]] = field(default_factory=list)  # (seconds after the run opened, exit code)
    completed: int = 0  # runs that ended on their own, each compared with the baseline
    matched: int = 0

    def summary(self) -> str:
        return (
            f"{signal.Signals(self.sig).name}: {len(self.kills)} kills survived at {[p for p, _ in self.kills]} s "
            f"after the run opened (exit codes {sorted({c for _, c in self.kills})}); {self.matched} of "
            f"{self.completed} completed runs matched the uninterrupted findings value for value"
        )


def _kill_chain(sig: int, target: list[str], baseline: Baseline, cwd: Path) -> Chain:
    """Kill runs in ``cwd`` at seeded random points until :data:`KILLS` kills landed, resuming after each."""
    rng = random.Random(SEED[sig])
    chain = Chain(sig)
    results = cwd / "reflectlab-results"
    span = baseline.seconds_open  # kill points are drawn over this; a run that ends first narrows it
    resume = False
    attempts = 0
    while len(chain.kills) < KILLS:
        attempts += 1
        assert attempts <= 3 * KILLS, f"only {len(chain.kills)} kill points landed in {attempts - 1} runs"
        proc = start([*target, *(["resume=latest"] if resume else [])], cwd)
        if not proc.wait_announced():
            ended = proc.finish()
            pytest.fail(f"the run ended before it opened (exit {ended.returncode}):\n{ended.stderr[-3000:]}")
        assert proc.announced_at is not None
        point = rng.uniform(0.0, span)
        time.sleep(max(0.0, proc.announced_at + point - time.monotonic()))
        done = None
        if proc.closed_at is None and proc.popen.poll() is None:  # the run is still open: kill it
            proc.popen.send_signal(sig)
            done = proc.finish()
            if done.returncode != 0:  # (0: it closed and exited in the moment before the signal)
                chain.kills.append((round(point, 2), done.returncode))
                expected = {-signal.SIGKILL} if sig == signal.SIGKILL else {128 + signal.SIGTERM, -signal.SIGTERM, 130}
                assert done.returncode in expected, done.stderr[-3000:]
                assert "Traceback" not in done.stderr, done.stderr[-3000:]
                resume = True
                continue
        if done is None:
            done = proc.finish()  # it closed before the kill point
        span = min(span, (proc.closed_at or time.monotonic()) - proc.announced_at)
        assert done.returncode == 0, done.stderr[-3000:]
        chain.completed += 1
        assert parent_findings(results) == baseline.findings
        chain.matched += 1
        resume = False

    last = start([*target, "resume=latest"], cwd).finish()
    assert last.returncode == 0, last.stderr[-3000:]
    assert "Traceback" not in last.stderr and not [x for x in text_lines(last.stderr) if x.startswith("error")]
    chain.completed += 1
    assert parent_findings(results) == baseline.findings  # value for value, not up to rounding
    chain.matched += 1
    assert running_runs(results) == []
    return chain


def test_killed_at_random_points_and_resumed_equals_an_uninterrupted_run(
    target: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL and SIGTERM, each in its own results folder, side by side."""
    (tmp_path / "baseline").mkdir()
    baseline = run_baseline(target, tmp_path / "baseline")
    folders = {sig: tmp_path / signal.Signals(sig).name for sig in SEED}
    for folder in folders.values():
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=len(folders)) as pool:
        futures = {sig: pool.submit(_kill_chain, sig, target, baseline, folder) for sig, folder in folders.items()}
        chains = [futures[sig].result() for sig in folders]
    with capsys.disabled():  # the closing note of the suite reads these
        print("\n" + "\n".join(chain.summary() for chain in chains))
    for chain in chains:
        assert len(chain.kills) >= KILLS and chain.matched == chain.completed


# ------------------------------------------------------------------------------------ runs started together
@pytest.mark.parametrize("n", [2, 4])
def test_runs_started_together_on_a_fresh_folder_all_finish(n: int, target: list[str], tmp_path: Path) -> None:
    """Each first run creates MLflow's schema; without the store lock one of them died with an SQL error."""
    procs = [start(target, tmp_path) for _ in range(n)]
    done = [p.finish() for p in procs]
    assert [d.returncode for d in done] == [0] * n, [d.stderr[-2000:] for d in done]
    assert not [d for d in done if "Traceback" in d.stderr]
    results = tmp_path / "reflectlab-results"
    parents = Tracker(results).parent_runs()
    assert len(parents) == n and {p.info.status for p in parents} == {"FINISHED"}
    findings = [parent_findings(results, p.info.run_id) for p in parents]
    assert all(f == findings[0] for f in findings) and findings[0]
    assert running_runs(results) == []


# ------------------------------------------------------------------------------------ a damaged store or cache
@dataclass
class Warm:
    results: Path
    findings: list[dict[str, Any]]


@pytest.fixture(scope="module")
def warm(target: list[str], tmp_path_factory: pytest.TempPathFactory) -> Warm:
    """A results folder holding one finished run and its cache; each test below works on a copy."""
    cwd = tmp_path_factory.mktemp("warm")
    done = platform(target, cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return Warm(cwd / "reflectlab-results", parent_findings(cwd / "reflectlab-results"))


def _copy(warm: Warm, tmp_path: Path) -> Path:
    shutil.copytree(warm.results, tmp_path / "reflectlab-results")
    return tmp_path / "reflectlab-results"


def test_damaged_cache_rows_are_recomputed_with_one_warning(target: list[str], warm: Warm, tmp_path: Path) -> None:
    results = _copy(warm, tmp_path)
    db = sqlite3.connect(results / "cache.sqlite")
    keys = [k for (k,) in db.execute("SELECT key FROM entries ORDER BY key LIMIT 5")]
    db.executemany("UPDATE entries SET value = ? WHERE key = ?", [('{"text": "cut sho', k) for k in keys])
    db.commit()
    db.close()
    done = platform(target, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert text_lines(done.stderr) == [
        f"warning: 5 damaged rows in the cache {results / 'cache.sqlite'} were read as misses, recomputed and "
        "overwritten"
    ]
    assert parent_findings(results) == warm.findings
    db = sqlite3.connect(results / "cache.sqlite")
    for key in keys:  # overwritten with a value that reads
        json.loads(db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()[0])
    db.close()


def test_a_truncated_findings_json_in_the_store_is_skipped_and_its_study_runs_again(
    target: list[str], warm: Warm, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reflectlab.core.cli import main

    results = _copy(warm, tmp_path)
    tracker = Tracker(results)
    parent = tracker.get_run("latest")
    (study,) = tracker.children(parent.info.run_id)
    stored = Path(study.info.artifact_uri.removeprefix("file://")) / "findings.json"
    stored.write_text(stored.read_text()[: len(stored.read_text()) // 2])  # what a crash mid-copy once left
    capsys.readouterr()

    for command in (["synthesize"], ["show", parent.info.run_id]):  # what a user reads the store with
        assert main([*command, "--results-dir", str(results)]) == 0
        (line,) = text_lines(capsys.readouterr().err)
        assert line.startswith(f"warning: run {study.info.run_id} skipped: its findings.json does not parse (")
    dashboard = pytest.importorskip("reflectlab.dashboard.store")
    assert dashboard.Store(results).findings(study.info.run_id) == []
    assert study.info.run_id in capsys.readouterr().err

    done = platform([*target, f"resume={parent.info.run_id[:8]}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"warning: run {study.info.run_id} runs again" in done.stderr
    statuses = sorted(c.info.status for c in tracker.children(parent.info.run_id))
    assert statuses == ["FINISHED", "FINISHED"]
    assert parent_findings(results, parent.info.run_id) == warm.findings


FULL_DISK = """
import errno, os, shutil, sys
real, seen = shutil.copyfile, []
def copyfile(src, dst, **kw):
    seen.append(os.path.basename(src))
    if seen.count("findings.json") == 2 and os.path.basename(src) == "findings.json":  # the parent's, at the end
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(src, dst, **kw)
shutil.copyfile = copyfile
from reflectlab.core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_during_an_artifact_write_is_one_line_and_resumes(
    target: list[str], warm: Warm, tmp_path: Path
) -> None:
    """The disk fills when the run's own findings.json is copied into the store, after its study finished."""
    results = _copy(warm, tmp_path)
    done = platform(target, tmp_path, command=[sys.executable, "-c", FULL_DISK])
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = text_lines(done.stderr)
    run_id = Tracker(results).get_run("latest").info.run_id
    assert line.startswith("error: disk full while writing ") and "(No space left on device)" in line
    assert line.endswith(f"the finished studies are kept; free some space, then continue with: "
                         f"platform run introspection resume={run_id}")  # fmt: skip
    tracker = Tracker(results)
    assert tracker.get_run(run_id).info.status == "FAILED"
    assert [c.info.status for c in tracker.children(run_id)] == ["FINISHED"]
    assert running_runs(results) == [] and not [p for p in results.rglob("*") if ".partial" in p.name]

    resumed = platform([*target, "resume=latest"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "finished studies skipped (temperature)" in resumed.stdout
    assert parent_findings(results, run_id) == warm.findings
