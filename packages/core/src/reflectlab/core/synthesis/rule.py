"""The synthesis: every finding placed on its side, per model, and the headline hypothesis judged from them.

``platform synthesize`` and the dashboard both read it from here, so they cannot disagree.

Which findings count
    For each model and study, the newest *finished* study run that holds findings for that model. A newer run
    that is still running, failed or was interrupted does not count; it is listed in :attr:`Synthesis.pending`.
    A finding belongs to the model named in its ``model`` field. A group whose name is not the model of any
    tracked run (the closed-form recurrence reports ``model = "closed form"``) is a *reference*: shown, never
    given a headline verdict.

Side state (from the side's *primary* findings only; diagnostics are shown but never decide)
    - ``present``: at least one primary finding on the side is present;
    - ``absent``: there is at least one primary finding and every one is absent;
    - ``inconclusive``: anything else (no primary finding present, at least one inconclusive);
    - ``untested``: no primary finding on the side.

    A finding is read through its own verdict (:func:`reflectlab.core.findings.verdict_for`), except an
    *equivalence* finding (``details["claim"] == "equivalence"``: the side's claim is that the value sits at its
    control, e.g. measured accuracy where a model predicts it). It counts as ``present`` (the claim holds) when its
    effect interval lies inside ``[-margin, +margin]``, as ``absent`` when the interval excludes 0 and is not
    inside the margin, and as ``inconclusive`` otherwise or when the interval is undefined.

The headline hypothesis, per model: "recognition present while correction absent, and self-signal gains
tracking verifier quality". Each clause expects one side state (:data:`CLAUSES`): recognition ``present``,
correction ``absent``, self-signal ``present``. A clause is

    - ``supported`` when its side is in the expected state;
    - ``contradicted`` when its side is in the opposite state (``absent`` for ``present`` and vice versa);
    - ``open`` when its side is ``inconclusive`` or ``untested``.

The headline is ``contradicted`` if any clause is contradicted, ``supported`` if every clause is supported, and
``open`` otherwise. Nothing here is a fixed sentence: every word of the verdict is derived from the findings.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reflectlab.core.findings import SIDES, VERDICTS, Finding
from reflectlab.core.tracking import TAG_KIND, TAG_MODEL, TAG_STUDY, Tracker

SideState = Literal["present", "absent", "inconclusive", "untested"]
ClauseVerdict = Literal["supported", "contradicted", "open"]

CLAIM_KEY = "claim"  # details key; "equivalence" marks a finding whose claim is "no difference from the control"

#: The headline's clauses: side -> (the side state the hypothesis expects, the clause in words).
CLAUSES: dict[str, tuple[str, str]] = {
    "recognition": ("present", "recognition present"),
    "correction": ("absent", "correction absent"),
    "self-signal": ("present", "self-signal gains track verifier quality"),
}
HEADLINE = "recognition present while correction absent, and self-signal gains tracking verifier quality"
_OPPOSITE = {"present": "absent", "absent": "present"}

#: The rule in a few sentences, for the Markdown export and the dashboard (the module docstring is the full text).
RULE = (
    "For each model and study the newest finished study run counts. A side's state comes from its primary findings"
    " only: present if any is present, absent if all are absent, inconclusive otherwise, untested if there are none"
    " (an equivalence finding, `details.claim = equivalence`, counts as present when its interval lies inside"
    " ±margin). Each clause expects a state - recognition present, correction absent, self-signal present - and is"
    " supported in that state, contradicted in the opposite one, open otherwise. The headline is contradicted if any"
    " clause is, supported if all are, open otherwise."
)


def is_equivalence(f: Finding) -> bool:
    """Whether the finding claims equivalence with its control (see the module docstring)."""
    return str(f.details.get(CLAIM_KEY, "effect")) == "equivalence"


def effect_interval(f: Finding) -> tuple[float, float, float]:
    """The effect against the control, ``(value, ci_low, ci_high)`` minus ``control_value``, signed so that the
    hypothesised direction is positive (``direction = "less"`` flips it). NaN where undefined."""

    def oriented(x: float) -> float:
        if math.isnan(x) or math.isnan(f.control_value):
            return math.nan
        d = x - f.control_value
        return -d if f.direction == "less" else d

    lo, hi = oriented(f.ci_low), oriented(f.ci_high)
    if f.direction == "less":
        lo, hi = hi, lo
    return oriented(f.value), lo, hi


def side_reading(f: Finding) -> str:
    """How a finding counts towards its side's state: its verdict, or the equivalence reading."""
    if not is_equivalence(f):
        return f.verdict
    _, lo, hi = effect_interval(f)
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    if -f.margin <= lo and hi <= f.margin:
        return "present"
    if lo > 0 or hi < 0:
        return "absent"
    return "inconclusive"


@dataclass(frozen=True)
class Clause:
    """One clause of the headline for one model."""

    side: str
    expected: str
    state: str
    verdict: str
    text: str

    @property
    def reason(self) -> str:
        if self.state == "untested":
            return f"no primary {self.side} finding yet"
        return f"{self.side} {self.state} (expected {self.expected})"


@dataclass
class ModelSynthesis:
    """Findings of one model (or one reference group), by side, with the run each study's findings came from."""

    model: str
    findings: dict[str, list[Finding]] = field(default_factory=lambda: {s: [] for s in SIDES})
    runs: dict[str, str] = field(default_factory=dict)  # study -> run id
    reference: bool = False

    def add(self, finding: Finding, run_id: str | None = None) -> None:
        self.findings[finding.side].append(finding)
        if run_id is not None:
            self.runs.setdefault(finding.study, run_id)

    def all_findings(self) -> list[Finding]:
        """Every finding, side by side in :data:`SIDES` order, primary first within a side."""
        return [f for side in SIDES for f in sorted_findings(self.findings[side])]

    def tally(self, side: str, primary_only: bool = True) -> dict[str, int]:
        """Verdict counts on one side (primary findings only unless ``primary_only`` is false)."""
        counts = dict.fromkeys(VERDICTS, 0)
        for f in self.findings[side]:
            if f.primary or not primary_only:
                counts[f.verdict] += 1
        return counts

    def side_state(self, side: str) -> SideState:
        """The side's state from its primary findings (rule in the module docstring)."""
        readings = [side_reading(f) for f in self.findings[side] if f.primary]
        if not readings:
            return "untested"
        if "present" in readings:
            return "present"
        if all(r == "absent" for r in readings):
            return "absent"
        return "inconclusive"

    def clauses(self) -> list[Clause]:
        out = []
        for side, (expected, text) in CLAUSES.items():
            state = self.side_state(side)
            verdict: ClauseVerdict
            if state == expected:
                verdict = "supported"
            elif state == _OPPOSITE[expected]:
                verdict = "contradicted"
            else:
                verdict = "open"
            out.append(Clause(side=side, expected=expected, state=state, verdict=verdict, text=text))
        return out

    def headline(self) -> ClauseVerdict:
        """The headline hypothesis for this model: supported, contradicted or open."""
        verdicts = [c.verdict for c in self.clauses()]
        if "contradicted" in verdicts:
            return "contradicted"
        if all(v == "supported" for v in verdicts):
            return "supported"
        return "open"

    def explain(self) -> str:
        """The headline and why, in one line derived from the clauses."""
        parts = "; ".join(f"{c.text}: {c.verdict} ({c.reason})" for c in self.clauses())
        return f"{self.headline()}: {parts}"


@dataclass(frozen=True)
class PendingStudy:
    """A study whose newest run for a model did not finish; ``counted_run`` is the finished run used instead."""

    model: str
    study: str
    run_id: str
    status: str
    counted_run: str | None


@dataclass
class Synthesis:
    """The whole synthesis: models (and reference groups) and the studies whose newest run is not counted."""

    models: dict[str, ModelSynthesis] = field(default_factory=dict)
    pending: list[PendingStudy] = field(default_factory=list)
    source: str = ""

    @property
    def studied(self) -> list[ModelSynthesis]:
        """The models under study (reference groups left out), by name."""
        return [m for _, m in sorted(self.models.items()) if not m.reference]

    @property
    def references(self) -> list[ModelSynthesis]:
        return [m for _, m in sorted(self.models.items()) if m.reference]

    def ordered(self) -> list[ModelSynthesis]:
        return self.studied + self.references

    def __bool__(self) -> bool:
        return bool(self.models)

    @classmethod
    def from_findings(
        cls,
        findings: Iterable[Finding | tuple[Finding, str]],
        *,
        run_models: Iterable[str] | None = None,
        source: str = "",
    ) -> Synthesis:
        """Group findings (optionally with their run id) by model. With ``run_models`` (the models that have
        runs), a group named otherwise is a reference group."""
        known = set(run_models) if run_models is not None else None
        synth = cls(source=source)
        for item in findings:
            f, run_id = item if isinstance(item, tuple) else (item, None)
            group = synth.models.get(f.model)
            if group is None:
                group = synth.models[f.model] = ModelSynthesis(
                    f.model, reference=known is not None and f.model not in known
                )
            group.add(f, run_id)
        return synth


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Primary findings first, then by study and metric."""
    return sorted(findings, key=lambda f: (not f.primary, f.study, f.metric))


# ---------------------------------------------------------------------------------------------- reading MLflow
def collect(tracker: Tracker, *, preset: str | None = None) -> Synthesis:
    """The synthesis of everything in ``tracker``'s store (newest finished study run per model and study)."""
    from reflectlab.core.tracking import TAG_PRESET

    query = f"tags.`{TAG_KIND}` = 'study'"
    if preset:
        query += f" and tags.`{TAG_PRESET}` = '{preset}'"
    runs = tracker.runs(query, max_results=5000)  # newest first
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
        records = tracker.read_json_artifact(run.info.run_id, "findings.json") or []
        fresh: dict[str, list[Finding]] = {}
        for rec in records:
            f = Finding.from_dict(rec)
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


# ---------------------------------------------------------------------------------------------- formats
def _num(x: float | None, spec: str = ".3f") -> str:
    return "" if x is None or math.isnan(x) else format(x, spec)


def _ci(f: Finding) -> str:
    if math.isnan(f.ci_low) or math.isnan(f.ci_high):
        return "undefined"
    return f"[{f.ci_low:.3f}, {f.ci_high:.3f}]"


def format_finding(f: Finding) -> str:
    """One finding on one terminal line (``*`` marks a primary finding)."""
    star = "*" if f.primary else " "
    return (
        f"{star} {f.study:<28} {f.metric:<26} {f.value:8.3f} [{f.ci_low:7.3f}, {f.ci_high:7.3f}] n={f.n:<5}"
        f" vs {f.control} ({f.control_value:.3f}) -> {f.verdict}"
    )


def _tally_text(m: ModelSynthesis, side: str) -> str:
    t = m.tally(side)
    d = m.tally(side, primary_only=False)
    diag = sum(d.values()) - sum(t.values())
    return f"{t['present']} present, {t['absent']} absent, {t['inconclusive']} inconclusive (primary)" + (
        f"; {diag} diagnostic" if diag else ""
    )


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
            lines.append(f"  {side}: {m.side_state(side)} - {_tally_text(m, side)}")
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
    "control",
    "control_value",
    "direction",
    "margin",
    "claim",
    "verdict",
    "side_state",
    "headline",
    "run_id",
)


def rows(synth: Synthesis) -> list[dict[str, Any]]:
    """One flat record per finding (the CSV rows; also the dashboard's table)."""
    out: list[dict[str, Any]] = []
    for m in synth.ordered():
        headline = "" if m.reference else m.headline()
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
                    "control": f.control,
                    "control_value": f.control_value,
                    "direction": f.direction,
                    "margin": f.margin,
                    "claim": "equivalence" if is_equivalence(f) else "effect",
                    "verdict": f.verdict,
                    "side_state": m.side_state(f.side),
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
            lines += [f"### {side}: {m.side_state(side)}", "", _tally_text(m, side) + ".", ""]
            lines += [
                "| primary | study | metric | value | 95% CI | n | control | control value | verdict |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for f in sorted_findings(m.findings[side]):
                lines.append(
                    f"| {'yes' if f.primary else ''} | {_md(f.study)} | {_md(f.metric)} | {_num(f.value)} | {_ci(f)}"
                    f" | {f.n} | {_md(f.control)} | {_num(f.control_value)} | {f.verdict} |"
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
            rec[m.model] = f"{_num(match.value)} {_ci(match)} {match.verdict}" if match else "not run"
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
