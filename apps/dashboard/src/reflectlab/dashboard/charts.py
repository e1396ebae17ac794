"""Charts (Altair, which Streamlit ships with): the findings map and the per-step curves."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from reflectlab.core.findings import Finding
from reflectlab.core.synthesis import effect_interval, side_reading, value_with_ci

VERDICT_COLORS = {"present": "#1a9850", "absent": "#7f7f7f", "inconclusive": "#f39c12"}


def finding_label(f: Finding) -> str:
    study = f.study.split("/", 1)[-1]
    return f"{'★ ' if f.primary else ''}{study} · {f.metric}"


def map_rows(items: list[tuple[str, Finding]]) -> tuple[pd.DataFrame, list[tuple[str, Finding]]]:
    """Chart rows for (model, finding) pairs, and the pairs left out because their interval is undefined."""
    rows: list[dict[str, Any]] = []
    undefined: list[tuple[str, Finding]] = []
    for model, f in items:
        effect, lo, hi = effect_interval(f)
        if any(math.isnan(x) for x in (effect, lo, hi)):
            undefined.append((model, f))
            continue
        rows.append(
            {
                "model": model,
                "finding": finding_label(f),
                "effect": effect,
                "lo": lo,
                "hi": hi,
                "band_lo": -f.margin,
                "band_hi": f.margin,
                "verdict": f.verdict,
                "counts as": side_reading(f),
                "value": f"{value_with_ci(f)}, n={f.n}",
                "control": f"{f.control} = {f.control_value:.3f}",
                "hypothesis": f"{f.direction} than the control (margin {f.margin:g})",
            }
        )
    return pd.DataFrame(rows), undefined


def findings_map(frame: pd.DataFrame, several_models: bool) -> alt.LayerChart | alt.FacetChart:
    """A forest plot: each finding's effect against its control (0), with its CI and its ±margin band.

    Effects are signed so that the hypothesised direction points right; colour is the verdict.
    """
    order = list(dict.fromkeys(frame["finding"]))
    y = alt.Y("finding:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    base = alt.Chart(frame).encode(y=y)
    if several_models:
        base = base.encode(yOffset=alt.YOffset("model:N"))
    color = alt.Color(
        "verdict:N",
        scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
        legend=alt.Legend(orient="bottom", title="verdict"),
    )
    tooltip = ["model:N", "finding:N", "value:N", "control:N", "hypothesis:N", "verdict:N", "counts as:N"]
    band = base.mark_bar(color="#bbbbbb", opacity=0.25).encode(x="band_lo:Q", x2="band_hi:Q")
    interval = base.mark_rule(strokeWidth=2.5).encode(x="lo:Q", x2="hi:Q", color=color, tooltip=tooltip)
    point = base.mark_point(filled=True, size=70).encode(
        x=alt.X("effect:Q", title="effect vs control (CI; grey band = ±margin; hypothesised direction →)"),
        color=color,
        shape=alt.Shape("model:N", legend=alt.Legend(orient="bottom")) if several_models else alt.Undefined,
        tooltip=tooltip,
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="#333333").encode(x="x:Q")
    rows = len(order) * (int(frame["model"].nunique()) if several_models else 1)
    # The height includes the axis and the legend (Streamlit fits the chart to its container).
    height = 24 * rows + 8 * len(order) + 120
    return alt.layer(band, interval, point, zero).properties(height=height)


def curves_frame(points: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    """Stepped metrics as a wide frame: one column per metric, indexed by step."""
    series = {key: pd.Series({step: value for step, value in pts}) for key, pts in points.items()}
    frame = pd.DataFrame(series)
    frame.index.name = "step"
    return frame.sort_index()


def group_curves(points: dict[str, list[tuple[int, float]]]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Group stepped metrics by their last name part (``none.accuracy`` and ``exact.accuracy`` -> ``accuracy``),
    so curves on one scale share a chart."""
    groups: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key, pts in points.items():
        tail = key.replace("/", ".").rsplit(".", 1)[-1]
        groups.setdefault(tail, {})[key] = pts
    return dict(sorted(groups.items()))
