"""One page per inquiry: its runs with their state, and per study run the findings, the PNG plots it logged, the
curves of its stepped metrics (rounds, iterations, training steps) and, when it failed, its error."""

from __future__ import annotations

import streamlit as st

from reflectlab.dashboard import charts, ui
from reflectlab.dashboard.store import RunInfo, run_state


def render(name: str) -> None:
    """The page of inquiry ``name``."""
    st.title(f"Inquiry: {name}")
    ui.store_caption()
    if ui.empty_store():
        return
    runs = ui.parent_runs(name)
    if not runs:
        st.info(f"No runs of `{name}` in this store yet: `platform run {name} preset=smoke`.")
        return
    parent = ui.select_run("run", runs, key=f"inquiry.{name}.run", resolve=_parent_of)
    studies = ui.study_runs(parent.run_id)
    ui.show_state(run_state(parent, studies))
    took = f" · took {parent.seconds:.0f} s" if parent.seconds else ""
    st.caption(
        f"run `{parent.run_id}` · model {parent.model} · preset {parent.preset} · started {parent.started}{took}"
    )
    with st.expander(f"All {len(runs)} runs of {name}"):
        st.dataframe(
            [
                {
                    "started": r.started,
                    "state": r.status.lower(),
                    "model": r.model,
                    "preset": r.preset,
                    "seconds": round(r.seconds) if r.seconds else None,
                    "run": r.run_id,
                }
                for r in runs
            ],
            hide_index=True,
            width="stretch",
        )
    if not studies:
        st.info("No study of this run has started yet.")
        return
    tabs = st.tabs([f"{ui.STATUS_ICONS.get(s.status, '')} {s.study.split('/', 1)[-1]}" for s in studies])
    for tab, study in zip(tabs, studies, strict=True):
        with tab:
            _study(study)


def _parent_of(run_id: str) -> str | None:
    """A deep link may name a study run: show the run it belongs to."""
    run = ui.store().run(run_id)
    return run.parent_id if run is not None else None


def _study(run: RunInfo) -> None:
    took = f" in {run.seconds:.0f} s" if run.seconds else ""
    st.markdown(f"**{run.study}** - {run.status.lower()}{took} · run `{run.run_id}`")
    if run.status in ("RUNNING", "SCHEDULED"):
        st.info("Still running: its findings, plots and samples are logged when it finishes.")
        return
    names = ui.artifacts(run)
    if run.status in ("FAILED", "KILLED"):
        error = ui.artifact_text(run, "error.txt") if "error.txt" in names else None
        last = error.strip().splitlines()[-1] if error and error.strip() else "no error.txt was logged"
        st.error(f"This study {'failed' if run.status == 'FAILED' else 'was interrupted'}: {last}")
        if error:
            with st.expander("error.txt"):
                st.code(error, language=None)
    found = ui.findings(run)
    if found:
        st.dataframe(ui.findings_frame(found), hide_index=True, width="stretch")
    elif run.status == "FINISHED":
        st.caption("No findings were logged.")
    curves = ui.stepped_metrics(run)
    if curves:
        st.markdown("**Curves** (metrics logged per step)")
        groups = charts.group_curves(curves)
        cols = st.columns(min(2, len(groups)))
        for i, (label, group) in enumerate(groups.items()):
            with cols[i % len(cols)]:
                st.caption(label)
                st.line_chart(charts.curves_frame(group), x_label="step", height=260)
    images = [a for a in names if a.lower().endswith(".png")]
    if images:
        st.markdown("**Plots**")
        cols = st.columns(min(2, len(images)))
        for i, path in enumerate(images):
            data = ui.artifact_bytes(run, path)
            if data is not None:
                cols[i % len(cols)].image(data, caption=path)
    if any(a.endswith(".jsonl") for a in names):
        ui.page_link("samples", f"Browse this study's samples ({', '.join(a for a in names if a.endswith('.jsonl'))})",
                     icon=":material/search:", run=run.run_id)  # fmt: skip
    other = [a for a in names if not a.lower().endswith((".png", ".jsonl")) and a not in ("error.txt",)]
    if other:
        st.caption("Other artifacts: " + ", ".join(other))
