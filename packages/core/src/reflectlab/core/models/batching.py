"""Padding token-id rows into one batch: the single place that lays rows out for a forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch


def pad_batch(
    rows: Sequence[Sequence[int]],
    pad_id: int,
    side: Literal["left", "right"] = "right",
    *,
    width: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of token ids as a ``(len(rows), width)`` long tensor filled with ``pad_id``, and its attention mask
    (1 on real tokens). ``width`` defaults to the longest row.

    Right padding keeps each row's positions 0..n-1, so a forward pass needs no position ids; left padding puts
    every row's last token in the last column, as generation needs (then pass position ids from the mask)."""
    import torch

    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    width = max((len(r) for r in rows), default=0) if width is None else width
    ids = torch.full((len(rows), width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        if len(row) > width:
            raise ValueError(f"row {i} has {len(row)} tokens, more than the width {width}")
        cols = slice(0, len(row)) if side == "right" else slice(width - len(row), width)
        ids[i, cols] = torch.tensor(list(row), dtype=torch.long)
        mask[i, cols] = 1
    return ids, mask
