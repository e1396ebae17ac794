"""What a trainer returns, and the record it leaves beside the weights so a finished run is never redone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reflectlab.core.errors import UserError
from reflectlab.core.models.spec import ModelSpec

if TYPE_CHECKING:
    from reflectlab.core.cache import Cache
    from reflectlab.core.models.base import Model

#: Receives stepped metrics, as ``RunContext.log_metrics(metrics, step)`` does.
MetricsSink = Callable[[dict[str, float], int], None]

#: The record written into every output folder (beside the adapter or the weights).
RECORD_FILE = "reflectlab-training.json"

Method = Literal["lora", "full"]


@dataclass
class TrainResult:
    """A trained model: where its weights are, the spec that loads it, and how training went."""

    spec: ModelSpec
    """Loads the trained model with ``load_model``: the base spec with ``adapter=out_dir`` (LoRA), or
    ``name=out_dir`` (full fine-tuning)."""
    out_dir: Path
    method: Method
    steps: int
    """Optimizer steps taken."""
    train_loss: float
    """Mean training loss over the run, as the trainer reports it."""
    losses: list[tuple[int, float]] = field(default_factory=list)
    """Logged training loss per optimizer step: ``(step, loss)``."""
    n_examples: int = 0
    runtime_s: float = 0.0
    reused: bool = False
    """True when a finished run with the same inputs was found in ``out_dir`` and nothing was trained."""

    def load(self, cache: Cache | None = None) -> Model:
        """A model handle on the trained weights."""
        from reflectlab.core.models.loader import load_model

        return load_model(self.spec, cache)


def trained_spec(base: ModelSpec, out_dir: Path, method: Method) -> ModelSpec:
    """The spec of the model trained from ``base`` into ``out_dir``."""
    folder = str(out_dir.resolve())
    if method == "lora":
        return replace(base, adapter=folder)
    return replace(base, name=folder, adapter=None)


def output_folder(out_dir: str | Path, key: str, *, keyed: bool = False) -> Path:
    """Where a run keyed ``key`` writes its output: ``out_dir``, or with ``keyed`` its subfolder named by the key.

    A folder there that holds something other than a training output is refused, so no file is overwritten."""
    out = Path(out_dir).expanduser().resolve()
    if keyed:
        out = out / key[:16]
    if out.exists() and not (out / RECORD_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not a training output; give an empty or new folder")
    return out


def write_record(folder: Path, key: str, base: ModelSpec, result: TrainResult, extra: dict[str, Any]) -> None:
    """Write the run record into ``folder`` (the output folder before its final rename)."""
    record = {
        "key": key,
        "method": result.method,
        "base": asdict(base),
        "steps": result.steps,
        "train_loss": result.train_loss,
        "losses": [list(p) for p in result.losses],
        "n_examples": result.n_examples,
        "runtime_s": result.runtime_s,
        **extra,
    }
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2, default=str))


def read_finished(out_dir: Path, key: str, base: ModelSpec) -> TrainResult | None:
    """The result of a finished run in ``out_dir`` made from the same inputs (``key``), else None."""
    path = out_dir / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != key or record.get("method") not in ("lora", "full"):
        return None
    method: Method = record["method"]
    try:
        return TrainResult(
            spec=trained_spec(base, out_dir, method),
            out_dir=out_dir,
            method=method,
            steps=int(record["steps"]),
            train_loss=float(record["train_loss"]),
            losses=[(int(s), float(v)) for s, v in record["losses"]],
            n_examples=int(record["n_examples"]),
            runtime_s=float(record["runtime_s"]),
            reused=True,
        )
    except (KeyError, TypeError, ValueError):  # a record from another version: train again
        return None
