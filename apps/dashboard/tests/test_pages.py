"""Every page under ``streamlit.testing.v1.AppTest``, against the store the smoke runs filled (see conftest)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from reflectlab.core.synthesis import collect
from reflectlab.core.tracking import TAG_STUDY, Tracker
from reflectlab.dashboard import APP

pytestmark = pytest.mark.slow  # the session store comes from a real smoke run of the embedded model

MODEL, SECOND = "smollm2-135m-instruct", "planted-model"


def page(default: str | None = None, **query: str) -> AppTest:
    """The whole app (its real navigation), opened on page ``default`` with query parameters ``query``."""

    def app(default: str | None) -> None:
        from reflectlab.dashboard.navigation import main

        main(default)

    at = AppTest.from_function(app, kwargs={"default": default}, default_timeout=60)
    at.query_params.update(query)
    return at.run()


def kinds(at: AppTest) -> Counter[str]:
    """How many elements of each kind the page shows (images and charts have no typed accessor)."""
    seen: Counter[str] = Counter()

    def walk(node: Any) -> None:
        for child in getattr(node, "children", {}).values():
            seen[str(getattr(child, "type", ""))] += 1
            walk(child)

    walk(at.main)
    return seen


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "info", "warning", "error", "success", "caption") for e in
             getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Could not read the results store" in e.value]


def study_run(results: Path, study: str, status: str = "FINISHED") -> Any:
    runs = [r for r in Tracker(results).study_runs() if r.data.tags.get(TAG_STUDY) == study]
    return next(r for r in runs if r.info.status == status)


def test_entry_point_opens_on_the_synthesis(store_env: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert_clean(at)
    assert at.title[0].value == "Synthesis: recognition vs correction"


def test_synthesis_page_shows_the_verdicts_core_computes(store_env: Path) -> None:
    at = page("synthesis")
    assert_clean(at)
    body = texts(at)
    synth = collect(Tracker(store_env))
    assert {m.model for m in synth.studied} == {MODEL, SECOND}
    for m in synth.studied:  # the page shows each model's verdicts as core derives them, clause by clause
        assert f"#### {m.model}" in body
        assert f"Headline: {_badge(m.headline())}" in body
        for c in m.clauses():
            assert f"- {c.text}: {_badge(c.verdict)} - {c.reason}" in body
    assert synth.models[SECOND].side_state("recognition") == "present"  # the planted recognition effect
    assert "No correction findings yet" in body  # an empty side says so
    assert "closed form (reference)" in body  # the recurrence's model-independent findings
    assert "Models side by side" in [h.value for h in at.subheader]
    assert kinds(at)["vega_lite_chart"] >= 2  # the recognition and self-signal maps
    # What is not counted, and why: the run in progress and the study that failed.
    assert "introspection/temperature on **smollm2-135m-instruct**: the newest run" in body
    assert "still running" in body
    assert "compounding/self_training on **smollm2-135m-instruct**" in body and "failed" in body


def _badge(word: str) -> str:
    from reflectlab.dashboard.ui import badge

    return badge(word)


def test_synthesis_findings_table_filters_by_model_and_primary(store_env: Path) -> None:
    def tables(at: AppTest) -> list[Any]:
        return [d.value for d in at.dataframe if "95% CI" in d.value.columns]

    at = page("synthesis")
    assert len(tables(at)) == 3  # two models and the closed-form reference
    at.multiselect(key="synthesis.models").set_value([SECOND]).run()
    assert_clean(at)
    (frame,) = tables(at)
    at.toggle(key="synthesis.primary").set_value(True).run()
    (primary,) = tables(at)
    assert 0 < len(primary) < len(frame) and set(primary["primary"]) == {"★"}


def test_inquiry_page_of_a_run_that_failed_half_way(store_env: Path) -> None:
    at = page("inquiry:compounding")
    assert_clean(at)
    assert at.title[0].value == "Inquiry: compounding"
    assert any("Failed half-way" in w.value and "compounding/recurrence" in w.value for w in at.warning)
    failed = [e.value for e in at.error if e.value.startswith("This study failed: ")]
    assert failed and "injected by the dashboard tests" in failed[0], failed  # the last line of its error.txt
    shown = kinds(at)
    assert shown["image"] == 2  # the recurrence's PNG plots
    assert shown["vega_lite_chart"] >= 2  # its stepped metrics (predicted and simulated per round)
    assert [t.label.split()[-1] for t in at.tabs] == ["recurrence", "self_training"]


def test_inquiry_page_of_a_run_in_progress_then_a_finished_one(store_env: Path) -> None:
    at = page("inquiry:introspection")
    assert_clean(at)
    assert any(i.value.startswith("**In progress**") for i in at.info)
    assert any("Still running" in i.value for i in at.info)
    finished = study_run(store_env, "introspection/concept_injection")
    at.selectbox(key="inquiry.introspection.run").set_value(finished.data.tags["mlflow.parentRunId"]).run()
    assert_clean(at)
    assert any(s.value.startswith("**Finished**") for s in at.success)
    assert any("metric" in d.value and "detection_vs_random" in set(d.value["metric"]) for d in at.dataframe)


def test_inquiry_page_deep_link_to_a_study_run(store_env: Path) -> None:
    finished = study_run(store_env, "introspection/concept_injection")
    at = page("inquiry:introspection", run=finished.info.run_id)
    assert_clean(at)
    assert at.selectbox(key="inquiry.introspection.run").value == finished.data.tags["mlflow.parentRunId"]


def test_compare_two_runs_pairs_items_of_a_paired_design(store_env: Path) -> None:
    at = page("compare")
    assert_clean(at)
    a, b = at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value
    assert a != b  # by default the two newest finished runs of one study: SmolLM2's and the planted model's
    body = texts(at)
    assert "paired: same study config and seed, 5 items in the same order" in body
    assert "Same verdict on **80%** of items" in body  # the planted copy flipped one verdict
    diff = at.dataframe[-1].value
    assert len(diff) == 1 and not diff["same verdict"].iloc[0]


def test_compare_two_models(store_env: Path) -> None:
    at = page("compare", mode="two models")
    assert_clean(at)
    assert {at.selectbox(key="compare.model_a").value, at.selectbox(key="compare.model_b").value} == {MODEL, SECOND}
    findings = at.dataframe[0].value
    row = findings[findings["metric"] == "detection_vs_random"].iloc[0]
    synth = collect(Tracker(store_env))
    expected = {
        next(f.verdict for f in synth.models[m].findings["recognition"] if f.metric == "detection_vs_random")
        for m in (MODEL, SECOND)
    }
    assert {row["A verdict"], row["B verdict"]} == expected and "present" in expected
    assert kinds(at)["vega_lite_chart"] == 1


def test_compare_unpaired_runs_say_so(store_env: Path) -> None:
    concept = study_run(store_env, "introspection/concept_injection")
    recurrence = study_run(store_env, "compounding/recurrence")
    at = page("compare", a=concept.info.run_id, b=recurrence.info.run_id)
    assert_clean(at)
    assert any("different studies" in w.value for w in at.warning)
    assert any(i.value.startswith("not paired") or "logged no samples" in i.value for i in at.info)


def test_sample_browser_filters(store_env: Path) -> None:
    run = study_run(store_env, "introspection/concept_injection")
    at = page("samples", run=run.info.run_id)
    assert_clean(at)
    assert at.selectbox(key="samples.run").value == run.info.run_id
    assert "5 of 5 records" in texts(at)
    frame = at.dataframe[0].value
    assert list(frame.columns[:3]) == ["prompt", "output", "verdict"]
    verdicts = at.multiselect(key=f"samples.pick.{run.info.run_id}.samples.jsonl.verdict")
    assert "baseline" in verdicts.options
    verdicts.set_value(["baseline"]).run()
    assert "1 of 5 records" in texts(at)
    assert set(at.dataframe[0].value["verdict"]) == {"baseline"}
    at.text_input(key=f"samples.text.{run.info.run_id}.samples.jsonl").set_value("no such text anywhere").run()
    assert any("No record matches" in i.value for i in at.info)


def test_sample_browser_other_files_and_failed_runs(store_env: Path) -> None:
    recurrence = study_run(store_env, "compounding/recurrence")
    at = page("samples", run=recurrence.info.run_id)
    assert_clean(at)
    assert at.selectbox(key=f"samples.file.{recurrence.info.run_id}").value == "grid.jsonl"
    assert "of 60 records" in texts(at)  # 4 recalls x 5 false-accept rates x 3 fidelities
    failed = study_run(store_env, "compounding/self_training", status="FAILED")
    at = page("samples", run=failed.info.run_id)
    assert_clean(at)
    assert any("stopped before it logged any samples" in w.value for w in at.warning)


@pytest.mark.parametrize("default", ["synthesis", "compare", "samples"])
def test_empty_store_shows_a_clear_state_and_creates_nothing(empty_env: Path, default: str) -> None:
    at = page(default)
    assert_clean(at)
    assert any("No runs yet" in i.value for i in at.info)
    assert not empty_env.exists()


def test_unreadable_store_is_one_message_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mlflow.db").write_text(json.dumps({"not": "a database"}))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("REFLECTLAB_RESULTS_DIR", str(tmp_path))
    at = page("synthesis")
    assert not at.exception
    assert any("Could not read the results store" in e.value for e in at.error)


def test_unknown_default_page_is_refused(store_env: Path) -> None:
    at = page("nosuch")
    assert at.exception and "no page 'nosuch'" in at.exception[0].value
