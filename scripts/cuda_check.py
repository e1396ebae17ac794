"""Check the hf backend and the trainers on a CUDA GPU against the same code on the CPU.

    python scripts/cuda_check.py [--out report.json]

Builds a tiny random Llama (no download), then on ``device=cuda`` and on ``device=cpu`` with the same weights:
greedy generation with log-probabilities, teacher-forced scoring, next-token option log-probabilities, hidden
states, and steering. Then trains a LoRA adapter with the ``sft`` trainer and takes ``rl-scored`` policy-gradient
steps on the GPU, and loads each result back. Prints one line per check and a JSON report; exits 0 when every
check passes, 1 when one fails, 2 when no CUDA device is at hand. Float32 on both devices: the kernels differ, so
numbers are compared within a tolerance and greedy tokens must agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

PROMPTS = [
    "The quick brown fox",
    "Write two sentences about the ocean.",
    "one two three four five six seven",
    "Was this answer sampled at a high or a low temperature?",
    "word word word",
    "What is 17 plus 25?",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="", help="also write the JSON report here")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--device", default="cuda", help="the device to check against the CPU (cpu: a dry run)")
    args = ap.parse_args()

    import numpy as np
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    from reflectlab.core.models.base import SamplingParams
    from reflectlab.core.models.loader import load_model
    from reflectlab.core.models.spec import ModelSpec
    from reflectlab.core.testing import tiny_model_dir

    gpu_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else args.device
    report: dict[str, Any] = {"device": gpu_name, "torch": torch.__version__}
    ok = True

    def check(name: str, passed: bool, **values: Any) -> None:
        nonlocal ok
        ok &= passed
        report[name] = {"passed": passed, **values}
        print(f"{'PASS' if passed else 'FAIL'} {name} {json.dumps(values)}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="reflectlab-cuda-"))
    path = tiny_model_dir(tmp / "tiny")
    cpu = load_model(ModelSpec(name=str(path), device="cpu", batch_size=4))
    gpu = load_model(ModelSpec(name=str(path), device=args.device, batch_size=4))

    greedy = SamplingParams(max_new_tokens=12)
    g_cpu, g_gpu = cpu.generate(PROMPTS, greedy), gpu.generate(PROMPTS, greedy)
    same = sum(a.token_ids == b.token_ids for a, b in zip(g_cpu, g_gpu, strict=True))
    lp = max(
        float(np.max(np.abs(np.subtract(a.logprobs, b.logprobs)))) if a.token_ids == b.token_ids else 0.0
        for a, b in zip(g_cpu, g_gpu, strict=True)
    )
    check("generate_greedy", same == len(PROMPTS) and lp < args.tolerance, same_rows=same, max_logprob_diff=lp)

    sampled = SamplingParams(max_new_tokens=12, temperature=1.0)
    s1, s2 = gpu.generate(PROMPTS, sampled, seed=3), gpu.generate(PROMPTS, sampled, seed=3)
    s_cpu = cpu.generate(PROMPTS, sampled, seed=3)
    same_draws = sum(a.token_ids == b.token_ids for a, b in zip(s1, s_cpu, strict=True))
    check(
        "sampling_seeded",
        [a.token_ids for a in s1] == [b.token_ids for b in s2],
        rows_drawn_as_on_cpu=f"{same_draws}/{len(PROMPTS)}",
    )

    conts = [g.text for g in g_cpu]
    sc_cpu, sc_gpu = cpu.score(conts, PROMPTS), gpu.score(conts, PROMPTS)
    d_lp = max(float(np.max(np.abs(np.subtract(a.logprobs, b.logprobs)))) for a, b in zip(sc_cpu, sc_gpu, strict=True))
    d_ent = max(
        float(np.max(np.abs(np.subtract(a.entropies, b.entropies)))) for a, b in zip(sc_cpu, sc_gpu, strict=True)
    )
    check("score", d_lp < args.tolerance and d_ent < args.tolerance, max_logprob_diff=d_lp, max_entropy_diff=d_ent)

    opts = ["yes", "no"]
    d_next = float(np.max(np.abs(cpu.next_token_logprobs(PROMPTS, opts) - gpu.next_token_logprobs(PROMPTS, opts))))
    check("next_token_logprobs", d_next < args.tolerance, max_diff=d_next)

    layers = [0, 1, 2]
    h_cpu, h_gpu = cpu.hidden_states(PROMPTS, layers), gpu.hidden_states(PROMPTS, layers)
    d_hidden = float(np.max(np.abs(h_cpu - h_gpu)))
    check("hidden_states", d_hidden < args.tolerance, max_diff=d_hidden)

    vec = np.random.default_rng(0).normal(size=h_cpu.shape[-1]).astype(np.float32)
    with cpu.steer({1: vec}, scale=4.0), gpu.steer({1: vec}, scale=4.0):
        st_cpu, st_gpu = cpu.hidden_states(PROMPTS, [2]), gpu.hidden_states(PROMPTS, [2])
    moved = float(np.max(np.abs(st_gpu[:, 0] - h_gpu[:, 2])))
    d_steer = float(np.max(np.abs(st_cpu - st_gpu)))
    check("steering", moved > 1e-2 and d_steer < args.tolerance, moved=moved, cpu_gpu_diff=d_steer)

    try:
        from reflectlab.training.rl import RLSettings, ScoredGroup, train_on_scored, train_rl
        from reflectlab.training.sft import SFTSettings, train_sft
    except ImportError as exc:
        check("trainers_importable", False, error=str(exc))
    else:
        base = ModelSpec(name=str(path), device=args.device)
        chats = [
            [{"role": "user", "content": p}, {"role": "assistant", "content": "the moon and the ocean"}]
            for p in PROMPTS
        ]
        sft = train_sft(base, chats * 4, SFTSettings(epochs=2, learning_rate=1e-2, batch_size=4), tmp / "sft")
        tuned = load_model(sft.spec)
        after = tuned.score(["the moon and the ocean"] * len(PROMPTS), PROMPTS)
        before = gpu.score(["the moon and the ocean"] * len(PROMPTS), PROMPTS)
        gain = float(np.mean([a.sum_logprob - b.sum_logprob for a, b in zip(after, before, strict=True)]))
        check("sft_lora_on_gpu", sft.steps > 0 and gain > 0, steps=sft.steps, target_logprob_gain=gain)

        groups = [ScoredGroup([{"role": "user", "content": p}], ["yes yes", "no no"], [1.0, 0.0]) for p in PROMPTS]
        rl = train_on_scored(base, groups * 2, RLSettings(learning_rate=1e-2, lora_r=8, prompts_per_step=2), tmp / "rl")
        loaded = load_model(rl.spec)
        moved_rl = float(
            np.mean(
                [
                    a.sum_logprob - b.sum_logprob
                    for a, b in zip(
                        loaded.score(["yes yes"] * 6, PROMPTS), gpu.score(["yes yes"] * 6, PROMPTS), strict=True
                    )
                ]
            )
        )
        check("rl_scored_on_gpu", rl.steps > 0 and moved_rl > 0, steps=rl.steps, rewarded_logprob_gain=moved_rl)

        def reward(_chats: list[Any], texts: list[str]) -> list[float]:
            return [float(len(t)) / 40.0 for t in texts]  # longer is better: any policy can move on it

        prompts = [[{"role": "user", "content": p}] for p in PROMPTS]
        settings = RLSettings(steps=3, learning_rate=1e-2, lora_r=8, max_completion_length=16)
        grpo = train_rl(base, prompts, reward, settings, tmp / "grpo", reward_key="length")
        check("grpo_on_gpu", grpo.steps == 3 and load_model(grpo.spec) is not None, steps=grpo.steps)

    report["passed"] = ok
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
