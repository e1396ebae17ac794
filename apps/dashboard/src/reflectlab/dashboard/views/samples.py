"""The sample browser: a study run's per-sample records (prompt, output, verdict), filterable."""

from __future__ import annotations

import streamlit as st

from reflectlab.dashboard import samples, ui


def render() -> None:
    st.title("Samples")
    ui.store_caption()
    if ui.empty_store():
        return
    runs = ui.study_runs()
    if not runs:
        st.info("No study has started in this store yet.")
        return
    run = ui.select_run("study run", runs, key="samples.run")
    names = ui.artifacts(run)
    files = [a for a in names if a.endswith(".jsonl")]
    if not files:
        if run.status in ("RUNNING", "SCHEDULED"):
            st.info("This study is still running: its samples are logged when it finishes.")
        elif run.status in ("FAILED", "KILLED"):
            st.warning("This study stopped before it logged any samples (see its error on the inquiry page).")
            ui.page_link(f"inquiry:{run.inquiry}", f"{run.inquiry} page", icon=":material/monitoring:", run=run.run_id)
        else:
            st.info("This study logged no per-sample records.")
        return
    default = files.index("samples.jsonl") if "samples.jsonl" in files else 0
    path = st.selectbox("file", files, index=default, key=f"samples.file.{run.run_id}")
    records = ui.jsonl(run, path)
    if not records:
        st.info(f"`{path}` is empty.")
        return
    rows = samples.leading([samples.flatten(r) for r in records])
    choices = samples.choice_columns(rows)
    verdicts = [c for c in samples.verdict_columns(rows) if c in choices]
    text = st.text_input("search (any column)", key=f"samples.text.{run.run_id}.{path}")
    picked: dict[str, list[str]] = {}
    for col in verdicts:
        picked[col] = st.multiselect(col, choices[col], key=f"samples.pick.{run.run_id}.{path}.{col}")
    others = [c for c in choices if c not in verdicts]
    if others:
        with st.expander("more filters"):
            for col in others:
                picked[col] = st.multiselect(col, choices[col], key=f"samples.pick.{run.run_id}.{path}.{col}")
    keep = samples.filter_rows(rows, text=text, choices=picked)
    st.caption(f"{len(keep)} of {len(rows)} records · `{path}` of {run.study} on {run.model} (run `{run.short_id}`)")
    if run.status != "FINISHED":
        st.warning(f"This study run {run.status.lower()}: these are the records it logged before stopping.")
    if not keep:
        st.info("No record matches these filters.")
        return
    st.dataframe([rows[i] for i in keep], hide_index=True, width="stretch")
    pick = st.number_input(
        "record", min_value=1, max_value=len(keep), value=1, step=1, key=f"samples.record.{run.run_id}.{path}"
    )
    record = records[keep[int(pick) - 1]]
    left, right = st.columns(2)
    with left:
        if "prompt" in record:
            st.markdown("**prompt**")
            st.code(samples.as_text(record["prompt"]), language=None, wrap_lines=True)
        if "output" in record:
            st.markdown("**output**")
            st.code(samples.as_text(record["output"]), language=None, wrap_lines=True)
    with right:
        if "verdict" in record:
            st.markdown(f"**verdict**: {samples.verdict_text(record)}")
        st.json({k: v for k, v in record.items() if k not in ("prompt", "output")}, expanded=True)
