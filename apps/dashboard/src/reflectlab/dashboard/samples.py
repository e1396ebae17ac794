"""Per-sample records (``samples.jsonl`` and the other JSONL artifacts): flattening, filtering, and pairing two
runs item by item. No Streamlit here."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TEXT_COLUMNS = ("prompt", "output")
MAX_CHOICES = 40  # a column with more distinct values is searched as text, not offered as choices


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted columns (``verdict.self``); lists become compact JSON text. A record in the
    shared layout (core keys, then ``extras``) shows its extras as columns of their own, beside the core keys."""
    if not prefix and isinstance(record.get("extras"), dict):
        extras = {k: v for k, v in record["extras"].items() if k not in record}
        record = {k: v for k, v in record.items() if k != "extras" and v is not None} | extras
    out: dict[str, Any] = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, prefix=f"{name}."))
        elif isinstance(v, list):
            out[name] = json.dumps(v, default=str)
        else:
            out[name] = v
    return out


def leading(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows with prompt, output and verdict columns first (the order a reader wants them in)."""
    out = []
    for r in rows:
        first = [k for k in (*TEXT_COLUMNS, "verdict") if k in r] + [k for k in r if k.startswith("verdict.")]
        out.append({k: r[k] for k in first} | {k: v for k, v in r.items() if k not in first})
    return out


def verdict_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns holding a verdict (``verdict`` or ``verdict.*``), in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k == "verdict" or k.startswith("verdict."):
                seen.setdefault(k)
    return list(seen)


def choice_columns(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Columns with few distinct values (design factors, verdicts), with those values as text."""
    values: dict[str, set[str]] = {}
    for r in rows:
        for k, v in r.items():
            values.setdefault(k, set()).add(as_text(v))
    return {
        k: sorted(vs)
        for k, vs in values.items()
        if k not in TEXT_COLUMNS and 1 < len(vs) <= min(MAX_CHOICES, max(2, len(rows) - 1))
    }


def as_text(v: Any) -> str:
    return "" if v is None else str(v)


def filter_rows(
    rows: list[dict[str, Any]], *, text: str = "", choices: dict[str, list[str]] | None = None
) -> list[int]:
    """Indices of the rows that contain ``text`` (any column, case-insensitive) and match every chosen value set."""
    needle = text.strip().lower()
    picked = {k: set(v) for k, v in (choices or {}).items() if v}
    out = []
    for i, r in enumerate(rows):
        if picked and any(as_text(r.get(k)) not in vs for k, vs in picked.items()):
            continue
        if needle and not any(needle in as_text(v).lower() for v in r.values()):
            continue
        out.append(i)
    return out


def verdict_text(record: dict[str, Any]) -> str:
    v = record.get("verdict")
    if isinstance(v, dict):
        return ", ".join(f"{k}={v[k]}" for k in sorted(v))
    return as_text(v)


@dataclass
class Pairing:
    """Two runs' samples matched item by item, or the reason they cannot be."""

    paired: bool
    reason: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        if not self.rows:
            return float("nan")
        return sum(r["same verdict"] for r in self.rows) / len(self.rows)

    def crosstab(self) -> dict[tuple[str, str], int]:
        """How often verdict A met verdict B (the discordant cells are the paired evidence of a difference)."""
        return dict(Counter((r["verdict A"], r["verdict B"]) for r in self.rows))


def pair_samples(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    design_a: dict[str, str] | None = None,
    design_b: dict[str, str] | None = None,
) -> Pairing:
    """Pair two runs' samples when the design is paired: the same study config and seed (so the same items, in
    the same order), checked against the prompts themselves."""
    if not a or not b:
        return Pairing(False, "one of the runs logged no samples")
    if design_a is not None and design_b is not None and design_a != design_b:
        differ = sorted(k for k in set(design_a) | set(design_b) if design_a.get(k) != design_b.get(k))
        return Pairing(False, "not paired: the runs differ in " + ", ".join(differ))
    if len(a) != len(b):
        return Pairing(False, f"not paired: {len(a)} samples vs {len(b)}")
    if [r.get("prompt") for r in a] != [r.get("prompt") for r in b]:
        return Pairing(False, "not paired: the prompts differ")
    rows = []
    for i, (ra, rb) in enumerate(zip(a, b, strict=True)):
        va, vb = verdict_text(ra), verdict_text(rb)
        rows.append(
            {
                "item": i,
                "prompt": as_text(ra.get("prompt")),
                "output A": as_text(ra.get("output")),
                "output B": as_text(rb.get("output")),
                "verdict A": va,
                "verdict B": vb,
                "same verdict": va == vb,
            }
        )
    return Pairing(True, f"paired: same study config and seed, {len(rows)} items in the same order", rows)
