import json
import math
from pathlib import Path
from typing import Any

import pytest

from reflectlab.core.findings import CONTRACT_FIELDS, Finding, read_findings, verdict_for, write_findings
from reflectlab.core.stats import Estimate

CONTRACT = {
    "study",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "control",
    "control_value",
    "side",
    "verdict",
    "model",
}


@pytest.mark.parametrize(
    ("low", "high", "control", "direction", "expected"),
    [
        (0.6, 0.8, 0.5, "greater", "present"),  # whole interval above the control
        (0.49, 0.53, 0.5, "greater", "absent"),  # inside the margin: equivalent to the control
        (0.2, 0.4, 0.5, "greater", "reversed"),  # whole interval on the wrong side: the opposite effect
        (0.51, 0.53, 0.5, "greater", "absent"),  # a tiny effect measured precisely: inside the margin
        (0.45, 0.7, 0.5, "greater", "inconclusive"),  # straddles the control, wider than the margin
        (0.2, 0.4, 0.5, "less", "present"),
        (0.6, 0.8, 0.5, "less", "reversed"),
        (-0.01, 0.02, 0.0, "greater", "absent"),
        (math.nan, math.nan, 0.5, "greater", "inconclusive"),
    ],
)
def test_verdict_rule(low: float, high: float, control: float, direction: str, expected: str) -> None:
    assert verdict_for(low, high, control, direction=direction, margin=0.05) == expected


def test_too_few_units_are_always_inconclusive() -> None:
    assert verdict_for(0.6, 0.8, 0.5, n=2) == "inconclusive"
    assert verdict_for(0.0, 0.0, 0.0, n=2) == "inconclusive"  # a zero-width interval over 2 units means nothing
    assert verdict_for(0.6, 0.8, 0.5, n=3) == "present"


def test_verdict_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError):
        verdict_for(0.1, 0.2, 0.0, direction="up")


def _finding(**kw: Any) -> Finding:
    base: dict[str, Any] = dict(
        study="s/t", metric="m", control="chance", control_value=0.5, side="recognition", model="tiny"
    )
    base.update(kw)
    return Finding.from_estimate(Estimate(0.7, 0.6, 0.8, 40), **base)


def test_finding_computes_its_verdict_and_validates_side() -> None:
    assert _finding().verdict == "present"
    with pytest.raises(ValueError):
        _finding(side="introspection")


def test_the_contract_constant_is_the_documented_one() -> None:
    assert set(CONTRACT_FIELDS) == CONTRACT


def test_findings_json_follows_the_contract(tmp_path: Path) -> None:
    nan = Finding("s/t", "m2", math.nan, math.nan, math.nan, 0, "chance", 0.5, "correction", "tiny")
    path = tmp_path / "findings.json"
    write_findings([_finding(), nan], path)
    records = json.loads(path.read_text())
    assert all(set(r) >= CONTRACT for r in records)
    assert records[1]["value"] is None and records[1]["verdict"] == "inconclusive"
    back = read_findings(path)
    assert back[0].to_dict() == _finding().to_dict()
    assert math.isnan(back[1].value)
