"""Collecting the synthesis from the store: which study runs count, and their findings grouped by model.

For each model and study the newest *finished* study run counts; a newer run that did not finish is listed as
pending (rule in :mod:`reflectlab.core.synthesis.rule`).
"""

from __future__ import annotations

from typing import Any

from reflectlab.core.findings import Finding
from reflectlab.core.synthesis.rule import ModelSynthesis, PendingStudy, Synthesis
from reflectlab.core.tracking import TAG_MODEL, TAG_STUDY, Tracker


def collect(tracker: Tracker, *, preset: str | None = None) -> Synthesis:
    """The synthesis of everything in ``tracker``'s store (newest finished study run per model and study)."""
    runs = tracker.study_runs(preset=preset)  # newest first
    run_models = {r.data.tags.get(TAG_MODEL, "?") for r in runs}
    taken: set[tuple[str, str]] = set()  # (finding model, study)
    newest: dict[tuple[str, str], Any] = {}  # (run model, study tag) -> newest run of any status
    finished: dict[tuple[str, str], str] = {}  # (run model, study tag) -> newest finished run id
    selected: list[tuple[Finding, str]] = []
    for run in runs:
        key = (run.data.tags.get(TAG_MODEL, "?"), run.data.tags.get(TAG_STUDY, run.info.run_name))
        newest.setdefault(key, run)
        if run.info.status != "FINISHED" or key in finished:  # not finished, or superseded by a newer finished run
            continue
        finished[key] = run.info.run_id
        fresh: dict[str, list[Finding]] = {}
        for f in tracker.findings(run.info.run_id):
            if (f.model, f.study) not in taken:
                fresh.setdefault(f.model, []).append(f)
        for model, group in fresh.items():
            taken.update((model, f.study) for f in group)
            selected += [(f, run.info.run_id) for f in group]
    synth = Synthesis.from_findings(selected, run_models=run_models, source=tracker.uri)
    for key, run in sorted(newest.items()):
        if run.info.status != "FINISHED":
            synth.pending.append(PendingStudy(*key, run.info.run_id, run.info.status, finished.get(key)))
    return synth


def latest_findings(tracker: Tracker) -> dict[str, ModelSynthesis]:
    """The models of :func:`collect` (kept for callers of the first version)."""
    return collect(tracker).models
