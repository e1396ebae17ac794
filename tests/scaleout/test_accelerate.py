"""Training scales out through ``accelerate launch``: the ``sft`` trainer on two CPU processes (data parallel, gloo).

The launcher a user runs (``accelerate launch -m reflectlab.training.launch --config ...``) trains a LoRA adapter on
a tiny random model; with two processes each optimizer step takes a batch from each, so one epoch takes half the
steps one process would; the adapter then loads with plain PEFT, outside reflectlab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N_EXAMPLES = 16
BATCH = 2
PROCESSES = 2


def test_sft_under_accelerate_launch_with_two_cpu_processes(tmp_path: Path, tiny_dir: Path) -> None:
    chats = [
        [{"role": "user", "content": f"Count to {i % 5 + 2}."}, {"role": "assistant", "content": "one two three"}]
        for i in range(N_EXAMPLES)
    ]
    (tmp_path / "chats.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    config = {
        "model": {"name": str(tiny_dir), "device": "cpu"},
        "examples": "chats.jsonl",
        "out_dir": "adapter",
        "settings": {"epochs": 1, "batch_size": BATCH, "lora_r": 4, "lora_alpha": 8, "learning_rate": 1e-3},
    }
    (tmp_path / "train.json").write_text(json.dumps(config))
    accelerate = Path(sys.executable).parent / "accelerate"
    # `accelerate launch --cpu` starts one process unless MPI is set up; the torchrun launcher starts them all.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--num_processes",
            str(PROCESSES),
            "--num_machines",
            "1",
            "--multi_gpu",  # accelerate's torchrun launcher; without a GPU its processes join over gloo (CPU)
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "reflectlab.training.launch",
            "--config",
            str(tmp_path / "train.json"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("trained lora") == 1  # only the main process reports (and writes)

    out = tmp_path / "adapter"
    record = json.loads((out / "reflectlab-training.json").read_text())
    assert record["steps"] == N_EXAMPLES // (BATCH * PROCESSES)  # each step took a batch from each process
    assert not list(tmp_path.glob("*.partial"))

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, out)
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and any(float(p.abs().sum()) > 0 for p in lora_b)  # B starts at zero: training moved it
