"""The dashboard's parts without Streamlit: run states, sample records and pairing, chart rows, the store."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from reflectlab.core.findings import Finding
from reflectlab.core.tracking import (
    FINDINGS_ARTIFACT,
    TAG_INQUIRY,
    TAG_KIND,
    TAG_MODEL,
    TAG_PRESET,
    TAG_STUDY,
    WALL_SECONDS,
    Tracker,
)
from reflectlab.dashboard import charts, samples
from reflectlab.dashboard.store import RunInfo, Store, run_state


def run(status: str, study: str = "", kind: str = "study") -> RunInfo:
    return RunInfo(
        run_id=f"{status.lower()}-{study}",
        name=study,
        status=status,
        kind=kind,
        inquiry="introspection",
        study=study,
        model="m",
        preset="smoke",
        start_time=time.time() - 120,
        end_time=None,
        parent_id=None,
    )


@pytest.mark.parametrize(
    ("parent", "studies", "level", "title"),
    [
        ("FINISHED", ["FINISHED", "FINISHED"], "success", "Finished"),
        ("RUNNING", ["FINISHED", "RUNNING"], "info", "In progress"),
        ("FAILED", ["FINISHED", "FAILED"], "warning", "Failed half-way"),
        ("FAILED", ["FAILED"], "error", "Failed"),
        ("KILLED", ["FINISHED", "KILLED"], "warning", "Interrupted"),
    ],
)
def test_run_states(parent: str, studies: list[str], level: str, title: str) -> None:
    children = [run(s, f"introspection/s{i}") for i, s in enumerate(studies)]
    state = run_state(run(parent, kind="inquiry"), children)
    assert (state.level, state.title) == (level, title)
    if title == "Failed half-way":
        assert "1 of 2 studies finished" in state.detail and "introspection/s1" in state.detail
    if title == "In progress":
        assert "running now: introspection/s1" in state.detail


def test_flatten_orders_and_filters_records() -> None:
    records: list[dict[str, Any]] = [
        {"output": "a", "prompt": "p1", "verdict": {"self": "hot", "cross": "cold"}, "p": [0.1, 0.2], "arm": "x"},
        {"output": "b", "prompt": "p2", "verdict": {"self": "cold", "cross": "cold"}, "p": [0.3], "arm": "y"},
        {"output": "c", "prompt": "p3", "verdict": {"self": "hot", "cross": "hot"}, "p": [], "arm": "x"},
    ]
    rows = samples.leading([samples.flatten(r) for r in records])
    assert list(rows[0])[:4] == ["prompt", "output", "verdict.self", "verdict.cross"]
    assert rows[0]["p"] == "[0.1, 0.2]"
    assert samples.verdict_columns(rows) == ["verdict.self", "verdict.cross"]
    choices = samples.choice_columns(rows)
    assert choices["verdict.self"] == ["cold", "hot"] and choices["arm"] == ["x", "y"]
    assert "prompt" not in choices
    assert samples.filter_rows(rows, choices={"verdict.self": ["hot"]}) == [0, 2]
    assert samples.filter_rows(rows, choices={"verdict.self": ["hot"], "arm": ["y"]}) == []
    assert samples.filter_rows(rows, text="P2") == [1]
    assert samples.filter_rows(rows, text="  ", choices={"arm": []}) == [0, 1, 2]
    assert samples.verdict_text(records[0]) == "cross=cold, self=hot"


def test_pairing_needs_the_same_design_and_items() -> None:
    a = [{"prompt": f"q{i}", "output": str(i), "verdict": "right" if i % 2 else "wrong"} for i in range(4)]
    b = [dict(r, verdict="right") for r in a]
    design = {"study": "s", "seed": "0", "study.n": "4"}
    paired = samples.pair_samples(a, b, design, dict(design))
    assert paired.paired and paired.agreement == 0.5
    assert paired.crosstab() == {("wrong", "right"): 2, ("right", "right"): 2}
    other_seed = samples.pair_samples(a, b, design, {**design, "seed": "1"})
    assert not other_seed.paired and "seed" in other_seed.reason
    assert not samples.pair_samples(a, list(reversed(b))).paired  # same items, different order
    assert not samples.pair_samples(a, b[:3]).paired
    assert not samples.pair_samples([], b).paired


def finding(value: float, lo: float, hi: float, direction: str = "greater", **kw: Any) -> Finding:
    return Finding(
        study="x/s", metric="m", value=value, ci_low=lo, ci_high=hi, n=10, control="c", control_value=0.5,
        side="recognition", model="m", direction=direction, **kw,
    )  # fmt: skip


def test_map_rows_orient_effects_and_keep_undefined_out() -> None:
    frame, undefined = charts.map_rows(
        [
            ("A", finding(0.7, 0.6, 0.8)),
            ("A", finding(0.3, 0.2, 0.4, "less")),
            ("B", finding(math.nan, math.nan, math.nan)),
        ]
    )
    assert len(frame) == 2 and len(undefined) == 1
    greater, less = frame.iloc[0], frame.iloc[1]
    assert (greater.effect, greater.lo, greater.hi) == pytest.approx((0.2, 0.1, 0.3))
    assert (less.effect, less.lo, less.hi) == pytest.approx((0.2, 0.1, 0.3))  # "less" points right too
    assert greater.verdict == "present"
    chart = charts.findings_map(frame, several_models=False).to_dict()
    assert len(chart["layer"]) == 4


def test_curves_group_by_last_name_part() -> None:
    groups = charts.group_curves({"none.accuracy": [(1, 0.5)], "exact.accuracy": [(1, 0.6)], "sft/loss": [(0, 2.0)]})
    assert list(groups) == ["accuracy", "loss"] and set(groups["accuracy"]) == {"none.accuracy", "exact.accuracy"}
    frame = charts.curves_frame({"a": [(2, 1.0), (1, 0.5)], "b": [(1, 0.2)]})
    assert list(frame.index) == [1, 2] and math.isnan(frame.loc[2, "b"])


def test_a_store_that_does_not_exist_is_empty_and_stays_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = Store(tmp_path / "absent")
    assert not store.exists
    assert store.parent_runs() == [] and store.study_runs() == [] and store.inquiries() == []
    assert store.artifacts("x") == [] and store.jsonl("x") == [] and store.run("x") is None
    assert not store.synthesis()
    assert not (tmp_path / "absent").exists()


def test_the_store_reads_a_planted_run_through_the_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = Tracker(tmp_path / "results")
    tags = {TAG_INQUIRY: "intro", TAG_MODEL: "m", TAG_PRESET: "smoke"}
    parent = tracker.start("reflectlab/intro", "intro", {**tags, TAG_KIND: "inquiry"})
    tracker.log_params(parent, {"seed": "3"})
    child = tracker.start("reflectlab/intro", "intro/a", {**tags, TAG_KIND: "study", TAG_STUDY: "intro/a"}, parent)
    tracker.log_params(child, {"study.n": "40", "model.name": "m"})
    with tracker.staging() as stage:
        (stage / FINDINGS_ARTIFACT).write_text(json.dumps([finding(0.7, 0.6, 0.8).to_dict()]))
        (stage / "samples.jsonl").write_text('{"item": 1}\nnot json\n[2]\n')
        tracker.log_artifacts(child, stage)
    for step, value in enumerate((0.5, 0.6)):
        tracker.log_metrics(child, {"acc": value, "acc.ci_low": 0.0, WALL_SECONDS: 9.0}, step=step)
    tracker.end(child)
    tracker.end(parent)

    store = Store(tmp_path / "results")
    assert [r.run_id for r in store.parent_runs("intro")] == [parent] and store.parent_runs("other") == []
    (study,) = store.study_runs(parent)
    assert study.study == "intro/a" and study.parent_id == parent and study.seconds == 9.0
    assert store.inquiries() == ["intro"] and store.run("0" * 32) is None
    assert store.design(study) == {"study.n": "40", "study": "intro/a", "seed": "3"}
    assert [f.value for f in store.findings(child)] == [0.7]
    assert store.artifacts(child) == [FINDINGS_ARTIFACT, "samples.jsonl"]
    assert store.jsonl(child) == [{"item": 1}, {"raw": "not json"}, {"value": [2]}]
    assert store.artifact_bytes(child, "missing.png") is None
    assert store.stepped_metrics(child) == {"acc": [(0, 0.5), (1, 0.6)]}
    assert store.synthesis().models["m"].runs == {"x/s": child}


def test_a_shared_layout_sample_shows_its_extras_as_columns() -> None:
    from reflectlab.dashboard.samples import flatten

    row = flatten(
        {"study": "s/t", "unit": "topic-1", "item": 3, "arm": None, "prompt": "p", "output": "o",
         "extras": {"topic": "tea", "p_high": {"self": 0.7}}}
    )  # fmt: skip
    assert row == {"study": "s/t", "unit": "topic-1", "item": 3, "prompt": "p", "output": "o", "topic": "tea",
                   "p_high.self": 0.7}  # fmt: skip
