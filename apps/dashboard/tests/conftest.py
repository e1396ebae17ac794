"""One results store for every dashboard test, filled once per session by real ``platform run`` smoke runs:

- ``introspection/concept_injection`` on the embedded SmolLM2 (about a minute on two CPU cores): findings,
  samples with verdicts;
- ``compounding`` with a crash injected into the self-training study: the recurrence study finishes (PNG plots,
  stepped metrics), the self-training study raises - a run that failed half-way;

then, through the same :class:`Tracker` the runner uses, a second model (a copy of the concept-injection run with
one sample's verdict and one finding changed, so that models can be compared side by side and paired) and a run
still in progress (the newest run; never ended).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflectlab.core.testing import run_platform
from reflectlab.core.tracking import (
    FINDINGS_ARTIFACT,
    PARENT,
    TAG_INQUIRY,
    TAG_KIND,
    TAG_MODEL,
    TAG_PRESET,
    TAG_STUDY,
    Tracker,
)
from reflectlab.dashboard.store import RESULTS_ENV

MODEL = "smollm2-135m-instruct"

#: ``platform`` with the self-training study crashing when it starts (its traceback goes to error.txt).
CRASH_SELF_TRAINING = """
import sys
from reflectlab.selfplay.compounding.self_training import SelfTrainingStudy
def crash(self, ctx, cfg):
    raise RuntimeError("a crash inside the study, injected by the dashboard tests")
SelfTrainingStudy.run = crash
from reflectlab.core.cli import main
sys.exit(main(sys.argv[1:]))
"""
SECOND = "planted-model"


def _study_run(tracker: Tracker, study: str, model: str = MODEL) -> str:
    runs = [r for r in tracker.study_runs() if r.data.tags.get(TAG_STUDY) == study and r.data.tags[TAG_MODEL] == model]
    assert runs, f"no {study} run for {model}"
    return str(runs[0].info.run_id)


def plant_second_model(tracker: Tracker, source: str, model: str = SECOND) -> str:
    """A finished copy of study run ``source`` for another model; returns the new study run's id."""
    src = tracker.client.get_run(source)
    parent_src = tracker.client.get_run(src.data.tags[PARENT])
    experiment = tracker.client.get_experiment(src.info.experiment_id).name
    tags = {TAG_INQUIRY: src.data.tags[TAG_INQUIRY], TAG_MODEL: model, TAG_PRESET: "smoke"}
    parent = tracker.start(experiment, f"planted · {model}", {**tags, TAG_KIND: "inquiry"})
    tracker.log_params(parent, {**parent_src.data.params, "model.name": model})
    study = src.data.tags[TAG_STUDY]
    child = tracker.start(experiment, study, {**tags, TAG_KIND: "study", TAG_STUDY: study}, parent=parent)
    tracker.log_params(child, dict(src.data.params))
    findings = tracker.read_json_artifact(source, FINDINGS_ARTIFACT)
    for rec in findings:
        rec["model"] = model
        if rec["metric"] == "detection_vs_random":  # a recognition effect this model "shows"
            rec.update(value=0.75, ci_low=0.5, ci_high=1.0, n=8, p_value=0.001, verdict="present")
    with tracker.staging() as stage:
        text = tracker.read_text_artifact(source, "samples.jsonl") or ""
        samples = [json.loads(line) for line in text.splitlines()]
        samples[0]["verdict"] = "named" if samples[0]["verdict"] != "named" else "not named"
        (stage / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        (stage / FINDINGS_ARTIFACT).write_text(json.dumps(findings))
        tracker.log_artifacts(child, stage)
    tracker.end(child)
    tracker.end(parent)
    return child


def plant_in_progress(tracker: Tracker, study: str = "introspection/temperature") -> str:
    """A ``platform run`` still going: the parent and one study run started, neither ended. Returns the parent."""
    inquiry = study.split("/")[0]
    tags = {TAG_INQUIRY: inquiry, TAG_MODEL: MODEL, TAG_PRESET: "smoke"}
    experiment = f"reflectlab/{inquiry}"
    parent = tracker.start(experiment, f"{inquiry} · {MODEL} · smoke", {**tags, TAG_KIND: "inquiry"})
    tracker.start(experiment, study, {**tags, TAG_KIND: "study", TAG_STUDY: study}, parent=parent)
    return parent


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The filled store's results folder (see the module docstring)."""
    work = tmp_path_factory.mktemp("dashboard-store")
    first = run_platform("run", "introspection/concept_injection", "preset=smoke", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    # A bad config value is refused before any run opens, so the half-way failure is a crash inside the study.
    failing = subprocess.run(
        [sys.executable, "-c", CRASH_SELF_TRAINING, "run", "compounding", "preset=smoke"],
        cwd=work,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert failing.returncode == 1, (failing.stdout[-2000:], failing.stderr[-2000:])
    folder = work / "reflectlab-results"
    tracker = Tracker(folder)
    plant_second_model(tracker, _study_run(tracker, "introspection/concept_injection"))
    plant_in_progress(tracker)
    return folder


@pytest.fixture
def store_env(results: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at the filled store (and never at a tracking server)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(RESULTS_ENV, str(results))
    yield results


@pytest.fixture
def empty_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at a results folder that does not exist."""
    folder = tmp_path / "nothing-here"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(RESULTS_ENV, str(folder))
    yield folder
