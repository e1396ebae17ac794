"""The synthesis rule on planted findings (supported / contradicted / open), its reading of MLflow, and its exports."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from reflectlab.core import cli
from reflectlab.core.findings import Finding
from reflectlab.core.synthesis import (
    CSV_COLUMNS,
    ModelSynthesis,
    Synthesis,
    collect,
    format_table,
    interval_text,
    number,
    render,
    side_by_side,
    side_reading,
    to_csv,
    to_markdown,
    value_with_ci,
)
from reflectlab.core.synthesis.rule import TRACKS_VERIFIER, holm
from reflectlab.core.tracking import FINDINGS_ARTIFACT, TAG_INQUIRY, TAG_KIND, TAG_MODEL, TAG_STUDY, Tracker

# Effect intervals against a control of 0 (margin 0.05): which verdict each one gets.
PRESENT = (0.30, 0.20, 0.40)
ABSENT = (0.00, -0.02, 0.02)
INCONCLUSIVE = (0.05, -0.10, 0.20)
UNDEFINED = (math.nan, math.nan, math.nan)


def planted(
    side: str,
    interval: tuple[float, float, float],
    *,
    primary: bool = True,
    model: str = "m",
    metric: str = "effect",
    study: str | None = None,
    p_value: float | None = None,
    bearing: str = "supports",
    **details: object,
) -> Finding:
    value, lo, hi = interval
    if side == "self-signal":
        details.setdefault("measures", TRACKS_VERIFIER)
    if p_value is None:  # a planted present interval comes with a small p-value, anything else with none small
        p_value = 0.001 if lo > 0 else 0.5
    return Finding(
        p_value=p_value,
        bearing=bearing,
        study=study or f"{side}/study",
        metric=metric,
        value=value,
        ci_low=lo,
        ci_high=hi,
        n=50,
        control="control",
        control_value=0.0,
        side=side,
        model=model,
        primary=primary,
        details=dict(details),
    )


def one_model(*findings: Finding) -> ModelSynthesis:
    return Synthesis.from_findings(findings).models["m"]


def test_planted_verdicts_are_what_the_finding_rule_says() -> None:
    assert [planted("recognition", i).verdict for i in (PRESENT, ABSENT, INCONCLUSIVE, UNDEFINED)] == [
        "present",
        "absent",
        "inconclusive",
        "inconclusive",
    ]


def test_supported_when_every_clause_holds() -> None:
    m = one_model(
        planted("recognition", PRESENT),
        planted("recognition", ABSENT, metric="other"),  # one recognition effect present is enough
        planted("correction", ABSENT),
        planted("self-signal", PRESENT),
    )
    assert [c.verdict for c in m.clauses()] == ["supported", "supported", "supported"]
    assert m.headline() == "supported"
    assert m.explain().startswith("supported: recognition present: supported")


@pytest.mark.parametrize(
    ("recognition", "correction", "self_signal"),
    [
        (ABSENT, ABSENT, PRESENT),  # no recognition
        (PRESENT, PRESENT, PRESENT),  # correction works
        (PRESENT, ABSENT, ABSENT),  # self-signal gains do not track the verifier
        (ABSENT, INCONCLUSIVE, UNDEFINED),  # one contradiction outweighs open clauses
    ],
)
def test_contradicted_when_any_clause_is(
    recognition: tuple[float, float, float],
    correction: tuple[float, float, float],
    self_signal: tuple[float, float, float],
) -> None:
    m = one_model(
        planted("recognition", recognition), planted("correction", correction), planted("self-signal", self_signal)
    )
    assert m.headline() == "contradicted"
    assert "contradicted" in [c.verdict for c in m.clauses()]


def test_open_when_a_clause_is_inconclusive_or_untested() -> None:
    inconclusive = one_model(
        planted("recognition", PRESENT), planted("correction", INCONCLUSIVE), planted("self-signal", PRESENT)
    )
    assert inconclusive.headline() == "open"
    assert [c.verdict for c in inconclusive.clauses()] == ["supported", "open", "supported"]

    untested = one_model(planted("recognition", PRESENT), planted("self-signal", PRESENT))
    assert untested.side_state("correction") == "untested"
    assert untested.headline() == "open"
    assert "no primary correction finding yet" in untested.explain()

    undefined = one_model(
        planted("recognition", UNDEFINED), planted("correction", ABSENT), planted("self-signal", PRESENT)
    )
    assert undefined.side_state("recognition") == "inconclusive"  # a null interval is never read as an effect
    assert undefined.headline() == "open"


def test_correction_is_absent_only_when_every_primary_finding_is() -> None:
    m = one_model(planted("correction", ABSENT), planted("correction", INCONCLUSIVE, metric="b"))
    assert m.side_state("correction") == "inconclusive"
    m = one_model(planted("correction", ABSENT), planted("correction", PRESENT, metric="b"))
    assert m.side_state("correction") == "present"


def test_diagnostics_never_decide() -> None:
    m = one_model(
        planted("recognition", ABSENT),
        planted("recognition", PRESENT, primary=False, metric="diagnostic"),
        planted("correction", PRESENT, primary=False),
    )
    assert m.side_state("recognition") == "absent"
    assert m.side_state("correction") == "untested"
    assert m.tally("recognition") == {"present": 0, "absent": 1, "reversed": 0, "inconclusive": 0}
    assert m.tally("recognition", primary_only=False) == {"present": 1, "absent": 1, "reversed": 0, "inconclusive": 0}
    assert m.headline() == "contradicted"


def test_equivalence_findings_count_as_present_when_inside_the_margin() -> None:
    tracks = planted("self-signal", ABSENT, claim="equivalence")
    assert tracks.verdict == "absent" and side_reading(tracks) == "present"
    off = planted("self-signal", PRESENT, claim="equivalence")
    assert side_reading(off) == "absent"
    unsure = planted("self-signal", INCONCLUSIVE, claim="equivalence")
    assert side_reading(unsure) == "inconclusive"
    assert side_reading(planted("self-signal", UNDEFINED, claim="equivalence")) == "inconclusive"
    m = one_model(planted("recognition", PRESENT), planted("correction", ABSENT), tracks)
    assert m.headline() == "supported"


def test_less_direction_is_read_from_its_own_side() -> None:
    f = Finding(
        study="s/x", metric="err", value=0.2, ci_low=0.1, ci_high=0.3, n=30, control="c", control_value=0.5,
        side="recognition", model="m", direction="less", primary=True, p_value=0.001,
    )  # fmt: skip
    assert f.verdict == "present" and one_model(f).side_state("recognition") == "present"


def test_reference_groups_get_no_headline_and_models_line_up() -> None:
    synth = Synthesis.from_findings(
        [
            planted("recognition", PRESENT, model="a"),
            planted("recognition", ABSENT, model="b"),
            planted("correction", ABSENT, model="b"),
            planted("self-signal", PRESENT, model="closed form"),
        ],
        run_models=["a", "b"],
    )
    assert [m.model for m in synth.studied] == ["a", "b"]
    assert [m.model for m in synth.references] == ["closed form"]
    table = side_by_side(synth)
    rec = next(r for r in table if r["side"] == "recognition")
    assert rec["a"].endswith("present") and rec["b"].endswith("absent")
    assert next(r for r in table if r["side"] == "correction")["a"] == "not run"
    md = to_markdown(synth)
    assert "## Models side by side" in md and "closed form (reference" in md
    text = format_table(synth)
    assert "model a: headline OPEN" in text and "model b: headline CONTRADICTED" in text
    assert "reference closed form" in text


def test_exports_keep_undefined_numbers_empty() -> None:
    synth = Synthesis.from_findings([planted("recognition", UNDEFINED), planted("correction", ABSENT)])
    rows = list(csv.DictReader(io.StringIO(to_csv(synth))))
    assert tuple(rows[0]) == CSV_COLUMNS
    undefined = next(r for r in rows if r["side"] == "recognition")
    assert undefined["value"] == "" and undefined["ci_low"] == "" and undefined["verdict"] == "inconclusive"
    assert "| undefined |" in to_markdown(synth)
    assert render(synth, "md") == to_markdown(synth)
    with pytest.raises(ValueError, match="unknown format"):
        render(synth, "xlsx")


def test_values_and_intervals_read_the_same_in_every_export() -> None:
    f = planted("recognition", PRESENT)
    assert value_with_ci(f) == "0.300 [0.200, 0.400]"
    assert value_with_ci(planted("recognition", UNDEFINED)) == " undefined"
    assert value_with_ci(planted("recognition", UNDEFINED), missing="-") == "- undefined"
    assert interval_text(0.1, math.nan) == "undefined" and number(None) == "" and number(2.0, ".1f") == "2.0"
    synth = Synthesis.from_findings([f, planted("recognition", PRESENT, model="n")])
    assert side_by_side(synth)[0]["m"] == "0.300 [0.200, 0.400] present"
    assert "| 0.300 | [0.200, 0.400] |" in to_markdown(synth)


def test_empty_synthesis_says_how_to_fill_it() -> None:
    assert "platform run introspection preset=smoke" in format_table(Synthesis())
    assert "platform run introspection preset=smoke" in to_markdown(Synthesis())


# ------------------------------------------------------------------------------------------------ over MLflow
def _study_run(tracker: Tracker, model: str, study: str, findings: list[Finding], status: str = "FINISHED") -> str:
    tags = {TAG_INQUIRY: study.split("/")[0], TAG_MODEL: model, TAG_KIND: "study", TAG_STUDY: study}
    run_id = tracker.start(f"reflectlab/{study.split('/')[0]}", study, tags)
    with tracker.staging() as stage:
        (stage / FINDINGS_ARTIFACT).write_text(json.dumps([f.to_dict() for f in findings]))
        tracker.log_artifacts(run_id, stage)
    if status != "RUNNING":
        tracker.end(run_id, status)
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthesis") / "reflectlab-results"
    tracker = Tracker(folder)
    old = _study_run(tracker, "m", "intro/a", [planted("recognition", ABSENT, study="intro/a")])
    new = _study_run(tracker, "m", "intro/a", [planted("recognition", PRESENT, study="intro/a")])
    _study_run(tracker, "m", "intro/a", [], status="RUNNING")  # newest: running, does not count
    _study_run(tracker, "m", "fix/b", [planted("correction", ABSENT, study="fix/b")])
    _study_run(tracker, "m", "fix/b", [], status="FAILED")
    _study_run(tracker, "m", "play/c", [planted("self-signal", PRESENT, study="play/c", model="closed form")])
    (folder / "ids.json").write_text(json.dumps({"old": old, "new": new}))
    return folder


def test_collect_counts_the_newest_finished_run(store: Path) -> None:
    ids = json.loads((store / "ids.json").read_text())
    synth = collect(Tracker(store))
    m = synth.models["m"]
    assert m.runs["intro/a"] == ids["new"]
    assert [f.verdict for f in m.findings["recognition"]] == ["present"]
    assert m.side_state("correction") == "absent" and m.side_state("self-signal") == "untested"
    assert m.headline() == "open"
    assert [r.model for r in synth.references] == ["closed form"]
    pending = {(p.study, p.status): p for p in synth.pending}
    assert pending[("intro/a", "RUNNING")].counted_run == ids["new"]
    assert pending[("fix/b", "FAILED")].counted_run is not None


def test_cli_synthesize_formats(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["synthesize", "--results-dir", str(store)]) == 0
    out = capsys.readouterr().out
    assert "model m: headline OPEN" in out and "intro/a on m: newest run" in out
    assert cli.main(["synthesize", "--results-dir", str(store), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# Synthesis") and "| m | supported" in md and "## Not counted" in md
    assert cli.main(["synthesize", "--results-dir", str(store), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["model"], r["side"], r["verdict"]) for r in rows} == {
        ("m", "recognition", "present"),
        ("m", "correction", "absent"),
        ("closed form", "self-signal", "present"),
    }


REVERSED = (-0.30, -0.40, -0.20)


def test_a_reversed_effect_reads_reversed_and_counts_against_its_side() -> None:
    f = planted("recognition", REVERSED)
    assert f.verdict == "reversed"
    m = one_model(f)
    assert m.side_state("recognition") == "absent"
    assert m.clauses()[0].verdict == "contradicted"


def test_confirmatory_reflection_present_supports_correction_absent() -> None:
    """A finding whose presence means the phenomenon is absent (reflection confirms the first answer) is read
    through its bearing: present confirmatory reflection supports "correction absent"."""
    m = one_model(planted("correction", PRESENT, metric="confirmatory_share", bearing="opposes"))
    (clause,) = [c for c in m.clauses() if c.side == "correction"]
    assert m.side_state("correction") == "absent"
    assert clause.text == "correction absent" and clause.verdict == "supported"


def test_holm_correction_decides_a_side_and_the_raw_reading_is_kept() -> None:
    assert holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.06, math.nan, 0.06], nan_ok=True)
    m = one_model(
        planted("recognition", PRESENT, metric="a", p_value=0.03),
        planted("recognition", INCONCLUSIVE, metric="b", p_value=0.4),
    )
    assert m.side_state("recognition", adjusted=False) == "present"
    assert m.side_state("recognition") == "inconclusive"  # 0.03 x 2 = 0.06 does not survive at 0.05
    assert "raw present" in format_table(Synthesis.from_findings([*m.all_findings()]))


def test_a_self_signal_finding_that_does_not_measure_the_claim_does_not_decide() -> None:
    m = one_model(planted("self-signal", PRESENT, measures="judge accuracy above chance"))
    assert m.side_state("self-signal") == "untested"


def test_a_floor_is_not_absent_unless_its_interval_fits_the_margin() -> None:
    from reflectlab.core.stats import rate_ci

    est = rate_ci([False] * 24, null=0.0)
    floor = Finding.from_estimate(est, metric="refusal_rate", control="never", control_value=0.0, margin=0.05)
    assert floor.verdict == "inconclusive" and floor.n == 24
    wide = Finding.from_estimate(est, metric="refusal_rate", control="never", control_value=0.0, margin=0.2)
    assert wide.verdict == "absent"


def test_a_v1_findings_record_still_loads() -> None:
    v1 = {
        "study": "introspection/temperature", "metric": "privileged_access", "value": -0.42, "ci_low": -0.54,
        "ci_high": -0.30, "n": 112, "control": "cross-model judge", "control_value": 0.0, "side": "recognition",
        "verdict": "absent", "model": "m", "direction": "greater", "margin": 0.05, "primary": True, "details": {},
    }  # fmt: skip
    f = Finding.from_dict(v1)
    assert f.schema == 1 and f.unit == "" and math.isnan(f.p_value) and f.verdict == "reversed"
    m = one_model(f)
    assert m.side_state("recognition") == "absent"  # reversed counts against; no p-value is needed for that
