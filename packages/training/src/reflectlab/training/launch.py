"""Train from a config file, as one process or as many under ``accelerate launch``.

    python -m reflectlab.training.launch --config train.yaml
    accelerate launch --multi_gpu --num_processes 4 -m reflectlab.training.launch --config train.yaml
    accelerate launch --config_file fsdp.yaml -m reflectlab.training.launch --config train.yaml

``--multi_gpu`` is accelerate's torchrun launcher; on a machine without GPUs (or with ``CUDA_VISIBLE_DEVICES=``)
its processes train on the CPU and join over gloo. ``accelerate launch --cpu`` starts a single process unless
MPI is configured.

The config (YAML or JSON) names the base model, the examples and the settings::

    model: {name: smollm2-135m-instruct, device: cpu}   # a reflectlab ModelSpec
    examples: chats.jsonl        # one example per line: a chat, or {"prompt": ..., "completion": ...}
    out_dir: adapters/first      # relative paths are read from the config file's folder
    settings: {max_steps: 20, batch_size: 4}             # SFTSettings fields

Each process runs the same :func:`~reflectlab.training.sft.train_sft` call; TRL's trainer splits the batches
across the processes (data parallel), and only the main process writes the output folder. This is the same
trainer studies reach through the registry, so an adapter trained here loads with ``model.adapter=<out_dir>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflectlab.core.errors import UserError

#: The keys a launch config may have.
KEYS = ("model", "examples", "out_dir", "settings")


def read_examples(path: Path) -> list[Any]:
    """Examples from a JSONL file: one chat or prompt/completion mapping per line; blank lines are skipped."""
    if not path.is_file():
        raise UserError(f"examples file not found: {path}")
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
    if not examples:
        raise UserError(f"{path} holds no examples")
    return examples


def load_config(path: Path) -> dict[str, Any]:
    """The launch config as plain data; an unknown or missing key is a :class:`UserError`."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except (OmegaConfBaseException, ValueError) as exc:  # YAML syntax errors surface as either
        raise UserError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with the keys {', '.join(KEYS)}")
    unknown = sorted(set(map(str, data)) - set(KEYS))
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(KEYS)}")
    for key in ("model", "examples", "out_dir"):
        if key not in data:
            raise UserError(f"{path}: missing key {key!r}")
    return {str(k): v for k, v in data.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reflectlab.training.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="YAML or JSON launch config")
    args = parser.parse_args(argv)
    try:
        from reflectlab.core.models.spec import ModelSpec
        from reflectlab.training.sft import train_sft

        config_path: Path = args.config.expanduser().resolve()
        cfg = load_config(config_path)
        if not isinstance(cfg["model"], dict):
            raise UserError(f"{config_path}: 'model' must be a mapping of ModelSpec fields")
        try:
            spec = ModelSpec(**cfg["model"])
        except TypeError as exc:
            raise UserError(f"{config_path}: bad model section: {exc}") from None
        examples = read_examples(config_path.parent / str(cfg["examples"]))
        out_dir = config_path.parent / str(cfg["out_dir"])
        result = train_sft(spec, examples, cfg.get("settings") or {}, out_dir)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from accelerate import PartialState

    if PartialState().is_main_process:
        state = "reused" if result.reused else f"{result.steps} steps, loss {result.train_loss:.4f}"
        print(f"trained {result.method} ({state}): {result.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
