"""The synthesis: every finding placed on its side, per model, and the headline hypothesis judged from them.

``platform synthesize`` and the dashboard both read it from here, so they cannot disagree. Three parts:

- :mod:`~reflectlab.core.synthesis.rule`: how findings add up to side states and the headline (its docstring is
  the full rule);
- :mod:`~reflectlab.core.synthesis.collection`: which study runs of the store count;
- :mod:`~reflectlab.core.synthesis.rendering`: the terminal table, CSV, Markdown and the value/interval text.
"""

from reflectlab.core.synthesis.collection import collect, latest_findings
from reflectlab.core.synthesis.rendering import (
    CSV_COLUMNS,
    ci_text,
    format_finding,
    format_table,
    interval_text,
    number,
    render,
    rows,
    side_by_side,
    side_by_side_markdown,
    state_text,
    tally_text,
    to_csv,
    to_markdown,
    value_with_ci,
)
from reflectlab.core.synthesis.rule import (
    CLAIM_KEY,
    CLAUSES,
    HEADLINE,
    RULE,
    Clause,
    ClauseVerdict,
    ModelSynthesis,
    PendingStudy,
    SideState,
    Synthesis,
    effect_interval,
    is_equivalence,
    side_reading,
    sorted_findings,
)

__all__ = [
    "CLAIM_KEY",
    "CLAUSES",
    "CSV_COLUMNS",
    "HEADLINE",
    "RULE",
    "Clause",
    "ClauseVerdict",
    "ModelSynthesis",
    "PendingStudy",
    "SideState",
    "Synthesis",
    "ci_text",
    "collect",
    "effect_interval",
    "format_finding",
    "format_table",
    "interval_text",
    "is_equivalence",
    "latest_findings",
    "number",
    "render",
    "rows",
    "side_by_side",
    "side_by_side_markdown",
    "side_reading",
    "sorted_findings",
    "state_text",
    "tally_text",
    "to_csv",
    "to_markdown",
    "value_with_ci",
]
