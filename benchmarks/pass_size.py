"""Teacher-forced passes on a CPU: one decoder pass over a whole batch against passes of a bounded token count.

The hf backend splits a batch's teacher-forced work (next-token reads, hidden states, scoring) into decoder
passes of at most ``_CPU_PASS_TOKENS`` padded tokens. This script times ``Model.next_token_logprobs``'s primitive
over batches of several shapes (rows x tokens, random token ids) with that bound at several values and with no
bound (the whole batch in one pass), in interleaved rounds, each setting's best round counting; then
``Model.score``'s primitive over one shape at the default bound and in one pass.

Usage: python benchmarks/pass_size.py [--model smollm2-135m-instruct] [--repeats 2] [--threads N]
The last line is machine-readable: ``pass_vs_one=<ratio> score_pass_vs_one=<ratio>``, the token rate at the
default bound over the rate in one pass (the first a geometric mean over the shapes).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch

from reflectlab.core.models import ModelSpec, hf
from reflectlab.core.models.loader import load_model

#: (rows, tokens per row) of the batches timed: the default batch at a short and a judge-prompt length, and a
#: smaller batch of long rows.
SHAPES = [(128, 64), (128, 140), (32, 512)]
ONE_PASS = 1 << 40


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(ModelSpec(name=args.model))
    vocab = int(model.hf_model.config.vocab_size)
    default = hf._CPU_PASS_TOKENS
    bounds = [*sorted({1024, default, 2 * default}), ONE_PASS]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.model}; default bound {default} tokens")  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    batches = {s: torch.randint(0, vocab, s, generator=gen).tolist() for s in SHAPES}
    options = [[int(model.tokenizer.eos_token_id or 0)]]
    model._next_token_logprobs_ids(batches[SHAPES[0]][:2], options)  # warm-up, not timed

    best: dict[tuple[object, int], float] = {}

    def timed(key: tuple[object, int], bound: int, fn) -> None:  # type: ignore[no-untyped-def]
        hf._CPU_PASS_TOKENS = bound
        t0 = time.perf_counter()
        fn()
        best[key] = min(best.get(key, math.inf), time.perf_counter() - t0)

    score_shape = SHAPES[1]
    pairs = [(r[: len(r) // 2], r[len(r) // 2 :]) for r in batches[score_shape]]
    for _ in range(args.repeats):
        for shape in SHAPES:
            for bound in bounds:
                timed((shape, bound), bound, lambda s=shape: model._next_token_logprobs_ids(batches[s], options))
        for bound in (default, ONE_PASS):
            timed(("score", bound), bound, lambda: model._score_ids(pairs))
    hf._CPU_PASS_TOKENS = default

    print(f"\nnext-token reads, tok/s (best of {args.repeats} interleaved rounds)")
    print(f"{'rows x tokens':<16}" + "".join(f"{'one pass' if b == ONE_PASS else b:>10}" for b in bounds))
    ratios = []
    for shape in SHAPES:
        n = shape[0] * shape[1]
        print(f"{f'{shape[0]} x {shape[1]}':<16}" + "".join(f"{n / best[(shape, b)]:>10.0f}" for b in bounds))
        ratios.append(best[(shape, ONE_PASS)] / best[(shape, default)])
    n = score_shape[0] * score_shape[1]
    score_ratio = best[("score", ONE_PASS)] / best[("score", default)]
    print(f"\nscoring {score_shape[0]} x {score_shape[1]} (half of each row scored), tok/s: "
          f"{n / best[('score', default)]:.0f} in passes of {default}, {n / best[('score', ONE_PASS)]:.0f} in one")  # fmt: skip
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"pass_vs_one={geo:.3f} score_pass_vs_one={score_ratio:.3f}")


if __name__ == "__main__":
    main()
