"""Read-only access to the MLflow store the ``platform`` CLI writes (no Streamlit here, so it is testable alone).

The dashboard reads MLflow and nothing else, through the run-layout reader of :mod:`reflectlab.core.tracking`:
run tags and statuses, metrics (with their steps), and artifacts (``findings.json``, ``samples.jsonl``, PNG
plots, ``error.txt``). A local store that does not exist yet is an empty store: it is never created by looking at it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflectlab.core.findings import Finding
from reflectlab.core.synthesis import Synthesis, collect
from reflectlab.core.tracking import (
    DEFAULT_RESULTS_DIR,
    PARENT,
    TAG_INQUIRY,
    TAG_KIND,
    TAG_MODEL,
    TAG_PRESET,
    TAG_STUDY,
    WALL_SECONDS,
    WORK_TOKENS,
    Tracker,
    tracking_uri,
)

RESULTS_ENV = "REFLECTLAB_RESULTS_DIR"  # how `platform dashboard` tells the Streamlit process its results folder
CI_SUFFIXES = (".ci_low", ".ci_high")


def results_dir_from_env() -> Path:
    """The local results folder the dashboard shows (``$REFLECTLAB_RESULTS_DIR``, else ``./reflectlab-results``)."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS_DIR).expanduser().resolve()


@dataclass(frozen=True)
class RunInfo:
    """What the pages need to know about one run (plain data, so Streamlit can cache it)."""

    run_id: str
    name: str
    status: str  # MLflow: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    kind: str  # "inquiry" (parent) or "study"
    inquiry: str
    study: str
    model: str
    preset: str
    start_time: float  # seconds since the epoch
    end_time: float | None
    parent_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    @property
    def started(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.start_time))

    @property
    def seconds(self) -> float | None:
        wall = self.metrics.get(WALL_SECONDS)
        if wall is not None:
            return wall
        return (self.end_time - self.start_time) if self.end_time else None

    @property
    def label(self) -> str:
        """A one-line name for selectors: when, what, which model, how it ended."""
        what = self.study if self.kind == "study" else self.inquiry or self.name
        return f"{self.started} · {what} · {self.model} · {self.preset} · {self.status.lower()} · {self.short_id}"


@dataclass(frozen=True)
class RunState:
    """A parent run's state in words, with the level a page shows it at."""

    level: str  # "success", "info", "warning", "error"
    title: str
    detail: str


def run_state(parent: RunInfo, studies: list[RunInfo]) -> RunState:
    """Describe a ``platform run``: finished, in progress, failed half-way, failed or interrupted."""
    done = [s for s in studies if s.status == "FINISHED"]
    failed = [s for s in studies if s.status in ("FAILED", "KILLED")]
    running = [s for s in studies if s.status in ("RUNNING", "SCHEDULED")]

    def names(rs: list[RunInfo]) -> str:
        return ", ".join(r.study for r in rs) or "none"

    if parent.status in ("RUNNING", "SCHEDULED"):
        age = max(0.0, time.time() - parent.start_time)
        detail = f"{len(done)} studies finished so far ({names(done)})"
        if running:
            detail += f"; running now: {names(running)}"
        if failed:
            detail += f"; failed: {names(failed)}"
        detail += f". Started {age / 60:.0f} min ago; its findings count once its studies finish."
        return RunState("info", "In progress", detail)
    if parent.status == "FINISHED":
        return RunState("success", "Finished", f"{len(done)} studies finished ({names(done)}).")
    if parent.status == "KILLED":
        return RunState(
            "warning",
            "Interrupted",
            f"Stopped before the end; {len(done)} studies finished and still count ({names(done)}).",
        )
    if done:
        return RunState(
            "warning",
            "Failed half-way",
            f"{len(done)} of {len(studies)} studies finished and still count ({names(done)}); "
            f"failed: {names(failed)} (see its error below).",
        )
    return RunState("error", "Failed", f"No study finished; failed: {names(failed)}.")


def _info(run: Any) -> RunInfo:
    tags = run.data.tags
    end = run.info.end_time
    return RunInfo(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        status=run.info.status,
        kind=tags.get(TAG_KIND, ""),
        inquiry=tags.get(TAG_INQUIRY, ""),
        study=tags.get(TAG_STUDY, run.info.run_name or ""),
        model=tags.get(TAG_MODEL, "?"),
        preset=tags.get(TAG_PRESET, ""),
        start_time=(run.info.start_time or 0) / 1000,
        end_time=end / 1000 if end else None,
        parent_id=tags.get(PARENT),
        metrics=dict(run.data.metrics),
    )


class Store:
    """The results store: a local SQLite store under ``results_dir``, or ``$MLFLOW_TRACKING_URI`` when set."""

    def __init__(self, results_dir: str | Path) -> None:
        self.results_dir = Path(results_dir).expanduser().resolve()
        self.uri = tracking_uri(self.results_dir)
        self._tracker: Tracker | None = None

    @property
    def exists(self) -> bool:
        """False for a local store that was never written (looking must not create it)."""
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri.removeprefix("sqlite:///")).is_file()
        return True

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            self._tracker = Tracker(self.results_dir)
        return self._tracker

    # -------------------------------------------------------------------------------------------- runs
    def parent_runs(self, inquiry: str | None = None) -> list[RunInfo]:
        """``platform run`` runs, newest first, optionally of one inquiry."""
        if not self.exists:
            return []
        return [_info(r) for r in self.tracker.parent_runs(inquiry)]

    def study_runs(self, parent_id: str | None = None) -> list[RunInfo]:
        """Study runs (of one parent run, oldest first; else all of them, newest first)."""
        if not self.exists:
            return []
        runs = [_info(r) for r in self.tracker.study_runs(parent_id)]
        return sorted(runs, key=lambda r: r.start_time) if parent_id else runs

    def run(self, run_id: str) -> RunInfo | None:
        run = self.tracker.run_by_id(run_id) if self.exists else None
        return None if run is None else _info(run)

    def params(self, run_id: str) -> dict[str, str]:
        run = self.tracker.run_by_id(run_id) if self.exists else None
        return {} if run is None else dict(run.data.params)

    def design(self, study_run: RunInfo) -> dict[str, str]:
        """What fixes a study run's items: its study config and the seed (the model is left out), so two runs
        with the same design ran on the same items and can be compared item by item."""
        out = {k: v for k, v in self.params(study_run.run_id).items() if k.startswith("study.")}
        parent = self.params(study_run.parent_id) if study_run.parent_id else {}
        out["study"] = study_run.study
        out["seed"] = parent.get("seed", "?")
        return out

    def inquiries(self) -> list[str]:
        return sorted({r.inquiry for r in self.parent_runs() if r.inquiry})

    # -------------------------------------------------------------------------------------------- contents
    def findings(self, run_id: str) -> list[Finding]:
        return self.tracker.findings(run_id) if self.exists else []

    def artifacts(self, run_id: str) -> list[str]:
        """Every artifact path of a run (recursively), sorted."""
        return self.tracker.artifact_paths(run_id) if self.exists else []

    def artifact_bytes(self, run_id: str, path: str) -> bytes | None:
        return self.tracker.artifact_bytes(run_id, path) if self.exists else None

    def artifact_text(self, run_id: str, path: str) -> str | None:
        data = self.artifact_bytes(run_id, path)
        return data.decode("utf-8", errors="replace") if data is not None else None

    def jsonl(self, run_id: str, path: str = "samples.jsonl") -> list[dict[str, Any]]:
        """The records of a JSONL artifact; a line that is not a JSON object is kept under ``raw``."""
        text = self.artifact_text(run_id, path)
        if not text:
            return []
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = {"raw": line}
            out.append(rec if isinstance(rec, dict) else {"value": rec})
        return out

    def stepped_metrics(self, run_id: str) -> dict[str, list[tuple[int, float]]]:
        """Metrics logged at more than one step (curves: rounds, iterations, training), as (step, value) lists."""
        run = self.run(run_id)
        if run is None:
            return {}
        out: dict[str, list[tuple[int, float]]] = {}
        for key in sorted(run.metrics):
            if key.endswith(CI_SUFFIXES) or key in (WALL_SECONDS, WORK_TOKENS):
                continue
            points = self.tracker.metric_history(run_id, key)
            if len({s for s, _ in points}) > 1:
                out[key] = points
        return out

    def synthesis(self, preset: str | None = None) -> Synthesis:
        if not self.exists:
            return Synthesis(source=self.uri)
        return collect(self.tracker, preset=preset)
