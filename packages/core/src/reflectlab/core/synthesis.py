"""The synthesis, first version: the latest findings per model and side, read back from MLflow.

For each model and each study, the newest finished study run counts. Findings are grouped by side
(recognition, correction, self-signal) with their verdicts; a per-side tally says how many effects are present,
absent or inconclusive. Primary findings are the headline effects; the others are diagnostics.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from reflectlab.core.findings import SIDES, Finding
from reflectlab.core.tracking import TAG_KIND, TAG_MODEL, TAG_STUDY, Tracker


@dataclass
class ModelSynthesis:
    model: str
    findings: dict[str, list[Finding]] = field(default_factory=lambda: {s: [] for s in SIDES})
    runs: dict[str, str] = field(default_factory=dict)  # study -> run id

    def tally(self, side: str, primary_only: bool = True) -> dict[str, int]:
        counts = {"present": 0, "absent": 0, "inconclusive": 0}
        for f in self.findings[side]:
            if f.primary or not primary_only:
                counts[f.verdict] += 1
        return counts


def latest_findings(tracker: Tracker) -> dict[str, ModelSynthesis]:
    out: dict[str, ModelSynthesis] = {}
    seen: set[tuple[str, str]] = set()
    for run in tracker.runs(f"tags.`{TAG_KIND}` = 'study' and attributes.status = 'FINISHED'"):
        model = run.data.tags.get(TAG_MODEL, "?")
        study = run.data.tags.get(TAG_STUDY, "?")
        if (model, study) in seen:
            continue
        seen.add((model, study))
        records = tracker.read_json_artifact(run.info.run_id, "findings.json") or []
        synth = out.setdefault(model, ModelSynthesis(model))
        synth.runs[study] = run.info.run_id
        for rec in records:
            f = Finding.from_dict(rec)
            synth.findings[f.side].append(f)
    return out


def format_table(synth: dict[str, ModelSynthesis]) -> str:
    if not synth:
        return "no finished study runs yet: try `platform run introspection preset=smoke`"
    lines = []
    for model, s in sorted(synth.items()):
        lines.append(f"model {model}")
        by_side: dict[str, list[Finding]] = defaultdict(list)
        for side in SIDES:
            by_side[side] = sorted(s.findings[side], key=lambda f: (not f.primary, f.study, f.metric))
        for side in SIDES:
            t = s.tally(side)
            lines.append(
                f"  {side}: {t['present']} present, {t['absent']} absent, {t['inconclusive']} inconclusive"
                " (primary findings)"
            )
            for f in by_side[side]:
                lines.append("    " + format_finding(f))
    return "\n".join(lines)


def format_finding(f: Finding) -> str:
    star = "*" if f.primary else " "
    return (
        f"{star} {f.study:<28} {f.metric:<26} {f.value:8.3f} [{f.ci_low:7.3f}, {f.ci_high:7.3f}] n={f.n:<5}"
        f" vs {f.control} ({f.control_value:.3f}) -> {f.verdict}"
    )
