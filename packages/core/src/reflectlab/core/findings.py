"""The Finding record and the one verdict rule every study, the synthesis and the dashboard share.

Contract v2 (``findings.json`` is a JSON list of these records)::

    study, metric, value, ci_low, ci_high, n, control, control_value, side, verdict, model

plus the fields that make the verdict reproducible and readable from the record alone:

- ``unit``: what ``n`` counts - the independent replicate that was resampled (seed, topic, concept, problem,
  prompt, task, entity), never a sub-sample of one; ``""`` in v1 records, whose ``n`` counted items;
- ``p_value``: one-sided, in the hypothesised direction (``None`` where a study gives none, and in v1 records);
- ``direction``: which side of the control the hypothesised effect lies on (``greater`` or ``less``);
- ``bearing``: how the finding's *presence* bears on its side's phenomenon: ``supports`` (present means the
  phenomenon is there: a final-minus-first accuracy gain is correction) or ``opposes`` (present means it is not:
  reflection that confirms the first answer means correction is absent);
- ``margin``: the smallest effect that matters, on the metric's own scale;
- ``primary``: the study's one headline finding (declared in its docs); every other finding is a diagnostic;
- ``schema``: 2 (a record without it is v1 and still loads).

``details`` holds anything else a study wants to keep.

The verdict rule (:func:`verdict_for`), with the effect interval ``[ci_low - control_value, ci_high -
control_value]`` oriented so that a positive effect is the hypothesised one, checked in this order:

1. ``inconclusive``: the interval is undefined, or rests on fewer than :data:`MIN_N` units;
2. ``absent``: the whole interval lies inside ``[-margin, +margin]`` (equivalent to the control);
3. ``present``: the whole interval lies above 0 (the hypothesised effect, distinguishable from the control);
4. ``reversed``: the whole interval lies below 0 (the opposite effect);
5. ``inconclusive``: anything else.

A floor is not ``absent`` by itself: 0 refusals of 24 has the interval [0, 0.14] (Wilson), which is ``absent``
only when the margin is wider than that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from reflectlab.core.stats import Estimate

#: The fields every record of ``findings.json`` has (the contract the synthesis and the dashboard rely on).
CONTRACT_FIELDS = (
    "study", "metric", "value", "ci_low", "ci_high", "n", "control", "control_value", "side", "verdict", "model",
)  # fmt: skip
SIDES = ("recognition", "correction", "self-signal")
VERDICTS = ("present", "absent", "reversed", "inconclusive")
DIRECTIONS = ("greater", "less")
BEARINGS = ("supports", "opposes")
SCHEMA = 2
#: Estimates from fewer independent units than this are always ``inconclusive``.
MIN_N = 3

Side = Literal["recognition", "correction", "self-signal"]
Verdict = Literal["present", "absent", "reversed", "inconclusive"]


def verdict_for(
    ci_low: float,
    ci_high: float,
    control_value: float,
    *,
    direction: str = "greater",
    margin: float = 0.05,
    n: int | None = None,
) -> Verdict:
    """Apply the documented verdict rule (see the module docstring)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    if any(math.isnan(x) for x in (ci_low, ci_high, control_value)):
        return "inconclusive"
    if n is not None and n < MIN_N:
        return "inconclusive"
    lo, hi = ci_low - control_value, ci_high - control_value
    if direction == "less":
        lo, hi = -hi, -lo
    if lo >= -margin and hi <= margin:
        return "absent"
    if lo > 0:
        return "present"
    if hi < 0:
        return "reversed"
    return "inconclusive"


@dataclass
class Finding:
    """One measured effect against its control.

    ``study``, ``side`` and ``model`` may be left empty by a study's ``measure()``: the runner stamps them (the
    study's one name ``<inquiry>/<key>``, its declared side, the model under study) before anything is written."""

    study: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    control: str
    control_value: float
    side: str = ""
    model: str = ""
    direction: str = "greater"
    margin: float = 0.05
    primary: bool = False
    verdict: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    unit: str = ""
    p_value: float = math.nan
    bearing: str = "supports"
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if self.side and self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {self.side!r}")
        if self.bearing not in BEARINGS:
            raise ValueError(f"bearing must be one of {BEARINGS}, not {self.bearing!r}")
        self.verdict = verdict_for(
            self.ci_low, self.ci_high, self.control_value, direction=self.direction, margin=self.margin, n=self.n
        )

    @classmethod
    def from_estimate(
        cls,
        estimate: Estimate,
        *,
        metric: str,
        control: str,
        control_value: float,
        study: str = "",
        side: str = "",
        model: str = "",
        direction: str = "greater",
        margin: float = 0.05,
        primary: bool = False,
        details: dict[str, Any] | None = None,
        bearing: str = "supports",
    ) -> Finding:
        """A finding from a stats estimate; a :class:`~reflectlab.core.stats.UnitEstimate` also gives the unit
        and the one-sided p-value (computed by the caller against this control, in this direction)."""
        return cls(
            unit=str(getattr(estimate, "unit", "")),
            p_value=float(getattr(estimate, "p_value", math.nan)),
            bearing=bearing,
            study=study,
            metric=metric,
            value=estimate.value,
            ci_low=estimate.ci_low,
            ci_high=estimate.ci_high,
            n=estimate.n,
            control=control,
            control_value=control_value,
            side=side,
            model=model,
            direction=direction,
            margin=margin,
            primary=primary,
            details=details or {},
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("value", "ci_low", "ci_high", "control_value", "p_value"):
            if isinstance(d[k], float) and math.isnan(d[k]):
                d[k] = None  # JSON has no NaN
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        known = {f for f in cls.__dataclass_fields__ if f != "verdict"}
        kwargs = {k: v for k, v in d.items() if k in known}
        for k in ("value", "ci_low", "ci_high", "control_value", "p_value"):
            if kwargs.get(k) is None:
                kwargs[k] = float("nan")
        kwargs.setdefault("schema", 1)  # a record without a schema is a v1 record: n counted items, no p-value
        return cls(**kwargs)


def stamp(findings: Iterable[Finding], *, study: str, side: str, model: str) -> list[Finding]:
    """The findings with the study's one name and side, and the model where the study left it empty."""
    out = []
    for f in findings:
        f.study = study
        f.side = f.side or side
        f.model = f.model or model
        if f.side not in SIDES:
            raise ValueError(f"{study}: side must be one of {SIDES}, not {f.side!r}")
        out.append(f)
    return out


def write_findings(findings: Iterable[Finding], path: Path) -> None:
    """Write ``findings.json`` under a temporary name and rename it: never a truncated file."""
    from reflectlab.core.atomic import atomic_write_text

    atomic_write_text(path, json.dumps([f.to_dict() for f in findings], indent=2) + "\n")


def read_findings(path: Path) -> list[Finding]:
    return [Finding.from_dict(d) for d in json.loads(path.read_text())]


def findings_from_json(text: str) -> list[Finding]:
    """The findings of a ``findings.json`` text; ``ValueError`` saying what is wrong when it does not parse or a
    record does not follow the contract (a list of records with every field of :data:`CONTRACT_FIELDS`)."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"does not parse ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(records, list):
        raise ValueError("does not follow the contract (not a list of findings)")
    out = []
    for i, rec in enumerate(records):
        missing = [k for k in CONTRACT_FIELDS if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise ValueError(f"does not follow the contract (record {i} lacks {', '.join(missing)})")
        try:
            out.append(Finding.from_dict(rec))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"does not follow the contract (record {i}: {exc})") from None
    return out
