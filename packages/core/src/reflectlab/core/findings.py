"""The Finding record and the one verdict rule every study, the synthesis and the dashboard share.

Contract (``findings.json`` is a JSON list of these records)::

    study, metric, value, ci_low, ci_high, n, control, control_value, side, verdict, model

plus three fields that make the verdict reproducible from the record alone: ``direction`` (which side of the
control the hypothesised effect lies on), ``margin`` (the smallest effect that matters) and ``primary`` (whether
the finding is a headline effect or a diagnostic). ``details`` holds anything else a study wants to keep.

The verdict rule (:func:`verdict_for`), with effect interval ``[ci_low - control_value, ci_high - control_value]``
oriented so that a positive effect is the hypothesised one:

- ``present``: the whole interval lies above 0 (the effect is distinguishable from the control);
- ``absent``: the whole interval lies inside ``[-margin, +margin]`` (equivalent to the control), or the whole
  interval lies below 0 (the opposite of the hypothesised effect);
- ``inconclusive``: anything else, including an undefined interval, and any estimate from fewer than
  :data:`MIN_N` items (a bootstrap interval over a handful of items can be zero-width without meaning anything).
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
VERDICTS = ("present", "absent", "inconclusive")
DIRECTIONS = ("greater", "less")
#: Estimates from fewer items than this are always ``inconclusive``.
MIN_N = 10

Side = Literal["recognition", "correction", "self-signal"]
Verdict = Literal["present", "absent", "inconclusive"]


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
    if lo > 0:
        return "present"
    if hi < 0 or (lo >= -margin and hi <= margin):
        return "absent"
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

    def __post_init__(self) -> None:
        if self.side and self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {self.side!r}")
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
    ) -> Finding:
        return cls(
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
        for k in ("value", "ci_low", "ci_high", "control_value"):
            if isinstance(d[k], float) and math.isnan(d[k]):
                d[k] = None  # JSON has no NaN
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        known = {f for f in cls.__dataclass_fields__ if f != "verdict"}
        kwargs = {k: v for k, v in d.items() if k in known}
        for k in ("value", "ci_low", "ci_high", "control_value"):
            if kwargs.get(k) is None:
                kwargs[k] = float("nan")
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
