"""Throughput of reflectlab's Model against plain transformers, measured side by side in one run.

(a) generation: ``Model.generate`` (greedy, cache off) at batch 1, 8 and the model's default batch size, against
    a plain transformers ``generate`` loop over the same prompts one at a time; at the default batch size the
    decode-only rate is the end-to-end time less a prefill-only pass over the same prompts;
(b) the teacher-forced token rate: a plain forward pass over 32 sequences of about 128 tokens (full logits);
(c) scoring: ``Model.score`` (teacher-forced log-probabilities and entropies) over the same 32 sequences, against
    (b) and against a plain forward with a full-vocabulary log-softmax and entropy (the same outputs, unchunked).
    (b) and (c) run in interleaved rounds (--repeats, default 5) and each path's best round counts.

Usage: python benchmarks/throughput.py [--model smollm2-135m-instruct] [--new-tokens 64] [--batch-size N]
       [--threads N] [--repeats N]
The last line is machine-readable: decode_vs_forward=<ratio> generate_tok_s=<n> score_vs_forward=<ratio>, where
decode is the decode-only rate at the default batch size, generate is its end-to-end rate, and both ratios are
against (b).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
from transformers import AutoModelForCausalLM

from reflectlab.core.models import ModelSpec, SamplingParams
from reflectlab.core.models.loader import load_model

TOPICS = [
    "the ocean",
    "a lighthouse",
    "coffee",
    "the moon",
    "mountains",
    "a thunderstorm",
    "an old library",
    "bicycles",
    "honeybees",
    "the desert",
    "a violin",
    "snow",
    "clocks",
    "a river",
    "volcanoes",
    "a chess game",
    "whales",
    "robots",
    "a museum",
    "fireworks",
    "an island",
    "space travel",
    "a bakery",
    "a map",
    "a piano",
    "a harbour",
    "the wind",
    "a campfire",
    "a dragon",
    "a bridge",
    "the stars",
    "a castle",
]


def chats(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Write a short story about {TOPICS[i % len(TOPICS)]}."}] for i in range(n)]


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--baseline-prompts", type=int, default=8, help="prompts for the one-at-a-time baseline")
    ap.add_argument("--batch-size", type=int, default=0, help="the batch size to measure (default: the model's)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds of the teacher-forced passes")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    default_bs = args.batch_size or ModelSpec(name=args.model).batch_size
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; default batch size {default_bs}"
    )

    handle = load_model(ModelSpec(name=args.model, batch_size=default_bs))
    tok = handle.tokenizer
    plain = AutoModelForCausalLM.from_pretrained(handle.path, dtype=torch.float32).eval()
    handle.hf_model  # noqa: B018  (load before timing)
    greedy = SamplingParams(max_new_tokens=args.new_tokens)

    rows = []
    # (a) plain transformers, one prompt at a time
    prompts = chats(args.baseline_prompts)
    n_tokens = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([handle.encode(p)])
            out = plain.generate(ids, max_new_tokens=args.new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            n_tokens += out.shape[1] - ids.shape[1]
    base_s = time.perf_counter() - t0
    base_rate = n_tokens / base_s
    rows.append(("plain transformers generate, batch 1", n_tokens, base_s))

    rates = {}
    n_default = max(32, default_bs)
    for bs, n in ((1, args.baseline_prompts), (8, 8), (default_bs, n_default)):
        handle.spec.batch_size = bs
        gens, secs = timed(lambda n=n: handle.generate(chats(n), greedy))
        produced = sum(len(g.token_ids) for g in gens)
        rates[bs] = produced / secs
        rows.append((f"reflectlab Model.generate, batch {bs}", produced, secs))
    # decode only: the default-batch run less a prefill pass (one new token) over the same prompts
    _, prefill_s = timed(lambda: handle.generate(chats(n_default), SamplingParams(max_new_tokens=1)))
    decode_tokens = produced - n_default
    decode_s = secs - prefill_s
    rows.append((f"  of which decode only, batch {default_bs}", decode_tokens, decode_s))

    # (b) and (c) over 32 sequences of about 128 tokens
    texts = [g.text for g in handle.generate(chats(32), SamplingParams(max_new_tokens=128, temperature=1.0), seed=1)]
    ids = [tok(t, add_special_tokens=False)["input_ids"][:127] for t in texts]
    width = max(len(i) for i in ids) + 1
    batch = torch.full((len(ids), width), tok.pad_token_id)
    mask = torch.zeros_like(batch)
    for i, r in enumerate(ids):
        seq = [tok.bos_token_id or tok.eos_token_id, *r]
        batch[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
    n_score = int(mask.sum())

    def plain_forward() -> None:
        with torch.inference_mode():
            plain(input_ids=batch, attention_mask=mask).logits.sum().item()

    def plain_scoring() -> None:
        with torch.inference_mode():
            logp = torch.log_softmax(plain(input_ids=batch, attention_mask=mask).logits.float(), -1)
            (-(logp.exp() * logp).sum(-1)).sum().item()

    handle.spec.batch_size = 32
    score_texts = [tok.decode(r) for r in ids]
    paths = {
        "forward": plain_forward,
        "naive": plain_scoring,
        "score": lambda: handle.score(score_texts, placement="raw"),
    }
    # interleaved rounds, best of each: on a shared 2-core machine one pass of ~20 s varies by 10-20% from the
    # next, which is more than the gap this ratio is meant to show
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(args.repeats):
        for key, fn in paths.items():
            times[key].append(timed(fn)[1])
    fwd_s, naive_s, score_s = (min(times[k]) for k in ("forward", "naive", "score"))
    spread = ", ".join(f"{k} {min(v):.1f}-{max(v):.1f} s" for k, v in times.items())
    rows.append(("plain forward (teacher-forced, logits), 32 seqs", n_score, fwd_s))
    rows.append(("plain forward + full log-softmax and entropy", n_score, naive_s))
    rows.append(("reflectlab Model.score, 32 seqs", n_score, score_s))

    print(f"\n{'path':<50} {'tokens':>7} {'seconds':>8} {'tok/s':>8}")
    for name, n, s in rows:
        print(f"{name:<50} {n:>7} {s:>8.1f} {n / s:>8.1f}")
    fwd_rate, score_rate = n_score / fwd_s, n_score / score_s
    decode_rate = decode_tokens / decode_s
    print(f"\ngenerate batch 1 vs plain batch 1: {rates[1] / base_rate:.2f}x")
    print(f"generate batch 8 vs plain batch 1: {rates[8] / base_rate:.2f}x")
    print(f"generate batch {default_bs} vs plain batch 1: {rates[default_bs] / base_rate:.2f}x")
    print(f"score vs plain forward with log-softmax and entropy: {score_rate / (n_score / naive_s):.2f}x")
    print(f"teacher-forced passes, best of {args.repeats} interleaved rounds (range: {spread})")
    print(
        f"decode_vs_forward={decode_rate / fwd_rate:.3f} generate_tok_s={rates[default_bs]:.1f} "
        f"score_vs_forward={score_rate / fwd_rate:.3f}"
    )


if __name__ == "__main__":
    main()
