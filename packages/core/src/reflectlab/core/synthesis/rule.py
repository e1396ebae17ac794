"""The synthesis rule: how findings add up to a side's state and the headline verdict, per model.

The groups it works on are built from the store by :mod:`reflectlab.core.synthesis.collection`; the
:mod:`reflectlab.core.synthesis.rendering` module writes them out.

Which findings count
    For each model and study, the newest *finished* study run that holds findings for that model. A newer run
    that is still running, failed or was interrupted does not count; it is listed in :attr:`Synthesis.pending`.
    A finding belongs to the model named in its ``model`` field. A group whose name is not the model of any
    tracked run (the closed-form recurrence reports ``model = "closed form"``) is a *reference*: shown, never
    given a headline verdict.

Side state (from the side's *primary* findings only; diagnostics are shown but never decide)
    Each primary finding is first read for its side's phenomenon, through its ``bearing``
    (:mod:`reflectlab.core.findings`): a ``supports`` finding reads ``present`` when its verdict is present and
    ``absent`` when its verdict is absent or reversed (the opposite effect counts against the phenomenon); an
    ``opposes`` finding (e.g. reflection that confirms the first answer: correction is *not* happening) reads
    ``absent`` when present, and ``inconclusive`` otherwise. An *equivalence* finding (``details["claim"] ==
    "equivalence"``: the claim is that the value sits at its control) reads ``present`` when its effect interval
    lies inside ``[-margin, +margin]`` and ``absent`` when the interval excludes 0 and is not inside the margin.

    Multiplicity: a ``present`` reading must survive Holm's step-down correction at family-wise alpha
    :data:`ALPHA` across the primary findings of one side and one model, using their one-sided p-values; one
    that does not (or has no p-value, as v1 records) reads ``inconclusive``. Then:

    - ``present``: at least one primary finding reads present;
    - ``absent``: there is at least one primary finding and every one reads absent;
    - ``inconclusive``: anything else;
    - ``untested``: no primary finding on the side.

    The raw reading (without the correction) is kept beside it for display.

    The self-signal side reads only primary findings that measure the clause's claim - that self-signal gains
    track verifier quality (``details["measures"] == "tracks-verifier-quality"``: held-out gain against the
    verifier's measured precision across verifier arms, or self-play gains against each arm's judge accuracy);
    any other finding on that side is a diagnostic for the synthesis.

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

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from reflectlab.core.findings import SIDES, VERDICTS, Finding

SideState = Literal["present", "absent", "inconclusive", "untested"]
ClauseVerdict = Literal["supported", "contradicted", "open"]

CLAIM_KEY = "claim"  # details key; "equivalence" marks a finding whose claim is "no difference from the control"
#: details key naming what a finding measures; the self-signal clause reads findings that measure TRACKS_VERIFIER.
MEASURES_KEY = "measures"
TRACKS_VERIFIER = "tracks-verifier-quality"
#: Family-wise error rate of the Holm correction across one side's primary findings.
ALPHA = 0.05

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
    "For each model and study the newest finished study run counts. Each primary finding is read for its side's"
    " phenomenon through its bearing (a finding whose presence means the phenomenon is absent, such as confirmatory"
    " reflection for correction, reads absent when present; a reversed effect counts against its side). A present"
    " reading must survive Holm's correction at family-wise alpha 0.05 across the side's primary findings. A side"
    " is present if any reading is present, absent if all are absent, inconclusive otherwise, untested if there are"
    " none; the self-signal side reads only findings that measure whether gains track verifier quality. Each clause"
    " expects a state - recognition present, correction absent, self-signal present - and is supported in that"
    " state, contradicted in the opposite one, open otherwise. The headline is contradicted if any clause is,"
    " supported if all are, open otherwise."
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


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is left out of the family)."""
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(order)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def side_reading(f: Finding, adjusted_p: float | None = None) -> str:
    """How a finding counts towards its side's state (rule in the module docstring). With ``adjusted_p`` (its
    Holm-adjusted p-value) a present reading must also survive the correction; without, the raw reading."""
    survives = adjusted_p is None or (not math.isnan(adjusted_p) and adjusted_p <= ALPHA)
    if is_equivalence(f):
        _, lo, hi = effect_interval(f)
        if math.isnan(lo) or math.isnan(hi):
            return "inconclusive"
        if -f.margin <= lo and hi <= f.margin:
            return "present"
        if lo > 0 or hi < 0:
            return "absent"
        return "inconclusive"
    if f.bearing == "opposes":
        return "absent" if f.verdict == "present" else "inconclusive"
    if f.verdict == "present":
        return "present" if survives else "inconclusive"
    if f.verdict in ("absent", "reversed"):
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

    def deciding(self, side: str) -> list[Finding]:
        """The primary findings that decide a side (on the self-signal side, those that carry its claim)."""
        out = [f for f in self.findings[side] if f.primary]
        if side == "self-signal":
            out = [f for f in out if str(f.details.get(MEASURES_KEY, "")) == TRACKS_VERIFIER]
        return out

    def adjusted_p(self, side: str) -> dict[int, float]:
        """Holm-adjusted p-values of the side's deciding findings, by ``id`` of the finding."""
        deciding = self.deciding(side)
        return dict(zip(map(id, deciding), holm([f.p_value for f in deciding]), strict=True))

    def readings(self, side: str, *, adjusted: bool = True) -> list[tuple[Finding, str]]:
        """Each deciding finding with its reading, after Holm's correction unless ``adjusted`` is false."""
        adj = self.adjusted_p(side)
        return [(f, side_reading(f, adj[id(f)] if adjusted else None)) for f in self.deciding(side)]

    def side_state(self, side: str, *, adjusted: bool = True) -> SideState:
        """The side's state from its deciding primary findings (rule in the module docstring); ``adjusted=False``
        gives the raw reading, before the multiplicity correction."""
        readings = [r for _, r in self.readings(side, adjusted=adjusted)]
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
