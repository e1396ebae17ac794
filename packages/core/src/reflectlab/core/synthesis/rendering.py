"""Writing the synthesis out: the terminal table, CSV, Markdown and the models side by side.

Also the number and interval text the dashboard shows, so a value reads the same everywhere.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from typing import Any

from reflectlab.core.findings import SIDES, VERDICTS, Finding
from reflectlab.core.synthesis.rule import (
    CLAUSES,
    HEADLINE,
    RULE,
    ModelSynthesis,
    PendingStudy,
    Synthesis,
    is_equivalence,
    sorted_findings,
)


def number(x: float | None, spec: str = ".3f", missing: str = "") -> str:
    """A number as text; ``missing`` for None or NaN (never a made-up zero)."""
    return missing if x is None or math.isnan(x) else format(x, spec)


def interval_text(lo: float, hi: float) -> str:
    """An interval as ``[lo, hi]`` to three decimals, or ``undefined`` when an end is NaN."""
    if math.isnan(lo) or math.isnan(hi):
        return "undefined"
    return f"[{lo:.3f}, {hi:.3f}]"


def ci_text(f: Finding) -> str:
    """A finding's confidence interval as ``[lo, hi]`` (or ``undefined``)."""
    return interval_text(f.ci_low, f.ci_high)


def value_with_ci(f: Finding, missing: str = "") -> str:
    """A finding's value and interval: ``value [lo, hi]``, ``missing`` standing for an undefined value."""
    return f"{number(f.value, missing=missing)} {ci_text(f)}"


def format_finding(f: Finding) -> str:
    """One finding on one terminal line (``*`` marks a primary finding); ``n`` names its unit where known."""
    star = "*" if f.primary else " "
    n = f"n={f.n} {f.unit}s" if f.unit else f"n={f.n}"
    p = "" if math.isnan(f.p_value) else f" p={f.p_value:.3g}"
    return (
        f"{star} {f.study:<28} {f.metric:<26} {f.value:8.3f} [{f.ci_low:7.3f}, {f.ci_high:7.3f}] {n:<12}"
        f" vs {f.control} ({f.control_value:.3f}){p} -> {f.verdict}"
    )


def tally_text(m: ModelSynthesis, side: str) -> str:
    """The verdict counts of a side's primary findings (and how many diagnostics), as one phrase."""
    t = m.tally(side)
    d = m.tally(side, primary_only=False)
    diag = sum(d.values()) - sum(t.values())
    words = ", ".join(f"{t[v]} {v}" for v in VERDICTS if t[v] or v != "reversed")
    return f"{words} (primary)" + (f"; {diag} diagnostic" if diag else "")


def state_text(m: ModelSynthesis, side: str) -> str:
    """The side's state after Holm's correction, and the raw reading when it differs."""
    state, raw = m.side_state(side), m.side_state(side, adjusted=False)
    return state if state == raw else f"{state} (raw {raw}, before Holm's correction)"


def _empty_message(synth: Synthesis) -> str:
    msg = "no finished study runs yet: try `platform run introspection preset=smoke`"
    if synth.pending:
        msg += "\n" + "\n".join(_pending_line(p) for p in synth.pending)
    return msg


def _pending_line(p: PendingStudy) -> str:
    used = f"the finished run {p.counted_run[:8]} counts instead" if p.counted_run else "no finished run counts"
    return f"  note: {p.study} on {p.model}: newest run {p.run_id[:8]} is {p.status}; {used}"


def format_table(synth: Synthesis | Mapping[str, ModelSynthesis]) -> str:
    """The synthesis for the terminal: per model the headline, then each side's tally and findings."""
    if not isinstance(synth, Synthesis):
        synth = Synthesis(models=dict(synth))
    if not synth:
        return _empty_message(synth)
    lines = [f"headline hypothesis: {HEADLINE}"]
    for m in synth.ordered():
        if m.reference:
            lines.append(f"reference {m.model} (model-independent; no headline verdict)")
        else:
            lines.append(f"model {m.model}: headline {m.headline().upper()}")
            for c in m.clauses():
                lines.append(f"  {c.text}: {c.verdict} ({c.reason})")
        for side in SIDES:
            if not m.findings[side]:
                continue
            lines.append(f"  {side}: {state_text(m, side)} - {tally_text(m, side)}")
            lines += ["    " + format_finding(f) for f in sorted_findings(m.findings[side])]
    lines += [_pending_line(p) for p in synth.pending]
    return "\n".join(lines)


CSV_COLUMNS = (
    "model",
    "reference",
    "side",
    "study",
    "metric",
    "primary",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "unit",
    "control",
    "control_value",
    "direction",
    "bearing",
    "margin",
    "claim",
    "p_value",
    "p_holm",
    "verdict",
    "reading",
    "side_state",
    "side_state_raw",
    "headline",
    "run_id",
)


def rows(synth: Synthesis) -> list[dict[str, Any]]:
    """One flat record per finding (the CSV rows; also the dashboard's table)."""
    out: list[dict[str, Any]] = []
    for m in synth.ordered():
        headline = "" if m.reference else m.headline()
        adjusted = {k: v for side in SIDES for k, v in m.adjusted_p(side).items()}
        read = {id(f): r for side in SIDES for f, r in m.readings(side)}
        for f in m.all_findings():
            out.append(
                {
                    "model": m.model,
                    "reference": m.reference,
                    "side": f.side,
                    "study": f.study,
                    "metric": f.metric,
                    "primary": f.primary,
                    "value": f.value,
                    "ci_low": f.ci_low,
                    "ci_high": f.ci_high,
                    "n": f.n,
                    "unit": f.unit,
                    "control": f.control,
                    "control_value": f.control_value,
                    "direction": f.direction,
                    "bearing": f.bearing,
                    "margin": f.margin,
                    "claim": "equivalence" if is_equivalence(f) else str(f.details.get("claim", "effect")),
                    "p_value": f.p_value,
                    "p_holm": adjusted.get(id(f), math.nan),
                    "verdict": f.verdict,
                    "reading": read.get(id(f), "diagnostic"),
                    "side_state": m.side_state(f.side),
                    "side_state_raw": m.side_state(f.side, adjusted=False),
                    "headline": headline,
                    "run_id": m.runs.get(f.study, ""),
                }
            )
    return out


def to_csv(synth: Synthesis) -> str:
    """The synthesis table as CSV: one row per finding, empty cells for undefined numbers."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(synth):
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return buf.getvalue()


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(synth: Synthesis) -> str:
    """The synthesis as a Markdown document: headline table, per-model side tables, models side by side."""
    lines = ["# Synthesis: recognition vs correction", ""]
    if synth.source:
        lines += [f"Store: `{synth.source}` (newest finished study run per model and study).", ""]
    if not synth:
        return "\n".join([*lines, _md(_empty_message(synth)), ""])
    lines += [f"Headline hypothesis: {HEADLINE}.", "", f"Rule: {RULE}", ""]
    if synth.studied:
        lines += [
            "| model | " + " | ".join(text for _, text in CLAUSES.values()) + " | headline |",
            "|---|" + "---|" * (len(CLAUSES) + 1),
        ]
        for m in synth.studied:
            cells = [f"{c.verdict} ({c.reason})" for c in m.clauses()]
            lines.append(f"| {_md(m.model)} | " + " | ".join(cells) + f" | **{m.headline()}** |")
        lines.append("")
    for m in synth.ordered():
        title = f"## {m.model}" + (" (reference: model-independent, no headline verdict)" if m.reference else "")
        lines += [title, ""]
        for side in SIDES:
            if not m.findings[side]:
                continue
            lines += [f"### {side}: {state_text(m, side)}", "", tally_text(m, side) + ".", ""]
            lines += [
                "| primary | study | metric | value | 95% CI | n | control | control value | verdict |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for f in sorted_findings(m.findings[side]):
                lines.append(
                    f"| {'yes' if f.primary else ''} | {_md(f.study)} | {_md(f.metric)} | {number(f.value)} | {ci_text(f)}"
                    f" | {f.n} | {_md(f.control)} | {number(f.control_value)} | {f.verdict} |"
                )
            lines.append("")
    if len(synth.studied) > 1:
        lines += side_by_side_markdown(synth)
    if synth.pending:
        lines += ["## Not counted", ""] + [f"- {_pending_line(p).strip()}" for p in synth.pending] + [""]
    return "\n".join(lines)


def side_by_side(synth: Synthesis) -> list[dict[str, Any]]:
    """Models side by side: one record per (side, study, metric) with ``value [lo, hi] verdict`` per model."""
    models = synth.studied
    keys: dict[tuple[str, str, str], bool] = {}
    for m in models:
        for f in m.all_findings():
            keys.setdefault((f.side, f.study, f.metric), f.primary)
    out = []
    for side, study, metric in sorted(keys, key=lambda k: (SIDES.index(k[0]), not keys[k], k[1], k[2])):
        rec: dict[str, Any] = {"side": side, "study": study, "metric": metric, "primary": keys[(side, study, metric)]}
        for m in models:
            match = next((f for f in m.findings[side] if f.study == study and f.metric == metric), None)
            rec[m.model] = f"{value_with_ci(match)} {match.verdict}" if match else "not run"
        out.append(rec)
    return out


def side_by_side_markdown(synth: Synthesis) -> list[str]:
    models = [m.model for m in synth.studied]
    lines = ["## Models side by side", "", "| side | study | metric | " + " | ".join(map(_md, models)) + " |"]
    lines.append("|---|---|---|" + "---|" * len(models))
    for rec in side_by_side(synth):
        star = "*" if rec["primary"] else ""
        cells = " | ".join(rec[m] for m in models)
        lines.append(f"| {rec['side']} | {_md(rec['study'])} | {star}{_md(rec['metric'])} | {cells} |")
    lines += ["", "`*` primary finding.", ""]
    return lines


def render(synth: Synthesis, fmt: str = "table") -> str:
    """The synthesis in one of the export formats: ``table`` (terminal), ``md`` or ``csv``."""
    if fmt == "table":
        return format_table(synth)
    if fmt == "md":
        return to_markdown(synth)
    if fmt == "csv":
        return to_csv(synth)
    raise ValueError(f"unknown format {fmt!r}; known: table, md, csv")
