"""The synthesis page: the headline verdict per model, the recognition / correction / self-signal map, the table."""

from __future__ import annotations

import streamlit as st

from reflectlab.core.findings import SIDES, Finding
from reflectlab.core.synthesis import (
    CLAUSES,
    HEADLINE,
    RULE,
    ModelSynthesis,
    Synthesis,
    side_by_side,
    tally_text,
    to_csv,
)
from reflectlab.core.synthesis import to_markdown as synthesis_markdown
from reflectlab.dashboard import charts, ui

SIDE_BLURBS = {
    "recognition": "Does the model recognise its own states and outputs? (emergence, introspection)",
    "correction": "Does reflection repair wrong answers? (self-correction)",
    "self-signal": "Are self-generated training signals worth what their verification is worth? (self-play, compounding)",
}


def render() -> None:
    st.title("Synthesis: recognition vs correction")
    ui.store_caption()
    if ui.empty_store():
        return
    synth = ui.synthesis()
    if not synth:
        st.warning(
            "Runs exist, but no study has finished yet: the synthesis counts finished study runs only. "
            "See the inquiry pages for what is running or failed."
        )
        _pending(synth)
        return
    st.markdown(f"**Headline hypothesis:** {HEADLINE}.")
    _headlines(synth)
    _map(synth)
    _table(synth)
    if len(synth.studied) > 1:
        st.subheader("Models side by side")
        st.dataframe(side_by_side(synth), hide_index=True, width="stretch")
    _pending(synth)
    with st.expander("How the verdicts are computed"):
        st.markdown(RULE)
        st.markdown(
            "A finding's own verdict compares its 95% bootstrap interval with its control: **present** when the "
            "whole effect interval lies on the hypothesised side of the control, **absent** when it lies inside "
            "±margin or on the other side, **inconclusive** otherwise (including an undefined interval)."
        )
    left, right = st.columns(2)
    left.download_button("Synthesis as Markdown", synthesis_markdown(synth), "synthesis.md", "text/markdown")
    right.download_button("Synthesis as CSV", to_csv(synth), "synthesis.csv", "text/csv")


def _headlines(synth: Synthesis) -> None:
    models = synth.studied
    if not models:
        st.info("Only model-independent reference findings so far: no model has a headline verdict yet.")
        return
    for start in range(0, len(models), 3):
        cols = st.columns(min(3, len(models) - start))
        for col, m in zip(cols, models[start : start + 3], strict=False):
            with col.container(border=True):
                st.markdown(f"#### {m.model}")
                st.markdown(f"Headline: {ui.badge(m.headline())}")
                for c in m.clauses():
                    st.markdown(f"- {c.text}: {ui.badge(c.verdict)} - {c.reason}")
                tallies = ", ".join(
                    f"{side} {m.side_state(side)}" for side in SIDES if m.side_state(side) != "untested"
                )
                st.caption(f"Sides: {tallies or 'no primary findings yet'}")


def _map(synth: Synthesis) -> None:
    st.header("Map")
    st.caption(
        "Each finding's effect against its control with its 95% CI; the grey band is the margin that would make it "
        "equivalent to the control. ★ marks a primary finding (the only ones that decide the headline)."
    )
    groups = synth.ordered()
    for side in SIDES:
        expected = CLAUSES[side][0]
        st.subheader(f"{side.capitalize()} (the hypothesis expects: {expected})")
        st.caption(SIDE_BLURBS[side])
        items: list[tuple[str, Finding]] = [(m.model, f) for m in groups for f in _ordered(m, side)]
        if not items:
            st.info(f"No {side} findings yet: no study on this side has finished for any model.")
            continue
        summary = " · ".join(_side_summary(m, side) for m in groups if m.findings[side])
        st.markdown(summary)
        frame, undefined = charts.map_rows(items)
        if not frame.empty:
            several = len({model for model, _ in items}) > 1
            st.altair_chart(charts.findings_map(frame, several), width="stretch")
        for model, f in undefined:
            st.caption(f"{model} · {f.study} · {f.metric}: interval undefined (n={f.n}) - counted as inconclusive.")


def _ordered(m: ModelSynthesis, side: str) -> list[Finding]:
    return sorted(m.findings[side], key=lambda f: (not f.primary, f.study, f.metric))


def _side_summary(m: ModelSynthesis, side: str) -> str:
    name = f"{m.model} (reference)" if m.reference else m.model
    raw = m.side_state(side, adjusted=False)
    before = "" if raw == m.side_state(side) else f" (raw {raw}, before Holm's correction)"
    return f"**{name}**: {ui.badge(m.side_state(side))}{before} - {tally_text(m, side)}"


def _table(synth: Synthesis) -> None:
    st.header("Findings")
    names = [m.model for m in synth.ordered()]
    chosen = st.multiselect("models", names, default=names, key="synthesis.models") if len(names) > 1 else names
    only_primary = st.toggle("primary findings only", value=False, key="synthesis.primary")
    for m in synth.ordered():
        if m.model not in chosen:
            continue
        items = [f for f in m.all_findings() if f.primary or not only_primary]
        st.markdown(f"**{m.model}**" + (" - reference (model-independent, no headline verdict)" if m.reference else ""))
        st.dataframe(ui.findings_frame(items), hide_index=True, width="stretch")
        links = st.columns(max(1, len(m.runs)))
        for col, (study, run_id) in zip(links, sorted(m.runs.items()), strict=False):
            with col:
                inquiry = study.split("/", 1)[0]
                ui.page_link(
                    f"inquiry:{inquiry}", f"{study} run {run_id[:8]}", icon=":material/monitoring:", run=run_id
                )
                ui.page_link("samples", "its samples", icon=":material/search:", run=run_id)


def _pending(synth: Synthesis) -> None:
    if not synth.pending:
        return
    st.subheader("Not counted")
    for p in synth.pending:
        used = f"the finished run {p.counted_run[:8]} counts instead" if p.counted_run else "no finished run counts"
        word = {"RUNNING": "still running", "FAILED": "failed", "KILLED": "was interrupted"}.get(
            p.status, p.status.lower()
        )
        st.markdown(f"- {p.study} on **{p.model}**: the newest run `{p.run_id[:8]}` {word}; {used}.")
