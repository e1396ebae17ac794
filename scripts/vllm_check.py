"""Check the vllm backend against the hf backend on a GPU: same prompts, greedy generation with log-probabilities.

    python scripts/vllm_check.py [--model smollm2-135m-instruct] [--dtype float32] [--new-tokens 32]

For each prompt both backends decode greedily; the script prints, per prompt and overall, how many generated
tokens agree before the first divergence, and the largest absolute difference between
- vllm's log-probabilities of its own greedy tokens and the hf backend's teacher-forced log-probabilities of the
  same tokens (generation path), and
- vllm's prompt log-probabilities (the vllm backend's ``score``) and hf's, on the same continuations (scoring path).

Exit 0 when both differences are within ``--tolerance`` (float32 kernels differ by ~1e-3; bfloat16 by ~1e-1), 1
otherwise, 2 when no GPU or no vllm is at hand. Nothing is cached: both backends compute every number. Importing
this file does nothing; it needs ``pip install 'reflectlab-core[vllm]'`` and a CUDA GPU only when run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

PROMPTS = [
    "What is the capital of France?",
    "Write two sentences about the ocean.",
    "Count from one to ten.",
    "Explain in one sentence why the sky is blue.",
    "Name three animals that live in the desert.",
    "What is 17 plus 25?",
    "Give a short tip for learning a new language.",
    "Describe a cup of coffee in one sentence.",
]


def agreement(a: Sequence[int], b: Sequence[int]) -> int:
    """Tokens two greedy decodes share before they first differ."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def max_abs_diff(a: Sequence[float], b: Sequence[float]) -> float:
    return max((abs(x - y) for x, y in zip(a, b, strict=False)), default=0.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="embedded name, local folder or hub name")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16 (both backends)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--tolerance", type=float, default=0.05, help="largest acceptable log-prob difference")
    args = parser.parse_args(argv)

    import importlib.util

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here: the vllm check needs one", file=sys.stderr)
        return 2
    if importlib.util.find_spec("vllm") is None:
        print("vllm is not installed: pip install 'reflectlab-core[vllm]'", file=sys.stderr)
        return 2

    from reflectlab.core.models.base import SamplingParams
    from reflectlab.core.models.loader import load_model
    from reflectlab.core.models.spec import ModelSpec

    common = {"name": args.model, "dtype": args.dtype, "device": "cuda", "batch_size": len(PROMPTS)}
    vllm_model = load_model(ModelSpec(backend="vllm", **common))  # no cache: every number is computed
    hf_model = load_model(ModelSpec(backend="hf", **common))
    params = SamplingParams(max_new_tokens=args.new_tokens)

    vllm_gens = vllm_model.generate(PROMPTS, params, seed=0)
    hf_gens = hf_model.generate(PROMPTS, params, seed=0)
    # The same continuations (vllm's) scored teacher-forced by both backends, from the same prompt ids.
    pairs = [(hf_model.encode(p), g.token_ids) for p, g in zip(PROMPTS, vllm_gens, strict=True)]
    hf_scores = hf_model._score_ids(pairs)
    vllm_scores = vllm_model._score_ids(pairs)

    worst_gen = worst_score = 0.0
    agree = total = 0
    print(f"{'prompt':<46} {'agree':>9} {'gen |dlp|':>10} {'score |dlp|':>12}")
    for prompt, vg, hg, hs, vs in zip(PROMPTS, vllm_gens, hf_gens, hf_scores, vllm_scores, strict=True):
        shared = agreement(vg.token_ids, hg.token_ids)
        d_gen = max_abs_diff(vg.logprobs, hs.logprobs)
        d_score = max_abs_diff(vs.logprobs, hs.logprobs)
        agree, total = agree + shared, total + max(len(vg.token_ids), len(hg.token_ids))
        worst_gen, worst_score = max(worst_gen, d_gen), max(worst_score, d_score)
        print(f"{prompt[:45]:<46} {shared:>4}/{len(vg.token_ids):<4} {d_gen:>10.2e} {d_score:>12.2e}")
    print(f"greedy token agreement: {agree}/{total} ({agree / max(1, total):.1%}) before first divergence")
    print(f"max |logprob diff|: generation {worst_gen:.3e}, scoring {worst_score:.3e} (tolerance {args.tolerance})")
    return 0 if max(worst_gen, worst_score) <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
