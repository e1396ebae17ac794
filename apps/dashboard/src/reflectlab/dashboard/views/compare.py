"""Run comparison: two study runs, or two models (their counted runs, study by study). Findings side by side on
the effect-vs-control map; samples paired item by item where the design is paired (same study config and seed)."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from reflectlab.core.findings import Finding
from reflectlab.core.synthesis import interval_text, value_with_ci
from reflectlab.dashboard import charts, samples, ui
from reflectlab.dashboard.store import RunInfo

MODES = ("two runs", "two models")


def render() -> None:
    st.title("Compare")
    ui.store_caption()
    if ui.empty_store():
        return
    wanted = st.query_params.get("mode")
    mode = st.radio(
        "compare", MODES, horizontal=True, key="compare.mode", index=MODES.index(wanted) if wanted in MODES else 0
    )
    if mode == "two runs":
        _two_runs()
    else:
        _two_models()


def _two_runs() -> None:
    runs = ui.study_runs()
    if len(runs) < 2:
        st.info("Two study runs are needed; this store holds one. Run a study again (another seed or model).")
        return
    # Default: the newest finished run that has an earlier finished run of the same study, against that one.
    finished = [i for i, r in enumerate(runs) if r.status == "FINISHED"]
    pairs = [(i, j) for i in finished for j in finished if j > i and runs[j].study == runs[i].study]
    newest, previous = pairs[0] if pairs else (0, 1)
    a_col, b_col = st.columns(2)
    with a_col:
        a = ui.select_run("run A", runs, key="compare.a", param="a", default=previous)
    with b_col:
        b = ui.select_run("run B", runs, key="compare.b", param="b", default=newest)
    if a.run_id == b.run_id:
        st.info("Choose two different runs.")
        return
    if a.study != b.study:
        st.warning(f"These runs are of different studies ({a.study} vs {b.study}): only shared metrics line up.")
    _findings(f"A: {a.model} · {a.short_id}", ui.findings(a), f"B: {b.model} · {b.short_id}", ui.findings(b))
    _paired(a, b)


def _two_models() -> None:
    synth = ui.synthesis()
    models = synth.studied
    if len(models) < 2:
        have = models[0].model if models else "none"
        st.info(
            f"Two models with finished study runs are needed (so far: {have}). Run the same inquiry on another "
            "model, e.g. `platform run introspection preset=smoke model.name=gemma3-270m`."
        )
        return
    names = [m.model for m in models]
    a_col, b_col = st.columns(2)
    a_name = a_col.selectbox("model A", names, index=0, key="compare.model_a")
    b_name = b_col.selectbox("model B", names, index=1, key="compare.model_b")
    if a_name == b_name:
        st.info("Choose two different models.")
        return
    ma, mb = synth.models[a_name], synth.models[b_name]
    _findings(f"A: {a_name}", ma.all_findings(), f"B: {b_name}", mb.all_findings())
    shared = sorted(set(ma.runs) & set(mb.runs))
    if not shared:
        st.info("The two models share no study: nothing to pair.")
    store = ui.store()
    for study in shared:
        ra, rb = store.run(ma.runs[study]), store.run(mb.runs[study])
        if ra is not None and rb is not None:
            _paired(ra, rb)


def _findings(label_a: str, fa: list[Finding], label_b: str, fb: list[Finding]) -> None:
    st.header("Findings")
    index_b = {(f.study, f.metric): f for f in fb}
    table: list[dict[str, Any]] = []
    for f in fa:
        g = index_b.get((f.study, f.metric))
        if g is None:
            continue
        diff = g.value - f.value
        half = _approx_half_width(f, g)
        table.append(
            {
                "primary": "★" if f.primary else "",
                "study": f.study,
                "metric": f.metric,
                "A": value_with_ci(f, missing="-"),
                "A verdict": f.verdict,
                "B": value_with_ci(g, missing="-"),
                "B verdict": g.verdict,
                "B − A": None if math.isnan(diff) else round(diff, 4),
                "≈95% CI of B − A": interval_text(diff - half, diff + half),
            }
        )
    if not table:
        st.info("The two sides share no finding (study and metric).")
        return
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        "≈95% CI of B − A treats the two estimates as independent (normal approximation from each CI); where the "
        "design is paired, the item-by-item comparison below is the sharper test."
    )
    shared = {(f.study, f.metric) for f in fa} & set(index_b)
    items = [(label_a, f) for f in fa if (f.study, f.metric) in shared]
    items += [(label_b, g) for g in fb if (g.study, g.metric) in shared]
    frame, _ = charts.map_rows(items)
    if not frame.empty:
        st.altair_chart(charts.findings_map(frame, several_models=True), width="stretch")


def _approx_half_width(f: Finding, g: Finding) -> float:
    widths = [(x.ci_high - x.ci_low) / 2 for x in (f, g)]
    if any(math.isnan(w) for w in widths):
        return math.nan
    return math.sqrt(sum(w * w for w in widths))


def _paired(a: RunInfo, b: RunInfo) -> None:
    st.subheader(f"Item by item: {a.study}")
    store = ui.store()
    pairing = samples.pair_samples(ui.jsonl(a), ui.jsonl(b), store.design(a), store.design(b))
    if not pairing.paired:
        st.info(f"{pairing.reason}: compare the findings above instead.")
        return
    agree = pairing.agreement
    st.markdown(f"{pairing.reason}. Same verdict on **{agree:.0%}** of items.")
    cross = pairing.crosstab()
    st.dataframe(
        [{"verdict A": va, "verdict B": vb, "items": n} for (va, vb), n in sorted(cross.items())],
        hide_index=True,
    )
    only_diff = st.toggle("only items whose verdicts differ", value=True, key=f"compare.diff.{a.run_id}.{b.run_id}")
    shown = [r for r in pairing.rows if not (only_diff and r["same verdict"])]
    if shown:
        st.dataframe(shown, hide_index=True, width="stretch")
    else:
        st.caption("No item differs.")
